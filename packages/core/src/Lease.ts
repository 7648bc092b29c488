/**
 * Leases: mutually exclusive, time-bounded locks, held as scoped resources.
 *
 * The algorithm is a service, `Lease.Lease`, made from a `LeaseStore` (`Lease.layer`; the store
 * layers provide it beside the store). It hands out contenders (`contender`, see
 * `LeaseContender.ts`), inspects (`inspect`) and observes (`observe`). One acquisition, end to end:
 * `acquire` → the service's `contender` (`internal/contender.ts`) → its `acquire` → the waiting
 * state machine (`internal/waiting.ts`) → one attempt (`internal/attempt.ts`: judge, then one
 * compare-and-swap on the store) → the tenure (`internal/tenure.ts`: renewal, loss, guard,
 * release).
 *
 * `acquire` waits until this contender holds the lease, then keeps it renewed from a background
 * fiber tied to the surrounding `Scope`, and releases it when the scope closes. The held lease
 * tells for certain when it is lost (`lost` fails with a `LeaseLostError`), and `guard` interrupts
 * the work it protects *before* any other contender can take the lease over.
 *
 * Guarantees, assuming the clocks of all contenders run at nearly the same rate (offsets between
 * machines do not matter), that holder identities are unique and that every participant's options
 * are valid:
 * - at most one contender believes it holds the lease at any instant: a holder's watchdog declares
 *   loss at `renewDeadline` after it *sent* its last successful write, while a contender takes
 *   over only after observing the record unchanged for `duration > renewDeadline`, or once the
 *   holder cleared it — which it does only after its guarded work stopped;
 * - `acquire` never hands out a lease whose deadline has already passed, and an `acquire` that
 *   fails, times out or is interrupted leaves no lease held (the tenure lives in a child scope
 *   that is closed then);
 * - `guard` runs no step of its work on a lease that is lost, being released or past its deadline,
 *   and interrupts the work — waiting for it to stop — on loss and when a release begins;
 * - expiry is judged on the contender's own monotonic clock from when *it* observed the record —
 *   never by comparing someone else's `renewTime` with local wall time (unless `maxClockSkew` is
 *   opted into);
 * - the fencing `token` (the record's `leaseTransitions`) is greater for every new tenure than for
 *   any earlier one, as long as the object is not deleted and the counter does not wrap at the
 *   int32 maximum;
 * - a renewal costs one store call; a graceful release hands over to a watching waiter at once; a
 *   waiter trusts a watch for at most `renewInterval` before reading again;
 * - a handoff (`HeldLease.handoff(to)`) is a release — guarded work stopped first, then one
 *   compare-and-swap that clears the holder — whose write also reserves the free record for `to`
 *   (annotation `leasekit.io/handoff-to`) for a window; it is followed by an ordinary acquisition.
 *   So every guarantee above holds through it: the old holder believes nothing once it writes, the
 *   record it writes names no holder, and the successor's acquisition is a compare-and-swap like any
 *   other, with a greater token. The reservation only *restrains* other contenders (they judge the
 *   record busy until they have observed it for the window, on their own clocks): it can delay who
 *   gets the lease — by at most the window, if the successor never comes — never let two in;
 * - a lease with `spec.strategy` (the API server's coordinated leader election) is never contended
 *   for nor written: `acquire`/`tryAcquire` fail with reason `Coordinated`; every write leasekit
 *   makes carries `spec.strategy`/`spec.preferredHolder` as read, except a `preferredHolder` it set
 *   itself for a handoff;
 * - a handoff request (`requestHandoff`) changes only metadata, and expiry is observed on the spec:
 *   requests, however often repeated, never keep a dead holder's lease from expiring.
 *
 * Does not guarantee: that work outside `guard`, or work that ignores interruption, stops on loss
 * (check `isHeld` or pass `token` to the systems you write to — fencing is the only protection
 * against a process paused past its deadline); exclusion against writers that ignore the protocol
 * (`kubectl edit`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LeaseContender, TryAcquireResult } from "./LeaseContender.ts"
import type { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
import * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "./LeaseRecord.ts"
import { LeaseStore, type LeaseStoreError, type LeaseStoreService } from "./LeaseStore.ts"
import { Spans } from "./LeaseTelemetry.ts"
import * as Attempt from "./internal/attempt.ts"
import { bounded } from "./internal/boundedStore.ts"
import * as Contender from "./internal/contender.ts"
import * as Handoff from "./internal/handoff.ts"
import { makeMemory } from "./internal/observations.ts"
import * as Observer from "./internal/observer.ts"
import { serviceMemory } from "./internal/semaphoreParts.ts"
import * as Telemetry from "./internal/telemetry.ts"

/**
 * A lease this contender holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface HeldLease {
  readonly key: LeaseKey
  /** The identity written into the record. */
  readonly holder: string
  /** Fencing token: the record's transitions counter after our acquisition. Pass it to the systems
   * you write to and have them reject writes carrying a lower token than one already seen. */
  readonly token: number
  readonly options: LeaseOptions.ResolvedLeaseOptions
  /** Fails with `LeaseLostError` when the lease is lost; never succeeds. */
  readonly lost: Effect.Effect<never, LeaseLostError>
  /** Held, not released, and the renew deadline not yet passed (judged by the clock now, so it is
   * right even if the renewal fiber has not had a chance to run). */
  readonly isHeld: Effect.Effect<boolean>
  /** Time left until this tenure's loss deadline — `renewDeadline` after the last successful write
   * was sent — judged by the clock now; zero once the lease is lost, being released or past its
   * deadline. Work that must finish before anyone else can take over (removing a routing label,
   * flushing a buffer) can plan with it; a renewal moves it forward. */
  readonly remaining: Effect.Effect<Duration.Duration>
  /** The last record this contender wrote or adopted. */
  readonly record: Effect.Effect<LeaseRecord>
  /** Renews now, retrying every `retryPeriod` until it succeeds or the lease is lost. Does nothing
   * once a release has begun to write. */
  readonly renew: Effect.Effect<void, LeaseLostError>
  /** Releases now, before the scope closes: first interrupts guarded work and waits for it to stop
   * (`guard` fails with reason `Relinquished`), then writes. Loss detection stays armed until the
   * write is confirmed. Called from inside guarded work (of any lease) it returns at once, without
   * waiting for the write; the guarded effect that called it is not interrupted but keeps the
   * lease, still guarded, until it returns — the write follows then. */
  readonly release: Effect.Effect<void, LeaseRelinquishmentError>
  /** Hands the lease to `to`: a `release` (guarded work is stopped first — `guard` fails with
   * reason `HandedOff` — loss detection stays armed until the write is confirmed, a release in
   * progress is joined) whose one write also reserves the freed lease for `to` for
   * `handoffWindow` (the `handoff-to` annotation; not `spec.preferredHolder`, which the API server
   * accepts only on coordinated leases). `to` then takes it at once; other contenders only once the window has passed on their
   * own clocks — so a successor that died meanwhile delays the lease by at most the window. The
   * successor's token is greater than this tenure's, as with any acquisition. Fails with
   * `InvalidLeaseOptions` (field `to`) for an identity no holder can have, before anything. Joined
   * by (or joining) a release in progress, the first call decides: a plain release stays plain.
   * @since 0.4.0 */
  readonly handoff: (to: string) => Effect.Effect<void, LeaseRelinquishmentError | InvalidLeaseOptions>
  /** Completes with the requester's identity when this tenure finds a request to hand the lease
   * over (`Lease.requestHandoff`) on its record — whether it honours it (`handoffRequests:
   * "honour"`, the default: the handoff follows at once) or refuses it. For applications that
   * want to wind work down when asked. Never fails.
   * @since 0.4.0 */
  readonly handoffRequested: Effect.Effect<string>
  /** Runs `self` while the lease is held: fails with `LeaseLostError` without starting it when the
   * lease is lost, being released or past its deadline; otherwise interrupts it as soon as the
   * lease is lost or a release begins, and returns once it has stopped. */
  readonly guard: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LeaseLostError, R>
}

/**
 * Options of `acquire`: the lease options plus how long to wait.
 *
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions extends LeaseOptions.LeaseOptions {
  /** Give up after this long with `LeaseAcquisitionError` (reason `Timeout`). Default: wait forever. */
  readonly timeout?: Duration.Input | undefined
}

/**
 * Acquires the lease, waiting until it is free (watch-driven: a graceful release hands over at
 * once; a dead holder's lease is taken `duration` after this contender first saw it unchanged).
 * The lease is renewed in the background and released when the scope closes.
 *
 * @since 0.1.0
 * @category acquiring
 */
export const acquire = (
  options: AcquireOptions
): Effect.Effect<HeldLease, LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Scope.Scope> =>
  Effect.gen(function*() {
    const timeout = options.timeout === undefined ? undefined : yield* LeaseOptions.decodeDuration("timeout", options.timeout)
    const self = yield* (yield* serviceForStore).contender(options)
    return yield* self.acquire(timeout)
  })

/**
 * One attempt, never waiting: `Some` when acquired (renewed and released like `acquire`), `None`
 * when another contender holds the lease. `contender(options)` and its `tryAcquire` also say who
 * holds it.
 *
 * @since 0.1.0
 * @category acquiring
 */
export const tryAcquire = (
  options: LeaseOptions.LeaseOptions
): Effect.Effect<Option.Option<HeldLease>, LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Scope.Scope> =>
  Effect.flatMap(Effect.flatMap(serviceForStore, (service) => service.contender(options)), (self) =>
    Effect.map(self.tryAcquire, (result) => result._tag === "Acquired" ? Option.some(result.lease) : Option.none()))

/**
 * Runs an effect while holding the lease: acquires (waiting), guards the effect — it is
 * interrupted with `LeaseLostError` if the lease is lost — and releases afterwards, on success,
 * failure and interruption alike.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withLease = (options: AcquireOptions) =>
<A, E, R>(
  self: Effect.Effect<A, E, R> | ((lease: HeldLease) => Effect.Effect<A, E, R>)
): Effect.Effect<
  A,
  E | LeaseAcquisitionError | LeaseLostError | InvalidLeaseOptions,
  LeaseStore | Exclude<R, Scope.Scope>
> =>
  Effect.scoped(
    Effect.flatMap(acquire(options), (lease) => lease.guard(typeof self === "function" ? self(lease) : self))
  )

/**
 * What one contender can tell about a lease without taking it.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseInspection {
  readonly key: LeaseKey
  readonly record: Option.Option<LeaseRecord>
  /** The current holder, if any. */
  readonly holder: Option.Option<string>
  /** The fencing token the current holder got (the transitions counter). */
  readonly token: Option.Option<number>
  /** Time until this contender would consider the lease expired, judged from when this process
   * first saw the current version; zero when free or expired. */
  readonly expiresIn: Duration.Duration
  /** The duration this contender honours for the record (after capping hostile values). */
  readonly honouredDuration: Duration.Duration
  /** A free lease reserved for a handoff's successor: who, and for how much longer this contender
   * would leave it to them (zero once the window has passed).
   * @since 0.4.0 */
  readonly pendingHandoff: Option.Option<{ readonly to: string; readonly remaining: Duration.Duration }>
  /** A held lease whose holder is asked to hand it over: the requester.
   * @since 0.4.0 */
  readonly handoffRequest: Option.Option<string>
  /** The lease's `spec.strategy`, when the API server coordinates it (leasekit does not contend).
   * @since 0.4.0 */
  readonly strategy: Option.Option<string>
}

/**
 * What `requestHandoff` did:
 * - `Requested`: the lease is held by `holder`, and its record now asks it to hand the lease to
 *   the requested contender (also when it already did: nothing was written then). The holder
 *   honours or refuses it (its `handoffRequests`) at its next renewal.
 * - `Free`: nobody holds the lease (or it is absent): acquire it instead.
 * - `HeldBy`: the requested contender already holds it.
 * - `Coordinated`: the API server's coordinator picks the holder (`spec.strategy`); nothing written.
 *
 * @since 0.4.0
 * @category models
 */
export type HandoffRequestResult =
  | { readonly _tag: "Requested"; readonly holder: string; readonly record: LeaseRecord }
  | { readonly _tag: "Free"; readonly record: Option.Option<LeaseRecord> }
  | { readonly _tag: "HeldBy"; readonly holder: string }
  | { readonly _tag: "Coordinated"; readonly strategy: string }

/**
 * Options of `inspect` and `observe`: the timing of the contender whose judgement is wanted.
 *
 * @since 0.2.0
 * @category models
 */
export type InspectOptions = Partial<Omit<LeaseOptions.LeaseOptions, "namespace" | "name">>

/**
 * The algorithm as a service, made from a `LeaseStore`. It owns what one process knows of its
 * leases: the memory of when it first saw each record version — the basis of every expiry
 * judgement — shared by every contender, inspection and observer made from it.
 *
 * @since 0.2.0
 * @category models
 */
export interface LeaseService {
  /** The store this service runs on. */
  readonly store: LeaseStoreService
  /** A contender with one identity, for as long as the scope lasts (its tenure is released
   * when the scope closes). Its options are resolved and validated here, once. */
  readonly contender: (options: LeaseOptions.LeaseOptions) => Effect.Effect<LeaseContender, InvalidLeaseOptions, Scope.Scope>
  /** Reads the lease and judges it as a contender with these options would, writing nothing. */
  readonly inspect: (key: LeaseKey, options?: InspectOptions) => Effect.Effect<LeaseInspection, LeaseStoreError | InvalidLeaseOptions>
  /** Who holds the lease, as it changes (see `observe`). */
  readonly observe: (key: LeaseKey, options?: InspectOptions) => Stream.Stream<LeaseInspection, LeaseStoreError | InvalidLeaseOptions>
  /** Asks the holder of the lease to hand it to `to` (see `requestHandoff`).
   * @since 0.4.0 */
  readonly requestHandoff: (
    key: LeaseKey,
    to: string,
    options?: InspectOptions
  ) => Effect.Effect<HandoffRequestResult, LeaseStoreError | InvalidLeaseOptions>
}

/**
 * The `Lease` service. The store layers (`LeaseStore.layerMemory`, the Kubernetes layers) provide
 * it beside the store; over a store of your own, provide `Lease.layer`.
 *
 * @since 0.2.0
 * @category services
 */
export class Lease extends Context.Service<Lease, LeaseService>()("@leasekit/core/Lease") {}

/** The options of an inspection or observation: a holder is needed to judge, none is written. */
const resolveInspect = (key: LeaseKey, options: InspectOptions) =>
  LeaseOptions.resolve({ ...options, ...key, holder: options.holder ?? "leasekit-inspector" })

/**
 * Makes the service from the `LeaseStore` in context, with a memory of its own.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: Effect.Effect<LeaseService, never, LeaseStore> = Effect.gen(function*() {
  const store = yield* LeaseStore
  const memory = makeMemory()
  // The memory is also reachable (by an internal key, see `internal/semaphoreParts.ts`) for the
  // semaphore, which judges many leases from one list.
  const service: LeaseService = {
    store,
    contender: (options) => Effect.flatMap(LeaseOptions.resolve(options), (resolved) => Contender.make(store, memory, resolved)),
    inspect: (key, options = {}) =>
      Effect.gen(function*() {
        const resolved = yield* resolveInspect(key, options)
        const state = yield* bounded(store, resolved.requestTimeout).get(resolved.key)
        return Attempt.inspection(resolved, state, yield* Attempt.judge(memory, resolved, state))
      }).pipe(Telemetry.span(Spans.inspect, key)),
    observe: (key, options = {}) =>
      Stream.unwrap(Effect.map(resolveInspect(key, options), (resolved) =>
        Observer.observe(bounded(store, resolved.requestTimeout), memory, resolved))),
    requestHandoff: (key, to, options = {}) =>
      Effect.gen(function*() {
        const resolved = yield* resolveInspect(key, options)
        const successor = yield* LeaseOptions.validateSuccessor(to)
        return yield* Handoff.request(bounded(store, resolved.requestTimeout), resolved.key, successor)
      }).pipe(Telemetry.span(Spans.requestHandoff, key))
  }
  return Lease.of(Object.assign(service, { [serviceMemory]: memory }))
})

/**
 * The `Lease` service over the `LeaseStore` in context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<Lease, never, LeaseStore> = Layer.effect(Lease, make)

/**
 * The `Lease` service for the `LeaseStore` in context: the one provided beside it (by the store
 * layers, or `layer`), or — for a store provided without one, or a store other than the one the
 * provided service runs on — the service of that store object (made on first use, see
 * `servicesOfBareStores`). The functions that predate the service require only a `LeaseStore`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const serviceForStore: Effect.Effect<LeaseService, never, LeaseStore> = Effect.gen(function*() {
  const store = yield* LeaseStore
  const provided = yield* Effect.serviceOption(Lease)
  if (Option.isSome(provided) && provided.value.store === store) return provided.value
  const known = servicesOfBareStores.get(store)
  if (known !== undefined) return known
  const made = yield* make
  servicesOfBareStores.set(store, made)
  return made
})

/**
 * The compatibility shim behind `serviceForStore`: the service made for a store provided without
 * one (a store of your own, or one wrapped for metrics over a layer that provides `Lease`), kept
 * for as long as that store object lives — so that repeated single attempts through it accumulate
 * what they observed, as they did before the service existed. Code that provides `Lease` beside
 * its store never reaches it.
 */
const servicesOfBareStores = new WeakMap<LeaseStoreService, LeaseService>()

/**
 * A contender with one identity, for as long as the scope lasts: `acquire`, `tryAcquire` (which
 * says who holds the lease), `current`, `release` and `events` (see `LeaseContender`).
 *
 * @since 0.2.0
 * @category acquiring
 */
export const contender = (
  options: LeaseOptions.LeaseOptions
): Effect.Effect<LeaseContender, InvalidLeaseOptions, Lease | Scope.Scope> =>
  Lease.use((service) => service.contender(options))

/**
 * Reads the lease and judges it as a contender would, without writing anything.
 *
 * @since 0.1.0
 * @category inspecting
 */
export const inspect = (
  key: LeaseKey,
  options: InspectOptions = {}
): Effect.Effect<LeaseInspection, LeaseStoreError | InvalidLeaseOptions, LeaseStore> =>
  Effect.flatMap(serviceForStore, (service) => service.inspect(key, options))

/**
 * Who holds the lease, as it changes, without contending: client-go's `OnNewLeader` / `GetLeader`
 * for code that must know the leader (routing requests to it, dashboards). Emits the current state
 * first, then a new inspection whenever the record changes or this observer judges the holder
 * expired. Follows the store's watch, polling every `retryPeriod` where watching is not allowed;
 * a report lags the store by at most `renewInterval + requestTimeout` (see
 * `internal/observer.ts`). Transient store failures are retried; a refusal ends the stream.
 *
 * @since 0.2.0
 * @category inspecting
 */
export const observe = (
  key: LeaseKey,
  options: InspectOptions = {}
): Stream.Stream<LeaseInspection, LeaseStoreError | InvalidLeaseOptions, Lease> =>
  Stream.unwrap(Lease.useSync((service) => service.observe(key, options)))

/**
 * Asks the holder of the lease to hand it over to `to` (the admin form behind `leasekit handoff
 * --to`; a contender asks for itself with `LeaseContender.requestHandoff`). Reads the lease; when
 * someone other than `to` holds it, one compare-and-swap adds the `handoff-request` annotation and
 * leaves the spec exactly as read (a race is retried from a fresh read a few times, then fails with
 * the `Conflict`). Nothing is written when the same request is already there, so asking again and
 * again cannot keep a dead holder's lease from expiring (expiry is also judged on the spec alone,
 * see `internal/observations.ts`). The holder sees the request at its next renewal and honours or
 * refuses it (`LeaseOptions.handoffRequests`); a request it has seen for `duration` without
 * handing over is dropped.
 *
 * @since 0.4.0
 * @category handoff
 */
export const requestHandoff = (
  key: LeaseKey,
  to: string,
  options: InspectOptions = {}
): Effect.Effect<HandoffRequestResult, LeaseStoreError | InvalidLeaseOptions, Lease> =>
  Lease.use((service) => service.requestHandoff(key, to, options))

export type { LeaseContender, TryAcquireResult }
