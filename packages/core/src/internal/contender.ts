/**
 * The contender handle (see `LeaseContender.ts` for what it promises): one identity, its options
 * resolved once, at most one tenure at a time, and the events of its tenures.
 *
 * Every tenure starts in a scope of its own, a child of the contender's: an acquisition that does
 * not succeed (it failed, timed out, was interrupted, or found the lease held) closes that scope,
 * so no lease stays held by an attempt nobody got; releasing a tenure, or a new acquisition after
 * a tenure ended, closes the old tenure's scope (whose finalizer clears a lease lost to its
 * deadline, see `tenure.ts`); closing the contender's scope closes them all — and ends an
 * acquisition in progress at once, before it writes.
 *
 * A tenure stays `current` until its scope has closed — after its release was confirmed, also
 * when the release was begun from inside its own guarded work (which keeps the lease until it
 * returns): no second tenure starts before. The permit serializes only the decisions (which
 * tenure, and starting a new one); nothing waits for guarded work while holding it, because
 * guarded work may itself call the contender (`Effect.ensuring(contender.release)`).
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { HeldLease } from "../Lease.ts"
import type { AcquireObserver, LeaseContender, LeaseEvent, TryAcquireResult } from "../LeaseContender.ts"
import { LeaseAcquisitionError, LeaseRelinquishmentError } from "../LeaseError.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import { isHeld } from "../LeaseRecord.ts"
import type { LeaseStoreError, LeaseStoreService } from "../LeaseStore.ts"
import { Spans } from "../LeaseTelemetry.ts"
import * as Attempt from "./attempt.ts"
import { bounded } from "./boundedStore.ts"
import * as Handoff from "./handoff.ts"
import type { Memory } from "./observations.ts"
import * as Telemetry from "./telemetry.ts"
import * as Tenure from "./tenure.ts"
import * as Waiting from "./waiting.ts"

/** Where a tenure lives: its scope, and a signal completed once that scope has closed. */
interface Slot {
  readonly scope: Scope.Closeable
  readonly closed: Deferred.Deferred<void>
}

interface Tenancy extends Slot {
  readonly held: HeldLease
}

/** What the contender does about the tenure in `current`, decided under the permit. */
type Next =
  | { readonly _tag: "Live"; readonly held: HeldLease }
  /** The tenure ended (lost) or its release began: finish it, outside the permit, then decide again. */
  | { readonly _tag: "Finish"; readonly tenancy: Tenancy }
  | { readonly _tag: "None" }

/** Whether a scope has closed (read afresh each time: it changes under our feet). */
const isClosed = (scope: Scope.Scope): boolean => scope.state._tag === "Closed"

/** How many lost races in a row a single attempt (`tryAcquire`) accepts before `Contended`. */
const maxRaces = 3

/** Makes a contender in the current scope. `store` is the raw store; `memory` the service's. */
export const make = (
  rawStore: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions
): Effect.Effect<LeaseContender, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { key, holder } = options
    const scope = yield* Scope.Scope
    const store = bounded(rawStore, options.requestTimeout)
    const events = yield* PubSub.unbounded<LeaseEvent>()
    // Subscribers' streams end when the contender's scope closes. The finalizer that ends them is
    // registered on the first subscription only: a contender nobody listens to (the one behind
    // `Lease.acquire`) leaves nothing registered in its scope once its tenure is released.
    const endEvents = yield* Effect.cached(Scope.addFinalizer(scope, PubSub.shutdown(events)))
    const emit = (event: LeaseEvent) => Effect.asVoid(PubSub.publish(events, event))
    const permit = yield* Semaphore.make(1)
    /** Counts `release` calls, so that an acquisition overtaken by a later release does not start
     * a tenure after it (the calls answer in the order they were made). */
    const releaseCalls = yield* Ref.make(0)
    const current = yield* Ref.make(Option.none<Tenancy>())
    const storeError = (error: LeaseStoreError) =>
      new LeaseAcquisitionError({ key, reason: { _tag: "Store", error }, cause: error })
    const waitError = (error: LeaseStoreError | Waiting.Refused) =>
      error._tag === "Coordinated"
        ? new LeaseAcquisitionError({ key, reason: { _tag: "Coordinated", strategy: error.strategy } })
        : error._tag === "Semaphore"
        ? new LeaseAcquisitionError({ key, reason: { _tag: "Semaphore", ...error.part } })
        : storeError(error)

    /**
     * One attempt; when it wins, the tenure starts in `tenureScope` without a gap in which an
     * interruption could leave an acquired lease without its release finalizer. Only the read is
     * interruptible. A win whose deadline already passed (a slow write or read-back) is not handed
     * out: `Stale`, and the caller tries again from a fresh read.
     */
    const attemptIn = (
      slot: Slot,
      known: Option.Option<Option.Option<LeaseRecord>>
    ): Effect.Effect<Waiting.Outcome<HeldLease>, LeaseStoreError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const state = Option.isSome(known) ? known.value : yield* restore(store.get(key))
          const tenureScope = slot.scope
          // The contender's scope closed meanwhile: nobody would get this lease; write nothing.
          if (isClosed(tenureScope)) return yield* Effect.interrupt
          const attempt = yield* Attempt.attempt(store, memory, options, Option.some(state))
          if (attempt._tag !== "Acquired") return attempt
          if (yield* Tenure.isStale(options, attempt)) {
            yield* Effect.logDebug("acquired, but the answer came after the renew deadline; clearing it and trying again")
            yield* Tenure.clearStale(store, attempt)
            return { _tag: "Stale" } as const
          }
          const held = yield* Tenure.start(store, options, attempt, tenureScope, emit)
          // A scope that closed while the write was in flight has released the tenure already.
          if (!isClosed(tenureScope)) yield* Ref.set(current, Option.some({ ...slot, held }))
          yield* emit({ _tag: "Acquired", token: held.token, record: attempt.record })
          return { _tag: "Held", held } as const
        })
      )

    /**
     * Runs `acquiring` with a new tenure scope, a child of the contender's: unless `acquiring`
     * answers with a held lease, that scope is closed, so a failed acquisition never leaves a
     * lease held. The scope's last finalizer forgets the tenure (it is `current` until then) and
     * ends an acquisition still in progress: a contender whose scope closed hands nothing out.
     */
    const inTenureScope = <A, E>(
      acquiring: (slot: Slot) => Effect.Effect<A, E>,
      isHeld: (a: A) => boolean
    ): Effect.Effect<A, E> =>
      Effect.gen(function*() {
        const tenureScope = yield* Scope.fork(scope)
        const closed = yield* Deferred.make<void>()
        yield* Scope.addFinalizer(
          tenureScope,
          Ref.update(current, (c) => Option.isSome(c) && c.value.scope === tenureScope ? Option.none() : c).pipe(
            Effect.andThen(Deferred.succeed(closed, undefined))
          )
        )
        const result = yield* Effect.raceFirst(
          acquiring({ scope: tenureScope, closed }),
          Effect.andThen(Deferred.await(closed), Effect.interrupt)
        ).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) && isHeld(exit.value) ? Effect.void : Scope.close(tenureScope, exit))
        )
        // The contender's scope closed while we waited: the tenure was released as soon as it
        // started, and handing it out would look like a lease that is held.
        if (isClosed(tenureScope) && isHeld(result)) return yield* Effect.interrupt
        return result
      })

    /** Closes the scope of a tenure that is over (its finalizer clears a lease lost to its deadline). */
    const dispose = (tenancy: Tenancy) => Scope.close(tenancy.scope, Exit.void)

    /**
     * Decides, under the permit, what to do about the tenure in `current`: answer with it when it
     * is live (renewed now, at most for `renewFor`, and still held after that), or have it finished.
     */
    const decide = (renewFor: Duration.Duration | undefined): Effect.Effect<Next> =>
      Effect.gen(function*() {
        const tenancy = yield* Ref.get(current)
        if (Option.isNone(tenancy)) return { _tag: "None" } as const
        const { held } = tenancy.value
        if (yield* held.isHeld) {
          const renewal = renewFor === undefined ? Effect.exit(held.renew) : Effect.exit(held.renew).pipe(
            Effect.timeoutOrElse({ duration: renewFor, orElse: () => Effect.succeed(Exit.void) })
          )
          const renewed = yield* renewal
          // A release may have begun while the renewal was on the wire: such a tenure is not live.
          if (Exit.isSuccess(renewed) && (yield* held.isHeld)) return { _tag: "Live", held } as const
        }
        return { _tag: "Finish", tenancy: tenancy.value } as const
      })

    /**
     * Finishes a tenure that is over, outside the permit: joins (or makes) its release and waits
     * until the tenure's scope has closed — which the release does once its write is confirmed,
     * after every guarded effect of the tenure stopped (also one a release from inside it spared,
     * and also when this caller runs inside guarded work of another lease, where the release itself
     * answers at once). A release that failed (the lease is someone else's now, or the store keeps
     * failing) leaves the scope to close here.
     */
    const finish = (tenancy: Tenancy) =>
      Effect.exit(tenancy.held.release).pipe(
        Effect.flatMap((exit) => Exit.isSuccess(exit) ? Deferred.await(tenancy.closed) : dispose(tenancy))
      )

    /** Refuses to start anything once the contender's scope has closed. */
    const ensureOpen = Effect.suspend(() => isClosed(scope) ? Effect.interrupt : Effect.void)

    /**
     * The skeleton of `acquire` and `tryAcquire`: answers with the live tenure, finishes an ended
     * one (outside the permit) and decides again, or — with no tenure — runs `start` under the
     * permit.
     */
    const withTenure = <A>(
      renewFor: Duration.Duration | undefined,
      live: (held: HeldLease) => A,
      start: Effect.Effect<A, LeaseAcquisitionError>
    ): Effect.Effect<A, LeaseAcquisitionError> =>
      Effect.gen(function*() {
        const releasesBefore = yield* Ref.get(releaseCalls)
        while (true) {
          yield* ensureOpen
          const next = yield* permit.withPermit(Effect.gen(function*() {
            const decided = yield* decide(renewFor)
            if (decided._tag !== "None") return decided
            return { _tag: "Started", value: yield* start } as const
          }))
          switch (next._tag) {
            case "Live":
              return live(next.held)
            case "Started":
              return next.value
            case "Finish":
              // A release made after this call began ends that tenure: this call answers with it,
              // as it would have had it run first, instead of starting another one after it.
              if ((yield* Ref.get(releaseCalls)) !== releasesBefore) return live(next.tenancy.held)
              yield* finish(next.tenancy)
          }
        }
      })

    /** A single attempt's renewal of the live tenure is bounded: it never waits for a store that
     * does not answer (the tenure stays live until its deadline anyway). */
    const singleRenewal = Duration.times(options.requestTimeout, 2)

    const tryAcquire: Effect.Effect<TryAcquireResult, LeaseAcquisitionError> = withTenure(
      singleRenewal,
      (lease): TryAcquireResult => ({ _tag: "Acquired", lease }),
      inTenureScope(
        (slot) =>
          Effect.gen(function*() {
            for (let races = 1;; races++) {
              const outcome = yield* attemptIn(slot, Option.none()).pipe(Effect.mapError(storeError))
              switch (outcome._tag) {
                case "Held":
                  return { _tag: "Acquired", lease: outcome.held } as const
                case "Coordinated":
                case "Semaphore":
                  return yield* Effect.fail(waitError(outcome))
                case "Busy":
                  return {
                    _tag: "HeldByOther",
                    holder: outcome.holder,
                    expiresIn: outcome.expiresIn,
                    honouredDuration: Duration.millis(Attempt.honouredDurationMillis(outcome.record, options)),
                    record: outcome.record
                  } as const
                case "Raced":
                case "Stale":
                  if (races >= maxRaces) {
                    return yield* Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "Contended", races } }))
                  }
              }
            }
          }),
        (result: TryAcquireResult) => result._tag === "Acquired"
      )
    ).pipe(Telemetry.span(Spans.tryAcquire, key, holder), Telemetry.annotate(key, holder))

    const acquire = (timeout?: Duration.Duration, observer?: AcquireObserver): Effect.Effect<HeldLease, LeaseAcquisitionError> =>
      Effect.gen(function*() {
        const lastHolder = yield* Ref.make<string | undefined>(undefined)
        const acquiring = withTenure(
          undefined,
          (held) => held,
          inTenureScope(
            (slot) =>
              Waiting.waitFor(
                store,
                memory,
                options,
                (known) => attemptIn(slot, known),
                (holder) =>
                  observer?.onHeldByOther === undefined
                    ? Ref.set(lastHolder, holder)
                    : Effect.andThen(Ref.set(lastHolder, holder), observer.onHeldByOther(holder))
              ).pipe(Effect.mapError(waitError)),
            () => true
          )
        )
        // The timeout bounds everything: renewing or finishing the tenure in progress, and the wait.
        return yield* timeout === undefined ? acquiring : acquiring.pipe(
          Effect.timeoutOrElse({
            duration: timeout,
            orElse: () =>
              Effect.flatMap(Ref.get(lastHolder), (holder) =>
                Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "Timeout", holder, waited: timeout } })))
          })
        )
      }).pipe(Telemetry.span(Spans.acquire, key, holder), Telemetry.annotate(key, holder))

    /** Nothing held: only say whether someone else holds the lease (one read, no write). Its own
     * release span: with a tenure, the tenure's release makes the one span of the release. */
    const releaseNothing = Effect.gen(function*() {
      const state = yield* store.get(key).pipe(
        Effect.mapError((error) => new LeaseRelinquishmentError({ key, reason: { _tag: "Store", error }, cause: error }))
      )
      // Another holder whose lease has not expired, as this contender judges expiry.
      const judgement = yield* Attempt.judge(memory, options, state)
      // (A free record reserved for a handoff's successor is nobody's to release.)
      if (judgement._tag === "Held" && !judgement.reserved) {
        return yield* Effect.fail(
          new LeaseRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder: judgement.holder } })
        )
      }
      // A coordinated lease is never ours: held by someone else, it is theirs.
      if (judgement._tag === "Coordinated" && isHeld(judgement.record) && judgement.record.holder !== holder) {
        return yield* Effect.fail(
          new LeaseRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder: judgement.record.holder! } })
        )
      }
    }).pipe(Telemetry.span(Spans.release, key, holder))

    const release: Effect.Effect<void, LeaseRelinquishmentError> = Effect.gen(function*() {
      yield* Ref.update(releaseCalls, (n) => n + 1)
      // With no tenure, the permit orders this release after an acquisition in progress (which
      // may yet start one); the release itself, which may wait for guarded work, runs outside it.
      const tenancy = Option.isSome(yield* Ref.get(current))
        ? yield* Ref.get(current)
        : yield* permit.withPermit(Effect.gen(function*() {
          const now = yield* Ref.get(current)
          if (Option.isNone(now)) yield* releaseNothing
          return now
        }))
      if (Option.isNone(tenancy)) return
      // Confirmed or pending, the tenure closes its own scope once the write is confirmed (and is
      // `current` until then). A lease held by someone else now ends the tenure; a store failure
      // keeps it, so that the next release tries again.
      yield* tenancy.value.held.release.pipe(
        Effect.tapError((error) => error.reason._tag === "HeldByOther" ? dispose(tenancy.value) : Effect.void)
      )
    }).pipe(Telemetry.annotate(key, holder))

    return {
      key,
      holder,
      options,
      acquire,
      tryAcquire,
      current: Effect.map(Ref.get(current), Option.map((t) => t.held)),
      release,
      requestHandoff: Handoff.request(store, key, holder).pipe(Telemetry.span(Spans.requestHandoff, key, holder)),
      events: Stream.unwrap(Effect.as(endEvents, Stream.fromPubSub(events)))
    }
  })
