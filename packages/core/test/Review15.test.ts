/**
 * Review of issue 15 (Operability). Each test here is expected to FAIL against the reviewed code;
 * it states the claim it breaks.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as LeaderHealth from "../src/LeaderHealth.ts"
import type { HeldLease } from "../src/Lease.ts"
import * as FaultyStore from "./FaultyStore.ts"
import { Probe } from "./FaultyStore.ts"

const key = { namespace: "jobs", name: "singleton" }
// Valid options: requestTimeout ≤ renewDeadline − renewInterval; duration − renewDeadline = 500 ms.
const timings = {
  duration: "3 seconds",
  renewDeadline: "2500 millis",
  renewInterval: "1 second",
  retryPeriod: "500 millis",
  requestTimeout: "1500 millis"
} as const
const step = Effect.repeat(TestClock.adjust("100 millis"), { times: 0 })

describe("review 15: health", () => {
  it.effect(
    "readiness \"leading\" is never ready on two processes at once (an old leader still stopping its work is not leading)",
    () =>
      Effect.gen(function*() {
        const probe = yield* Probe
        let leaseOfA: HeldLease | undefined
        // A's work stops the way `LeaderLabel.wrap`'s does when the API server is cut off: its
        // finalizer (the label removal) runs up to requestTimeout.
        const a = yield* LeaderElection.make({ ...key, holder: "a", ...timings }, (lease) =>
          Effect.gen(function*() {
            leaseOfA = lease
            yield* Effect.addFinalizer(() => Effect.sleep("1500 millis"))
            return yield* Effect.never
          }))
        const b = yield* LeaderElection.make({ ...key, holder: "b", ...timings }, () => Effect.never)
        yield* TestClock.adjust(0)
        assert.strictEqual((yield* a.status)._tag, "Leading")
        yield* Effect.repeat(TestClock.adjust("100 millis"), { times: 14 })
        // A is cut off from the store: its renewals get no answer.
        yield* probe.setFaults((operation, spec) =>
          operation === "update" && spec?.holder === "a" ? { delay: "1 hour" } : undefined
        )
        const both: Array<number> = []
        for (let t = 0; t < 80; t++) {
          yield* step
          const readyA = LeaderHealth.readiness(yield* LeaderHealth.snapshot(a), "leading")
          const readyB = LeaderHealth.readiness(yield* LeaderHealth.snapshot(b), "leading")
          if (readyA.ok && readyB.ok) both.push(t)
        }
        assert.isDefined(leaseOfA)
        assert.strictEqual((yield* b.status)._tag, "Leading", "b took over")
        assert.deepStrictEqual(
          both,
          [],
          "/readyz (readiness \"leading\") said ready on a — whose lease was lost (isHeld false) — and on the new leader b at the same time"
        )
      }).pipe(Effect.provide(FaultyStore.layer()))
  )
})
