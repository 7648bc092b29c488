/**
 * The request policy of the lease store over `KubeClient.http`, and the one place where an HTTP
 * answer or a transport failure becomes a `LeaseStoreError`.
 *
 * Policy: every request is bounded by `requestTimeout` (then `Timeout`; waiting for a turn counts,
 * so a request that timed out while queued never opened a connection) and aborted when
 * interrupted; at most `maxRequestsInFlight` are in flight through one store; a read (`GET`) is
 * retried once at once when a pooled connection was reset under it (inside the same timeout), a
 * write never is (its outcome is unknown: `Unavailable`). The client itself retries a 401 once after re-reading the
 * credentials. The HTTP client's own span is not recorded for these requests: the algorithm's
 * spans (`Lease.renew`, …) already cover each one, and a span per renewal is a cost every holder
 * pays.
 *
 * Mapping: a 2xx answer is parsed as JSON (an empty body is `undefined`); any other status goes
 * through `ApiError.fromStatus` with the `Status` object of its body (a 404 without one is a server
 * that is not a Kubernetes API server: `Unsupported`); an answer larger than the client's body
 * limit is `Invalid`, naming the limit; a credential plugin that failed is `Credentials`; a
 * network failure is `Unavailable`, naming the errno or TLS code.
 *
 * Does not: decode objects (callers decode the JSON with the wire Schemas) or follow redirects.
 *
 * @internal
 */
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Semaphore from "effect/Semaphore"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type { KubeClientService } from "../KubeClient.ts"
import * as ApiError from "./apiError.ts"
import { CredentialsError } from "./credentials.ts"

type LeaseStoreError = LeaseStore.LeaseStoreError

/** The HTTP methods the lease store sends. */
export type Method = "GET" | "POST" | "PUT" | "DELETE"

/** Options of the policy. */
export interface Policy {
  readonly requestTimeout: Duration.Duration
  /** Shared by every view of one store (`withRequestTimeout`). */
  readonly inFlight: Semaphore.Semaphore
}

/** Builds the request for `method` on `path` (below the server URL, query included) with a JSON body. */
export const request = (method: Method, path: string, body?: unknown): HttpClientRequest.HttpClientRequest => {
  const base = HttpClientRequest.make(method)(path, { acceptJson: true })
  // The JSON text as it is: the client sends a string body with the headers in one write.
  return body === undefined
    ? base
    : HttpClientRequest.setBody(base, HttpBody.raw(JSON.stringify(body), { contentType: "application/json" }))
}

/** The client's body-limit error (an oversized answer) and its limit, when that is what failed. */
const overflowOf = (
  error: HttpClientError.HttpClientError
): { readonly maxBytes: number; readonly cause: object } | undefined => {
  const cause = error.reason._tag === "DecodeError" ? error.reason.cause : undefined
  return typeof cause === "object" && cause !== null && "maxBytes" in cause && typeof cause.maxBytes === "number"
    ? { maxBytes: cause.maxBytes, cause }
    : undefined
}

/** Converts a failure of the client (never an HTTP status: those are answers). */
export const fromClientError = (ctx: ApiError.RequestContext, error: HttpClientError.HttpClientError): LeaseStoreError => {
  const overflow = overflowOf(error)
  if (overflow !== undefined) {
    return new LeaseStore.LeaseStoreError({
      operation: ctx.operation,
      key: ctx.key,
      reason: "Invalid",
      detail: `the answer of the API server at ${ctx.server} is larger than ${overflow.maxBytes} bytes, the client's limit: it is not a Lease answer leasekit can use (check the server URL of the kubeconfig's cluster)`,
      // Not `error`: its answer holds the connection, and through it the request as sent —
      // headers, credentials included.
      cause: overflow.cause
    })
  }
  // The socket's error (its errno or TLS code), where there is one.
  const cause = (error.reason._tag === "TransportError" || error.reason._tag === "DecodeError") &&
      error.reason.cause !== undefined
    ? error.reason.cause
    : error
  if (cause instanceof CredentialsError) {
    return new LeaseStore.LeaseStoreError({
      operation: ctx.operation,
      key: ctx.key,
      reason: "Credentials",
      detail: cause.message,
      cause
    })
  }
  return ApiError.fromCause(ctx, cause)
}

/** Converts an answer of 300 or above, reading its body (bounded by the client) for the `Status`. */
export const fromResponse = (
  ctx: ApiError.RequestContext,
  response: HttpClientResponse.HttpClientResponse
): Effect.Effect<LeaseStoreError> =>
  response.text.pipe(
    Effect.orElseSucceed(() => ""),
    Effect.map((body) =>
      response.status === 404 && !ApiError.isStatusObject(body)
        ? ApiError.notKubernetes(ctx, response.status, body, { status: response.status })
        : ApiError.fromStatus(ctx, response.status, ApiError.parseStatus(body), { status: response.status })
    )
  )

const disableSpans = Effect.provideService(HttpClient.TracerDisabledWhen, () => true)

/**
 * Sends `request` and answers its parsed JSON body, under the policy. `ctx` names the operation,
 * the lease and the RBAC verb for messages.
 */
export const json = (
  client: KubeClientService,
  policy: Policy,
  ctx: ApiError.RequestContext,
  req: HttpClientRequest.HttpClientRequest
): Effect.Effect<unknown, LeaseStoreError> => {
  const once = client.http.execute(req).pipe(
    Effect.mapError((error) => fromClientError(ctx, error)),
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300
        ? response.text.pipe(
          Effect.mapError((error) => fromClientError(ctx, error)),
          Effect.flatMap((text) =>
            Effect.try({
              try: () => (text === "" ? undefined : JSON.parse(text) as unknown),
              catch: (cause) =>
                new LeaseStore.LeaseStoreError({
                  operation: ctx.operation,
                  key: ctx.key,
                  reason: "Invalid",
                  detail: `the API server at ${ctx.server} answered ${response.status} with a body that is not JSON`,
                  cause
                })
            })
          )
        )
        : Effect.flatMap(fromResponse(ctx, response), Effect.fail)
    )
  )
  // Reads are idempotent: one immediate retry when a pooled connection was reset under them —
  // within the same permit and the same timeout.
  const attempt = req.method === "GET" ? once.pipe(Effect.catchIf(ApiError.isConnectionReset, () => once)) : once
  return attempt.pipe(
    policy.inFlight.withPermit,
    Effect.timeoutOrElse({
      duration: policy.requestTimeout,
      orElse: () =>
        Effect.fail(
          new LeaseStore.LeaseStoreError({
            operation: ctx.operation,
            key: ctx.key,
            reason: "Timeout",
            detail: `no answer from the API server at ${ctx.server} within ${
              Duration.format(policy.requestTimeout)
            } (the request may still have been applied)`
          })
        )
    }),
    disableSpans
  )
}
