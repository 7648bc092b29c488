/**
 * The scene most core tests share: one lease key, a fault-injecting memory store, the virtual
 * clock set to a fixed instant, and contenders forked as fibers that record when they acquired.
 */
import { Clock, Deferred, Effect, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import type { LeaseAcquisitionError } from "../src/LeaseError.ts"
import * as FaultyStore from "./FaultyStore.ts"

export const key = { namespace: "jobs", name: "nightly-report" }
export const start = Date.parse("2026-11-21T10:00:00.000Z")
export const opts = (holder: string, extra: Partial<Lease.AcquireOptions> = {}): Lease.AcquireOptions => ({
  ...key,
  holder,
  duration: "20 seconds",
  ...extra
})

/** Runs `test` on a fresh store with the virtual clock at `start`. */
export const withStore = <A, E, R>(test: Effect.Effect<A, E, R>, options: { readonly watch?: boolean } = {}) =>
  TestClock.setTime(start).pipe(Effect.andThen(test), Effect.provide(FaultyStore.layer(options)))

/** Lets forked fibers run up to their next wait without moving the virtual clock. */
export const settle = TestClock.adjust(0)

/** Advances the virtual clock one second at a time, so every fiber sees each instant. */
export const advance = (seconds: number) => Effect.repeat(TestClock.adjust("1 second"), { times: seconds - 1 })

export const now = Clock.currentTimeMillis
export const elapsed = Effect.map(now, (t) => t - start)

/** Forks an acquisition that records when it succeeded and keeps the lease until interrupted. */
export const contend = (holder: string, extra: Partial<Lease.AcquireOptions> = {}) =>
  Effect.gen(function*() {
    const acquired = yield* Deferred.make<{ readonly at: number; readonly token: number }, LeaseAcquisitionError>()
    const fiber = yield* Effect.scoped(
      Lease.acquire(opts(holder, extra)).pipe(
        Effect.tap((lease) => Effect.flatMap(elapsed, (at) => Deferred.succeed(acquired, { at, token: lease.token }))),
        Effect.tapError((e) => e._tag === "LeaseAcquisitionError" ? Deferred.fail(acquired, e) : Effect.void),
        Effect.andThen(Effect.never)
      )
    ).pipe(Effect.forkChild)
    return { acquired, fiber }
  })

/** A log of `[event, virtual ms since start]`, for asserting the order of things. */
export const makeTimeline = Effect.gen(function*() {
  const events = yield* Ref.make<ReadonlyArray<readonly [string, number]>>([])
  const mark = (event: string) => Effect.flatMap(elapsed, (t) => Ref.update(events, (e) => [...e, [event, t] as const]))
  const at = (event: string) => Effect.map(Ref.get(events), (e) => e.find(([name]) => name === event)?.[1])
  return { mark, at, all: Ref.get(events) }
})

/** Advances the virtual clock 100 ms at a time. */
export const fine = (seconds: number) => Effect.repeat(TestClock.adjust("100 millis"), { times: Math.round(seconds * 10) - 1 })

/** A contender in a scope of its own, closed by the caller. */
export const contenderIn = (holder: string, extra: Partial<Lease.AcquireOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const contender = yield* Lease.contender(opts(holder, extra)).pipe(Scope.provide(scope))
    return { scope, contender }
  })
