/**
 * One request to the API server about an object that is not a Lease (a Pod, an Event), for the
 * opt-in modules `LeaderLabel` and `LeaseEvents`: sent on `KubeClient.http`, bounded by a timeout
 * (aborted when it runs out or the caller is interrupted), the answer parsed as JSON and any
 * failure turned into one `ObjectRequestError` whose `reason` says what to do about it.
 *
 * Mapping: 403 `Forbidden`, 404 `NotFound`, 409 `Conflict`, 401 `Unauthorized`, 400/422 `Invalid`,
 * 429/5xx and transport failures `Unavailable`, no answer in time `Timeout`. The detail quotes the
 * API server's `Status` message (never request headers, where credentials live).
 *
 * Does not: retry (callers decide), or decode the object (callers read the few fields they need).
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type { KubeClientService } from "../KubeClient.ts"
import * as ApiError from "./apiError.ts"

/** Why a request failed. */
export type Reason = "Forbidden" | "NotFound" | "Conflict" | "Unauthorized" | "Invalid" | "Unavailable" | "Timeout"

/** A request about a Pod or an Event failed. */
export class ObjectRequestError extends Data.TaggedError("ObjectRequestError")<{
  readonly reason: Reason
  /** The HTTP status, when the API server answered. */
  readonly status: number | undefined
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

/** Whether waiting and trying again may help. */
export const isTransient = (error: ObjectRequestError): boolean =>
  error.reason === "Unavailable" || error.reason === "Timeout"

const reasonOf = (status: number): Reason =>
  status === 403
    ? "Forbidden"
    : status === 404
    ? "NotFound"
    : status === 409
    ? "Conflict"
    : status === 401
    ? "Unauthorized"
    : status === 429 || status >= 500
    ? "Unavailable"
    : "Invalid"

/** A request, as sent. */
export interface Request {
  readonly method: "GET" | "POST" | "PATCH"
  /** Below the server URL, query included. */
  readonly path: string
  readonly body?: unknown
  /** Default `application/json`; a merge patch is `application/merge-patch+json`. */
  readonly contentType?: string | undefined
  readonly timeout: Duration.Duration
  /** What the request is for, for messages (`patch pod web-0`). */
  readonly what: string
}

/** Sends `request` and answers its parsed JSON body. */
export const send = (client: KubeClientService, request: Request): Effect.Effect<unknown, ObjectRequestError> => {
  const base = HttpClientRequest.make(request.method)(request.path, { acceptJson: true })
  const req = request.body === undefined
    ? base
    : HttpClientRequest.setBody(
      base,
      HttpBody.raw(JSON.stringify(request.body), { contentType: request.contentType ?? "application/json" })
    )
  return client.http.execute(req).pipe(
    Effect.mapError((error) => {
      const cause = (error.reason._tag === "TransportError" || error.reason._tag === "DecodeError") &&
          error.reason.cause !== undefined
        ? error.reason.cause
        : error
      const code = typeof cause === "object" && cause !== null && "code" in cause ? ` (${String(cause.code)})` : ""
      return new ObjectRequestError({
        reason: "Unavailable",
        status: undefined,
        detail: `${request.what}: the API server at ${client.server} could not be reached${code}`,
        cause
      })
    }),
    Effect.flatMap((response) =>
      Effect.flatMap(
        Effect.orElseSucceed(response.text, () => ""),
        (text): Effect.Effect<unknown, ObjectRequestError> => {
          if (response.status >= 200 && response.status < 300) {
            try {
              return Effect.succeed(text === "" ? undefined : JSON.parse(text) as unknown)
            } catch (cause) {
              return Effect.fail(
                new ObjectRequestError({
                  reason: "Invalid",
                  status: response.status,
                  detail: `${request.what}: the API server at ${client.server} answered with a body that is not JSON`,
                  cause
                })
              )
            }
          }
          const status = ApiError.parseStatus(text)
          const said = status.message ?? status.reason ?? `HTTP ${response.status}`
          return Effect.fail(
            new ObjectRequestError({
              reason: reasonOf(response.status),
              status: response.status,
              detail: `${request.what}: the API server answered ${response.status} (${said})`,
              cause: status
            })
          )
        }
      )
    ),
    Effect.timeoutOrElse({
      duration: request.timeout,
      orElse: () =>
        Effect.fail(
          new ObjectRequestError({
            reason: "Timeout",
            status: undefined,
            detail: `${request.what}: no answer from the API server at ${client.server} within ${
              Duration.format(request.timeout)
            } (the request may still have been applied)`
          })
        )
    }),
    Effect.provideService(HttpClient.TracerDisabledWhen, () => true)
  )
}
