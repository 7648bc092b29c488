/**
 * A tenure: one period during which this contender holds a lease — renewal, loss and release.
 *
 * Safety argument. Every write we make is *sent* at a monotonic instant `sentAt`; any contender
 * observes the resulting version no earlier than that, and may take over only after seeing it
 * unchanged for the lease duration, i.e. not before `sentAt + duration` (measured on its own
 * clock). We declare the lease lost at `sentAt + renewDeadline` of the last successful write,
 * with `renewDeadline < duration`, unless a renewal has succeeded since. So the holder stops
 * believing it holds the lease — its `lost` signal fires and guarded work is interrupted — before
 * anyone else can start believing it does. Assumption: the clocks of the processes run at nearly
 * the same *rate* (their offsets do not matter); the margin `duration - renewDeadline` absorbs
 * rate differences and scheduling delay.
 *
 * Renewal is one compare-and-swap from the last record we wrote (one store call, no read). On a
 * conflict we read back: a record that still names us (someone added a label) is adopted and the
 * renewal retried; any other holder, a cleared holder or a deleted object is a loss. Transient
 * failures are retried every `retryPeriod` until the deadline.
 */
import { Clock, Deferred, Duration, Effect, Fiber, Option, Ref, Schedule, Scope, Semaphore } from "effect"
import type { HeldLease } from "../Lease.ts"
import { LeaseLostError, LeaseRelinquishmentError } from "../LeaseError.ts"
import type { LossReason } from "../LeaseError.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import { isHeld } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"
import { isTransient, LeaseStoreError } from "../LeaseStore.ts"
import { holdingSpec } from "./contender.ts"
import { monotonicMillis } from "./observations.ts"
import * as Telemetry from "./telemetry.ts"

interface State {
  readonly last: LeaseRecord
  /** Monotonic millisecond at which the last successful write was sent. */
  readonly sentAt: number
  /** Wall-clock millisecond of the same instant, for messages. */
  readonly sentWall: number
  readonly released: boolean
  readonly lastError: LeaseStoreError | undefined
}

/** A renewal outcome that ends the tenure. */
class Loss {
  readonly _tag = "Loss"
  readonly reason: LossReason
  readonly cause: LeaseStoreError | undefined
  constructor(reason: LossReason, cause?: LeaseStoreError) {
    this.reason = reason
    this.cause = cause
  }
}

const lossOf = (record: Option.Option<LeaseRecord>): Loss | undefined =>
  Option.isNone(record)
    ? new Loss({ _tag: "Deleted" })
    : !isHeld(record.value)
    ? new Loss({ _tag: "Released" })
    : undefined

/**
 * Starts a tenure from a successful acquisition: registers the release finalizer and forks the
 * renewer into `scope`. Must run uninterruptibly right after the acquiring write, so that no
 * acquired lease goes without its finalizer.
 */
export const start = (
  store: LeaseStoreService,
  options: ResolvedLeaseOptions,
  acquired: { readonly record: LeaseRecord; readonly sentAt: number; readonly sentWall: number },
  scope: Scope.Scope
): Effect.Effect<HeldLease> =>
  Effect.gen(function*() {
    const { holder, key } = options
    const token = acquired.record.transitions ?? 0
    const state = yield* Ref.make<State>({ ...acquired, last: acquired.record, released: false, lastError: undefined })
    const lostSignal = yield* Deferred.make<never, LeaseLostError>()
    const writes = yield* Semaphore.make(1)
    const annotate = Telemetry.annotate(key, holder)
    const metrics = Telemetry.forLease(key)
    const deadlineMillis = Duration.toMillis(options.renewDeadline)

    const declareLost = (loss: Loss) =>
      Effect.gen(function*() {
        const error = new LeaseLostError({
          key,
          holder,
          reason: loss.reason,
          ...(loss.cause === undefined ? {} : { cause: loss.cause })
        })
        if (yield* Deferred.fail(lostSignal, error)) {
          yield* metrics.lost(loss.reason._tag)
          yield* metrics.setHeld(false)
          yield* Effect.logWarning(error.message)
        }
        return error
      })

    const renewalSpec = (last: LeaseRecord, now: number) => holdingSpec(options, now, last.acquireTime ?? now, token)

    /** One renewal: a CAS from the last record; on conflict, read back and adopt if still ours. */
    const renewOnce: Effect.Effect<void, LeaseStoreError | Loss> = Effect.gen(function*() {
      for (let adopted = 0;; adopted++) {
        const { last } = yield* Ref.get(state)
        const sentAt = yield* monotonicMillis
        const sentWall = yield* Clock.currentTimeMillis
        const outcome = yield* store.update(last, renewalSpec(last, sentWall)).pipe(
          Effect.map(Option.some),
          Effect.catchIf((e) => e.reason === "Conflict" && adopted < 3, () => Effect.succeed(Option.none()))
        )
        if (Option.isSome(outcome)) {
          yield* Ref.update(state, (s) => ({ ...s, last: outcome.value, sentAt, sentWall, lastError: undefined }))
          yield* metrics.renewed
          yield* Effect.logDebug("lease renewed")
          return
        }
        const current = yield* store.get(key)
        const loss = lossOf(current)
        if (loss !== undefined) return yield* Effect.fail(loss)
        const record = Option.getOrThrow(current)
        if (record.holder !== holder) return yield* Effect.fail(new Loss({ _tag: "Taken", by: record.holder! }))
        yield* Effect.logDebug(`lease changed by someone else but still names us (version ${record.version}); adopting it`)
        yield* Ref.update(state, (s) => ({ ...s, last: record }))
      }
    }).pipe(
      Effect.catchIf(
        (e): e is LeaseStoreError => e instanceof LeaseStoreError && e.reason === "NotFound",
        (e) => Effect.fail(new Loss({ _tag: "Deleted" }, e))
      )
    )

    /** Renews now, retrying until the deadline; a definite loss or the deadline ends the tenure.
     * Does nothing once the lease was released; fails again with the loss once it was lost. */
    const renewUntilDeadline: Effect.Effect<void, LeaseLostError> = Effect.gen(function*() {
      const { released, sentAt } = yield* Ref.get(state)
      if (released) return
      const lost = yield* Deferred.poll(lostSignal)
      if (Option.isSome(lost)) return yield* lost.value
      const remaining = sentAt + deadlineMillis - (yield* monotonicMillis)
      const deadlineExceeded = Effect.suspend(() =>
        Ref.get(state).pipe(Effect.flatMap((s) =>
          Effect.fail(
            new Loss(
              { _tag: "DeadlineExceeded", lastRenewal: new Date(s.sentWall), ...(s.lastError ? { lastError: s.lastError } : {}) },
              s.lastError
            )
          )
        ))
      )
      if (remaining <= 0) return yield* deadlineExceeded
      yield* writes.withPermit(renewOnce).pipe(
        Effect.tapError((e) =>
          e instanceof LeaseStoreError
            ? Effect.all([
              Ref.update(state, (s) => ({ ...s, lastError: e })),
              metrics.renewalFailed,
              Effect.logWarning(`lease renewal failed, retrying every ${Duration.format(options.retryPeriod)}: ${e.message}`)
            ])
            : Effect.void
        ),
        Effect.retry({ schedule: Schedule.spaced(options.retryPeriod), while: (e) => e instanceof LeaseStoreError }),
        Effect.timeoutOrElse({ duration: Duration.millis(remaining), orElse: () => deadlineExceeded })
      )
    }).pipe(
      Effect.catch((e) => e instanceof Loss ? Effect.flatMap(declareLost(e), Effect.fail) : Effect.die(e)),
      Telemetry.span("leasekit.lease.renew", key),
      annotate
    )

    const renewer = yield* renewUntilDeadline.pipe(
      Effect.schedule(Schedule.spaced(options.renewInterval)),
      Effect.ignore,
      Effect.forkIn(scope)
    )

    /** Writes the release: clears the holder (client-go's convention) or deletes the object. */
    const releaseWrite: Effect.Effect<void, LeaseRelinquishmentError> = Effect.gen(function*() {
      for (let adopted = 0;; adopted++) {
        const { last } = yield* Ref.get(state)
        const now = yield* Clock.currentTimeMillis
        const write = options.releaseMode === "delete"
          ? store.remove(last)
          : store.update(last, { holder: "", durationSeconds: 1, acquireTime: now, renewTime: now, transitions: token })
        const done = yield* write.pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(true)),
          Effect.catchIf((e) => e.reason === "Conflict" && adopted < 3, () => Effect.succeed(false))
        )
        if (done) return
        const current = yield* store.get(key)
        if (lossOf(current) !== undefined) return
        const record = Option.getOrThrow(current)
        if (record.holder !== holder) {
          // Someone else holds it: that is a loss we had not seen yet; record it so that nothing
          // (the finalizer, a later release) tries again.
          yield* declareLost(new Loss({ _tag: "Taken", by: record.holder! }))
          return yield* Effect.fail(new LeaseRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder: record.holder! } }))
        }
        yield* Ref.update(state, (s) => ({ ...s, last: record }))
      }
    }).pipe(
      Effect.retry({
        schedule: Schedule.spaced(options.retryPeriod).pipe(Schedule.upTo({ duration: options.duration })),
        while: (e) => e instanceof LeaseStoreError && isTransient(e)
      }),
      Effect.catchIf(
        (e): e is LeaseStoreError => e instanceof LeaseStoreError,
        (error) => Effect.fail(new LeaseRelinquishmentError({ key, reason: { _tag: "Store", error }, cause: error }))
      )
    )

    const release: Effect.Effect<void, LeaseRelinquishmentError> = writes.withPermit(
      Effect.gen(function*() {
        if ((yield* Ref.get(state)).released) return
        yield* Fiber.interrupt(renewer)
        yield* releaseWrite
        yield* Ref.update(state, (s) => ({ ...s, released: true }))
        yield* metrics.released
        yield* metrics.setHeld(false)
        yield* Effect.logDebug("lease released")
      })
    ).pipe(Telemetry.span("leasekit.lease.release", key), annotate)

    // The finalizer. A lease taken, cleared or deleted by someone else is not ours to release; one
    // lost to the deadline may still name us, and clearing it hands it over sooner.
    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        const lost = yield* Deferred.poll(lostSignal)
        if (Option.isSome(lost)) {
          const failure = yield* Effect.flip(lost.value)
          if (failure.reason._tag !== "DeadlineExceeded") return
        }
        yield* release.pipe(
          Effect.catch((error) => Effect.logWarning(`lease not released on scope close: ${error.message}`))
        )
      })
    )

    yield* metrics.acquired
    yield* metrics.setHeld(true)
    yield* Effect.logDebug(`lease acquired, token ${token}`).pipe(annotate)

    const isHeldNow = Effect.gen(function*() {
      const s = yield* Ref.get(state)
      if (s.released || (yield* Deferred.isDone(lostSignal))) return false
      return (yield* monotonicMillis) < s.sentAt + deadlineMillis
    })

    return {
      key,
      holder,
      token,
      options,
      lost: Deferred.await(lostSignal),
      isHeld: isHeldNow,
      record: Effect.map(Ref.get(state), (s) => s.last),
      renew: renewUntilDeadline,
      release,
      guard: (self) => Effect.raceFirst(self, Deferred.await(lostSignal))
    }
  })
