/**
 * Effect's `HttpClient` on Node's `https` module, one request per call and no fiber besides the
 * caller's: the runner under `KubeClient.http`.
 *
 * `@effect/platform-node`'s Node client forks an upload fiber and races it against the response
 * for every request, so that a streaming upload cannot block an early answer. A lease renewal is
 * a PUT of one small JSON document, sent in a single write; the fork and the race cost more CPU
 * than the rest of the renewal (measured in `bench/`, figure 6). This runner writes a body it holds
 * in memory with one `end(body)` and waits for the response with one callback; a request whose
 * body is a stream or form data fails (`EncodeError`): the Kubernetes API takes JSON documents.
 * Watches (`?watch=true`) go through agents of their own, so that long-lived watch connections
 * never take the sockets renewals are sent on.
 *
 * Responses are `@effect/platform-node`'s `NodeHttpIncomingMessage` (its `stream`, which watches
 * read, and headers) with the whole-body reads (`text`, `json`, `arrayBuffer`) done here with one
 * callback, bounded: an answer larger than `HttpIncomingMessage.MaxBodySize`, else `maxBodyBytes`,
 * destroys its connection and fails with a `DecodeError` whose cause names the limit (`maxBytes`).
 * An answer of 401 to a body held in memory makes the runner call the `rejected` of what it
 * presented and, when that answers true, send the request once more.
 *
 * Guarantees: the request's signal aborts it (its connection is destroyed, others stay pooled);
 * the agent is read per request, so rotated TLS material applies to the next request; a header
 * value Node refuses fails the request (`TransportError`), it never throws; credentials travel
 * only in the Node request, never in the `HttpClientRequest` that errors carry.
 * Does not: follow redirects, retry (but that one 401), decompress, or upgrade connections
 * (`upgrade` fails).
 *
 * @internal
 */
import { NodeHttpIncomingMessage } from "@effect/platform-node/NodeHttpIncomingMessage"
import * as ByteSize from "effect/ByteSize"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import * as Cookies from "effect/http/Cookies"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import { pipeArguments } from "effect/Pipeable"
import type * as Http from "node:http"
import * as NodeHttp from "node:http"
import * as Https from "node:https"

/** What the runner sends through; replaced when TLS material changes. */
export interface Agents {
  readonly http: Http.Agent
  readonly https: Https.Agent
  /** For watches (`?watch=true`): no limit on connections, none shared with requests. */
  readonly watch: { readonly http: Http.Agent; readonly https: Https.Agent }
}

class Response extends NodeHttpIncomingMessage<HttpClientError.HttpClientError>
  implements HttpClientResponse.HttpClientResponse
{
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId
  readonly request: HttpClientRequest.HttpClientRequest
  readonly url: string
  private readonly maxBodyBytes: number
  constructor(request: HttpClientRequest.HttpClientRequest, source: Http.IncomingMessage, url: string, maxBodyBytes: number) {
    super(source, (cause) =>
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.DecodeError({ request, response: this, cause })
      }))
    this[HttpClientResponse.TypeId] = HttpClientResponse.TypeId
    this.request = request
    this.url = url
    this.maxBodyBytes = maxBodyBytes
  }
  get status(): number {
    return this.source.statusCode ?? 0
  }
  private bodyRead: Effect.Effect<Buffer, HttpClientError.HttpClientError> | undefined
  /**
   * The whole body, read once with one callback (the platform's reader goes through an Effect
   * stream per chunk), up to `MaxBodySize` or else `maxBodyBytes`; past it the connection is
   * destroyed and the read fails with a cause carrying `maxBytes`.
   */
  private get body(): Effect.Effect<Buffer, HttpClientError.HttpClientError> {
    return this.bodyRead ??= Effect.withFiber((fiber) => {
      const configured = fiber.getRef(HttpIncomingMessage.MaxBodySize)
      const limit = configured === undefined ? this.maxBodyBytes : ByteSize.toNumberUnsafe(configured)
      return Effect.callback<Buffer, HttpClientError.HttpClientError>((resume) => {
        const source = this.source
        const chunks: Array<Buffer> = []
        let length = 0
        const fail = (cause: unknown) => {
          cleanup()
          resume(Effect.fail(
            new HttpClientError.HttpClientError({
              reason: new HttpClientError.DecodeError({ request: this.request, response: this, cause })
            })
          ))
        }
        const onData = (chunk: Buffer) => {
          length += chunk.byteLength
          if (length > limit) {
            source.destroy()
            return fail({ _tag: "MaxBytesExceeded", maxBytes: limit, message: `the body is larger than ${limit} bytes` })
          }
          chunks.push(chunk)
        }
        const onEnd = () => {
          cleanup()
          resume(Effect.succeed(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, length)))
        }
        const onError = (cause: unknown) => fail(cause)
        const onClose = () => {
          if (!source.complete) fail(new Error("the connection closed before the whole answer arrived"))
        }
        const cleanup = () => {
          source.off("data", onData)
          source.off("end", onEnd)
          source.off("error", onError)
          source.off("close", onClose)
        }
        source.on("data", onData)
        source.once("end", onEnd)
        source.once("error", onError)
        source.once("close", onClose)
        return Effect.sync(() => {
          cleanup()
          source.destroy()
        })
      })
    }).pipe(Effect.cached, Effect.runSync)
  }
  override get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(
      this.body,
      (buffer) => buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer
    )
  }
  override get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.body, (buffer) => buffer.toString("utf8"))
  }
  override get json(): Effect.Effect<Schema.Json, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => (text === "" ? null : JSON.parse(text)),
        catch: (cause) =>
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.DecodeError({ request: this.request, response: this, cause })
          })
      }))
  }
  get cookies(): Cookies.Cookies {
    const header = this.source.headers["set-cookie"]
    return header === undefined ? Cookies.empty : Cookies.fromSetCookie(header)
  }
  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.fail(this.unsupported("form data bodies"))
  }
  get upgrade(): Effect.Effect<never, HttpClientError.HttpClientError> {
    return Effect.fail(this.unsupported("connection upgrades"))
  }
  private unsupported(what: string) {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({
        request: this.request,
        response: this,
        description: `the Kubernetes client does not support ${what}`
      })
    })
  }
  override toJSON(): unknown {
    return { _id: "effect/http/HttpClientResponse", status: this.status, url: this.url }
  }
  pipe() {
    // eslint-disable-next-line prefer-rest-params
    return pipeArguments(this, arguments)
  }
}

const transportError = (request: HttpClientRequest.HttpClientRequest, cause: unknown) =>
  new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })

/** The bodies this runner sends: held in memory, a raw body only as a string. */
type Sendable =
  | { readonly _tag: "Empty" }
  | { readonly _tag: "Uint8Array"; readonly body: Uint8Array; readonly contentType: string }
  | { readonly _tag: "Raw"; readonly body: string; readonly contentType: string | undefined }

const isSendable = (body: HttpClientRequest.HttpClientRequest["body"]): body is HttpClientRequest.HttpClientRequest["body"] & Sendable =>
  body._tag === "Empty" || body._tag === "Uint8Array" || (body._tag === "Raw" && typeof body.body === "string")

/** What one request is sent with, computed just before it is sent. */
export interface Prepared {
  /** Headers that never enter the `HttpClientRequest` (credentials). */
  readonly headers: Readonly<Record<string, string>>
  readonly agents: Agents
  /** After an answer of 401: refresh what was presented; true when a second attempt is worth it. */
  readonly rejected: Effect.Effect<boolean, HttpClientError.HttpClientError>
}

/**
 * The client: `prepare` runs before every attempt. An answer of 401 to a request whose body is
 * held in memory makes it call `rejected` and, when that answers true, send the request once more
 * (prepared again).
 */
export const make = (options: {
  readonly prepare: (request: HttpClientRequest.HttpClientRequest) => Effect.Effect<Prepared, HttpClientError.HttpClientError>
  readonly maxBodyBytes: number
}): HttpClient.HttpClient => {
  const { maxBodyBytes, prepare } = options
  const send = (
    request: HttpClientRequest.HttpClientRequest,
    body: Sendable,
    url: URL,
    signal: AbortSignal,
    prepared: Prepared
  ) =>
    Effect.callback<Response, HttpClientError.HttpClientError>((resume) => {
      const headers: Record<string, string | number> = { ...request.headers, ...prepared.headers }
      if (body._tag === "Uint8Array") {
        headers["content-type"] = body.contentType
        headers["content-length"] = body.body.byteLength
      } else if (body._tag === "Raw") {
        if (body.contentType !== undefined) headers["content-type"] = body.contentType
        headers["content-length"] = Buffer.byteLength(body.body)
      }
      const secure = url.protocol === "https:"
      // A watch holds its connection for minutes: it gets one of its own, outside the pool that
      // renewals are sent on, so that many watches never keep a renewal waiting for a socket.
      const agents = url.searchParams.get("watch") === "true" ? prepared.agents.watch : prepared.agents
      let nodeRequest: Http.ClientRequest
      try {
        nodeRequest = (secure ? Https : NodeHttp).request(url, {
          method: request.method,
          agent: secure ? agents.https : agents.http,
          headers,
          signal
        })
      } catch (cause) {
        // Node refuses some header values synchronously (a control character in a token).
        resume(Effect.fail(transportError(request, cause)))
        return
      }
      const onError = (cause: unknown) => resume(Effect.fail(transportError(request, cause)))
      nodeRequest.on("error", onError)
      nodeRequest.once("response", (response) => {
        nodeRequest.off("error", onError)
        // A late socket error must not crash the process; the body read reports its own.
        nodeRequest.on("error", () => undefined)
        resume(Effect.succeed(new Response(request, response, url.href.split("#")[0]!, maxBodyBytes)))
      })
      if (body._tag === "Raw") {
        // A string: Node sends it in one write with the headers.
        nodeRequest.end(body.body)
      } else if (body._tag === "Uint8Array") {
        // As one latin1 string (each byte one character, the bytes unchanged), Node sends the
        // headers and the body in one write; as a buffer, in two (about 6 % more CPU per renewal
        // PUT over TLS, measured: 263 against 248 µs).
        const bytes = body.body
        nodeRequest.end(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1"), "latin1")
      } else {
        nodeRequest.end()
      }
      return Effect.sync(() => {
        nodeRequest.off("error", onError)
        nodeRequest.destroy()
      })
    })
  return HttpClient.make((request, url, signal) => {
    const body = request.body
    if (!isSendable(body)) {
      return Effect.fail(
        new HttpClientError.HttpClientError({
          reason: new HttpClientError.EncodeError({
            request,
            description:
              "the Kubernetes client sends bodies held in memory only (JSON, text, bytes, or a raw string), not streams or form data"
          })
        })
      )
    }
    const attempt = Effect.flatMap(prepare(request), (prepared) =>
      Effect.map(send(request, body, url, signal, prepared), (response) => [response, prepared] as const))
    return Effect.flatMap(attempt, ([response, prepared]) =>
      response.status !== 401
        ? Effect.succeed(response)
        : Effect.flatMap(
          // Drain the refused answer so that its connection returns to the pool.
          Effect.andThen(Effect.ignore(response.arrayBuffer), prepared.rejected),
          (again) => (again ? Effect.map(attempt, ([next]) => next) : Effect.succeed(response))
        ))
  })
}
