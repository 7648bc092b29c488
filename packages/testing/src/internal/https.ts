/**
 * One HTTPS request with a bearer token, verifying the server against a given CA, on a fresh
 * connection (no keep-alive agent), bounded by a timeout that covers connect, TLS and the whole
 * response. A fresh connection per request is deliberate: a paused, restarted or proxied server
 * must be observed as it is now, not through a pooled socket.
 *
 * @internal
 */
import { Data, Effect } from "effect"
import * as Https from "node:https"

/** @internal */
export interface HttpsResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string | ReadonlyArray<string> | undefined>>
  readonly body: string
}

/** @internal */
export class HttpsError extends Data.TaggedError("HttpsError")<{
  readonly kind: "Timeout" | "Transport"
  readonly url: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.kind === "Timeout"
      ? `${this.url}: no complete response in time`
      : `${this.url}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/** @internal */
export const request = (options: {
  readonly url: string
  readonly ca: string
  readonly token?: string | undefined
  readonly method?: string | undefined
  readonly body?: unknown
  readonly contentType?: string | undefined
  readonly timeoutMillis: number
}): Effect.Effect<HttpsResponse, HttpsError> =>
  Effect.callback<HttpsResponse, HttpsError>((resume) => {
    const payload = options.body === undefined
      ? undefined
      : typeof options.body === "string"
      ? options.body
      : JSON.stringify(options.body)
    const headers: Record<string, string> = { accept: "application/json" }
    if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
    if (payload !== undefined) {
      headers["content-type"] = options.contentType ?? "application/json"
      headers["content-length"] = String(Buffer.byteLength(payload))
    }
    let settled = false
    const settle = (effect: Effect.Effect<HttpsResponse, HttpsError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const req = Https.request(options.url, {
      method: options.method ?? "GET",
      ca: options.ca,
      headers,
      agent: false
    }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("error", (cause) => settle(Effect.fail(new HttpsError({ kind: "Transport", url: options.url, cause }))))
      res.on("close", () => {
        if (!res.complete) {
          settle(Effect.fail(new HttpsError({ kind: "Transport", url: options.url, cause: new Error("connection closed mid-response") })))
        }
      })
      res.on("end", () =>
        settle(Effect.succeed({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8")
        })))
    })
    const timer = setTimeout(() => {
      settle(Effect.fail(new HttpsError({ kind: "Timeout", url: options.url })))
      req.destroy()
    }, options.timeoutMillis)
    req.on("error", (cause) => settle(Effect.fail(new HttpsError({ kind: "Transport", url: options.url, cause }))))
    req.end(payload)
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      req.destroy()
    })
  })
