/**
 * Counting semaphores: at most N holders at once, made of ordinary Kubernetes Lease objects.
 *
 * A semaphore `NAME` in a namespace is made of leases (the same RBAC, every store):
 * - the HEAD `NAME`, which never has a holder: its annotation `leasekit.io/semaphore-permits` is
 *   the authority on N, and `leasekit.io/semaphore-queue` holds the waiters, in enqueue order;
 * - the PERMITS `NAME-0 … NAME-(N-1)`: ordinary leases, acquired, renewed, guarded, lost and
 *   released by the one tenure machinery of `Lease` (there is no second lease algorithm);
 * - the WAITER TICKETS `NAME-w-<8 hex>`: a waiter first holds its own ticket lease (renewed in the
 *   background like any lease), then appends itself to the head's queue by compare-and-swap.
 *
 * Safety. Each permit is a lease, so each permit has at most one holder at any instant, under
 * `Lease`'s assumptions (clock rates nearly equal, unique identities, valid options). Nobody
 * acquires a permit whose index is N or more as the head says when it looks, and an acquirer
 * re-reads the head after taking permit `i` and releases it unless `i < N` still holds. So while N
 * is unchanged, at most N holders believe they hold a permit. `resize` changes N with one
 * compare-and-swap on the head: raising it makes the new indices free at once; lowering it from M
 * to N WITHDRAWS the permits with index ≥ N — nobody acquires them any more, their holders keep
 * them until they release (a drain) and are told (`HeldPermit.withdrawn` completes). So after
 * lowering from M to N there are at most M holders during the drain, at most N once the withdrawn
 * permits are released. The fencing token is the permit lease's token: per permit, strictly
 * increasing (as for any lease not deleted).
 *
 * Fairness. The queue order is the order of the enqueue writes at the server (compare-and-swap on
 * the head), never client clocks. A queue entry is LIVE while its ticket exists, names its waiter,
 * and has not expired as this process judges expiry (its own clock, from its first observation —
 * the `Lease` service's memory). A waiter is ELIGIBLE when fewer live entries are ahead of it than
 * there are free permits (index < N, absent, released or expired); `tryAcquire` takes a permit only
 * when nobody live is queued (it never barges). So a waiter is served before every waiter that
 * enqueued after it, except that permits freed at once may be taken by the eligible waiters (the
 * first `free` ranks) in any order; a waiter never waits for one behind it; a dead waiter ahead
 * delays it by at most that waiter's duration (plus the lag of a watch or poll, `renewInterval +
 * requestTimeout`).
 *
 * A waiter that cannot read the semaphore (transient failures) for `renewDeadline` gives its
 * ticket up — nobody waits for a waiter that cannot act — and takes it again once reads work
 * (in its place, unless another waiter pruned the entry meanwhile: then at the end). A
 * `tryAcquire` (or the first attempt of `acquire`) that took a permit while a waiter enqueued
 * after its read releases it again: that waiter came first.
 *
 * Kinds are not mixed: a plain `Lease` contender refuses a head, permit or ticket (reason
 * `Semaphore`) — also one not created yet, whose semaphore's head exists — and a semaphore
 * refuses a head that is a plain lease (reason `NotASemaphore`). An object of another semaphore
 * under a permit's name (the head of a semaphore `NAME-1`) makes that permit unusable, never a
 * failure.
 *
 * Permissions: besides a plain lease's `get`, `create`, `update` (and `watch`), a semaphore needs
 * `list` (it reads its leases with one list) and `delete` (a waiter deletes its ticket when it
 * leaves) on leases.
 *
 * Does not guarantee: anything against writers outside the protocol (`kubectl edit` of the head);
 * that work outside `guard` stops on loss (pass `token` to the systems you write to); an order
 * among waiters made eligible by the same change; a bound on the queue beyond `maxQueue` entries.
 *
 * @since 0.5.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Layout from "./internal/semaphore.ts"
import * as SemaphoreContenderImpl from "./internal/semaphoreContender.ts"
import { identity, stateOf } from "./internal/semaphoreState.ts"
import { annotations as partAnnotations, memoryOf } from "./internal/semaphoreParts.ts"
import { bounded } from "./internal/boundedStore.ts"
import type { HeldLease, InspectOptions } from "./Lease.ts"
import { Lease } from "./Lease.ts"
import type { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
import * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseKey } from "./LeaseRecord.ts"
import { isTransient, type LeaseStoreError } from "./LeaseStore.ts"

/**
 * The most permits a semaphore may have.
 *
 * @since 0.5.0
 * @category constants
 */
export const maxPermits: number = Layout.maxPermits

/**
 * The most waiters a semaphore's queue holds; one more fails with reason `QueueFull`.
 *
 * @since 0.5.0
 * @category constants
 */
export const maxQueue: number = Layout.maxQueue

/**
 * The annotations of a semaphore's objects.
 *
 * - `permits`: on the head, N (a whole number, 1 to `maxPermits`).
 * - `queue`: on the head, the waiters in enqueue order: a JSON array of `{"h": holder, "w": ticket}`.
 * - `permitOf`: on a permit, the semaphore's name.
 * - `waiterOf`: on a waiter's ticket, the semaphore's name.
 *
 * @since 0.5.0
 * @category constants
 */
export const Annotations: {
  readonly permits: "leasekit.io/semaphore-permits"
  readonly queue: "leasekit.io/semaphore-queue"
  readonly permitOf: "leasekit.io/permit-of"
  readonly waiterOf: "leasekit.io/waiter-of"
} = partAnnotations

/**
 * Options of a semaphore contender: the lease options (`name` is the semaphore's; every permit and
 * ticket gets the same timing), plus the permit count.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreOptions extends LeaseOptions.LeaseOptions {
  /** N, needed to create the semaphore (a whole number, 1 to `maxPermits`). Once it exists its
   * head's count wins; a different value is logged as a warning (change it with `resize`). */
  readonly permits?: number | undefined
}

/**
 * Options of `acquire` and `withPermit`: the semaphore options plus how long to wait.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreAcquireOptions extends SemaphoreOptions {
  /** Give up after this long with `LeaseAcquisitionError` (reason `Timeout`), holding nothing and
   * queued nowhere. Default: wait forever. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * A permit this contender holds: a held lease (the permit's, `key` is `NAME-<permit>`), plus the
 * semaphore it belongs to and whether it was withdrawn.
 *
 * @since 0.5.0
 * @category models
 */
export interface HeldPermit extends Omit<HeldLease, "handoff" | "handoffRequested"> {
  /** The semaphore's key (its head). */
  readonly semaphore: LeaseKey
  /** The permit's index, below N when it was handed out. */
  readonly permit: number
  /** Completes once this holder sees N ≤ `permit` on the head (a `resize` withdrew the permit):
   * release it soon, nobody else will acquire it. Never fails. */
  readonly withdrawn: Effect.Effect<void>
}

/**
 * Who holds one permit, as one process judges it.
 *
 * @since 0.5.0
 * @category models
 */
export interface PermitHolder {
  readonly permit: number
  readonly holder: string
  /** The permit lease's fencing token. */
  readonly token: number
  /** Time until this process would judge the permit expired, unless renewed. */
  readonly expiresIn: Duration.Duration
  /** The permit's index is N or more: its holder keeps it until it releases (a drain). */
  readonly withdrawn: boolean
}

/**
 * One entry of a semaphore's queue.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreWaiter {
  readonly holder: string
  /** The waiter's ticket lease name. */
  readonly ticket: string
  /** 0 for the first entry in the queue (live or not). */
  readonly position: number
  /** Time until this process would judge the ticket expired, unless renewed; zero when dead. */
  readonly expiresIn: Duration.Duration
  /** Its ticket exists, names the waiter and has not expired: it counts for fairness. */
  readonly live: boolean
}

/**
 * The answer of one attempt that did not wait.
 *
 * @since 0.5.0
 * @category models
 */
export type SemaphoreTryResult =
  | { readonly _tag: "Acquired"; readonly permit: HeldPermit }
  | {
    readonly _tag: "Full"
    /** N. */
    readonly permits: number
    readonly holders: ReadonlyArray<PermitHolder>
    /** Live waiters in the queue (a permit is free but they come first, or none is free). */
    readonly waiting: number
  }

/**
 * A semaphore as one process judges it.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreState {
  readonly key: LeaseKey
  /** N; 0 when the semaphore does not exist (yet). */
  readonly permits: number
  /** The held permits, by index (withdrawn ones included). */
  readonly holders: ReadonlyArray<PermitHolder>
  /** The queue, in order. */
  readonly waiting: ReadonlyArray<SemaphoreWaiter>
}

/**
 * One identity competing for one permit of a semaphore, for as long as its scope lasts. It holds at
 * most one permit at a time.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreContender {
  /** The semaphore's key (its head). */
  readonly key: LeaseKey
  readonly holder: string
  /** The options, resolved and validated once (every permit and ticket uses their timing). */
  readonly options: LeaseOptions.ResolvedLeaseOptions
  /** The `permits` option, if given. */
  readonly permits: number | undefined
  /** Waits in the queue until this contender holds a permit (forever without `timeout`, then
   * reason `Timeout`, with nothing held and its queue entry removed). Answers at once with the
   * permit held, when there is one. */
  readonly acquire: (timeout?: Duration.Duration) => Effect.Effect<HeldPermit, LeaseAcquisitionError>
  /** One attempt, never queueing: a free permit when nobody live is queued, else `Full`. */
  readonly tryAcquire: Effect.Effect<SemaphoreTryResult, LeaseAcquisitionError>
  /** The latest permit, from its acquisition until it is released or a new one starts. */
  readonly current: Effect.Effect<Option.Option<HeldPermit>>
  /** Releases the permit held (nothing when none is). */
  readonly release: Effect.Effect<void, LeaseRelinquishmentError>
}

/**
 * A semaphore contender with one identity, for as long as the scope lasts.
 *
 * @since 0.5.0
 * @category acquiring
 */
export const contender = (
  options: SemaphoreOptions
): Effect.Effect<SemaphoreContender, InvalidLeaseOptions, Lease | Scope.Scope> =>
  Effect.flatMap(Lease, (service) => SemaphoreContenderImpl.make(service, options))

/**
 * Acquires a permit, waiting in the semaphore's queue; it is renewed in the background and released
 * when the scope closes. Creates the semaphore (with `permits`) when it does not exist.
 *
 * @since 0.5.0
 * @category acquiring
 */
export const acquire = (
  options: SemaphoreAcquireOptions
): Effect.Effect<HeldPermit, LeaseAcquisitionError | InvalidLeaseOptions, Lease | Scope.Scope> =>
  Effect.gen(function*() {
    const timeout = options.timeout === undefined ? undefined : yield* LeaseOptions.decodeDuration("timeout", options.timeout)
    const self = yield* contender(options)
    return yield* self.acquire(timeout)
  })

/**
 * One attempt, never queueing and never overtaking a live waiter.
 *
 * @since 0.5.0
 * @category acquiring
 */
export const tryAcquire = (
  options: SemaphoreOptions
): Effect.Effect<SemaphoreTryResult, LeaseAcquisitionError | InvalidLeaseOptions, Lease | Scope.Scope> =>
  Effect.flatMap(contender(options), (self) => self.tryAcquire)

/**
 * Runs an effect while holding a permit: acquires (waiting), guards the effect — interrupted with
 * `LeaseLostError` if the permit is lost — and releases afterwards.
 *
 * @since 0.5.0
 * @category combinators
 */
export const withPermit = (options: SemaphoreAcquireOptions) =>
<A, E, R>(
  self: Effect.Effect<A, E, R> | ((permit: HeldPermit) => Effect.Effect<A, E, R>)
): Effect.Effect<A, E | LeaseAcquisitionError | LeaseLostError | InvalidLeaseOptions, Lease | Exclude<R, Scope.Scope>> =>
  Effect.scoped(
    Effect.flatMap(acquire(options), (permit) => permit.guard(typeof self === "function" ? self(permit) : self))
  )

/** The options of an inspection: a holder is needed to judge, none is written. */
const resolveInspect = (key: LeaseKey, options: InspectOptions) =>
  LeaseOptions.resolve({ ...options, ...key, holder: options.holder ?? "leasekit-inspector" })

/**
 * Changes N (one compare-and-swap on the head, retried from a fresh read on conflict). Raising it
 * frees the new permits at once; lowering it withdraws the permits with index ≥ N (their holders
 * keep them until they release, and are told: `HeldPermit.withdrawn`). Fails with reason
 * `NoSuchSemaphore` when the semaphore does not exist, `NotASemaphore` for a plain lease.
 *
 * @since 0.5.0
 * @category admin
 */
export const resize = (
  key: LeaseKey,
  permits: number
): Effect.Effect<{ readonly from: number; readonly to: number }, LeaseStoreError | LeaseAcquisitionError | InvalidLeaseOptions, Lease> =>
  Effect.gen(function*() {
    yield* SemaphoreContenderImpl.validatePermits(permits)
    const resolved = yield* resolveInspect(key, {})
    const service = yield* Lease
    const store = bounded(service.store, resolved.requestTimeout)
    return yield* Layout.writeHead(store, resolved.key, (head) =>
      Effect.succeed(
        head.permits === permits
          ? { skip: { from: head.permits, to: permits } }
          : { permits, queue: head.queue, result: { from: head.permits, to: permits } }
      ))
  })

/**
 * Reads the semaphore (one `list` of the namespace) and judges it as a contender with these options
 * would, writing nothing. `permits` is 0 when the semaphore does not exist; a head that is a plain
 * lease fails with reason `NotASemaphore`.
 *
 * @since 0.5.0
 * @category inspecting
 */
export const inspect = (
  key: LeaseKey,
  options: InspectOptions = {}
): Effect.Effect<SemaphoreState, LeaseStoreError | LeaseAcquisitionError | InvalidLeaseOptions, Lease> =>
  Effect.gen(function*() {
    const resolved = yield* resolveInspect(key, options)
    const service = yield* Lease
    const store = bounded(service.store, resolved.requestTimeout)
    return stateOf(resolved.key, yield* Layout.readView(store, memoryOf(service), resolved, resolved.key))
  })

/**
 * The semaphore's state as it changes: the current state first, then a new one whenever it
 * changes — a holder, a waiter, N, or a holder or waiter this process judges expired. Follows the
 * head's watch and reads again at least every `retryPeriod` (permits and tickets are not watched),
 * so a report lags the store by at most `retryPeriod + requestTimeout`. Transient store failures
 * (`Unavailable`, `Timeout`) are retried every `retryPeriod`; a refusal ends the stream.
 *
 * @since 0.5.0
 * @category inspecting
 */
export const observe = (
  key: LeaseKey,
  options: InspectOptions = {}
): Stream.Stream<SemaphoreState, LeaseStoreError | LeaseAcquisitionError | InvalidLeaseOptions, Lease> =>
  Stream.callback<SemaphoreState, LeaseStoreError | LeaseAcquisitionError | InvalidLeaseOptions, Lease>((out) =>
    Effect.gen(function*() {
      const resolved = yield* resolveInspect(key, options)
      const service = yield* Lease
      const store = bounded(service.store, resolved.requestTimeout)
      const memory = memoryOf(service)
      const wakeups = yield* Queue.sliding<void>(1)
      yield* store.watch(resolved.key).pipe(
        Stream.runForEach(() => Queue.offer(wakeups, undefined)),
        Effect.ignore,
        Effect.forkScoped
      )
      let reported: string | undefined = undefined
      while (true) {
        const view = yield* Layout.readView(store, memory, resolved, resolved.key).pipe(
          Effect.retry({
            schedule: Schedule.spaced(resolved.retryPeriod),
            while: (error) => error._tag === "LeaseStoreError" && isTransient(error)
          })
        )
        const state = stateOf(resolved.key, view)
        const id = identity(state)
        if (id !== reported) {
          reported = id
          yield* Queue.offer(out, state)
        }
        const expiry = Option.flatMap(view, (v) => Option.fromUndefinedOr(Layout.nextExpiry(v)))
        const wait = Option.match(expiry, {
          onNone: () => resolved.retryPeriod,
          onSome: (e) => Duration.min(e, resolved.retryPeriod)
        })
        yield* Queue.take(wakeups).pipe(Effect.timeoutOption(wait))
      }
    })
  )
