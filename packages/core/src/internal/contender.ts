/**
 * The contender handle (see `LeaseContender.ts` for what it promises): one identity, its options
 * resolved once, at most one tenure at a time, and the events of its tenures.
 *
 * Every tenure starts in a scope of its own, a child of the contender's: an acquisition that does
 * not succeed (it failed, timed out, was interrupted, or found the lease held) closes that scope,
 * so no lease stays held by an attempt nobody got; releasing a tenure, or a new acquisition after
 * a tenure ended, closes the old tenure's scope (whose finalizer clears a lease lost to its
 * deadline, see `tenure.ts`); closing the contender's scope closes them all.
 */
import { Duration, Effect, Exit, Option, PubSub, Ref, Scope, Semaphore, Stream } from "effect"
import type { HeldLease } from "../Lease.ts"
import type { LeaseContender, LeaseEvent, TryAcquireResult } from "../LeaseContender.ts"
import { LeaseAcquisitionError, LeaseRelinquishmentError } from "../LeaseError.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import type { LeaseStoreError, LeaseStoreService } from "../LeaseStore.ts"
import * as Attempt from "./attempt.ts"
import { bounded } from "./boundedStore.ts"
import type { Memory } from "./observations.ts"
import * as Telemetry from "./telemetry.ts"
import * as Tenure from "./tenure.ts"
import * as Waiting from "./waiting.ts"

interface Tenancy {
  readonly held: HeldLease
  readonly scope: Scope.Closeable
}

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
    const current = yield* Ref.make(Option.none<Tenancy>())
    const storeError = (error: LeaseStoreError) =>
      new LeaseAcquisitionError({ key, reason: { _tag: "Store", error }, cause: error })

    /**
     * One attempt; when it wins, the tenure starts in `tenureScope` without a gap in which an
     * interruption could leave an acquired lease without its release finalizer. Only the read is
     * interruptible. A win whose deadline already passed (a slow write or read-back) is not handed
     * out: `Stale`, and the caller tries again from a fresh read.
     */
    const attemptIn = (
      tenureScope: Scope.Closeable,
      known: Option.Option<Option.Option<LeaseRecord>>
    ): Effect.Effect<Waiting.Outcome<HeldLease>, LeaseStoreError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const state = Option.isSome(known) ? known.value : yield* restore(store.get(key))
          const attempt = yield* Attempt.attempt(store, memory, options, Option.some(state))
          if (attempt._tag !== "Acquired") return attempt
          if (yield* Tenure.isStale(options, attempt)) {
            yield* Effect.logDebug("acquired, but the answer came after the renew deadline; clearing it and trying again")
            yield* Tenure.clearStale(store, attempt)
            return { _tag: "Stale" } as const
          }
          const held = yield* Tenure.start(store, options, attempt, tenureScope, emit)
          yield* Ref.set(current, Option.some({ held, scope: tenureScope }))
          yield* emit({ _tag: "Acquired", token: held.token, record: attempt.record })
          return { _tag: "Held", held } as const
        })
      )

    /**
     * Runs `acquiring` with a new tenure scope, a child of the contender's: unless `acquiring`
     * answers with a held lease, that scope is closed, so a failed acquisition never leaves a
     * lease held. A contender whose scope closed meanwhile hands nothing out.
     */
    const inTenureScope = <A, E>(
      acquiring: (tenureScope: Scope.Closeable) => Effect.Effect<A, E>,
      isHeld: (a: A) => boolean
    ): Effect.Effect<A, E> =>
      Effect.gen(function*() {
        const tenureScope = yield* Scope.fork(scope)
        const result = yield* acquiring(tenureScope).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) && isHeld(exit.value) ? Effect.void : Scope.close(tenureScope, exit))
        )
        // The contender's scope closed while we waited: the tenure was released as soon as it
        // started, and handing it out would look like a lease that is held.
        if (tenureScope.state._tag === "Closed" && isHeld(result)) return yield* Effect.interrupt
        return result
      })

    /** Forgets a tenure: it is no longer `current`. */
    const forget = (tenancy: Tenancy) =>
      Ref.update(current, (c) => Option.isSome(c) && c.value === tenancy ? Option.none() : c)

    /** Ends a tenure that is over: closes its scope (its finalizer clears a lease lost to its
     * deadline), and forgets it. */
    const dispose = (tenancy: Tenancy) => Effect.andThen(forget(tenancy), Scope.close(tenancy.scope, Exit.void))

    /** The tenure in progress, renewed now; `None` when there is none (an ended one is disposed of). */
    const renewCurrent = Effect.gen(function*() {
      const tenancy = yield* Ref.get(current)
      if (Option.isNone(tenancy)) return Option.none<HeldLease>()
      const { held } = tenancy.value
      if (yield* held.isHeld) {
        const renewed = yield* Effect.exit(held.renew)
        if (Exit.isSuccess(renewed)) return Option.some(held)
      }
      yield* dispose(tenancy.value)
      return Option.none<HeldLease>()
    })

    const tryAcquire: Effect.Effect<TryAcquireResult, LeaseAcquisitionError> = permit.withPermit(
      Effect.gen(function*() {
        const live = yield* renewCurrent
        if (Option.isSome(live)) return { _tag: "Acquired", lease: live.value } as const
        return yield* inTenureScope(
          (tenureScope) =>
            Effect.gen(function*() {
              for (let races = 1;; races++) {
                const outcome = yield* attemptIn(tenureScope, Option.none()).pipe(Effect.mapError(storeError))
                switch (outcome._tag) {
                  case "Held":
                    return { _tag: "Acquired", lease: outcome.held } as const
                  case "Busy":
                    return {
                      _tag: "HeldByOther",
                      holder: outcome.holder,
                      expiresIn: outcome.expiresIn,
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
          (result) => result._tag === "Acquired"
        )
      })
    ).pipe(Telemetry.span("leasekit.lease.tryAcquire", key), Telemetry.annotate(key, holder))

    const acquire = (timeout?: Duration.Duration): Effect.Effect<HeldLease, LeaseAcquisitionError> =>
      permit.withPermit(Effect.gen(function*() {
        const live = yield* renewCurrent
        if (Option.isSome(live)) return live.value
        const lastHolder = yield* Ref.make<string | undefined>(undefined)
        const wait = (tenureScope: Scope.Closeable) =>
          Waiting.waitFor(
            store,
            memory,
            options,
            (known) => attemptIn(tenureScope, known),
            (holder) => Ref.set(lastHolder, holder)
          ).pipe(Effect.mapError(storeError))
        return yield* inTenureScope(
          (tenureScope) =>
            timeout === undefined ? wait(tenureScope) : wait(tenureScope).pipe(
              Effect.timeoutOrElse({
                duration: timeout,
                orElse: () =>
                  Effect.flatMap(Ref.get(lastHolder), (holder) =>
                    Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "Timeout", holder, waited: timeout } })))
              })
            ),
          () => true
        )
      })).pipe(Telemetry.span("leasekit.lease.acquire", key), Telemetry.annotate(key, holder))

    const release: Effect.Effect<void, LeaseRelinquishmentError> = permit.withPermit(Effect.gen(function*() {
      const tenancy = yield* Ref.get(current)
      if (Option.isNone(tenancy)) {
        // Nothing held: only say whether someone else holds it, as this contender judges expiry
        // (one read, no write).
        const state = yield* store.get(key).pipe(
          Effect.mapError((error) => new LeaseRelinquishmentError({ key, reason: { _tag: "Store", error }, cause: error }))
        )
        const judgement = yield* Attempt.judge(memory, options, state)
        if (judgement._tag === "Held") {
          return yield* Effect.fail(new LeaseRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder: judgement.holder } }))
        }
        return
      }
      yield* tenancy.value.held.release.pipe(
        // Released (the tenure closes its own scope once the write is confirmed, also when a
        // release from inside guarded work answered before), or held by someone else now: this
        // tenure is over either way. A store failure keeps it, so that the next release retries.
        Effect.tap(() => forget(tenancy.value)),
        Effect.tapError((error) => error.reason._tag === "HeldByOther" ? dispose(tenancy.value) : Effect.void)
      )
    })).pipe(Telemetry.span("leasekit.lease.release", key), Telemetry.annotate(key, holder))

    return {
      key,
      holder,
      options,
      acquire,
      tryAcquire,
      current: Effect.map(Ref.get(current), Option.map((t) => t.held)),
      release,
      events: Stream.unwrap(Effect.as(endEvents, Stream.fromPubSub(events)))
    }
  })
