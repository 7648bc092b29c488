/**
 * A `LeaseStore` over Kubernetes `coordination.k8s.io/v1` Lease objects.
 *
 * Each store call is one API request (two for a `list` with many pages): `get` reads, `create`
 * POSTs, `update` PUTs the whole object carrying `metadata.resourceVersion` (the API server's
 * compare-and-swap) and `metadata.uid`, `remove` DELETEs with `preconditions` on both. The uid
 * matters: Leases allow create-on-update, so a PUT with only a resourceVersion would re-create a
 * lease that was deleted since it was read; with the uid it fails `NotFound` instead. The
 * record's opaque `version` is therefore `"<resourceVersion>/<uid>"`. `watch` lists the
 * one lease with a field selector on its name (current state and a resourceVersion), then watches
 * from that resourceVersion, resumes from the last one seen whenever the server ends the watch,
 * and re-lists when the server answers 410 Gone. Objects are read and written exactly as
 * client-go's `LeaseLock` does (`holderIdentity`, `leaseDurationSeconds`, `acquireTime` /
 * `renewTime` as MicroTime with six fractional digits, `leaseTransitions`), so leasekit and
 * client-go leader electors share a lease.
 *
 * Requests go out on the client's own keep-alive connection pool (`KubeClient.rest`, plain JSON over
 * `node:https`) — a renewal costs one small PUT and little more; watches use client-node's `Watch`.
 *
 * Guarantees: every request is bounded by `requestTimeout` (then `Timeout`) and is aborted when
 * interrupted; at most `maxRequestsInFlight` requests are in flight at once (overload queues
 * inside the store instead of piling up on the API server); a 401 is retried once after
 * re-reading the user's token file and certificates (rotated service-account tokens keep
 * working); transport types never leave this package — failures are `LeaseStoreError`s keeping
 * the original as `cause`; a 403 names the missing RBAC rule; a lease is absent (`get` → `None`)
 * only when a Kubernetes API server answered 404 with a `Status` — any other 404 (a server that is
 * not a Kubernetes API server) fails with `Unsupported`, naming the server. A watch that is forbidden fails with `Forbidden` (the algorithm then polls); one that
 * cannot reconnect fails with `Unavailable`. Answers are decoded with the Schemas of
 * `internal/wire.ts`: one that is not what the API promises (a malformed Lease, list page or watch
 * event) fails with `Invalid`, naming the field.
 *
 * Reads (`get`, `list`) are retried once at once when a pooled connection was reset under them;
 * writes never are (their outcome is unknown: `Unavailable`).
 *
 * An `update` keeps the whole object as read and replaces only the spec fields the algorithm owns
 * (`holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`, `leaseTransitions`), as
 * client-go's `LeaseLock` writes back the object it read: owner references (garbage collection of
 * a Lease owned by a Deployment), finalizers, labels, annotations and spec fields of newer API
 * servers (`strategy`, `preferredHolder`) survive renewals and releases. For that, each record this
 * store hands out (from `get`, `list`, `create`, `update` and `watch`) is associated, by its
 * identity and inside this store instance, with the object it was made from; the record itself
 * stays neutral.
 *
 * Does not: cache anything between calls that a write depends on (the version travels in the
 * record; the object kept beside a record is that same observation). A record this store instance
 * did not hand out — built by hand, by spreading, or by another store — has no object beside it:
 * its `update` is built from the record alone (spec, labels and annotations), dropping what
 * leasekit does not model.
 *
 * @since 0.1.0
 */
import { Watch } from "@kubernetes/client-node"
import { Lease, LeaseStore } from "@leasekit/core"
import type { LeaseRecord } from "@leasekit/core"
import { Clock, Duration, Effect, Layer, Option, Queue, type Result, Semaphore, Stream } from "effect"
import { KubeClient, type KubeClientService } from "./KubeClient.ts"
import * as ApiError from "./internal/apiError.ts"
import * as LeaseObject from "./internal/leaseObject.ts"
import type { Method } from "./internal/restClient.ts"
import * as Wire from "./internal/wire.ts"

type LeaseKey = LeaseRecord.LeaseKey
type Record_ = LeaseRecord.LeaseRecord
type LeaseStoreError = LeaseStore.LeaseStoreError
type LeaseStoreOperation = LeaseStore.LeaseStoreOperation

/**
 * Options of the Kubernetes store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Upper bound of every API request; past it the call fails with `Timeout`. Default 5 seconds. */
  readonly requestTimeout?: Duration.Input
  /**
   * How long the server keeps one watch connection open before the store resumes it (from the
   * last resourceVersion). Must stay below 30 s: the client library drops a watch connection
   * that is silent for 30 s. Default 25 seconds.
   */
  readonly watchReconnect?: Duration.Input
  /** Page size of `list`. Default 500. */
  readonly listPageSize?: number
  /**
   * Requests (other than watches) in flight at once through this store; more wait for a turn,
   * within their `requestTimeout`. Default 100 (the client's connection pool has 100
   * connections). Without a bound, an overloaded API server turns thousands of renewals into
   * thousands of open, then timed-out and aborted requests (measured in `bench/`, 10,000 leases).
   */
  readonly maxRequestsInFlight?: number
}

const fieldManager = "leasekit"

const leasesPath = (namespace: string | undefined) =>
  namespace === undefined
    ? "/apis/coordination.k8s.io/v1/leases"
    : `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`

const leasePath = (key: LeaseKey) => `${leasesPath(key.namespace)}/${encodeURIComponent(key.name)}`

const withQuery = (path: string, query: Record<string, string | number | undefined>) => {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value))
  const text = params.toString()
  return text === "" ? path : `${path}?${text}`
}

type State = Option.Option<Record_>

const statusCodeOf = (error: unknown): number | undefined =>
  typeof error === "object" && error !== null && "statusCode" in error && typeof error.statusCode === "number"
    ? error.statusCode
    : undefined

const sameState = (a: State, b: State): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value.version === b.value.version

/** How one watch connection ended. */
type WatchEnd =
  | { readonly _tag: "Ended"; readonly events: number }
  | { readonly _tag: "Gone" }
  | { readonly _tag: "Failed"; readonly cause: unknown; readonly status?: ApiError.Status; readonly events: number }

/**
 * Builds the store on a `KubeClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (client: KubeClientService, options: Options = {}): LeaseStore.LeaseStoreService => {
  const defaultRequestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "5 seconds")
  const watchReconnectSeconds = Math.max(
    1,
    Math.min(29, Math.floor(Duration.toSeconds(Duration.fromInputUnsafe(options.watchReconnect ?? "25 seconds"))))
  )
  const pageSize = options.listPageSize ?? 500
  const inFlight = Semaphore.withPermit(Semaphore.makeUnsafe(Math.max(1, options.maxRequestsInFlight ?? 100)))
  const rest = client.rest

  // The object each record handed out was made from, by the record's identity (shared by every
  // `withRequestTimeout` view): an update starts from it, so fields leasekit does not model survive.
  const objects = new WeakMap<Record_, Wire.Lease>()
  const recordOf = (lease: Wire.Lease): Record_ => {
    const record = LeaseObject.toRecord(lease)
    objects.set(record, LeaseObject.retained(lease))
    return record
  }

  /** The store with every request bounded by `requestTimeout`; all views share the pool and the limit. */
  const build = (requestTimeout: Duration.Duration): LeaseStore.LeaseStoreService => {
    const contextFor = (
      operation: LeaseStoreOperation,
      verb: string,
      key: LeaseKey | undefined,
      namespace: string | undefined,
      reloaded = false
    ): ApiError.RequestContext => ({
      operation,
      key,
      namespace,
      verb,
      user: client.user,
      context: client.context,
      server: client.server,
      reloaded
    })

    /** Decodes an answer; one that is not what the API promises fails as `Invalid`, naming the field. */
    const decoded = <A>(
      operation: LeaseStoreOperation,
      verb: string,
      key: LeaseKey | undefined,
      namespace: string | undefined,
      decode: (u: unknown) => Result.Result<A, Wire.WireError>
    ) =>
    (answer: unknown): Effect.Effect<A, LeaseStoreError> =>
      Effect.mapError(
        Effect.fromResult(decode(answer)),
        (error) => ApiError.malformedAnswer(contextFor(operation, verb, key, namespace), error)
      )

    /** A body to send; one no API server accepts fails as `Invalid` before anything is sent. */
    const sendable = (
      operation: LeaseStoreOperation,
      verb: string,
      key: LeaseKey,
      body: Result.Result<LeaseObject.LeaseBody, Wire.WireError>
    ): Effect.Effect<LeaseObject.LeaseBody, LeaseStoreError> =>
      Effect.mapError(
        Effect.fromResult(body),
        (error) => ApiError.unsendable(contextFor(operation, verb, key, key.namespace), error)
      )

    /** One API request: bounded, abortable, errors mapped, a 401 retried once after a token reload. */
    const request = (
      operation: LeaseStoreOperation,
      verb: string,
      key: LeaseKey | undefined,
      namespace: string | undefined,
      method: Method,
      path: string,
      body?: unknown
    ): Effect.Effect<unknown, LeaseStoreError> => {
      const once = (reloaded: boolean) =>
        Effect.tryPromise({
          try: (signal) => rest.request(method, path, body, signal),
          catch: (cause) => ApiError.fromCause(contextFor(operation, verb, key, namespace, reloaded), cause)
        }).pipe(
          // Waiting for a turn counts against the timeout: a request that times out while queued
          // never opened a connection.
          inFlight,
          Effect.timeoutOrElse({
            duration: requestTimeout,
            orElse: () =>
              Effect.fail(
                new LeaseStore.LeaseStoreError({
                  operation,
                  key,
                  reason: "Timeout",
                  detail: `no answer from the API server at ${client.server} within ${
                    Duration.format(requestTimeout)
                  } (the request may still have been applied)`
                })
              )
          })
        )
      // Reads are idempotent: one immediate retry when a pooled connection was reset under them.
      const read = method === "GET"
      return once(false).pipe(
        Effect.catchIf(
          (error) => read && ApiError.isConnectionReset(error),
          () => once(false)
        ),
        Effect.catchIf(
          (error) => error.reason === "Unauthorized",
          (error) =>
            client.reloadCredentials.pipe(
              Effect.flatMap((changed) => changed ? once(true) : Effect.fail(error))
            )
        )
      )
    }

    const get = (key: LeaseKey): Effect.Effect<State, LeaseStoreError> =>
      request("get", "get", key, key.namespace, "GET", leasePath(key)).pipe(
        Effect.flatMap(decoded("get", "get", key, key.namespace, Wire.decodeLease)),
        Effect.map((lease) => Option.some(recordOf(lease))),
        Effect.catchIf((error) => error.reason === "NotFound", () => Effect.succeed(Option.none()))
      )

    const list = (namespace: string | undefined): Effect.Effect<ReadonlyArray<Record_>, LeaseStoreError> =>
      Effect.gen(function*() {
        const records: Array<Record_> = []
        let continueToken: string | undefined
        do {
          const page = yield* request(
            "list",
            "list",
            undefined,
            namespace,
            "GET",
            withQuery(leasesPath(namespace), { limit: pageSize, continue: continueToken })
          ).pipe(Effect.flatMap(decoded("list", "list", undefined, namespace, Wire.decodeLeaseList)))
          for (const item of page.items) records.push(recordOf(item))
          const next = page.metadata?.continue
          continueToken = next === undefined || next === "" ? undefined : next
        } while (continueToken !== undefined)
        return records
      })

    const create = (key: LeaseKey, spec: LeaseRecord.LeaseSpec, metadata: LeaseRecord.LeaseMetadata = {}) =>
      sendable("create", "create", key, LeaseObject.toBody(key, spec, metadata)).pipe(
        Effect.flatMap((body) =>
          request(
            "create",
            "create",
            key,
            key.namespace,
            "POST",
            withQuery(leasesPath(key.namespace), { fieldManager }),
            body
          )
        ),
        Effect.flatMap(decoded("create", "create", key, key.namespace, Wire.decodeLease)),
        Effect.map(recordOf)
      )

    const staleRecord = (operation: LeaseStoreOperation, record: Record_) =>
      Effect.fail(
        new LeaseStore.LeaseStoreError({
          operation,
          key: record.key,
          reason: "Conflict",
          detail: "the record carries no resourceVersion, so it cannot be the stored one; read the lease again"
        })
      )

    const update = (record: Record_, spec: LeaseRecord.LeaseSpec) =>
      record.version === ""
        ? staleRecord("update", record)
        : sendable("update", "update", record.key, LeaseObject.toUpdateBody(record, spec, objects.get(record))).pipe(
          Effect.flatMap((body) =>
            request(
              "update",
              "update",
              record.key,
              record.key.namespace,
              "PUT",
              withQuery(leasePath(record.key), { fieldManager }),
              body
            )
          ),
          Effect.flatMap(decoded("update", "update", record.key, record.key.namespace, Wire.decodeLease)),
          Effect.map(recordOf)
        )

    const remove = (record: Record_) =>
      record.version === ""
        ? staleRecord("remove", record)
        : request("remove", "delete", record.key, record.key.namespace, "DELETE", leasePath(record.key), {
          preconditions: LeaseObject.preconditionsOf(record.version)
        }).pipe(Effect.asVoid)

    /** The lease's current state and the resourceVersion to watch from. */
    const listOne = (key: LeaseKey) =>
      request(
        "watch",
        "list",
        key,
        key.namespace,
        "GET",
        withQuery(leasesPath(key.namespace), { fieldSelector: `metadata.name=${key.name}` })
      ).pipe(
        Effect.flatMap(decoded("watch", "list", key, key.namespace, Wire.decodeLeaseList)),
        Effect.map((page) => {
          const item = page.items.find((lease) => lease.metadata.name === key.name)
          const state: State = item === undefined ? Option.none() : Option.some(recordOf(item))
          return { state, resourceVersion: page.metadata?.resourceVersion ?? "" }
        })
      )

    /** One watch connection from `resourceVersion`, feeding `onEvent` until it ends. */
    const watchOnce = (
      key: LeaseKey,
      resourceVersion: string,
      onEvent: (event: unknown) => "continue" | "gone" | ApiError.Status | Wire.WireError
    ) =>
      Effect.callback<WatchEnd>((resume) => {
        let controller: AbortController | undefined
        let interrupted = false
        let events = 0
        let ending: WatchEnd | undefined
        const watch = new Watch(client.kubeConfig)
        watch.watch(
          leasesPath(key.namespace),
          {
            fieldSelector: `metadata.name=${key.name}`,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: watchReconnectSeconds
          },
          (type, object) => {
            if (ending !== undefined) return
            events++
            const next = onEvent({ type, object })
            if (next === "continue") return
            ending = next === "gone"
              ? { _tag: "Gone" }
              : next instanceof Wire.WireError
              ? { _tag: "Failed", cause: next, events }
              : { _tag: "Failed", cause: next, status: next, events }
            controller?.abort()
          },
          (error: unknown) => {
            if (ending !== undefined) return resume(Effect.succeed(ending))
            if (error === null || error === undefined) return resume(Effect.succeed({ _tag: "Ended", events }))
            const isTimeout = error instanceof Error && error.name === "TimeoutError" && events > 0
            resume(Effect.succeed(isTimeout ? { _tag: "Ended", events } : { _tag: "Failed", cause: error, events }))
          }
        ).then(
          (c) => {
            controller = c
            if (interrupted || ending !== undefined) c.abort()
          },
          (error: unknown) => resume(Effect.succeed({ _tag: "Failed", cause: error, events }))
        )
        return Effect.sync(() => {
          interrupted = true
          controller?.abort()
        })
      })

    const watch = (key: LeaseKey): Stream.Stream<State, LeaseStoreError> =>
      Stream.callback<State, LeaseStoreError>((queue) =>
        Effect.gen(function*() {
          let last: State | undefined
          const emit = (state: State) => {
            if (last !== undefined && sameState(last, state)) return
            last = state
            Queue.offerUnsafe(queue, state)
          }
          const relist = Effect.gen(function*() {
            const { resourceVersion, state } = yield* listOne(key)
            emit(state)
            return resourceVersion
          })

          let resourceVersion = yield* relist
          let failures = 0
          let reloaded = false
          while (true) {
            const startedAt = yield* Clock.currentTimeMillis
            const end = yield* watchOnce(key, resourceVersion, (raw) => {
              const decodedEvent = Wire.decodeWatchEvent(raw)
              if (decodedEvent._tag === "Failure") return decodedEvent.failure
              const event = decodedEvent.success
              switch (event.type) {
                case "ADDED":
                case "MODIFIED": {
                  resourceVersion = event.object.metadata.resourceVersion || resourceVersion
                  emit(Option.some(recordOf(event.object)))
                  return "continue"
                }
                case "DELETED": {
                  resourceVersion = event.object.metadata.resourceVersion || resourceVersion
                  emit(Option.none())
                  return "continue"
                }
                case "BOOKMARK": {
                  resourceVersion = event.object.metadata.resourceVersion || resourceVersion
                  return "continue"
                }
                case "ERROR":
                  return event.object.code === 410 ? "gone" : event.object
              }
            })
            switch (end._tag) {
              case "Ended":
                failures = 0
                // A server that ends watches at once must not make this a busy loop.
                if (end.events === 0 && (yield* Clock.currentTimeMillis) - startedAt < 1000) yield* Effect.sleep("1 second")
                break
              case "Gone":
                failures = 0
                resourceVersion = yield* relist
                break
              case "Failed": {
                const code = end.status?.code ?? statusCodeOf(end.cause)
                if (code === 410) {
                  failures = 0
                  resourceVersion = yield* relist
                  break
                }
                const ctx = contextFor("watch", "watch", key, key.namespace, reloaded)
                const error = end.status?.code === undefined
                  ? ApiError.fromCause(ctx, end.cause)
                  : ApiError.fromStatus(ctx, end.status.code, end.status, end.cause)
                if (error.reason === "Unauthorized" && !reloaded && (yield* client.reloadCredentials)) {
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
            if (end._tag !== "Failed") reloaded = false
          }
        })
      )

    return LeaseStore.LeaseStore.of({ get, list, create, update, remove, watch, withRequestTimeout: build })
  }

  return build(defaultRequestTimeout)
}

/**
 * The Kubernetes store with options, on the `KubeClient` in context, with the `Lease` service
 * over it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<LeaseStore.LeaseStore | Lease.Lease, never, KubeClient> =>
  Layer.provideMerge(
    Lease.layer,
    Layer.effect(
      LeaseStore.LeaseStore,
      Effect.gen(function*() {
        return make(yield* KubeClient, options)
      })
    )
  )

/**
 * The Kubernetes store, on the `KubeClient` in context, with the `Lease` service over it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LeaseStore.LeaseStore | Lease.Lease, never, KubeClient> = layerWith({})
