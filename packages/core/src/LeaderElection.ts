/**
 * Leader election: hold a lease for as long as possible, run work while holding it, and go back
 * into the election after every loss.
 *
 * `run` competes for the lease with one contender (one identity across terms), runs
 * `whileLeading` guarded by it (interrupted before anyone else can lead), and, when the lease is
 * lost, waits its turn again. `make` does the same in the background of a scope and tells where
 * the election stands (`status`, `changes`); `layer` is `make` as a Layer — a singleton service for
 * a replicated deployment.
 *
 * Failures are never silent. Invalid options and a store that refuses the very first request for
 * good (RBAC forbids it, the namespace does not exist) fail `run`, `make` and the layer's build.
 * Transient store failures are retried inside the wait. A refusal that comes later, in the
 * background, makes `make`/`layer` report `Failing` (with the error and the next retry) and retry
 * with a backoff that doubles from `retryPeriod` up to `duration`, logging each failure as an error;
 * `run` fails with it.
 *
 * Handing over. A term ends, and the election goes back to waiting, when its lease is lost, and
 * also when this process gives it up: a release or `handoff(to)` called on the term's lease (from
 * a fiber `whileLeading` forked), a handoff request the leader honoured (`handoffRequests`), or a
 * step-down. With `preferred`, a following election asks the leader to hand the lease over to it
 * (once per leader it follows; see `ElectionOptions`). With `stepDown`, the leader runs a health
 * check every `interval`; after `failures` failures in a row it releases the lease (a plain
 * release, guarded work stopped first), reports `SteppedDown`, waits `coolDown` — not competing —
 * and campaigns again, in the same process.
 *
 * Guarantees: those of `Lease` — at most one leader at a time under the clock-rate assumption —
 * through every way a term ends, handoffs and step-downs included: `whileLeading` has stopped
 * before the write that lets anyone else lead, and every term's token is greater than the one
 * before. The status never says `Leading` once the lease is lost, being stepped down from, or the
 * election is stopping; a term this process ends itself (a handoff, a release) leaves `Leading` as
 * soon as its work has stopped, while the release write is being made. A stepped-down election
 * does not compete for the lease during its cool-down.
 * Does not guarantee: that `whileLeading` runs to completion; it is interrupted on loss, on a
 * handoff and on a step-down, and started afresh on the next term, so it must be safe to restart.
 * That the preferred contender gets the lease: the leader may refuse or be dead (then its lease
 * expires as usual), and the request is asked only while following. That a health check is
 * right — a check that fails on every replica makes each lead for at most `interval × failures`
 * in turn.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Lease from "./Lease.ts"
import type { LeaseEvent } from "./LeaseContender.ts"
import type { InvalidLeaseOptions, LeaseAcquisitionError } from "./LeaseError.ts"
import type * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseKey } from "./LeaseRecord.ts"
import type { LeaseStore } from "./LeaseStore.ts"
import { resolvePolicy } from "./internal/election/policy.ts"
import { firstAnswer, type Reporter, sameStatus, silent, terms } from "./internal/election/terms.ts"
import { monotonicMillis } from "./internal/observations.ts"

/**
 * The election a `layer` runs, as a service: what the health endpoints, the Kubernetes Events
 * recorder and the application read its status from.
 *
 * @since 0.3.0
 * @category services
 */
export class LeaderElection extends Context.Service<LeaderElection, Election<unknown, unknown>>()(
  "@leasekit/core/LeaderElection"
) {}

/**
 * Where an election stands.
 *
 * - `Campaigning`: waiting for the lease (no holder seen, or not yet read).
 * - `Following`: another contender holds the lease; this one waits to take over.
 * - `Leading`: this contender holds the lease and runs `whileLeading` (the fencing `token`).
 * - `Failing`: the store refused for good after the election started; retried after `retryingIn`.
 * - `SteppedDown`: this contender led, its health check (`stepDown`) failed `failures` times in a
 *   row, and it released the lease; it campaigns again once `coolDown` has passed. Reported from the
 *   moment it decides to step down (its release may still be under way), so it never says
 *   `Leading` for a lease it is giving up.
 * - `Stopped`: the election is over — `whileLeading` completed or failed, or the election was
 *   asked to stop on a permanent failure.
 *
 * @since 0.2.0
 * @category models
 */
export type Status =
  | { readonly _tag: "Campaigning" }
  | { readonly _tag: "Following"; readonly holder: string }
  | { readonly _tag: "Leading"; readonly token: number }
  | { readonly _tag: "Failing"; readonly error: LeaseAcquisitionError; readonly retryingIn: Duration.Duration }
  | { readonly _tag: "SteppedDown"; readonly failures: number; readonly coolDown: Duration.Duration }
  | { readonly _tag: "Stopped"; readonly cause: Cause.Cause<unknown> }

/**
 * What an election believes about its own leadership: what a liveness check judges
 * (`LeaderHealth`), as client-go's `HealthzAdaptor` judges its elector.
 *
 * @since 0.3.0
 * @category models
 */
export interface Leadership {
  /**
   * Whether this process believes it leads: it is `Leading`, or it lost the lease to its own renew
   * deadline — no renewal reached the store in time — and has not heard from the store since (no
   * new term, no other holder seen: the status stays `Campaigning`). An elector in that state
   * cannot tell a partition from a slow store; client-go's elector keeps believing it leads then.
   */
  readonly believesLeading: boolean
  /**
   * Time since the store last confirmed this election's lease — the answer to its last successful
   * acquisition or renewal arrived — or `None` before the first. Measured from the answer's
   * arrival, so it falls short of the time since that write was *sent* by at most the write's round
   * trip (bounded by `requestTimeout`).
   */
  readonly unconfirmedFor: Option.Option<Duration.Duration>
}

/**
 * A running election.
 *
 * @since 0.2.0
 * @category models
 */
export interface Election<A, E> {
  /** The lease competed for, and this election's identity in it. */
  readonly key: LeaseKey
  readonly holder: string
  /** The options, resolved and validated once. */
  readonly options: LeaseOptions.ResolvedLeaseOptions
  /** Where the election stands now. */
  readonly status: Effect.Effect<Status>
  /** The status now, then every change. */
  readonly changes: Stream.Stream<Status>
  /** What happens to this election's terms (acquired, renewed, renewal failing, lost with its
   * reason, released), from the moment of subscribing; see `LeaseContender.events`. */
  readonly events: Stream.Stream<LeaseEvent>
  /** What the election believes about its own leadership now (see `Leadership`). */
  readonly leadership: Effect.Effect<Leadership>
  /** Waits for the election to end: `whileLeading`'s result once it completes while leading. */
  readonly await: Effect.Effect<A, E | LeaseAcquisitionError>
}

/**
 * When a leader gives up its lease because it is unhealthy (`ElectionOptions.stepDown`).
 *
 * @since 0.4.0
 * @category models
 */
export interface StepDownOptions<R = never> {
  /**
   * The health check, run while leading: `true` when healthy. A check that answers `false`, dies,
   * or has not answered within `interval` (it is interrupted then) counts as one failure; a
   * healthy answer resets the count.
   */
  readonly check: Effect.Effect<boolean, never, R>
  /** How often the leader runs `check`, the first time one interval after it began to lead.
   * Default: the lease's `renewInterval`. */
  readonly interval?: Duration.Input | undefined
  /** How many failures in a row make the leader step down (a whole number ≥ 1). Default: 3. */
  readonly failures?: number | undefined
  /** How long a leader that stepped down waits before it campaigns again (the other replicas'
   * turn). Default: the lease's `duration`. */
  readonly coolDown?: Duration.Input | undefined
}

/**
 * Options of an election: the lease's, and what the election does beyond holding it.
 *
 * @since 0.4.0
 * @category models
 */
export interface ElectionOptions<R = never> extends LeaseOptions.LeaseOptions {
  /**
   * While it follows, ask the leader to hand the lease over to this contender (`requestHandoff`):
   * once per leader tenure (holder and token) — a leader that refuses, or whose request expired,
   * is not asked again until another tenure begins. A leasekit leader with `handoffRequests:
   * "honour"` (the default) stops its work and hands over; the lease then goes to this contender
   * alone for the leader's `handoffWindow`. Default: `false`.
   */
  readonly preferred?: boolean | undefined
  /** Step down on bad health: see `StepDownOptions`. Default: never step down. */
  readonly stepDown?: StepDownOptions<R> | undefined
}

/**
 * Leads whenever it can: acquires the lease (waiting), runs `whileLeading` until it completes or
 * the lease is lost, and after a loss re-enters the election. Returns `whileLeading`'s result
 * (releasing the lease) once it completes while leading; fails when `whileLeading` fails, or
 * when the store refuses for good (e.g. RBAC forbids it).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R, R2 = never>(
  options: ElectionOptions<R2>,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Exclude<R, Scope.Scope> | R2> =>
  Effect.scoped(Effect.gen(function*() {
    const self = yield* Lease.contender(options).pipe(Effect.provideServiceEffect(Lease.Lease, Lease.serviceForStore))
    const policy = yield* resolvePolicy(options, self.options)
    const first = yield* firstAnswer(self)
    return yield* terms(self, yield* Scope.Scope, first, whileLeading, silent, (error) => Effect.fail(error), policy)
  }))

/**
 * Starts an election in the background of the current scope and returns at once with its
 * status; the lease is released when the scope closes. Fails — before anything runs in the
 * background — on invalid options or when the store refuses the first request for good (forbidden,
 * missing namespace). A refusal later on is reported as `Failing` and retried with a backoff from
 * `retryPeriod` doubling up to `duration`.
 *
 * @since 0.2.0
 * @category running
 */
export const make = <A, E, R, R2 = never>(
  options: ElectionOptions<R2>,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
): Effect.Effect<
  Election<A, E>,
  LeaseAcquisitionError | InvalidLeaseOptions,
  Lease.Lease | Scope.Scope | Exclude<R, Scope.Scope> | R2
> =>
  Effect.gen(function*() {
    // The contender (and every tenure it starts) lives in a child scope registered before the
    // election's fiber: closing the scope interrupts the fiber first, and only then releases the
    // lease. (Tenure scopes forked later from the caller's scope would close first: the term's
    // guard would fail with `Relinquished`, taken for a loss, and the election would run
    // `whileLeading` again and re-acquire while its scope closes.)
    const contenderScope = yield* Scope.fork(yield* Scope.Scope)
    const self = yield* Lease.contender(options).pipe(Scope.provide(contenderScope))
    const policy = yield* resolvePolicy(options, self.options)
    const status = yield* SubscriptionRef.make<Status>({ _tag: "Campaigning" })
    // Leadership (see `Leadership`): when the store last confirmed a term, and whether the last
    // term was lost to its own deadline with nothing heard from the store since ("orphaned").
    let confirmedAt: number | undefined = undefined
    let orphaned = false
    const confirmed = Effect.map(monotonicMillis, (now) => {
      confirmedAt = now
    })
    const setStatus = (next: Status) =>
      Effect.gen(function*() {
        // Anything but `Campaigning` is news from the store (a holder seen, a term begun, a
        // refusal) or the end of the election: the belief left by a deadline loss is over.
        if (next._tag !== "Campaigning") orphaned = false
        if (next._tag === "Leading") yield* confirmed
        // The wait reports `Following` at every answer: only a change is a change.
        if (!sameStatus(yield* SubscriptionRef.get(status), next)) yield* SubscriptionRef.set(status, next)
      })
    const report: Reporter = {
      setStatus,
      lost: (error) =>
        Effect.sync(() => {
          orphaned = error.reason._tag === "DeadlineExceeded"
        })
    }
    // Renewals are seen in the contender's events, subscribed to before anything can happen.
    const events = yield* Stream.toPull(self.events).pipe(Scope.provide(contenderScope))
    yield* events.pipe(
      Effect.flatMap((chunk) =>
        chunk.some((event) => event._tag === "Acquired" || event._tag === "Renewed") ? confirmed : Effect.void
      ),
      Effect.forever,
      Effect.ignoreCause,
      Effect.forkIn(contenderScope)
    )
    const leadership = Effect.map(
      Effect.zip(SubscriptionRef.get(status), monotonicMillis),
      ([now, at]): Leadership => ({
        believesLeading: now._tag === "Leading" || (now._tag === "Campaigning" && orphaned),
        unconfirmedFor: confirmedAt === undefined ? Option.none() : Option.some(Duration.millis(Math.max(0, at - confirmedAt)))
      })
    )
    const first = yield* firstAnswer(self)
    const { duration, retryPeriod } = self.options
    const backoff = (error: LeaseAcquisitionError, failures: number) =>
      Effect.gen(function*() {
        const retryingIn = Duration.min(Duration.times(retryPeriod, 2 ** Math.min(failures - 1, 20)), duration)
        yield* setStatus({ _tag: "Failing", error, retryingIn })
        yield* Effect.logError(`leader election failing, retrying in ${Duration.format(retryingIn)}: ${error.message}`)
        yield* Effect.sleep(retryingIn)
      })
    const fiber = yield* terms(self, yield* Scope.Scope, first, whileLeading, report, backoff, policy).pipe(
      // An election that is over holds nothing: it releases (the scope may live on — a layer — and
      // a stopped election must not keep other replicas from leading). `Stopped` is reported
      // first: the status never says `Leading` for a lease whose release has begun (a release
      // whose answer is lost can take a while); `await` answers once the release is done.
      Effect.onExit((exit) =>
        Effect.andThen(
          setStatus({ _tag: "Stopped", cause: exit._tag === "Success" ? Cause.empty : exit.cause }),
          Effect.ignore(self.release)
        )
      ),
      Effect.forkScoped
    )
    return {
      key: self.key,
      holder: self.holder,
      options: self.options,
      status: SubscriptionRef.get(status),
      changes: SubscriptionRef.changes(status),
      events: self.events,
      leadership,
      await: Fiber.join(fiber)
    }
  })

/**
 * A Layer that runs the election (`make`) in the background for as long as the layer is alive:
 * a singleton across replicas, provided as the `LeaderElection` service (its status, changes and
 * events). Building the layer does not wait for leadership, but it fails on invalid options or a
 * store that refuses for good (see `make`). `whileLeading` failing ends the election; that is
 * logged as an error.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <A, E, R, R2 = never>(
  options: ElectionOptions<R2>,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
): Layer.Layer<LeaderElection, LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Exclude<R, Scope.Scope> | R2> =>
  Layer.effect(
    LeaderElection,
    Effect.gen(function*() {
      const election = yield* make(options, whileLeading).pipe(Effect.provideServiceEffect(Lease.Lease, Lease.serviceForStore))
      yield* election.await.pipe(
        Effect.tapCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("leader election stopped", cause)
        ),
        Effect.ignore,
        Effect.forkScoped
      )
      return election as Election<unknown, unknown>
    })
  )


