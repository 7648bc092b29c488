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
 * Requests go out on `KubeClient.http` (Effect's `HttpClient` on the client's keep-alive connection
 * pool) — a renewal costs one small PUT and little more; a watch is a streamed `GET` on the same
 * client (`internal/leaseWatch.ts`).
 *
 * Guarantees: every request is bounded by `requestTimeout` (then `Timeout`) and is aborted when
 * interrupted; at most `maxRequestsInFlight` requests are in flight at once (overload queues
 * inside the store instead of piling up on the API server); a 401 is retried once by the client
 * after it refreshed the user's credentials (rotated service-account tokens keep working); an
 * answer that is not a well-formed Lease fails with `Invalid`, naming the field; transport types
 * never leave this package — failures are `LeaseStoreError`s keeping
 * the original as `cause`; a 403 names the missing RBAC rule; a lease is absent (`get` → `None`)
 * only when a Kubernetes API server answered 404 with a `Status` — any other 404 (a server that is
 * not a Kubernetes API server) fails with `Unsupported`, naming the server. A watch that is forbidden fails with `Forbidden` (the algorithm then polls); one that
 * cannot reconnect fails with `Unavailable`.
 *
 * Reads (`get`, `list`) are retried once at once when a pooled connection was reset under them;
 * writes never are (their outcome is unknown: `Unavailable`).
 *
 * An `update` keeps the whole object as read and replaces only the spec fields the algorithm owns
 * (`holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`, `leaseTransitions`, and
 * `preferredHolder`, which the algorithm carries over from the record), as client-go's `LeaseLock`
 * writes back the object it read: owner references (garbage collection of a Lease owned by a
 * Deployment), finalizers, labels, annotations (unless the update sets them: its `metadata`) and
 * spec fields of newer API servers (`strategy`: an update never changes it) survive renewals and
 * releases. For that, each record this
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
import * as Lease from "@leasekit/core/Lease"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import type * as LeaseRecord from "@leasekit/core/LeaseRecord"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import { KubeClient, type KubeClientService } from "./KubeClient.ts"
import * as ApiError from "./internal/apiError.ts"
import * as ApiRequest from "./internal/apiRequest.ts"
import * as LeaseObject from "./internal/leaseObject.ts"
import * as LeaseWatch from "./internal/leaseWatch.ts"
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
   * last resourceVersion). Default 25 seconds (at least 1 s, at most an hour).
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

/** The longest watch line (one event) the store reads: a Lease event is a few KiB. */
const maxWatchLineBytes = 1024 * 1024

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
    Math.min(3600, Math.floor(Duration.toSeconds(Duration.fromInputUnsafe(options.watchReconnect ?? "25 seconds"))))
  )
  const pageSize = options.listPageSize ?? 500
  const inFlight = Semaphore.makeUnsafe(Math.max(1, options.maxRequestsInFlight ?? 100))

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
      namespace: string | undefined
    ): ApiError.RequestContext => ({
      operation,
      key,
      namespace,
      verb,
      user: client.user,
      context: client.context,
      server: client.server
    })

    const policy: ApiRequest.Policy = { requestTimeout, inFlight }

    /** One API request under the store's policy, errors mapped. */
    const request = (
      operation: LeaseStoreOperation,
      verb: string,
      key: LeaseKey | undefined,
      namespace: string | undefined,
      method: ApiRequest.Method,
      path: string,
      body?: unknown
    ): Effect.Effect<unknown, LeaseStoreError> =>
      ApiRequest.json(client, policy, contextFor(operation, verb, key, namespace), ApiRequest.request(method, path, body))

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

    const update = (record: Record_, spec: LeaseRecord.LeaseSpec, metadata?: LeaseRecord.LeaseMetadata) =>
      record.version === ""
        ? staleRecord("update", record)
        : sendable("update", "update", record.key, LeaseObject.toUpdateBody(record, spec, objects.get(record), metadata)).pipe(
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

    const watch = (key: LeaseKey): Stream.Stream<State, LeaseStoreError> => {
      const ctx = contextFor("watch", "watch", key, key.namespace)
      return LeaseWatch.watch({
        list: listOne(key),
        open: (resourceVersion) =>
          client.http.execute(
            ApiRequest.request(
              "GET",
              withQuery(leasesPath(key.namespace), {
                watch: "true",
                fieldSelector: `metadata.name=${key.name}`,
                resourceVersion,
                allowWatchBookmarks: "true",
                timeoutSeconds: watchReconnectSeconds
              })
            )
          ).pipe(
            Effect.mapError((error) => ApiRequest.fromClientError(ctx, error)),
            // The answer's headers come within the request timeout; the body streams for longer.
            Effect.timeoutOrElse({
              duration: requestTimeout,
              orElse: () =>
                Effect.fail(
                  new LeaseStore.LeaseStoreError({
                    operation: "watch",
                    key,
                    reason: "Timeout",
                    detail: `the API server at ${client.server} did not answer a watch within ${
                      Duration.format(requestTimeout)
                    }`
                  })
                )
            }),
            Effect.flatMap((response): Effect.Effect<HttpClientResponse.HttpClientResponse, LeaseStoreError | LeaseWatch.Gone> =>
              response.status >= 200 && response.status < 300
                ? Effect.succeed(response)
                : response.status === 410
                // Read the (bounded) answer, so that its connection is closed or reused, not leaked.
                ? Effect.andThen(Effect.ignore(response.arrayBuffer), Effect.fail(new LeaseWatch.Gone()))
                : Effect.flatMap(ApiRequest.fromResponse(ctx, response), Effect.fail)
            ),
            Effect.provideService(HttpClient.TracerDisabledWhen, () => true)
          ),
        decode: (line) => decodeEvent(ctx, key, line),
        readFailure: (error) => ApiRequest.fromClientError(ctx, error),
        overflow: (limit) =>
          new LeaseStore.LeaseStoreError({
            operation: "watch",
            key,
            reason: "Invalid",
            detail: `the API server at ${client.server} sent a watch event larger than ${limit} bytes; it is not a Lease event leasekit can use`
          }),
        reloadCredentials: client.reloadCredentials,
        connectionBound: Duration.sum(Duration.seconds(watchReconnectSeconds), requestTimeout),
        maxLineBytes: maxWatchLineBytes
      })
    }

    /** One line of a watch body as an event. */
    const decodeEvent = (ctx: ApiError.RequestContext, key: LeaseKey, line: string): LeaseWatch.Event => {
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch (cause) {
        return {
          _tag: "Error",
          error: new LeaseStore.LeaseStoreError({
            operation: "watch",
            key,
            reason: "Invalid",
            detail: `the API server at ${client.server} sent a watch event that is not JSON`,
            cause
          })
        }
      }
      const event = Wire.decodeWatchEvent(value)
      if (Result.isFailure(event)) return { _tag: "Error", error: ApiError.malformedAnswer(ctx, event.failure) }
      const { object, type } = event.success
      switch (type) {
        case "ADDED":
        case "MODIFIED":
          return { _tag: "Upsert", record: recordOf(object), resourceVersion: object.metadata.resourceVersion ?? "" }
        case "DELETED":
          return { _tag: "Deleted", resourceVersion: object.metadata.resourceVersion ?? "" }
        case "BOOKMARK":
          return { _tag: "Bookmark", resourceVersion: object.metadata.resourceVersion ?? "" }
        case "ERROR":
          return object.code === 410
            ? { _tag: "Gone" }
            : { _tag: "Error", error: ApiError.fromStatus(ctx, object.code ?? 500, object, object) }
      }
    }

    return LeaseStore.LeaseStore.of({ get, list, create, update, remove, watch, withRequestTimeout: build })
  }

  return build(defaultRequestTimeout)
}

/**
 * The Kubernetes store, on the `KubeClient` in context, with the `Lease` service over it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<LeaseStore.LeaseStore | Lease.Lease, never, KubeClient> =>
  Layer.provideMerge(
    Lease.layer,
    Layer.effect(
      LeaseStore.LeaseStore,
      Effect.gen(function*() {
        return make(yield* KubeClient, options)
      })
    )
  )
