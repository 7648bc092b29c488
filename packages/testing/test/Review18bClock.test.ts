/**
 * Review 18b: the loop's `lost` event carries `lastRenewal` "on the protocol's monotonic clock",
 * converted from the `LeaseLostError`'s wall-clock instant as `t − (Date.now() − lastRenewal)`. The
 * difference is a wall-clock interval: a wall-clock step between the last renewal and the loss
 * (NTP step, VM resume) moves `lastRenewal` on the monotonic timeline by the step. The old
 * contender journaled the wall-clock instant itself, on a timeline (`timeOrigin + performance.now()`)
 * that a later step does not move. `Exclusion` measures `lossDeclaredAfterMillis` (t − lastRenewal)
 * and early takeovers (next holder's start − lastRenewal) from it: a forward step hides an early
 * takeover, a backward one a late loss declaration.
 *
 * Runs the real loop (`internal/contender/loop.ts`) in-process on the in-memory store, whose
 * updates start failing once the lease is acquired (the holder must declare a deadline loss), with
 * the wall clock stepped 5 s forward right after the acquisition.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Lease from "@leasekit/core/Lease"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import { Deferred, Effect, Fiber, Layer } from "effect"
import type { Event, LoopEvent } from "../src/ContenderProtocol.ts"
import { loop } from "../src/internal/contender/loop.ts"
import type { State } from "../src/internal/contender/state.ts"

describe("review 18b: the lost event's lastRenewal", () => {
  it.live("is the instant of the last successful write on the monotonic timeline, whatever the wall clock did", () =>
    Effect.suspend(() => {
      const realNow = Date.now
      return Effect.ensuring(run(realNow), Effect.sync(() => {
        Date.now = realNow
      }))
    }))
})

const run = (realNow: () => number) =>
  Effect.gen(function*() {
    let failing = false
    const store = Layer.effect(
      LeaseStore.LeaseStore,
      Effect.map(LeaseStore.LeaseStore, (inner): LeaseStore.LeaseStoreService => ({
        ...inner,
        withRequestTimeout: undefined,
        update: (record, spec, metadata) =>
          failing
            ? Effect.fail(new LeaseStore.LeaseStoreError({ reason: "Unavailable", operation: "update", detail: "API server down" }))
            : inner.update(record, spec, metadata)
      }))
    ).pipe(Layer.provide(LeaseStore.layerMemory()))
    const layer = Layer.provideMerge(Layer.fresh(Lease.layer), store)

    const events: Array<LoopEvent> = []
    const emit = (event: Event) => {
      if (!("holder" in event)) return
      events.push(event as LoopEvent)
      if (event.ev === "acquired") {
        // The API server goes away, and the wall clock is stepped 5 s forward.
        failing = true
        Date.now = () => realNow() + 5_000
      }
    }
    const state = { holder: "h", emit, selfPause: false } as unknown as State
    const stop = yield* Deferred.make<void>()
    const fiber = yield* loop({
      cmd: "join",
      mode: "loop",
      name: "review18b",
      namespace: "ns",
      leaseDurationMs: 1_000,
      renewIntervalMs: 200,
      renewDeadlineMs: 600,
      retryPeriodMs: 100,
      requestTimeoutMs: 100,
      acquireTimeoutMs: 5_000,
      writes: 1_000,
      workMs: 50
    }, stop, state).pipe(Effect.provide(layer), Effect.forkChild)
    const lost = yield* Effect.suspend(() => {
      const found = events.find((e) => e.ev === "lost")
      return found === undefined ? Effect.fail("not yet" as const) : Effect.succeed(found)
    }).pipe(Effect.retry({ times: 100 }), Effect.delay("50 millis"), Effect.retry({ times: 100 }))
    yield* Fiber.interrupt(fiber)

    assert.strictEqual(lost.ev, "lost")
    if (lost.ev !== "lost") return
    assert.strictEqual(lost.reason, "DeadlineExceeded")
    const joined = events.find((e) => e.ev === "joined")!
    const declaredAfterMs = (lost.t - lost.lastRenewal!) / 1000
    // Truth: the last successful write (the acquisition) was sent after `joined`, and the loss was
    // declared renewDeadline (600 ms) after it, well within the lease duration (1 s).
    assert.isBelow(declaredAfterMs, 1_000, `reported: loss declared ${declaredAfterMs.toFixed(0)} ms after the last renewal`)
    assert.isAtLeast(lost.lastRenewal!, joined.t, "lastRenewal placed before the contender even joined")
  })
