/**
 * Waiting for a lease: a state machine over the wake-ups a waiter gets.
 *
 * A waiter alternates between *attempting* (judge a state and write if the lease is free) and
 * *waiting* for the next wake-up. The state it attempts from is either read afresh or one the
 * watch delivered; the wake-ups are:
 * - `Changed`: the watch delivered a new state (a release hands over at once);
 * - `WatchLost`: the watch became unavailable — read now, and poll from then on;
 * - `Timer`: the instant at which the holder's record expires as this waiter judges it, a poll
 *   period (no watch, a lost race), or the end of the time a watch is trusted without a read.
 *
 * Rules, each from an observed failure: a state from the watch is acted on for at most
 * `renewInterval` after the last read (a watch can lag or go silent without failing); a waiter
 * that lost a race backs off a random moment and judges the newest state (a release wakes every
 * waiter at once); a refusal (forbidden, unauthorized) of the very first request fails at once,
 * one after the store has answered is taken as passing (an API server syncing its RBAC caches)
 * and retried like transient errors, every `retryPeriod` — for at most `duration` of refusals in a
 * row, after which it fails (a permission really taken away is reported, not waited out).
 *
 * Guarantees: nothing about safety — that is the attempt's and the tenure's. Liveness: a waiter
 * never sleeps past the expiry instant it computed, nor past `retryPeriod` without a live watch.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"
import { isTransient, LeaseStoreError } from "../LeaseStore.ts"
import type { Memory } from "./observations.ts"
import type { Part } from "./semaphoreParts.ts"
import { monotonicMillis, observe } from "./observations.ts"

/** A state of the lease: `None` when the object is absent. */
type State = Option.Option<LeaseRecord>

/** What one attempt answered (see `contender.ts`'s `attemptIn`). */
export type Outcome<H> =
  | { readonly _tag: "Held"; readonly held: H }
  | { readonly _tag: "Busy"; readonly record: LeaseRecord; readonly holder: string; readonly expiresIn: Duration.Duration }
  | { readonly _tag: "Raced" }
  | { readonly _tag: "Stale" }
  /** The API server coordinates the lease: waiting will not help (see `attempt.ts`). */
  | { readonly _tag: "Coordinated"; readonly record: LeaseRecord; readonly strategy: string }
  /** The lease is part of a semaphore this contender may not take (see `semaphoreParts.ts`). */
  | { readonly _tag: "Semaphore"; readonly part: Part }

/** The wait ends without the lease: the API server coordinates it (`spec.strategy`), or it is a
 * semaphore's part. */
export type Refused =
  | { readonly _tag: "Coordinated"; readonly strategy: string }
  | { readonly _tag: "Semaphore"; readonly part: Part }

/** What woke the waiter. */
export type Wakeup =
  | { readonly _tag: "Changed"; readonly state: State }
  | { readonly _tag: "WatchLost" }
  | { readonly _tag: "Timer" }

/** Where the waiter is before its next attempt. */
type Waiting =
  /** Read the lease afresh. */
  | { readonly _tag: "Reading" }
  /** Judge a state the watch delivered. */
  | { readonly _tag: "Judging"; readonly state: State }
  /** Retry after a store error, from a fresh read, once `retryPeriod` has passed. */
  | { readonly _tag: "Retrying" }

const reading: Waiting = { _tag: "Reading" }
const timer: Wakeup = { _tag: "Timer" }

/** The next wake-up, or `Timer` after `maxWait`. Shared with the observer. */
export const nextWakeup = (wakeups: Queue.Queue<Wakeup>, maxWait: Duration.Duration): Effect.Effect<Wakeup> =>
  Queue.take(wakeups).pipe(Effect.timeoutOrElse({ duration: maxWait, orElse: () => Effect.succeed(timer) }))

/** The next state of the waiter after a wake-up. */
const afterWakeup = (wakeup: Wakeup): Waiting => wakeup._tag === "Changed" ? { _tag: "Judging", state: wakeup.state } : reading

/**
 * Waits until `attempt` answers `Held`, as the module header describes; fails with `Refused` when
 * it answers `Coordinated`. `attempt(known)` makes one
 * attempt from the known state, or from a fresh read when `known` is `None`. `onBusy` is told the
 * holder each time the lease is found held (for a timeout's message).
 */
export const waitFor = <H>(
  store: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions,
  attempt: (known: Option.Option<State>) => Effect.Effect<Outcome<H>, LeaseStoreError>,
  onBusy: (holder: string) => Effect.Effect<void>
): Effect.Effect<H, LeaseStoreError | Refused> =>
  Effect.scoped(Effect.gen(function*() {
    const wakeups = yield* Queue.sliding<Wakeup>(1)
    const watch = yield* startableWatch(store, memory, options, wakeups)
    const renewIntervalMillis = Duration.toMillis(options.renewInterval)
    const next = (maxWait: Duration.Duration) => nextWakeup(wakeups, maxWait)

    let waiting: Waiting = reading
    let races = 0
    let lastRead = yield* monotonicMillis
    let answered = false
    // Monotonic instant of the first refusal in the current run of refusals (reset by any answer).
    let refusingSince: number | undefined = undefined
    const refusalBudget = Duration.toMillis(options.duration)
    const retryable = (error: LeaseStoreError, now: number) => {
      if (isTransient(error)) return true
      if (!answered || (error.reason !== "Forbidden" && error.reason !== "Unauthorized")) return false
      refusingSince ??= now
      return now - refusingSince < refusalBudget
    }

    while (true) {
      if (waiting._tag === "Retrying") {
        yield* Effect.sleep(options.retryPeriod)
        waiting = reading
      }
      if (waiting._tag === "Judging" && races > 0) {
        // This waiter lost the last race: back off a little, at random, and judge the newest state
        // instead — usually it already names the winner, and no write is sent.
        yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, Math.min(64, 4 * 2 ** races))))
        const newer = yield* Queue.poll(wakeups)
        if (Option.isSome(newer)) waiting = afterWakeup(newer.value)
      }
      const now = yield* monotonicMillis
      if (waiting._tag === "Judging" && now - lastRead >= renewIntervalMillis) waiting = reading
      if (waiting._tag === "Reading") lastRead = now
      const known = waiting._tag === "Judging" ? Option.some(waiting.state) : Option.none()
      const outcome = yield* attempt(known).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            answered = true
            refusingSince = undefined
          })
        ),
        Effect.catchIf((error) => retryable(error, now), (error) =>
          Effect.logDebug(`acquire attempt failed, retrying: ${error.message}`).pipe(
            Effect.as({ _tag: "Transient" } as const)
          ))
      )
      switch (outcome._tag) {
        case "Held":
          return outcome.held
        case "Coordinated":
          return yield* Effect.fail<Refused>({ _tag: "Coordinated", strategy: outcome.strategy })
        case "Semaphore":
          return yield* Effect.fail<Refused>(outcome)
        case "Busy": {
          yield* onBusy(outcome.holder)
          const live = yield* watch.start
          // A live holder writes every renewInterval, so a live watch is never silent for much
          // longer; it is trusted for at most renewInterval after the last read.
          const untilRead = Duration.millis(Math.max(0, lastRead + renewIntervalMillis - (yield* monotonicMillis)))
          waiting = afterWakeup(yield* next(Duration.min(outcome.expiresIn, live ? untilRead : options.retryPeriod)))
          break
        }
        case "Stale":
          waiting = reading
          break
        case "Raced":
          races++
          yield* watch.start
          waiting = afterWakeup(yield* next(options.retryPeriod))
          break
        case "Transient":
          waiting = { _tag: "Retrying" }
          break
      }
    }
  }))

/**
 * The watch of a waiter, started on its first busy answer; `start` answers whether it is live.
 * Starting waits for the watch's first answer (the current state, or a refusal), so that the wait
 * that follows knows whether to rely on it or to poll. A watch that ends or fails transiently is
 * resumed; one refused for good, or silent beyond the request timeout, is given up (`WatchLost`).
 */
export const startableWatch = (
  store: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions,
  wakeups: Queue.Queue<Wakeup>
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const status = yield* Ref.make<"off" | "live" | "unavailable">("off")
    const start = Effect.gen(function*() {
      if ((yield* Ref.get(status)) !== "off") return (yield* Ref.get(status)) === "live"
      yield* Ref.set(status, "live")
      const answered = yield* Deferred.make<void>()
      yield* store.watch(options.key).pipe(
        Stream.runForEach((state) =>
          observe(memory, options.key, state).pipe(
            Effect.andThen(Queue.offer(wakeups, { _tag: "Changed", state })),
            Effect.andThen(Deferred.succeed(answered, undefined))
          )
        ),
        Effect.andThen(Effect.fail(
          new LeaseStoreError({ operation: "watch", key: options.key, reason: "Unavailable", detail: "watch ended" })
        )),
        Effect.retry({ schedule: Schedule.spaced(options.retryPeriod), while: isTransient }),
        Effect.catch((error) =>
          Effect.gen(function*() {
            yield* Ref.set(status, "unavailable")
            // Wake a waiter that relied on the watch; it re-reads and from now on polls.
            if (!(yield* Deferred.succeed(answered, undefined))) yield* Queue.offer(wakeups, { _tag: "WatchLost" })
            yield* Effect.logDebug(`watch unavailable, polling every ${Duration.format(options.retryPeriod)}: ${error.message}`)
          })
        ),
        Effect.forkIn(scope)
      )
      // A watch that has not answered within the request timeout is not relied on: poll.
      const first = yield* Deferred.await(answered).pipe(Effect.timeoutOption(options.requestTimeout))
      if (Option.isNone(first)) {
        yield* Ref.set(status, "unavailable")
        yield* Effect.logDebug(`watch gave no answer within ${Duration.format(options.requestTimeout)}; polling`)
      }
      return (yield* Ref.get(status)) === "live"
    })
    return { start } as const
  })
