/**
 * The fenced resource a contender's critical section writes to with its fencing token: a ConfigMap
 * on a real API server that remembers the highest token that wrote to it and the history of the
 * writes it accepted.
 *
 * It stands for another system the holder of a lease writes to. `write` is the fence: read the
 * resource; if this write is already in its history (an earlier attempt whose answer was lost) it
 * was accepted; if the stored token is higher than the writer's, the write is `rejected`;
 * otherwise `PUT` conditioned on the `resourceVersion` read, and on a conflict read again. A lower
 * token can therefore never overwrite a higher one, whatever the writer believes. Between attempts
 * the writer's `stillHolder` is asked again: `found-out` when it answers false.
 *
 * The resource should be reached directly (not through a contender's fault proxy), with
 * credentials that may read and write ConfigMaps: it stays reachable while the holder is cut off
 * from the lease — exactly when fencing matters. Requests go through `KubeClient.http` of
 * `@leasekit/kubernetes`, each bounded by its own timeout; a pooled connection that a restarted API
 * server dropped fails the next request, and `write` reads again.
 *
 * Data (all strings, as ConfigMaps require): `token` (highest accepted, `-1` before any write),
 * `holder` (who wrote it), `writes` (accepted writes), `log` (one `token id at` line per accepted
 * write, the newest `maxLog`), `dropped` (log lines dropped from the front).
 *
 * Does not: judge anything — `Exclusion` re-verifies the history afterwards; does not retry
 * forever — `write` gives up (`failed`) after `giveUpAfter` of unreachable resource.
 *
 * @since 0.2.0
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * Log lines kept in the ConfigMap (well below its 1 MiB limit).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxLog = 6000

/**
 * A request to the fenced resource failed.
 *
 * @since 0.2.0
 * @category errors
 */
export class FenceError extends Data.TaggedError("FenceError")<{
  readonly kind: "Setup" | "Transport" | "Timeout" | "Status" | "Invalid"
  readonly status?: number | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `fenced resource: ${this.kind}${this.status === undefined ? "" : ` ${this.status}`}: ${this.detail}`
  }
}

/**
 * Where the fenced resource lives: a kubeconfig (credentials that may read and write ConfigMaps in
 * `namespace`), the namespace and the ConfigMap's name.
 *
 * @since 0.2.0
 * @category models
 */
export interface FenceTarget {
  readonly kubeconfig: string
  readonly namespace: string
  readonly name: string
}

/**
 * One accepted write in the resource's history: the token, the write's id (`<holder>#<n>`) and the
 * wall-clock instant it was written (informational).
 *
 * @since 0.2.0
 * @category models
 */
export interface FenceEntry {
  readonly token: number
  readonly id: string
  readonly at: number
}

/**
 * The resource as read.
 *
 * @since 0.2.0
 * @category models
 */
export interface FenceState {
  readonly resourceVersion: string
  readonly token: number
  readonly holder: string
  readonly writes: number
  readonly log: ReadonlyArray<FenceEntry>
  readonly dropped: number
}

/**
 * The fenced resource with the client that reaches it (see `open`).
 *
 * @since 0.2.0
 * @category models
 */
export interface Fence {
  readonly client: KubeClient.KubeClientService
  readonly namespace: string
  readonly name: string
}

/**
 * How a fenced write ended.
 * - `accepted`: the resource took the write (its token was ≤ the writer's).
 * - `rejected`: the resource holds a higher token; the fence refused the write.
 * - `found-out`: `stillHolder` answered false between attempts; the writer stopped.
 * - `failed`: the resource could not be reached within `giveUpAfter`.
 *
 * @since 0.2.0
 * @category models
 */
export type WriteOutcome = "accepted" | "rejected" | "found-out" | "failed"

/**
 * The result of `write`: the outcome, the token the resource held when it rejected the write, the
 * attempts made, and the last error met (if any).
 *
 * @since 0.2.0
 * @category models
 */
export interface WriteResult {
  readonly outcome: WriteOutcome
  readonly stored?: number | undefined
  readonly attempts: number
  readonly detail?: string | undefined
}

/**
 * The client for `target` (its connection pool closes with the scope).
 *
 * @since 0.2.0
 * @category constructors
 */
export const open = (target: FenceTarget): Effect.Effect<Fence, FenceError, Scope.Scope> =>
  KubeClient.makeFromFile(target.kubeconfig).pipe(
    Effect.map((client): Fence => ({ client, namespace: target.namespace, name: target.name })),
    Effect.mapError((error) => new FenceError({ kind: "Setup", detail: error.message }))
  )

/**
 * The fenced resource of permit `permit` of a semaphore: `<name>-<permit>`, on the same client (a
 * permit is an ordinary lease with its own token sequence, so each has its own resource).
 *
 * @since 0.2.0
 * @category constructors
 */
export const ofPermit = <F extends { readonly name: string }>(fence: F, permit: number): F => ({
  ...fence,
  name: `${fence.name}-${permit}`
})

const path = (fence: Fence, withName: boolean) =>
  `/api/v1/namespaces/${fence.namespace}/configmaps${withName ? `/${fence.name}` : ""}`

/** The part of a ConfigMap this module reads. */
const ConfigMap = Schema.Struct({
  metadata: Schema.Struct({ resourceVersion: Schema.String }),
  data: Schema.optional(Schema.Record(Schema.String, Schema.String))
})

/** One request, bounded by `timeoutMillis`, aborted (its connection destroyed) when interrupted. */
const request = (
  fence: Fence,
  method: "GET" | "POST" | "PUT",
  urlPath: string,
  body: unknown,
  timeoutMillis: number
): Effect.Effect<{ readonly status: number; readonly body: string }, FenceError> => {
  const bare = HttpClientRequest.make(method)(urlPath, { acceptJson: true })
  return fence.client.http.execute(body === undefined ? bare : HttpClientRequest.bodyJsonUnsafe(bare, body)).pipe(
    Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, body: text }))),
    Effect.scoped,
    Effect.mapError((error) =>
      new FenceError({
        kind: "Transport",
        detail: `${method} ${urlPath}: ${error.cause instanceof Error ? error.cause.message : error.message}`
      })
    ),
    Effect.timeoutOrElse({
      duration: Duration.millis(timeoutMillis),
      orElse: () =>
        Effect.fail(new FenceError({ kind: "Timeout", detail: `${method} ${urlPath}: no answer in ${timeoutMillis} ms` }))
    })
  )
}

const parseLog = (text: string | undefined): Array<FenceEntry> =>
  (text ?? "").split("\n").filter((l) => l !== "").map((line) => {
    const [token, id, at] = line.split(" ")
    return { token: Number(token), id: id ?? "", at: Number(at) }
  })

const toState = (object: typeof ConfigMap.Type): FenceState => {
  const data = object.data ?? {}
  return {
    resourceVersion: object.metadata.resourceVersion,
    token: Number(data["token"] ?? "-1"),
    holder: data["holder"] ?? "",
    writes: Number(data["writes"] ?? "0"),
    log: parseLog(data["log"]),
    dropped: Number(data["dropped"] ?? "0")
  }
}

const statusError = (what: string, status: number, body: string) =>
  new FenceError({ kind: "Status", status, detail: `${what}: ${body.slice(0, 300)}` })

/**
 * Creates the resource with token -1 (any first token is accepted).
 *
 * @since 0.2.0
 * @category operations
 */
export const create = (fence: Fence): Effect.Effect<void, FenceError> =>
  request(fence, "POST", path(fence, false), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: fence.name },
    data: { token: "-1", holder: "", writes: "0", log: "", dropped: "0" }
  }, 10_000).pipe(
    Effect.flatMap((res) => res.status === 201 ? Effect.void : Effect.fail(statusError("create", res.status, res.body)))
  )

const decodeConfigMap = Schema.decodeUnknownEffect(Schema.fromJsonString(ConfigMap))

/**
 * Reads the resource.
 *
 * @since 0.2.0
 * @category operations
 */
export const read = (fence: Fence, timeoutMillis = 3_000): Effect.Effect<FenceState, FenceError> =>
  request(fence, "GET", path(fence, true), undefined, timeoutMillis).pipe(
    Effect.flatMap((res) =>
      res.status === 200
        ? decodeConfigMap(res.body).pipe(
          Effect.map(toState),
          Effect.mapError((error) => new FenceError({ kind: "Invalid", detail: `get: ${error.message}` }))
        )
        : Effect.fail(statusError("get", res.status, res.body))
    )
  )

/**
 * Compare-and-swap: writes `token` (by `holder`, write `id`) on top of `from`, conditioned on
 * `from.resourceVersion`. `"conflict"` when someone wrote in between. Applies no fence rule: the
 * caller has checked it against `from` (`write` does).
 *
 * @since 0.2.0
 * @category operations
 */
export const put = (
  fence: Fence,
  from: FenceState,
  entry: { readonly token: number; readonly holder: string; readonly id: string },
  timeoutMillis = 3_000
): Effect.Effect<"ok" | "conflict", FenceError> =>
  Effect.gen(function*() {
    const entries = [...from.log, { token: entry.token, id: entry.id, at: yield* Clock.currentTimeMillis }]
    const drop = Math.max(0, entries.length - maxLog)
    const log = entries.slice(drop).map((e) => `${e.token} ${e.id} ${e.at}`).join("\n")
    const res = yield* request(fence, "PUT", path(fence, true), {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: fence.name, namespace: fence.namespace, resourceVersion: from.resourceVersion },
      data: {
        token: String(entry.token),
        holder: entry.holder,
        writes: String(from.writes + 1),
        log,
        dropped: String(from.dropped + drop)
      }
    }, timeoutMillis)
    if (res.status === 200) return "ok" as const
    if (res.status === 409) return "conflict" as const
    return yield* Effect.fail(statusError("put", res.status, res.body))
  })

/**
 * One fenced write (the compare-and-swap loop with the fence rule, see the module header). Retries
 * after a conflict or an unreachable resource, asking `stillHolder` before every retry; gives up
 * (`failed`) after `giveUpAfter` (default 60 s) of failed requests, pausing `retryPause` (default
 * 250 ms) after each. Interruptible: a writer that wants a decided write to complete (as a request
 * already on the wire would) makes it uninterruptible.
 *
 * @since 0.2.0
 * @category operations
 */
export const write = <R>(
  fence: Fence,
  entry: { readonly token: number; readonly holder: string; readonly id: string },
  options: {
    readonly stillHolder: Effect.Effect<boolean, never, R>
    readonly giveUpAfter?: Duration.Input | undefined
    readonly retryPause?: Duration.Input | undefined
  }
): Effect.Effect<WriteResult, never, R> =>
  Effect.gen(function*() {
    const giveUpAt = (yield* Clock.currentTimeMillis) + Duration.toMillis(Duration.fromInputUnsafe(options.giveUpAfter ?? "60 seconds"))
    const pause = Effect.sleep(options.retryPause ?? "250 millis")
    let attempts = 0
    let detail: string | undefined
    const done = (outcome: WriteOutcome, stored?: number): WriteResult => ({ outcome, stored, attempts, detail })
    while (true) {
      attempts++
      if (attempts > 1 && !(yield* options.stillHolder)) return done("found-out")
      // Retries end when the writer finds out; this bound only covers an unreachable resource.
      if ((yield* Clock.currentTimeMillis) > giveUpAt) return done("failed")
      const state = yield* Effect.result(read(fence))
      if (state._tag === "Failure") {
        detail = state.failure.message
        yield* pause
        continue
      }
      // An earlier attempt landed although its answer was lost.
      if (state.success.log.some((e) => e.id === entry.id)) return done("accepted")
      if (state.success.token > entry.token) return done("rejected", state.success.token)
      const swapped = yield* Effect.result(put(fence, state.success, entry))
      if (swapped._tag === "Success" && swapped.success === "ok") return done("accepted")
      if (swapped._tag === "Failure") {
        detail = swapped.failure.message
        yield* pause
      }
    }
  })
