/**
 * A tenure: one period during which this contender holds a lease — renewal, loss and release.
 *
 * Safety argument. Every write we make is *sent* at a monotonic instant `sentAt`; any contender
 * observes the resulting version no earlier than that, and may take over only after seeing it
 * unchanged for the lease duration, i.e. not before `sentAt + duration` (measured on its own
 * clock). A watchdog, armed from the acquiring write's `sentAt` and independent of the renewal
 * schedule, declares the lease lost at `sentAt + renewDeadline` of the last successful write,
 * with `renewDeadline < duration`, unless a renewal has succeeded since. So the holder stops
 * believing it holds the lease — its `lost` signal fires and guarded work is interrupted — before
 * anyone else can start believing it does. Assumption: the clocks of the processes run at nearly
 * the same *rate* (their offsets do not matter); the margin `duration - renewDeadline` absorbs
 * rate differences and scheduling delay.
 *
 * The tenure ends for guarded work *before* any write that could let someone else in:
 * - `guard` checks before it starts the work (a lost, released or overdue lease runs no step) and
 *   races the work against the end of the tenure;
 * - `release` first ends the tenure for guarded work (interrupts it and waits for it to stop),
 *   and only then writes; the watchdog stays armed until the release write is confirmed, so a
 *   release that cannot reach the store still declares `DeadlineExceeded` in time. Called from
 *   inside guarded work it never waits (that work may be waiting for it): the guarded effect that
 *   called it finishes first, still guarded, and the write follows;
 * - a release whose answer was lost (it may have landed) and that then finds another holder
 *   *was* a release: it is not reported as a loss.
 *
 * A handoff (`handoff(to)`) *is* a release, with everything above: guarded work is stopped first
 * (`guard` fails with reason `HandedOff`), the one write — the same compare-and-swap-and-adopt from
 * this tenure's record — clears the holder, and the watchdog stays armed until it is confirmed. The
 * write also carries the reservation for `to` (annotations `leasekit.io/handoff-to` and
 * `leasekit.io/handoff-window-seconds`; not `spec.preferredHolder`, which the API server allows only
 * on coordinated leases), which only restrains other
 * contenders (see `attempt.ts`); the successor then acquires like anyone, with a greater token. So
 * the safety argument is unchanged: once the write lands nobody holds the lease, and this holder
 * stopped believing it holds it before the write was sent. A handoff always clears (keeps the
 * object, to carry the reservation), also with release mode `delete`. The first call of a release
 * or a handoff decides which it is; later calls join it.
 *
 * Requests (`Lease.requestHandoff`) change only the record's metadata, so the holder meets them at
 * its next renewal: the compare-and-swap conflicts, the record read back is still this tenure's and
 * is adopted, and its `handoff-request: Y` is answered (`tenure/handoffRequests.ts`: honoured as if
 * `handoff(Y)` were called, or refused). `handoffRequested` tells the application either way.
 *
 * Every renewal writes a `renewTime` greater than the one it replaces (even when the wall clock did
 * not move), so every write of this tenure changes the spec — what contenders observe expiry on.
 *
 * Renewal is one compare-and-swap from the last record we wrote (one store call, no read). On a
 * conflict we read back: a record that is still this tenure's — our holder and our token (someone
 * added a label) — is adopted and the renewal retried; any other holder or token, a cleared holder
 * or a deleted object is a loss. The release write goes through the same compare-and-swap-and-adopt
 * step (`swap`). Transient failures are retried every `retryPeriod`; only the watchdog decides when
 * it is too late. Every renewal attempt checks, under the write permit, that the tenure has not
 * ended. Every change is also told to the contender's `emit` (its `events` stream), never awaited
 * beyond handing it over.
 *
 * This module is the state machine (phases `Held` → `Stopping` → `Releasing` → `Released`, and the
 * loss) and is kept whole: the watchdog, the renewer, the release and the finalizer all read and
 * write the same state — the phase, the loss signal, the running guards, the write permit — and the
 * safety argument above is about how they interleave. Its parts without that state are under
 * `tenure/`: guarded work (`guards.ts`), losses (`loss.ts`), the released records (`records.ts`), and
 * the answer to handoff requests (`handoffRequests.ts`).
 *
 * Does not guarantee: that work outside `guard` stops, nor that work that ignores interruption
 * (an uninterruptible region) stops in time; that a process paused past its deadline (GC,
 * SIGSTOP) notices before it acts — only a fence on the token protects against that.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type { HeldLease } from "../Lease.ts"
import type { LeaseEvent } from "../LeaseContender.ts"
import { LeaseLostError, LeaseRelinquishmentError } from "../LeaseError.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import { validateSuccessor } from "../LeaseOptions.ts"
import type { LeaseRecord, LeaseSpec } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"
import { isTransient, LeaseStoreError } from "../LeaseStore.ts"
import { Spans } from "../LeaseTelemetry.ts"
import { carried, holdingSpec, transitionsOf } from "./attempt.ts"
import { monotonicMillis } from "./observations.ts"
import * as Telemetry from "./telemetry.ts"
import * as Guards from "./tenure/guards.ts"
import { CallingGuards, type Guard, guardsOf } from "./tenure/guards.ts"
import * as HandoffRequests from "./tenure/handoffRequests.ts"
import { Loss, lossOf } from "./tenure/loss.ts"
import { releasedMetadata, releasedSpec } from "./tenure/records.ts"

/**
 * Where the tenure is:
 * - `Held`: renewed in the background; guarded work may run.
 * - `Stopping`: a release has begun; guarded work is being stopped, renewals go on meanwhile.
 * - `Releasing`: the release write is being made (or failed); no more renewals.
 * - `Released`: the release write was confirmed; nothing more happens.
 */
type Phase = "Held" | "Stopping" | "Releasing" | "Released"

interface State {
  readonly last: LeaseRecord
  /** Monotonic millisecond at which the last successful write was sent. */
  readonly sentAt: number
  /** Wall-clock millisecond of the same instant, for messages. */
  readonly sentWall: number
  readonly phase: Phase
  readonly lastError: LeaseStoreError | undefined
}

/** The outcome of a compare-and-swap that adopts records still this tenure's (see `swap`). */
type Swapped<A> =
  | { readonly _tag: "Written"; readonly value: A }
  /** The tenure ended meanwhile (checked before every write): nothing was written. */
  | { readonly _tag: "Skipped" }
  /** The object was deleted or its holder cleared. */
  | { readonly _tag: "Gone"; readonly loss: Loss }
  /** The record belongs to another holder, or to a newer tenure of the same holder. */
  | { readonly _tag: "Foreign"; readonly record: LeaseRecord }

/** What a successful acquisition hands to the tenure. */
export interface Acquired {
  readonly record: LeaseRecord
  readonly sentAt: number
  readonly sentWall: number
}

/**
 * Starts a tenure from a successful acquisition: arms the deadline watchdog, starts the renewer
 * (both fibers of the tenure's own, not of `scope`) and registers the release finalizer in
 * `scope`, which the release closes once its write is confirmed. Must run uninterruptibly right
 * after the acquiring write, so that no acquired lease goes without its finalizer.
 */
export const start = (
  store: LeaseStoreService,
  options: ResolvedLeaseOptions,
  acquired: Acquired,
  scope: Scope.Closeable,
  emit: (event: LeaseEvent) => Effect.Effect<void>
): Effect.Effect<HeldLease> =>
  Effect.gen(function*() {
    const { holder, key } = options
    const token = transitionsOf(acquired.record)
    const acquireTime = acquired.record.acquireTime
    /** Whether a record is this tenure's: it names us *and* carries this tenure's token — a newer
     * tenure of the same identity (taken after this one ended, while its release write was still
     * pending) has a greater one and must not be renewed or cleared by this tenure. With release
     * mode `delete` tokens restart on every new object, so the tenure's `acquireTime` must match
     * too. */
    const isThisTenure = (record: LeaseRecord) =>
      record.holder === holder && transitionsOf(record) === token &&
      (options.releaseMode !== "delete" || record.acquireTime === acquireTime)
    const state = yield* Ref.make<State>({
      last: acquired.record,
      sentAt: acquired.sentAt,
      sentWall: acquired.sentWall,
      phase: "Held",
      lastError: undefined
    })
    /** Fails when the lease is lost (never on our own release). */
    const lostSignal = yield* Deferred.make<never, LeaseLostError>()
    /** The running `guard`s of this tenure. */
    const guards = yield* Ref.make<ReadonlySet<Guard>>(new Set())
    const writes = yield* Semaphore.make(1)
    /** The release in progress, shared by every caller; cleared when it fails, so that a later
     * release tries again. */
    const releasing = yield* Ref.make<Deferred.Deferred<void, LeaseRelinquishmentError> | undefined>(undefined)
    const annotate = Telemetry.annotate(key, holder)
    const metrics = Telemetry.forLease(key)
    /** The acquisition's span (current while the tenure starts): the tenure's own spans link to it. */
    const acquisition = yield* Telemetry.currentSpan
    /** A span of this tenure: a root (background work, a scope that closed) or a child of the caller's. */
    const tenureSpan = (name: string, root: boolean) => Telemetry.tenureSpan(name, key, holder, token, acquisition, root)
    const deadlineMillis = Duration.toMillis(options.renewDeadline)
    const windowSeconds = Duration.toMillis(options.handoffWindow) / 1000
    const renewIntervalMillis = Duration.toMillis(options.renewInterval)

    const deadlineLoss = (s: State) =>
      new Loss(
        { _tag: "DeadlineExceeded", lastRenewal: new Date(s.sentWall), ...(s.lastError ? { lastError: s.lastError } : {}) },
        s.lastError
      )

    /** Declares the loss once (unless the release was already confirmed) and returns the error.
     * Uninterruptible: the fiber declaring it may be raced against the very signal it fails. */
    const declareLost = (loss: Loss) =>
      Effect.uninterruptible(Effect.gen(function*() {
        const error = new LeaseLostError({
          key,
          holder,
          reason: loss.reason,
          ...(loss.cause === undefined ? {} : { cause: loss.cause })
        })
        const existing = yield* Deferred.poll(lostSignal)
        if (Option.isSome(existing)) return yield* Effect.flip(existing.value)
        if ((yield* Ref.get(state)).phase === "Released") return error
        yield* Deferred.fail(lostSignal, error)
        yield* Effect.forEach(yield* Ref.get(guards), (guard) => Deferred.fail(guard.stop, error), { discard: true })
        yield* metrics.lost(loss.reason._tag)
        yield* metrics.setHeld(false)
        yield* Effect.logWarning(error.message)
        yield* emit({ _tag: "Lost", token, error })
        return error
      }))

    /** The lease is lost once the deadline of the last successful write has passed. */
    const overdue = Effect.gen(function*() {
      const s = yield* Ref.get(state)
      return s.phase !== "Released" && (yield* monotonicMillis) >= s.sentAt + deadlineMillis ? Option.some(s) : Option.none()
    })

    const relinquished = new LeaseLostError({ key, holder, reason: { _tag: "Relinquished" } })
    /** The successor of the release in progress, when it is a handoff (set by the call that began
     * it: one that joins it changes nothing). */
    const successor = yield* Ref.make<string | undefined>(undefined)
    /** What guarded work fails with once a release or handoff began. */
    const ended = Effect.map(Ref.get(successor), (to) =>
      to === undefined ? relinquished : new LeaseLostError({ key, holder, reason: { _tag: "HandedOff", to } }))

    /** Fails with the loss already declared, or `Relinquished` once a release began, or declares
     * `DeadlineExceeded` when the deadline has passed. Used before any guarded step. */
    const ensureHeld = Effect.gen(function*() {
      const lost = yield* Deferred.poll(lostSignal)
      if (Option.isSome(lost)) return yield* lost.value
      if ((yield* Ref.get(state)).phase !== "Held") return yield* Effect.fail(yield* ended)
      const late = yield* overdue
      if (Option.isSome(late)) return yield* Effect.fail(yield* declareLost(deadlineLoss(late.value)))
    })

    /** Sleeps until the deadline of the last successful write, then declares the loss unless a
     * renewal moved the deadline meanwhile (then sleeps again). */
    const watchdog = Effect.gen(function*() {
      while (true) {
        if (yield* Deferred.isDone(lostSignal)) return
        const s = yield* Ref.get(state)
        if (s.phase === "Released") return
        const remaining = s.sentAt + deadlineMillis - (yield* monotonicMillis)
        if (remaining <= 0) {
          yield* declareLost(deadlineLoss(s))
          return
        }
        yield* Effect.sleep(Duration.millis(remaining))
      }
    })

    /** A renewal's spec: `strategy` and `preferredHolder` as read, and a `renewTime` greater than the
     * last one even when the wall clock did not move (or moved back): every write of the holder
     * changes the spec, which is what contenders observe expiry on (see `observations.ts`). */
    const renewalSpec = (last: LeaseRecord, now: number): LeaseSpec => {
      const renewTime = last.renewTime === undefined || !Number.isFinite(last.renewTime) ? now : Math.max(now, last.renewTime + 1)
      return { ...holdingSpec(options, renewTime, last.acquireTime ?? now, token), ...carried(last) }
    }

    /** Starts a handoff in the background (assigned below, once the release is defined). */
    let honour: (to: string) => Effect.Effect<void> = () => Effect.void
    const { answerRequest, requested } = yield* HandoffRequests.make(options, (to) => honour(to))

    /**
     * One compare-and-swap from the last record of this tenure: `write(last)` unless `ended` says
     * the tenure is over. When the object changed meanwhile (`Conflict`) the record is read back:
     * still this tenure's (someone added a label) — adopted and the write tried again, at most three
     * times; deleted or cleared — `Gone`; anyone else's — `Foreign`. Shared by renewal and release.
     */
    const swap = <A>(
      write: (last: LeaseRecord) => Effect.Effect<A, LeaseStoreError>,
      ended: Effect.Effect<boolean>
    ): Effect.Effect<Swapped<A>, LeaseStoreError> =>
      Effect.gen(function*() {
        for (let adopted = 0;; adopted++) {
          if (yield* ended) return { _tag: "Skipped" } as const
          const { last } = yield* Ref.get(state)
          const written = yield* write(last).pipe(
            Effect.map(Option.some),
            Effect.catchIf((e) => e.reason === "Conflict" && adopted < 3, () => Effect.succeed(Option.none()))
          )
          if (Option.isSome(written)) return { _tag: "Written", value: written.value } as const
          const current = yield* store.get(key)
          const loss = lossOf(current)
          if (loss !== undefined) return { _tag: "Gone", loss } as const
          const record = Option.getOrThrow(current)
          if (!isThisTenure(record)) return { _tag: "Foreign", record } as const
          yield* Effect.logDebug(`lease changed by someone else but still names us (version ${record.version}); adopting it`)
          yield* Ref.update(state, (s) => ({ ...s, last: record }))
        }
      })

    /** One renewal, under the write permit. Writes nothing once a release write has begun or the
     * lease is lost. */
    const renewOnce: Effect.Effect<void, LeaseStoreError | Loss> = Effect.gen(function*() {
      const ended = Effect.gen(function*() {
        const { phase } = yield* Ref.get(state)
        return phase === "Releasing" || phase === "Released" || (yield* Deferred.isDone(lostSignal))
      })
      const outcome = yield* swap((last) =>
        Effect.gen(function*() {
          const sentAt = yield* monotonicMillis
          const sentWall = yield* Clock.currentTimeMillis
          const metadata = yield* answerRequest(last)
          const record = yield* store.update(last, renewalSpec(last, sentWall), metadata)
          return { record, sentAt, sentWall }
        }), ended)
      switch (outcome._tag) {
        case "Skipped":
          return
        case "Written": {
          const { record, sentAt, sentWall } = outcome.value
          yield* Ref.update(state, (s) => ({ ...s, last: record, sentAt, sentWall, lastError: undefined }))
          yield* metrics.renewed
          yield* Effect.logDebug("lease renewed")
          yield* emit({ _tag: "Renewed", token, record })
          return
        }
        case "Gone":
          return yield* Effect.fail(outcome.loss)
        case "Foreign": {
          const record = outcome.record
          if (record.holder === holder && (yield* Ref.get(state)).phase !== "Held") {
            // A newer tenure of our own identity took the lease over after this one's release began:
            // not a loss of this tenure; it just stops renewing (its release will find nothing left).
            yield* Ref.update(state, (s) => ({ ...s, phase: "Releasing" as const }))
            return
          }
          return yield* Effect.fail(new Loss({ _tag: "Taken", by: record.holder! }))
        }
      }
    }).pipe(
      writes.withPermit,
      Effect.catchIf(
        (e): e is LeaseStoreError => e instanceof LeaseStoreError && e.reason === "NotFound",
        (e) => Effect.fail(new Loss({ _tag: "Deleted" }, e))
      )
    )

    /** Renews now, retrying every `retryPeriod` until it succeeds or the lease is lost (the
     * watchdog alone decides when it is too late). Does nothing once a release has begun to
     * write; fails with the loss once the lease is lost. Not traced: see `renew` and `renewer`. */
    const renewAttempts: Effect.Effect<void, LeaseLostError> = Effect.gen(function*() {
      const lost = yield* Deferred.poll(lostSignal)
      if (Option.isSome(lost)) return yield* lost.value
      const late = yield* overdue
      if (Option.isSome(late)) return yield* Effect.fail(yield* declareLost(deadlineLoss(late.value)))
      const attempts = renewOnce.pipe(
        Effect.tapError((e) =>
          e instanceof LeaseStoreError
            ? Effect.all([
              Ref.update(state, (s) => ({ ...s, lastError: e })),
              metrics.renewalFailed,
              emit({ _tag: "RenewalFailing", token, error: e }),
              Effect.logWarning(`lease renewal failed, retrying every ${Duration.format(options.retryPeriod)}: ${e.message}`)
            ])
            : Effect.void
        ),
        Effect.retry({ schedule: Schedule.spaced(options.retryPeriod), while: (e) => e instanceof LeaseStoreError }),
        Effect.catch((e) => e instanceof Loss ? Effect.flatMap(declareLost(e), Effect.fail) : Effect.die(e))
      )
      yield* Effect.raceFirst(Deferred.await(lostSignal), attempts)
    }).pipe(annotate)

    /** An explicit renewal (`HeldLease.renew`): a child of the caller's span, linked to the acquisition. */
    const renew = renewAttempts.pipe(tenureSpan(Spans.renew, false))
    /** A background renewal: a root span linked to the acquisition, so that a lease held for days
     * does not grow the acquiring caller's trace with a renewal every `renewInterval`. */
    const backgroundRenewal = renewAttempts.pipe(tenureSpan(Spans.renew, true))

    /** Renews `renewInterval` after each successful write was sent, while the tenure lasts. */
    const renewer = Effect.gen(function*() {
      while (true) {
        const s = yield* Ref.get(state)
        if (s.phase === "Releasing" || s.phase === "Released" || (yield* Deferred.isDone(lostSignal))) return
        const wait = s.sentAt + renewIntervalMillis - (yield* monotonicMillis)
        if (wait > 0) {
          yield* Effect.sleep(Duration.millis(wait))
          continue
        }
        yield* Effect.ignore(backgroundRenewal)
      }
    })

    // Not forked into the scope: loss detection must outlive a scope that closes while a release
    // is still waiting for guarded work to stop. Both end by themselves once the lease is lost or
    // a release write was made, and are interrupted once the release is confirmed.
    const watchdogFiber = yield* Effect.forkDetach(watchdog.pipe(annotate))
    const renewerFiber = yield* Effect.forkDetach(renewer)

    /** Whether a release write of this tenure got an ambiguous answer (it may have landed) —
     * remembered across release attempts: a release that failed and is tried again (the contender
     * keeps a tenure whose release failed, so that the next `release` retries) must still take
     * another holder for the sign that an earlier write landed. */
    const ambiguous = yield* Ref.make(false)
    /** Writes the release: clears the holder (client-go's convention) or deletes the object. A
     * write whose answer was lost may have landed: if we then find the lease cleared, deleted or
     * taken by someone else, our release did its job. */
    const releaseWrite = Effect.gen(function*() {
      const once = Effect.gen(function*() {
        const outcome = yield* swap((last) => {
          // A handoff always clears the holder (the object carries the reservation), also in
          // release mode "delete".
          const write = Effect.flatMap(Ref.get(successor), (to) =>
            options.releaseMode === "delete" && to === undefined
              ? store.remove(last)
              : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                store.update(last, releasedSpec(now, token, last), releasedMetadata(last, to, windowSeconds))))
          return write.pipe(
            Effect.asVoid,
            Effect.catchIf((e) => e.reason === "NotFound", () => Effect.void),
            Effect.tapError((e) => isTransient(e) ? Ref.set(ambiguous, true) : Effect.void)
          )
        }, Effect.succeed(false))
        if (outcome._tag !== "Foreign") return
        const record = outcome.record
        if (record.holder === holder) {
          // A newer tenure of our own identity took it over from this one's record (possible only
          // after this tenure ended for its holder): nothing of this tenure is left to release.
          yield* Effect.logDebug("the lease was taken again by a newer tenure of this holder; nothing to release")
          return
        }
        if (yield* Ref.get(ambiguous)) {
          yield* Effect.logDebug(
            `an earlier release write may have landed; the lease is now held by ${JSON.stringify(record.holder)}`
          )
          return
        }
        // Someone else holds it and our release cannot have let them in: a loss we had not
        // seen yet. Record it so that nothing (the finalizer, a later release) tries again.
        yield* declareLost(new Loss({ _tag: "Taken", by: record.holder! }))
        return yield* Effect.fail(
          new LeaseRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder: record.holder! } })
        )
      })
      return yield* once.pipe(
        Effect.retry({
          schedule: Schedule.spaced(options.retryPeriod).pipe(Schedule.upTo({ duration: options.duration })),
          // Once the lease is lost to its deadline, clearing it only hands it over sooner: one try.
          while: (e) => e instanceof LeaseStoreError && isTransient(e) && !Deferred.isDoneUnsafe(lostSignal)
        }),
        Effect.catchIf(
          (e): e is LeaseStoreError => e instanceof LeaseStoreError,
          (error) => Effect.fail(new LeaseRelinquishmentError({ key, reason: { _tag: "Store", error }, cause: error }))
        )
      )
    })

    /**
     * Ends the tenure for guarded work: tells every guard to stop but `spared` — the guards whose
     * work fiber is the releasing fiber itself, and those nesting them (see `releaseTenure`), which
     * are left to finish. Answers every guard running now: the write waits for all of them.
     */
    const stopGuards = (spared: ReadonlySet<Guard>) =>
      Effect.gen(function*() {
        const running = [...(yield* Ref.get(guards))]
        const told = running.filter((guard) => !spared.has(guard))
        const error = yield* ended
        yield* Effect.forEach(told, (guard) => Deferred.fail(guard.stop, error), { discard: true })
        return running
      })

    /** The rest of the release, once guarded work was told to stop: wait until every guarded
     * effect has stopped, then write; loss detection stays armed until the write is confirmed. */
    const finishRelease = (stopping: ReadonlyArray<Guard>, root: boolean): Effect.Effect<void, LeaseRelinquishmentError> =>
      Effect.gen(function*() {
        yield* Effect.forEach(stopping, (guard) => Deferred.await(guard.stopped), { discard: true })
        if ((yield* Ref.get(state)).phase === "Released") return
        yield* writes.withPermit(Effect.gen(function*() {
          yield* Ref.update(state, (s) => ({ ...s, phase: "Releasing" as const }))
          yield* releaseWrite
          yield* Ref.update(state, (s) => ({ ...s, phase: "Released" as const }))
        }))
        yield* Fiber.interrupt(renewerFiber)
        yield* Fiber.interrupt(watchdogFiber)
        yield* metrics.released
        yield* metrics.setHeld(false)
        const to = yield* Ref.get(successor)
        yield* Effect.logDebug(to === undefined ? "lease released" : `lease handed off to ${JSON.stringify(to)}`)
        yield* emit(to === undefined ? { _tag: "Released", token } : { _tag: "Released", token, handedOffTo: to })
      }).pipe(tenureSpan(Spans.release, root), annotate)

    /**
     * Releases, or joins the release in progress. The caller's fiber ends the tenure for guarded
     * work at once (new guards refuse to start, running ones are told to stop); the rest — waiting
     * until every guarded effect has stopped, the write, closing the tenure's scope — runs to its
     * end in a fiber of its own, so a caller that is interrupted cannot leave it half-done.
     *
     * A caller inside guarded work — of any lease, directly or in a fiber that work forked — never
     * waits: the work it belongs to may be waiting for it. It answers `Pending` at once. The guard
     * whose work fiber *is* the caller (and the guards nesting it) is not interrupted but left to
     * finish: a guarded effect that releases its own lease "early" keeps it, still guarded, until
     * it returns, and the write follows then. Any other caller waits for the write and answers
     * `Confirmed`.
     *
     * One release makes one `leasekit.lease.release` span, whoever joins it: a child of the span of
     * the caller that began it, or — begun by the tenure's scope closing (`root`) — a root span
     * linked to the acquisition (that scope may close days after any span still current there began).
     */
    const releaseTenure = (
      root: boolean,
      to: string | undefined = undefined
    ): Effect.Effect<"Confirmed" | "Pending", LeaseRelinquishmentError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const own = guardsOf(yield* Ref.get(guards), yield* Effect.fiberId)
          const inside = [...(yield* CallingGuards)].some((guard) => !Deferred.isDoneUnsafe(guard.stopped))
          const fresh = yield* Deferred.make<void, LeaseRelinquishmentError>()
          const running = yield* Ref.modify(releasing, (current) =>
            current === undefined ? [fresh, fresh] as const : [current, current] as const
          )
          if (running === fresh) {
            yield* Ref.set(successor, to)
            if ((yield* Ref.get(state)).phase === "Held") yield* Ref.update(state, (s) => ({ ...s, phase: "Stopping" as const }))
            const stopping = yield* stopGuards(own)
            yield* finishRelease(stopping, root).pipe(
              Effect.andThen(Scope.close(scope, Exit.void)),
              Effect.tapError(() => Ref.set(releasing, undefined)),
              Effect.exit,
              Effect.flatMap((exit) => Deferred.done(fresh, exit)),
              Effect.forkDetach
            )
          }
          if (inside) return "Pending" as const
          yield* restore(Deferred.await(running))
          return "Confirmed" as const
        })
    )

    // The finalizer. The renewer and the watchdog are not the scope's: they stay armed while it
    // writes, and while a release it only joined (`Pending`) waits for guarded work to stop. A
    // lease taken, cleared or deleted by someone else is not ours to release; one lost to the
    // deadline may still name us, and clearing it hands it over sooner.
    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        if ((yield* Ref.get(state)).phase === "Released") return
        // The scope is closing: the tenure ends for every guarded effect, also one a release begun
        // from inside it had left to finish (it would otherwise hold the close up for ever).
        const error = yield* ended
        yield* Effect.forEach(yield* Ref.get(guards), (guard) => Deferred.fail(guard.stop, error), { discard: true })
        const lost = yield* Deferred.poll(lostSignal)
        if (Option.isSome(lost)) {
          const failure = yield* Effect.flip(lost.value)
          if (failure.reason._tag !== "DeadlineExceeded") {
            yield* Fiber.interrupt(renewerFiber)
            return yield* Fiber.interrupt(watchdogFiber)
          }
        }
        yield* releaseTenure(true).pipe(
          Effect.catch((error) =>
            // Guarded work was stopped before the write was tried: nothing of the tenure is left to
            // watch over. (A `Pending` release interrupts them itself once it is done.)
            Effect.logWarning(
              `${error.message}; it was not released when its holder finished, so others can take it only once it has gone unrenewed for ${
                Duration.format(options.duration)
              }`
            ).pipe(
              Effect.andThen(Fiber.interrupt(renewerFiber)),
              Effect.andThen(Fiber.interrupt(watchdogFiber))
            )
          )
        )
      })
    )

    const release = Effect.asVoid(releaseTenure(false))
    const handoff = (to: string) => Effect.andThen(validateSuccessor(to), releaseTenure(false, to)).pipe(Effect.asVoid)
    honour = (to) =>
      releaseTenure(true, to).pipe(
        Effect.catch((error) => Effect.logWarning(`the requested handoff to ${JSON.stringify(to)} failed: ${error.message}`)),
        Effect.forkDetach,
        Effect.asVoid
      )

    yield* metrics.acquired
    yield* metrics.setHeld(true)
    yield* Effect.logDebug(`lease acquired, token ${token}`).pipe(annotate)

    const isHeldNow = Effect.gen(function*() {
      const s = yield* Ref.get(state)
      if (s.phase !== "Held" || (yield* Deferred.isDone(lostSignal))) return false
      return (yield* monotonicMillis) < s.sentAt + deadlineMillis
    })

    const remaining = Effect.gen(function*() {
      const s = yield* Ref.get(state)
      if (s.phase !== "Held" || (yield* Deferred.isDone(lostSignal))) return Duration.zero
      return Duration.millis(Math.max(0, s.sentAt + deadlineMillis - (yield* monotonicMillis)))
    })

    const guard = Guards.make(guards, ensureHeld)

    return {
      key,
      holder,
      token,
      options,
      lost: Deferred.await(lostSignal),
      isHeld: isHeldNow,
      remaining,
      record: Effect.map(Ref.get(state), (s) => s.last),
      renew,
      release,
      handoff,
      handoffRequested: Deferred.await(requested),
      guard
    }
  })

/** Whether an acquisition's deadline (`sentAt + renewDeadline`) has already passed: such a lease
 * must not be handed out (see `clearStale`). */
export const isStale = (options: ResolvedLeaseOptions, acquired: Acquired): Effect.Effect<boolean> =>
  Effect.map(monotonicMillis, (now) => now >= acquired.sentAt + Duration.toMillis(options.renewDeadline))

/**
 * Gives up an acquisition that came too late to be handed out: clears the record it wrote (a
 * compare-and-swap from that very record, so it can only undo our own write), so that it is free
 * at once rather than after a duration. Best effort: a failure is logged, and the record then
 * expires by itself.
 */
export const clearStale = (store: LeaseStoreService, acquired: Acquired): Effect.Effect<void> =>
  store.update(acquired.record, releasedSpec(acquired.sentWall, acquired.record.transitions ?? 0, acquired.record)).pipe(
    Effect.asVoid,
    Effect.catch((error) => Effect.logDebug(`a late acquisition could not be cleared: ${error.message}`))
  )
