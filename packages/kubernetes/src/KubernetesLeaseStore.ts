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
 * Guarantees: every request is bounded by `requestTimeout` (then `Timeout`) and is aborted when
 * interrupted; at most `maxRequestsInFlight` requests are in flight at once (overload queues
 * inside the store instead of piling up streams on the connection); a 401 is retried once after re-reading the user's token file (rotated
 * service-account tokens keep working); `V1Lease` and `ApiException` never leave this package —
 * failures are `LeaseStoreError`s keeping the original as `cause`; a 403 names the missing RBAC
 * rule. A watch that is forbidden fails with `Forbidden` (the algorithm then polls); one that
 * cannot reconnect fails with `Unavailable`.
 *
 * Reads (`get`, `list`) are retried once at once when a pooled connection was reset under them;
 * writes never are (their outcome is unknown: `Unavailable`).
 *
 * Does not: cache anything between calls (the version travels in the record); keep fields of the
 * object leasekit does not model — an `update` replaces the object with the record's spec, labels
 * and annotations. `spec.strategy` / `preferredHolder` are dropped as client-go's
 * `LeaseLock.Update` drops them; unlike client-go, which writes back the whole object it read,
 * owner references and finalizers set by someone else are dropped too.
 *
 * @since 0.1.0
 */
import { Observable, Watch } from "@kubernetes/client-node"
import type {
  ConfigurationOptions,
  RequestContext as KubeRequestContext,
  ResponseContext,
  V1Lease
} from "@kubernetes/client-node"
import { LeaseStore } from "@leasekit/core"
import type { LeaseRecord } from "@leasekit/core"
import { Clock, Duration, Effect, Layer, Option, Queue, Semaphore, Stream } from "effect"
import { KubeClient, type KubeClientService } from "./KubeClient.ts"
import * as ApiError from "./internal/apiError.ts"
import * as LeaseObject from "./internal/leaseObject.ts"

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
   * within their `requestTimeout`. Default 100 — below the API server's HTTP/2 stream limit (250).
   * Without a bound, an overloaded API server turns thousands of renewals into thousands of
   * timed-out, reset HTTP/2 streams on one connection, which Node flushes at a cost that blocks
   * the event loop while memory grows without bound (measured in `bench/`, 10,000 leases).
   */
  readonly maxRequestsInFlight?: number
}

const fieldManager = "leasekit"

/**
 * The generated client types `acquireTime` / `renewTime` as `Date` and would serialize them with
 * three fractional digits; the body carries MicroTime strings, which its serializer passes
 * through unchanged. Hence the one cast, here.
 */
const asLease = (body: LeaseObject.LeaseBody): V1Lease => body as unknown as V1Lease

/** Per-request options that abort the request with `signal`. */
const withSignal = (signal: AbortSignal): ConfigurationOptions => ({
  middleware: [{
    pre: (context: KubeRequestContext) => {
      context.setSignal(signal)
      return new Observable(Promise.resolve(context))
    },
    post: (response: ResponseContext) => new Observable(Promise.resolve(response))
  }],
  middlewareMergeStrategy: "append"
})

const leasesPath = (namespace: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`

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
  const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "5 seconds")
  const watchReconnectSeconds = Math.max(
    1,
    Math.min(29, Math.floor(Duration.toSeconds(Duration.fromInputUnsafe(options.watchReconnect ?? "25 seconds"))))
  )
  const pageSize = options.listPageSize ?? 500
  const inFlight = Semaphore.withPermit(Semaphore.makeUnsafe(Math.max(1, options.maxRequestsInFlight ?? 100)))
  const api = client.coordination

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

  /** One API request: bounded, abortable, errors mapped, a 401 retried once after a token reload. */
  const request = <A>(
    operation: LeaseStoreOperation,
    verb: string,
    key: LeaseKey | undefined,
    namespace: string | undefined,
    send: (options: ConfigurationOptions) => Promise<A>
  ): Effect.Effect<A, LeaseStoreError> => {
    const once = (reloaded: boolean) =>
      Effect.tryPromise({
        try: (signal) => send(withSignal(signal)),
        catch: (cause) => ApiError.fromCause(contextFor(operation, verb, key, namespace, reloaded), cause)
      }).pipe(
        // Waiting for a turn counts against the timeout: a request that times out while queued
        // never opened a stream.
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
    const read = verb === "get" || verb === "list"
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

  const toRecord = (object: unknown, key: LeaseKey) => LeaseObject.toRecord(object, key)

  const get = (key: LeaseKey): Effect.Effect<State, LeaseStoreError> =>
    request("get", "get", key, key.namespace, (o) => api.readNamespacedLease(key, o)).pipe(
      Effect.map((lease) => Option.some(toRecord(lease, key))),
      Effect.catchIf((error) => error.reason === "NotFound", () => Effect.succeed(Option.none()))
    )

  const list = (namespace: string | undefined): Effect.Effect<ReadonlyArray<Record_>, LeaseStoreError> =>
    Effect.gen(function*() {
      const records: Array<Record_> = []
      let continueToken: string | undefined
      do {
        const page = yield* request("list", "list", undefined, namespace, (o) =>
          namespace === undefined
            ? api.listLeaseForAllNamespaces({
              limit: pageSize,
              ...(continueToken === undefined ? {} : { _continue: continueToken })
            }, o)
            : api.listNamespacedLease({
              namespace,
              limit: pageSize,
              ...(continueToken === undefined ? {} : { _continue: continueToken })
            }, o))
        for (const item of page.items ?? []) {
          records.push(toRecord(item, { namespace: namespace ?? "", name: "" }))
        }
        const next = page.metadata?._continue
        continueToken = next === undefined || next === "" ? undefined : next
      } while (continueToken !== undefined)
      return records
    })

  const create = (key: LeaseKey, spec: LeaseRecord.LeaseSpec, metadata: LeaseRecord.LeaseMetadata = {}) =>
    request("create", "create", key, key.namespace, (o) =>
      api.createNamespacedLease({
        namespace: key.namespace,
        body: asLease(LeaseObject.toBody(key, spec, metadata)),
        fieldManager
      }, o)).pipe(Effect.map((lease) => toRecord(lease, key)))

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
      : request("update", "update", record.key, record.key.namespace, (o) =>
        api.replaceNamespacedLease({
          name: record.key.name,
          namespace: record.key.namespace,
          body: asLease(LeaseObject.toBody(record.key, spec, record.metadata, record.version)),
          fieldManager
        }, o)).pipe(Effect.map((lease) => toRecord(lease, record.key)))

  const remove = (record: Record_) =>
    record.version === ""
      ? staleRecord("remove", record)
      : request("remove", "delete", record.key, record.key.namespace, (o) =>
        api.deleteNamespacedLease({
          name: record.key.name,
          namespace: record.key.namespace,
          body: { preconditions: LeaseObject.preconditionsOf(record.version) }
        }, o)).pipe(Effect.asVoid)

  /** The lease's current state and the resourceVersion to watch from. */
  const listOne = (key: LeaseKey) =>
    request("watch", "list", key, key.namespace, (o) =>
      api.listNamespacedLease({
        namespace: key.namespace,
        fieldSelector: `metadata.name=${key.name}`
      }, o)).pipe(
        Effect.map((page) => {
          const item = (page.items ?? []).find((lease) => lease.metadata?.name === key.name)
          const state: State = item === undefined ? Option.none() : Option.some(toRecord(item, key))
          return { state, resourceVersion: page.metadata?.resourceVersion ?? "" }
        })
      )

  /** One watch connection from `resourceVersion`, feeding `onEvent` until it ends. */
  const watchOnce = (
    key: LeaseKey,
    resourceVersion: string,
    onEvent: (type: string, object: unknown) => "continue" | "gone" | ApiError.Status
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
          const next = onEvent(type, object)
          if (next === "continue") return
          ending = next === "gone" ? { _tag: "Gone" } : { _tag: "Failed", cause: next, status: next, events }
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
          const end = yield* watchOnce(key, resourceVersion, (type, object) => {
            switch (type) {
              case "ADDED":
              case "MODIFIED": {
                resourceVersion = LeaseObject.resourceVersionOf(object) || resourceVersion
                emit(Option.some(toRecord(object, key)))
                return "continue"
              }
              case "DELETED": {
                resourceVersion = LeaseObject.resourceVersionOf(object) || resourceVersion
                emit(Option.none())
                return "continue"
              }
              case "BOOKMARK": {
                resourceVersion = LeaseObject.resourceVersionOf(object) || resourceVersion
                return "continue"
              }
              case "ERROR": {
                const status = ApiError.parseStatus(object)
                return status.code === 410 ? "gone" : status
              }
              default:
                return "continue"
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

  return LeaseStore.LeaseStore.of({ get, list, create, update, remove, watch })
}

/**
 * The Kubernetes store, on the `KubeClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<LeaseStore.LeaseStore, never, KubeClient> = Layer.effect(
  LeaseStore.LeaseStore,
  Effect.gen(function*() {
    return make(yield* KubeClient)
  })
)

/**
 * The Kubernetes store with options, on the `KubeClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: Options): Layer.Layer<LeaseStore.LeaseStore, never, KubeClient> =>
  Layer.effect(
    LeaseStore.LeaseStore,
    Effect.gen(function*() {
      return make(yield* KubeClient, options)
    })
  )
