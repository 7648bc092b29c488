/**
 * Leases: mutually exclusive, time-bounded locks, held as scoped resources.
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
 *   waiter trusts a watch for at most `renewInterval` before reading again.
 *
 * Does not guarantee: that work outside `guard`, or work that ignores interruption, stops on loss
 * (check `isHeld` or pass `token` to the systems you write to — fencing is the only protection
 * against a process paused past its deadline); exclusion against writers that ignore the protocol
 * (`kubectl edit`).
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Exit, Option, Queue, Random, Ref, Schedule, Scope, Stream } from "effect"
import { LeaseAcquisitionError } from "./LeaseError.ts"
import type { InvalidLeaseOptions, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
import * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "./LeaseRecord.ts"
import { isHeld as recordIsHeld } from "./LeaseRecord.ts"
import { isTransient, LeaseStore, LeaseStoreError, type LeaseStoreService } from "./LeaseStore.ts"
import { bounded } from "./internal/boundedStore.ts"
import * as Contender from "./internal/contender.ts"
import type { Memory } from "./internal/observations.ts"
import { memoryOf, monotonicMillis, observe } from "./internal/observations.ts"
import * as Telemetry from "./internal/telemetry.ts"
import * as Tenure from "./internal/tenure.ts"

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

const storeError = (key: LeaseKey, error: LeaseStoreError) =>
  new LeaseAcquisitionError({ key, reason: { _tag: "Store", error }, cause: error })

/**
 * One attempt; when it wins, the tenure starts in `scope` without a gap in which an interruption
 * could leave an acquired lease without its release finalizer. Only the read is interruptible. A
 * win whose deadline already passed (a slow write or read-back) is not handed out: `Stale`, and
 * the caller tries again from a fresh read.
 */
const attemptIn = (
  store: LeaseStoreService,
  memory: Memory,
  options: LeaseOptions.ResolvedLeaseOptions,
  scope: Scope.Closeable,
  known: Option.Option<Option.Option<LeaseRecord>>
) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const state = Option.isSome(known) ? known.value : yield* restore(store.get(options.key))
      const attempt = yield* Contender.attempt(store, memory, options, Option.some(state))
      if (attempt._tag !== "Acquired") return attempt
      if (yield* Tenure.isStale(options, attempt)) {
        yield* Effect.logDebug("acquired, but the answer came after the renew deadline; clearing it and trying again")
        yield* Tenure.clearStale(store, attempt)
        return { _tag: "Stale" } as const
      }
      const held = yield* Tenure.start(store, options, attempt, scope)
      return { _tag: "Held", held } as const
    })
  )

/**
 * Runs `acquiring` with a scope of its own for the tenure, a child of the caller's: when
 * `acquiring` does not succeed (it failed, timed out or was interrupted, possibly after its write
 * landed), that scope is closed, so a failed acquisition never leaves a lease held.
 */
const inChildScope = <A, E, R>(
  acquiring: (scope: Scope.Closeable) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Scope.fork(yield* Scope.Scope)
    const acquired = yield* acquiring(child).pipe(
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(child, exit))
    )
    // The caller's scope closed while we waited: the tenure was released as soon as it started,
    // and handing it out would look like a lease that is held.
    if (child.state._tag === "Closed") return yield* Effect.interrupt
    return acquired
  })

/**
 * One attempt with already-resolved options, never waiting. Fails with `HeldByOther` (naming the
 * holder and when this contender would consider the lease expired) when someone else holds it. A
 * lost compare-and-swap race is re-read and retried, a few times (then `Contended`).
 *
 * @since 0.1.0
 * @category internals
 */
export const tryAcquireResolved = (
  options: LeaseOptions.ResolvedLeaseOptions
): Effect.Effect<HeldLease, LeaseAcquisitionError, LeaseStore | Scope.Scope> =>
  Effect.gen(function*() {
    const rawStore = yield* LeaseStore
    const store = bounded(rawStore, options.requestTimeout)
    const memory = memoryOf(rawStore)
    return yield* inChildScope((scope) => Effect.gen(function*() {
      const maxRaces = 3
      for (let races = 0;; races++) {
        const outcome = yield* attemptIn(store, memory, options, scope, Option.none()).pipe(
          Effect.mapError((error) => storeError(options.key, error))
        )
        switch (outcome._tag) {
          case "Held":
            return outcome.held
          case "Busy":
            return yield* Effect.fail(
              new LeaseAcquisitionError({
                key: options.key,
                reason: { _tag: "HeldByOther", holder: outcome.holder, expiresIn: outcome.expiresIn }
              })
            )
          case "Raced":
          case "Stale":
            if (races + 1 >= maxRaces) {
              return yield* Effect.fail(
                new LeaseAcquisitionError({ key: options.key, reason: { _tag: "Contended", races: maxRaces } })
              )
            }
        }
      }
    }))
  }).pipe(
    Telemetry.span("leasekit.lease.tryAcquire", options.key),
    Telemetry.annotate(options.key, options.holder)
  )

/**
 * Acquires with already-resolved options, waiting as long as `timeout` allows (forever when
 * undefined). Used by `acquire` and by `LeaderElection`, which keeps one identity across terms.
 *
 * @since 0.1.0
 * @category internals
 */
export const acquireResolved = (
  options: LeaseOptions.ResolvedLeaseOptions,
  timeout?: Duration.Duration
): Effect.Effect<HeldLease, LeaseAcquisitionError, LeaseStore | Scope.Scope> =>
  Effect.gen(function*() {
    const rawStore = yield* LeaseStore
    const store = bounded(rawStore, options.requestTimeout)
    const memory = memoryOf(rawStore)
    const lastHolder = yield* Ref.make<string | undefined>(undefined)

    const wait = (scope: Scope.Closeable) => Effect.scoped(Effect.gen(function*() {
      // Wake-ups from the watch, newest only: a watched state, or `None` ("re-read now") when the
      // watch became unavailable. The watch starts on the first busy answer.
      const wakeups = yield* Queue.sliding<Option.Option<Option.Option<LeaseRecord>>>(1)
      const watching = yield* Ref.make<"off" | "live" | "unavailable">("off")
      const waitScope = yield* Scope.Scope
      // Starting the watch waits for its first answer (the current state, or a refusal), so that
      // the wait that follows knows whether to rely on it or to poll.
      const startWatch = Effect.gen(function*() {
        if ((yield* Ref.get(watching)) !== "off") return
        yield* Ref.set(watching, "live")
        const answered = yield* Deferred.make<void>()
        yield* rawStore.watch(options.key).pipe(
          Stream.runForEach((state) =>
            observe(memory, options.key, state).pipe(
              Effect.andThen(Queue.offer(wakeups, Option.some(state))),
              Effect.andThen(Deferred.succeed(answered, undefined))
            )
          ),
          // A watch that ends or fails transiently is resumed (it starts again with the current state).
          Effect.andThen(Effect.fail(
            new LeaseStoreError({ operation: "watch", key: options.key, reason: "Unavailable", detail: "watch ended" })
          )),
          Effect.retry({ schedule: Schedule.spaced(options.retryPeriod), while: isTransient }),
          Effect.catch((error) =>
            Effect.gen(function*() {
              yield* Ref.set(watching, "unavailable")
              // Wake a waiter that relied on the watch; it re-reads and from now on polls.
              if (!(yield* Deferred.succeed(answered, undefined))) yield* Queue.offer(wakeups, Option.none())
              yield* Effect.logDebug(`watch unavailable, polling every ${Duration.format(options.retryPeriod)}: ${error.message}`)
            })
          ),
          Effect.forkIn(waitScope)
        )
        // A watch that has not answered within the request timeout is not relied on: poll.
        const first = yield* Deferred.await(answered).pipe(Effect.timeoutOption(options.requestTimeout))
        if (Option.isNone(first)) {
          yield* Ref.set(watching, "unavailable")
          yield* Effect.logDebug(`watch gave no answer within ${Duration.format(options.requestTimeout)}; polling`)
        }
      })
      /** The next wake-up, or none after `maxWait`. */
      const nextChange = (maxWait: Duration.Duration) =>
        Queue.take(wakeups).pipe(
          Effect.timeoutOrElse({ duration: maxWait, orElse: () => Effect.succeed(Option.none()) })
        )

      let known = Option.none<Option.Option<LeaseRecord>>()
      let races = 0
      // States from the watch are acted on for at most renewInterval after the last read: a watch
      // can lag behind (an overloaded server delivers events late, in order) without going silent.
      let lastRead = yield* monotonicMillis
      const renewIntervalMillis = Duration.toMillis(options.renewInterval)
      // Once the store has answered this waiter, a refusal is taken as passing (a restarting API
      // server refuses authorized users for a moment, until its RBAC caches sync) and retried; a
      // refusal of the very first request is a misconfiguration and fails at once.
      let answered = false
      const retryable = (error: LeaseStoreError) =>
        isTransient(error) || (answered && (error.reason === "Forbidden" || error.reason === "Unauthorized"))
      while (true) {
        if (races > 0 && Option.isSome(known)) {
          // This waiter lost the last race: when many wait, a release wakes them all at once and
          // each would send a write that all but one lose (a thundering herd). Back off a little,
          // at random, and judge the newest state instead: usually it already names the winner.
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, Math.min(64, 4 * 2 ** races))))
          const newer = yield* Queue.poll(wakeups)
          if (Option.isSome(newer)) known = newer.value
        }
        const now = yield* monotonicMillis
        if (Option.isSome(known) && now - lastRead >= renewIntervalMillis) known = Option.none()
        if (Option.isNone(known)) lastRead = now
        const outcome = yield* attemptIn(store, memory, options, scope, known).pipe(
          Effect.tap(() => Effect.sync(() => (answered = true))),
          Effect.catchIf(retryable, (error) =>
            Effect.logDebug(`acquire attempt failed, retrying: ${error.message}`).pipe(
              Effect.as({ _tag: "Transient" } as const)
            )),
          Effect.mapError((error) => storeError(options.key, error))
        )
        switch (outcome._tag) {
          case "Held":
            return outcome.held
          case "Busy": {
            yield* Ref.set(lastHolder, outcome.holder)
            yield* startWatch
            // A live holder writes every renewInterval, so a live watch is never silent for much
            // longer; a watch can go silent (or lag) without failing, though, so it is trusted for
            // at most renewInterval after the last read.
            const live = (yield* Ref.get(watching)) === "live"
            const untilRead = Duration.millis(Math.max(0, lastRead + renewIntervalMillis - (yield* monotonicMillis)))
            known = yield* nextChange(
              Duration.min(outcome.expiresIn, live ? untilRead : options.retryPeriod)
            )
            break
          }
          case "Stale":
            known = Option.none()
            break
          case "Raced":
            races++
            yield* startWatch
            known = yield* nextChange(options.retryPeriod)
            break
          case "Transient":
            yield* Effect.sleep(options.retryPeriod)
            known = Option.none()
            break
        }
      }
    }))

    return yield* inChildScope((scope) =>
      timeout === undefined ? wait(scope) : wait(scope).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Ref.get(lastHolder).pipe(Effect.flatMap((holder) =>
              Effect.fail(
                new LeaseAcquisitionError({ key: options.key, reason: { _tag: "Timeout", holder, waited: timeout } })
              )
            ))
        })
      )
    )
  }).pipe(
    Telemetry.span("leasekit.lease.acquire", options.key),
    Telemetry.annotate(options.key, options.holder)
  )

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
    const resolved = yield* LeaseOptions.resolve(options)
    const timeout = options.timeout === undefined ? undefined : yield* LeaseOptions.decodeDuration("timeout", options.timeout)
    return yield* acquireResolved(resolved, timeout)
  })

/**
 * One attempt, never waiting: `Some` when acquired (renewed and released like `acquire`), `None`
 * when another contender holds the lease.
 *
 * @since 0.1.0
 * @category acquiring
 */
export const tryAcquire = (
  options: LeaseOptions.LeaseOptions
): Effect.Effect<Option.Option<HeldLease>, LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Scope.Scope> =>
  Effect.flatMap(LeaseOptions.resolve(options), (resolved) =>
    tryAcquireResolved(resolved).pipe(
      Effect.map(Option.some),
      Effect.catchIf(
        (error) => error._tag === "LeaseAcquisitionError" && error.reason._tag === "HeldByOther",
        () => Effect.succeed(Option.none())
      )
    ))

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
}

/**
 * Reads the lease and judges it as a contender would, without writing anything.
 *
 * @since 0.1.0
 * @category inspecting
 */
export const inspect = (
  key: LeaseKey,
  options: Partial<Omit<LeaseOptions.LeaseOptions, "namespace" | "name">> = {}
): Effect.Effect<LeaseInspection, LeaseStoreError | InvalidLeaseOptions, LeaseStore> =>
  Effect.gen(function*() {
    const resolved = yield* LeaseOptions.resolve({ ...options, ...key, holder: options.holder ?? "leasekit-inspector" })
    const rawStore = yield* LeaseStore
    const record = yield* bounded(rawStore, resolved.requestTimeout).get(resolved.key)
    const judgement = yield* Contender.judge(memoryOf(rawStore), resolved, record)
    const honoured = Option.match(record, {
      onNone: () => resolved.duration,
      onSome: (r) => Duration.millis(Contender.honouredDurationMillis(r, resolved))
    })
    return {
      key: resolved.key,
      record,
      holder: Option.flatMap(record, (r) => recordIsHeld(r) ? Option.some(r.holder!) : Option.none()),
      token: Option.map(record, Contender.transitionsOf),
      expiresIn: judgement._tag === "Held" ? judgement.expiresIn : Duration.zero,
      honouredDuration: honoured
    }
  }).pipe(Telemetry.span("leasekit.lease.inspect", key))
