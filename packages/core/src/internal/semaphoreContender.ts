/**
 * A semaphore contender (see `LeaseSemaphore.ts` for what it promises): one identity, at most one
 * permit at a time, over the `Lease` service's contenders — one per permit index it tries, one per
 * waiter ticket — so that every permit and ticket is acquired, renewed, guarded, lost and released
 * by the one tenure machinery.
 *
 * `acquire`: take a permit without queueing when nobody live is queued and one is free (as
 * `tryAcquire`); otherwise wait in the queue (`semaphoreWaiter.ts`: a ticket, an entry in the head's
 * queue, and the permit of its rank once eligible). After taking permit `i` the head is read again:
 * `N ≤ i` (or a deadline passed) releases it and the wait goes on (a withdrawn permit is never
 * handed out); a permit taken without queueing is released when a waiter enqueued meanwhile.
 *
 * Calls that change what the contender holds run one at a time.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { HeldLease, LeaseService } from "../Lease.ts"
import type { LeaseContender } from "../LeaseContender.ts"
import { InvalidLeaseOptions, LeaseAcquisitionError, type LeaseRelinquishmentError } from "../LeaseError.ts"
import * as LeaseOptions from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import { isTransient, type LeaseStoreError } from "../LeaseStore.ts"
import type { HeldPermit, SemaphoreContender, SemaphoreOptions, SemaphoreTryResult } from "../LeaseSemaphore.ts"
import { bounded } from "./boundedStore.ts"
import * as Layout from "./semaphore.ts"
import { memoryOf, withFlag } from "./semaphoreParts.ts"
import * as SemaphoreWaiter from "./semaphoreWaiter.ts"

/** Validates the semaphore's own options: N, and that every object's name fits. */
export const validate = (options: SemaphoreOptions): Effect.Effect<void, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    const permits = options.permits
    if (permits !== undefined && !(Number.isInteger(permits) && permits >= 1 && permits <= Layout.maxPermits)) {
      return yield* Effect.fail(
        new InvalidLeaseOptions({ field: "permits", value: permits, rule: `must be a whole number from 1 to ${Layout.maxPermits}` })
      )
    }
    // The longest names: a ticket `NAME-w-xxxxxxxx` (11 more) and permit `NAME-999` (4 more).
    if (typeof options.name === "string" && options.name.length + 11 > 253) {
      return yield* Effect.fail(
        new InvalidLeaseOptions({
          field: "name",
          value: options.name,
          rule: "must be at most 242 characters for a semaphore: its waiters' tickets are named NAME-w-xxxxxxxx, and lease names are at most 253 characters"
        })
      )
    }
  })

/** Validates a permit count given to `resize`. */
export const validatePermits = (permits: number) =>
  Number.isInteger(permits) && permits >= 1 && permits <= Layout.maxPermits
    ? Effect.void
    : Effect.fail(new InvalidLeaseOptions({ field: "permits", value: permits, rule: `must be a whole number from 1 to ${Layout.maxPermits}` }))

interface Current {
  readonly permit: HeldPermit
  readonly contender: LeaseContender
}

/** Makes a semaphore contender in the current scope. */
export const make = (
  service: LeaseService,
  input: SemaphoreOptions
): Effect.Effect<SemaphoreContender, InvalidLeaseOptions, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(input)
    const options = yield* LeaseOptions.resolve(input)
    const { key, holder } = options
    const permitsOption = input.permits
    const scope = yield* Scope.Scope
    const store = bounded(service.store, options.requestTimeout)
    const memory = memoryOf(service)
    const lock = yield* Semaphore.make(1)
    const current = yield* Ref.make(Option.none<Current>())
    const permitContenders = new Map<number, LeaseContender>()
    const { permits: _permits, ...leaseInput } = input as SemaphoreOptions & { readonly timeout?: unknown }
    const base: LeaseOptions.LeaseOptions = { ...leaseInput, holder }
    let warned = false

    const storeError = (error: LeaseStoreError | LeaseAcquisitionError): LeaseAcquisitionError =>
      error._tag === "LeaseAcquisitionError" ? error : new LeaseAcquisitionError({ key, reason: { _tag: "Store", error }, cause: error })

    /** A waiting acquire rides out transient store failures (`Unavailable`, `Timeout`): the step
     * is tried again from a fresh read every `retryPeriod`, as a single lease's wait does. */
    const retryTransient = <A>(self: Effect.Effect<A, LeaseAcquisitionError>) =>
      self.pipe(Effect.retry({
        schedule: Schedule.spaced(options.retryPeriod),
        while: (error) => error.reason._tag === "Store" && isTransient(error.reason.error)
      }))

    const permitContender = (index: number) =>
      Effect.suspend(() => {
        const known = permitContenders.get(index)
        if (known !== undefined) return Effect.succeed(known)
        const name = Layout.permitKey(key, index).name
        // A permit is not handed to a named successor: a request would reserve it for someone
        // outside the queue (plain contenders are refused on permits) and stall it for a window.
        // Released by clearing, never deleted: a permit's token must keep increasing.
        return service.contender(
          withFlag({ ...base, name, handoffRequests: "refuse", releaseMode: "clear" }, { semaphore: key.name, part: "permit" })
        ).pipe(
          Effect.orDie,
          Scope.provide(scope),
          Effect.tap((made) => Effect.sync(() => permitContenders.set(index, made)))
        )
      })

    /** The head as it is now, created with `permits` when absent. */
    const ensureHead: Effect.Effect<Layout.Head, LeaseAcquisitionError> = Effect.gen(function*() {
      while (true) {
        const state = yield* store.get(key).pipe(Effect.mapError(storeError))
        if (Option.isSome(state)) {
          const head = yield* Layout.parseHead(key, state.value)
          if (permitsOption !== undefined && permitsOption !== head.permits && !warned) {
            warned = true
            yield* Effect.logWarning(
              `semaphore ${key.namespace}/${key.name} has ${head.permits} permits, not the ${permitsOption} asked for: its head's count wins; change it with resize`
            )
          }
          return head
        }
        if (permitsOption === undefined) {
          return yield* Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
        }
        const created = yield* Layout.createHead(store, key, permitsOption).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.reason === "AlreadyExists", () => Effect.succeed(false)),
          Effect.mapError(storeError)
        )
        if (created) continue
      }
    })

    const view = Effect.flatMap(
      Layout.readView(store, memory, options, key).pipe(Effect.mapError(storeError)),
      (v) => Option.isSome(v) ? Effect.succeed(v.value) : Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
    )

    /** Tells a permit's holder when a resize withdraws it: watches the head (and polls every
     * retryPeriod) while the permit is held. */
    const watchWithdrawal = (held: HeldLease, index: number, withdrawn: Deferred.Deferred<void>) => {
      const check = (state: Option.Option<LeaseRecord>) =>
        Option.isSome(state) && Layout.parsePermitCount(state.value) !== undefined &&
          Layout.parsePermitCount(state.value)! <= index
          ? Deferred.succeed(withdrawn, undefined)
          : Effect.succeed(false)
      const watching = store.watch(key).pipe(
        Stream.runForEach((state) => Effect.asVoid(check(state))),
        Effect.ignore,
        Effect.andThen(Effect.never)
      )
      const polling = Effect.gen(function*() {
        while ((yield* held.isHeld) && !(yield* Deferred.isDone(withdrawn))) {
          const state = yield* Effect.option(store.get(key))
          if (Option.isSome(state)) yield* check(state.value)
          yield* Effect.sleep(options.retryPeriod)
        }
      })
      return Effect.raceFirst(polling, watching).pipe(Effect.forkIn(scope), Effect.asVoid)
    }

    /**
     * Takes permit `index` if it can (one attempt of its contender), then re-reads the head: a
     * permit withdrawn meanwhile is released and not handed out. Uninterruptible: a permit taken
     * is either handed out (and `current`) or released.
     */
    const takePermit = (
      index: number,
      unqueued?: ReadonlySet<string>
    ): Effect.Effect<Option.Option<HeldPermit>, LeaseAcquisitionError> =>
      Effect.uninterruptible(Effect.gen(function*() {
        const pc = yield* permitContender(index)
        const result = yield* pc.tryAcquire.pipe(
          // Another semaphore's object under a permit's name (its head `NAME-i`): not ours to take.
          // Races lost again and again (`Contended`): others took it; judge afresh.
          Effect.catchIf((error) => error.reason._tag === "Semaphore" || error.reason._tag === "Contended", () => Effect.succeed(undefined))
        )
        if (result === undefined || result._tag !== "Acquired") return Option.none()
        // A failed read hands nothing out: the permit is released (rule 4 — an acquisition that
        // does not succeed leaves nothing held).
        const head = yield* store.get(key).pipe(Effect.mapError(storeError), Effect.tapError(() => Effect.ignore(pc.release)))
        const parsed = Option.isSome(head) ? Option.getOrUndefined(yield* Effect.option(Layout.parseHead(key, head.value))) : undefined
        const permits = parsed?.permits
        if (permits === undefined || permits <= index) {
          yield* Effect.logDebug(`permit ${index} was withdrawn (N is now ${permits ?? "gone"}) while it was taken; releasing it`)
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        // Taken without queueing: a waiter that enqueued after our read came first (no barging).
        if (unqueued !== undefined && parsed!.queue.some((e) => !unqueued.has(e.w) && e.h !== holder)) {
          yield* Effect.logDebug(`a waiter enqueued while permit ${index} was taken without queueing; releasing it`)
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        // Rule 3: never hand out a permit whose deadline passed while it was being taken.
        if (!(yield* result.lease.isHeld)) {
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        const withdrawn = yield* Deferred.make<void>()
        const { handoff: _handoff, handoffRequested: _requested, ...lease } = result.lease
        const permit: HeldPermit = { ...lease, semaphore: key, permit: index, withdrawn: Deferred.await(withdrawn) }
        yield* watchWithdrawal(result.lease, index, withdrawn)
        yield* Ref.set(current, Option.some({ permit, contender: pc }))
        return Option.some(permit)
      }))

    /** The permit held now, if it is still held. */
    const live = Effect.gen(function*() {
      const now = yield* Ref.get(current)
      if (Option.isSome(now) && (yield* now.value.permit.isHeld)) return Option.some(now.value.permit)
      return Option.none<HeldPermit>()
    })

    /** Without queueing: a free permit when no live waiter (other than us) is queued. */
    const attemptUnqueued = Effect.gen(function*() {
      const v = yield* view
      const waiting = v.entries.filter((e) => e.live && e.entry.h !== holder).length
      if (waiting === 0) {
        const seen = new Set(v.entries.map((e) => e.entry.w))
        for (const index of v.free) {
          const taken = yield* takePermit(index, seen)
          if (Option.isSome(taken)) return { _tag: "Acquired", permit: taken.value } as const
        }
      }
      return { _tag: "Full", permits: v.head.permits, holders: Layout.holdersOf(v), waiting } as const
    })

    /** Rule 4: an acquisition that does not succeed (fails, times out, is interrupted) leaves no
     * permit held — a permit it took is released. */
    const handingOut = <A>(self: Effect.Effect<A, LeaseAcquisitionError>) =>
      Effect.flatMap(Ref.get(current), (before) =>
        self.pipe(Effect.onExit((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.flatMap(Ref.get(current), (now) =>
            Option.isSome(now) && (Option.isNone(before) || now.value !== before.value)
              ? Effect.ignore(now.value.contender.release)
              : Effect.void)
        )))

    const tryAcquire: Effect.Effect<SemaphoreTryResult, LeaseAcquisitionError> = lock.withPermit(handingOut(
      Effect.gen(function*() {
        const held = yield* live
        if (Option.isSome(held)) return { _tag: "Acquired", permit: held.value } as const
        yield* ensureHead
        return yield* attemptUnqueued
      })
    ))

    const acquire = (timeout?: Duration.Duration): Effect.Effect<HeldPermit, LeaseAcquisitionError> => {
      const lastHolder = Ref.makeUnsafe<string | undefined>(undefined)
      const acquiring = lock.withPermit(handingOut(Effect.gen(function*() {
        const held = yield* live
        if (Option.isSome(held)) return held.value
        yield* retryTransient(ensureHead)
        const first = yield* retryTransient(attemptUnqueued)
        if (first._tag === "Acquired") return first.permit
        if (first.holders.length > 0) yield* Ref.set(lastHolder, first.holders[0]!.holder)
        return yield* SemaphoreWaiter.queued(
          { service, store, memory, options, key, holder, base, storeError, retryTransient, takePermit, view },
          lastHolder
        )
      })))
      // The timeout covers the wait for the contender's lock too.
      return timeout === undefined ? acquiring : acquiring.pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.flatMap(Ref.get(lastHolder), (holder) =>
              Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "Timeout", holder, waited: timeout } })))
        })
      )
    }

    // Not under the lock: a release waits for guarded work to stop, and that work's finalizer may
    // release too (the permit contender joins the two); a waiting acquire holds no permit.
    const release: Effect.Effect<void, LeaseRelinquishmentError> = Effect.gen(function*() {
      const now = yield* Ref.get(current)
      if (Option.isNone(now)) return
      yield* now.value.contender.release
      yield* Ref.update(current, (c) => Option.isSome(c) && c.value === now.value ? Option.none() : c)
    })

    return {
      key,
      holder,
      options,
      permits: permitsOption,
      acquire,
      tryAcquire,
      current: Effect.map(Ref.get(current), Option.map((c) => c.permit)),
      release
    } satisfies SemaphoreContender
  })
