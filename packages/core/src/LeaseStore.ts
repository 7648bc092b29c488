/**
 * The storage contract behind leases, and an in-memory implementation of it.
 *
 * A `LeaseStore` is storage only: read a record, create one, compare-and-swap it, delete it with a
 * version precondition, and watch one key. It holds no timing, identity or loss logic — that is
 * the algorithm's job (`Lease.ts`) — and caches nothing between calls: the version a write is
 * conditioned on travels in the record it is made from.
 *
 * Guarantees every implementation must give (pinned by the conformance suite in
 * `@leasekit/core/testing`):
 * - `create` fails with reason `AlreadyExists` when the key exists;
 * - `update` and `remove` succeed only when the stored version equals `record.version`, failing
 *   with `Conflict` otherwise and `NotFound` when the object is gone;
 * - every successful write yields a new version;
 * - `update` replaces the spec — every field of it, `preferredHolder` included (a field absent
 *   from the spec is absent afterwards, on stores that keep it at all); `strategy` is the API
 *   server's, and a store may keep it as stored whatever the spec says (the Kubernetes store
 *   does; the algorithm always writes it back as read, so no store clears it) — and sets
 *   the object's labels and annotations to `metadata` when given, else keeps them as the record
 *   has them;
 * - `watch(key)` first emits the current state (`None` when absent), then every later state in
 *   order; it may skip intermediate states but never reorders them. It may fail with
 *   `Unsupported` or `Forbidden`, and callers must then poll.
 *
 * Does not guarantee: that a failed write was not applied. `Timeout` and `Unavailable` are
 * ambiguous — the write may have landed — and callers resolve them by reading back.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
// `Lease.ts` imports this module too: nothing from it may be used at module load here (only
// inside `layerMemory`), so that either module can be imported first.
import * as Lease from "./Lease.ts"
import type * as Duration from "effect/Duration"
import type { LeaseKey, LeaseMetadata, LeaseRecord, LeaseSpec } from "./LeaseRecord.ts"
import { formatKey } from "./LeaseRecord.ts"

/**
 * Why a store call failed.
 *
 * - `AlreadyExists`: `create` of a key that exists.
 * - `Conflict`: the stored version is not the one the write was made from.
 * - `NotFound`: the object does not exist.
 * - `Forbidden` / `Unauthorized`: the credentials lack a permission / are not accepted.
 * - `Credentials`: the client could not obtain the credentials to send (a credential plugin
 *   failed, timed out or answered nothing usable); nothing was sent.
 * - `Invalid`: the store rejected the object as malformed.
 * - `Unavailable`: the store could not be reached or is overloaded (transient, may have applied).
 * - `Timeout`: no answer within the request timeout (transient, may have applied).
 * - `Unsupported`: the store does not offer this operation (e.g. `watch`).
 *
 * @since 0.1.0
 * @category errors
 */
export type LeaseStoreErrorReason =
  | "AlreadyExists"
  | "Conflict"
  | "NotFound"
  | "Forbidden"
  | "Unauthorized"
  | "Credentials"
  | "Invalid"
  | "Unavailable"
  | "Timeout"
  | "Unsupported"

/**
 * The store operation that failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type LeaseStoreOperation = "get" | "list" | "create" | "update" | "remove" | "watch"

/**
 * The one error every store operation fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseStoreError extends Data.TaggedError("LeaseStoreError")<{
  readonly reason: LeaseStoreErrorReason
  readonly operation: LeaseStoreOperation
  readonly key?: LeaseKey | undefined
  /** What went wrong and, where there is one, what to do about it. */
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    const where = this.key === undefined ? "" : ` lease ${formatKey(this.key)}`
    return `${this.operation}${where}: ${this.reason}: ${this.detail}`
  }
}

/**
 * Whether a store error is transient: retrying the same call later may succeed, and a write
 * that failed this way may nevertheless have been applied.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isTransient = (error: LeaseStoreError): boolean =>
  error.reason === "Unavailable" || error.reason === "Timeout"

/**
 * The storage operations the algorithm needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseStoreService {
  readonly get: (key: LeaseKey) => Effect.Effect<Option.Option<LeaseRecord>, LeaseStoreError>
  /** Every lease in one namespace, or in all namespaces when `namespace` is undefined. */
  readonly list: (namespace: string | undefined) => Effect.Effect<ReadonlyArray<LeaseRecord>, LeaseStoreError>
  readonly create: (
    key: LeaseKey,
    spec: LeaseSpec,
    metadata?: LeaseMetadata
  ) => Effect.Effect<LeaseRecord, LeaseStoreError>
  /** Compare-and-swap: replaces the spec only if the stored version is `record.version`; with
   * `metadata`, also sets the object's labels and annotations to it (otherwise they stay as the
   * record has them). */
  readonly update: (record: LeaseRecord, spec: LeaseSpec, metadata?: LeaseMetadata) => Effect.Effect<LeaseRecord, LeaseStoreError>
  /** Deletes only if the stored version is `record.version`. */
  readonly remove: (record: LeaseRecord) => Effect.Effect<void, LeaseStoreError>
  /** The current state, then every later one; `None` while the object does not exist. */
  readonly watch: (key: LeaseKey) => Stream.Stream<Option.Option<LeaseRecord>, LeaseStoreError>
  /**
   * Optional, for stores that bound their own requests: the same store (sharing its connections
   * and limits) with every call but `watch` failing with `Timeout` after `timeout`. The algorithm
   * then uses it instead of adding a timeout of its own around each call — one timer per request
   * instead of two. A store without it is bounded by the algorithm. A wrapper around a store must
   * not copy this field as it is (the algorithm would call the inner view and bypass the wrapper):
   * wrap the view as well, or leave the field out.
   */
  readonly withRequestTimeout?: ((timeout: Duration.Duration) => LeaseStoreService) | undefined
}

/**
 * The store service.
 *
 * @since 0.1.0
 * @category services
 */
export class LeaseStore extends Context.Service<LeaseStore, LeaseStoreService>()("@leasekit/core/LeaseStore") {}

/**
 * Options of the in-memory store.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** When false, `watch` fails with `Unsupported`, as a store without watch permission would. */
  readonly watch?: boolean
}

interface MemoryEvent {
  readonly id: string
  readonly state: Option.Option<LeaseRecord>
}

const idOf = (key: LeaseKey): string => formatKey(key)

/**
 * Builds an in-memory store: linearizable, with versions, compare-and-swap and watch, so the
 * algorithm behaves under it as it does under Kubernetes. Deterministic and instantaneous; it
 * never fails on its own (wrap it to inject faults).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<LeaseStoreService> =>
  Effect.gen(function*() {
    const objects = yield* Ref.make(new Map<string, LeaseRecord>())
    const nextVersion = yield* Ref.make(1)
    const events = yield* PubSub.unbounded<MemoryEvent>()
    // Writes are read-check-write sequences: one at a time, as a real store's transactions are.
    const serialized = Semaphore.withPermit(yield* Semaphore.make(1))

    const fail = (
      operation: LeaseStoreOperation,
      key: LeaseKey,
      reason: LeaseStoreErrorReason,
      detail: string
    ) => Effect.fail(new LeaseStoreError({ operation, key, reason, detail }))

    const bump = Ref.getAndUpdate(nextVersion, (n) => n + 1).pipe(Effect.map(String))

    const publish = (key: LeaseKey, state: Option.Option<LeaseRecord>) =>
      PubSub.publish(events, { id: idOf(key), state })

    const write = (record: LeaseRecord) =>
      Ref.update(objects, (map) => new Map(map).set(idOf(record.key), record)).pipe(
        Effect.andThen(publish(record.key, Option.some(record))),
        Effect.as(record)
      )

    const get = (key: LeaseKey) => Ref.get(objects).pipe(Effect.map((map) => Option.fromUndefinedOr(map.get(idOf(key)))))

    const service: LeaseStoreService = {
      get,
      list: (namespace) =>
        Ref.get(objects).pipe(
          Effect.map((map) =>
            [...map.values()]
              .filter((r) => namespace === undefined || r.key.namespace === namespace)
              .sort((a, b) => idOf(a.key).localeCompare(idOf(b.key)))
          )
        ),
      create: (key, spec, metadata = {}) =>
        Effect.gen(function*() {
          if (Option.isSome(yield* get(key))) {
            return yield* fail("create", key, "AlreadyExists", "a lease with this name already exists")
          }
          const version = yield* bump
          return yield* write({ ...spec, key, version, uid: `memory-${version}`, metadata })
        }).pipe(serialized, Effect.uninterruptible),
      update: (record, spec, metadata) =>
        Effect.gen(function*() {
          const current = yield* get(record.key)
          if (Option.isNone(current)) return yield* fail("update", record.key, "NotFound", "the lease does not exist")
          if (current.value.version !== record.version) {
            return yield* fail(
              "update",
              record.key,
              "Conflict",
              `the lease changed (version ${current.value.version}, write made from ${record.version})`
            )
          }
          return yield* write({
            ...spec,
            key: record.key,
            version: yield* bump,
            ...(current.value.uid === undefined ? {} : { uid: current.value.uid }),
            metadata: metadata ?? record.metadata
          })
        }).pipe(serialized, Effect.uninterruptible),
      remove: (record) =>
        Effect.gen(function*() {
          const current = yield* get(record.key)
          if (Option.isNone(current)) return yield* fail("remove", record.key, "NotFound", "the lease does not exist")
          if (current.value.version !== record.version) {
            return yield* fail("remove", record.key, "Conflict", "the lease changed since it was read")
          }
          yield* Ref.update(objects, (map) => {
            const next = new Map(map)
            next.delete(idOf(record.key))
            return next
          })
          yield* publish(record.key, Option.none())
        }).pipe(serialized, Effect.uninterruptible),
      watch: (key) =>
        options.watch === false
          ? Stream.fail(
            new LeaseStoreError({ operation: "watch", key, reason: "Unsupported", detail: "watch is disabled" })
          )
          : Stream.unwrap(
            Effect.gen(function*() {
              const subscription = yield* PubSub.subscribe(events)
              const current = yield* get(key)
              const id = idOf(key)
              return Stream.concat(
                Stream.succeed(current),
                Stream.fromSubscription(subscription).pipe(
                  Stream.filter((event) => event.id === id),
                  Stream.map((event) => event.state)
                )
              )
            })
          )
    }
    return service
  })

/**
 * A fresh in-memory store per layer build, with the `Lease` service over it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<LeaseStore | Lease.Lease> =>
  Layer.provideMerge(Lease.layer, Layer.effect(LeaseStore, makeMemory(options)))
