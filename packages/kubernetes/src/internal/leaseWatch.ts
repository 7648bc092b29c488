/**
 * The watch of one Lease as a `Stream` of its states: list, then watch from the list's
 * resourceVersion, resume, re-list.
 *
 * One watch connection is one `GET …?watch=true` on `KubeClient.http`; its body is a `Stream` of
 * bytes, split into lines (each at most `maxLineBytes`, else the connection fails: a line that
 * large is no Lease event), each line one JSON watch event decoded with the wire Schemas. The
 * server ends a connection after `timeoutSeconds`; the client ends one that outlives that by
 * `requestTimeout` (a connection that went silent without closing). After an ended connection the
 * watch resumes from the last resourceVersion seen (an event's or a bookmark's); after `410 Gone`
 * (an `ERROR` event or an answer) it lists again (after a second of pause when the watch from a
 * fresh list is gone at once, too). Transient failures are retried after 0.4, 0.8,
 * 1.6 s; the fourth in a row without an event in between ends the stream with `Unavailable`. A
 * 401 is retried once after the client refreshed the credentials; other failures (`Forbidden`, …)
 * end the stream at once (the algorithm then polls).
 *
 * Guarantees: the stream emits a state only when it differs from the last emitted one (by
 * version, or absence), and never one older than an emitted one from the same connection.
 * Does not: emit anything for bookmarks, or keep state across separate `watch` calls.
 *
 * @internal
 */
import type * as LeaseRecord from "@leasekit/core/LeaseRecord"
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type * as Scope from "effect/Scope"

type Record_ = LeaseRecord.LeaseRecord
type LeaseStoreError = LeaseStore.LeaseStoreError
type State = Option.Option<Record_>

/** One decoded watch event, as this loop needs it. */
export type Event =
  | { readonly _tag: "Upsert"; readonly record: Record_; readonly resourceVersion: string }
  | { readonly _tag: "Deleted"; readonly resourceVersion: string }
  | { readonly _tag: "Bookmark"; readonly resourceVersion: string }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Error"; readonly error: LeaseStoreError }

/** What the loop is given by the store. */
export interface Source {
  /** The lease's state and the resourceVersion to watch from. */
  readonly list: Effect.Effect<{ readonly state: State; readonly resourceVersion: string }, LeaseStoreError>
  /** Opens one connection from `resourceVersion`: a 2xx answer, or the mapped failure (410: `Gone`). */
  readonly open: (
    resourceVersion: string
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, LeaseStoreError | Gone, Scope.Scope>
  /** Decodes one line of the body. */
  readonly decode: (line: string) => Event
  /** Converts a failure while reading the body. */
  readonly readFailure: (error: HttpClientError.HttpClientError) => LeaseStoreError
  /** The error for an oversized line. */
  readonly overflow: (limit: number) => LeaseStoreError
  /** After a 401: whether the credentials changed (worth one more connection). */
  readonly reloadCredentials: Effect.Effect<boolean>
  /** How long one connection may last before the client ends it. */
  readonly connectionBound: Duration.Duration
  readonly maxLineBytes: number
}

/** The answer `410 Gone`: the resourceVersion is too old, list again. */
export class Gone {
  readonly _tag = "Gone"
}

/** How one connection ended. */
type End =
  | { readonly _tag: "Ended"; readonly events: number }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Failed"; readonly error: LeaseStoreError; readonly events: number }

const newline = 0x0a

/**
 * Splits a byte stream into lines: a chunk's complete lines are emitted, the rest kept for the
 * next chunk. A line longer than `limit` bytes emits `undefined` (the caller fails).
 */
const lines = (limit: number) => (self: Stream.Stream<Uint8Array, LeaseStoreError>) =>
  self.pipe(
    Stream.mapAccum(
      (): Array<Uint8Array> => [],
      (pending, chunk): readonly [Array<Uint8Array>, ReadonlyArray<string | undefined>] => {
        const out: Array<string | undefined> = []
        let start = 0
        let index = chunk.indexOf(newline)
        while (index >= 0) {
          const piece = chunk.subarray(start, index)
          const bytes = pending.length === 0
            ? Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength)
            : Buffer.concat([...pending, piece])
          pending = []
          if (bytes.byteLength > limit) out.push(undefined)
          else if (bytes.byteLength > 0) out.push(bytes.toString("utf8"))
          start = index + 1
          index = chunk.indexOf(newline, start)
        }
        if (start < chunk.length) pending = [...pending, chunk.subarray(start)]
        if (pending.reduce((n, p) => n + p.byteLength, 0) > limit) out.push(undefined)
        return [pending, out]
      }
    )
  )

/**
 * The states of one lease.
 *
 * @internal
 */
export const watch = (source: Source): Stream.Stream<State, LeaseStoreError> =>
  Stream.callback<State, LeaseStoreError>((queue) =>
    Effect.gen(function*() {
      let last: State | undefined
      const emit = (state: State) => {
        if (
          last !== undefined &&
          (Option.isNone(last) ? Option.isNone(state) : Option.isSome(state) && last.value.version === state.value.version)
        ) return
        last = state
        Queue.offerUnsafe(queue, state)
      }
      const relist = Effect.map(source.list, ({ resourceVersion, state }) => {
        emit(state)
        return resourceVersion
      })

      /** One connection, until it ends. */
      const connection = (from: string): Effect.Effect<End> => {
        let resourceVersion = from
        let events = 0
        const body = Effect.scoped(Effect.gen(function*() {
          const response = yield* source.open(from)
          let end: End | undefined
          yield* response.stream.pipe(
            Stream.mapError(source.readFailure),
            lines(source.maxLineBytes),
            Stream.runForEachWhile((line) =>
              Effect.suspend(() => {
                if (line === undefined) return Effect.fail(source.overflow(source.maxLineBytes))
                const event = source.decode(line)
                events++
                switch (event._tag) {
                  case "Upsert":
                    resourceVersion = event.resourceVersion || resourceVersion
                    emit(Option.some(event.record))
                    return Effect.succeed(true)
                  case "Deleted":
                    resourceVersion = event.resourceVersion || resourceVersion
                    emit(Option.none())
                    return Effect.succeed(true)
                  case "Bookmark":
                    resourceVersion = event.resourceVersion || resourceVersion
                    return Effect.succeed(true)
                  case "Gone":
                    end = { _tag: "Gone" }
                    return Effect.succeed(false)
                  case "Error":
                    end = { _tag: "Failed", error: event.error, events }
                    return Effect.succeed(false)
                }
              })
            )
          )
          return end ?? { _tag: "Ended", events } satisfies End
        }))
        return body.pipe(
          Effect.timeoutOrElse({
            duration: source.connectionBound,
            orElse: () => Effect.succeed<End>({ _tag: "Ended", events })
          }),
          Effect.catch((error): Effect.Effect<End> =>
            Effect.succeed(error instanceof Gone ? { _tag: "Gone" } : { _tag: "Failed", error, events })
          ),
          Effect.tap(() => Effect.sync(() => void (latest = resourceVersion)))
        )
      }

      let latest = yield* relist
      let failures = 0
      let reloaded = false
      let previous: End["_tag"] | undefined
      while (true) {
        const startedAt = yield* Clock.currentTimeMillis
        const end = yield* connection(latest)
        const twiceGone = end._tag === "Gone" && previous === "Gone"
        previous = end._tag
        switch (end._tag) {
          case "Ended":
            failures = 0
            reloaded = false
            // A server that ends watches at once must not make this a busy loop.
            if (end.events === 0 && (yield* Clock.currentTimeMillis) - startedAt < 1000) yield* Effect.sleep("1 second")
            break
          case "Gone":
            failures = 0
            reloaded = false
            // A fresh list's resourceVersion too old at once: not a busy loop of lists.
            if (twiceGone) yield* Effect.sleep("1 second")
            latest = yield* relist
            break
          case "Failed": {
            const error = end.error
            if (error.reason === "Unauthorized" && !reloaded && (yield* source.reloadCredentials)) {
              reloaded = true
              break
            }
            if (error.reason !== "Unavailable" && error.reason !== "Timeout") return yield* Effect.fail(error)
            failures = end.events > 0 ? 1 : failures + 1
            if (failures > 3) return yield* Effect.fail(error)
            yield* Effect.sleep(Duration.millis(200 * 2 ** failures))
            break
          }
        }
      }
    })
  )
