/**
 * Deterministic simulation testing of the lease algorithm (see `test/simulation/`): seeded
 * schedules of contenders, faults, pauses, clock drift and admin writes on `TestClock` and the
 * memory store, judged by an independent checker. Replay a failing seed with
 * `pnpm simulate --seed N --trace`; run the long mode with `pnpm simulate --seconds 3600`.
 */
import { assert, describe, it } from "@effect/vitest"
import { ciBudget } from "./simulation/Budget.ts"
import * as Checker from "./simulation/Checker.ts"
import * as History from "./simulation/History.ts"
import * as Parallel from "./simulation/Parallel.ts"
import * as Plan from "./simulation/Plan.ts"
import * as Simulation from "./simulation/Simulation.ts"
import * as Trace from "./simulation/Trace.ts"

describe("Simulation", () => {
  it("replays a seed exactly: the same seed gives the same trace twice", async () => {
    for (const seed of [1, 17, 933]) {
      const first = await Simulation.run(seed, { logs: true })
      const second = await Simulation.run(seed, { logs: true })
      assert.isAbove(first.events.length, 50)
      assert.strictEqual(Trace.format(second.events), Trace.format(first.events))
    }
  })

  it("the checker is not vacuous: it flags overlapping tenures, steps after a loss and repeated tokens", () => {
    const plan = Plan.draw(1)
    let now = 0
    const history = History.make(() => now)
    const at = (t: number, event: History.EventBody) => {
      now = t
      history.record(event)
    }
    const key = "sim/lease-a"
    at(0, { kind: "acquire-call", c: "c1", key, attempt: 1, op: "acquire", detail: "plain", blocking: true })
    at(0, { kind: "acquire-done", c: "c1", key, attempt: 1, outcome: "held", detail: "ok" })
    at(0, { kind: "tenure-start", c: "c1", key, tenure: 2, attempt: 1, token: 3, via: "acquire" })
    at(1000, { kind: "acquire-call", c: "c2", key, attempt: 3, op: "acquire", detail: "plain", blocking: true })
    at(1000, { kind: "acquire-done", c: "c2", key, attempt: 3, outcome: "held", detail: "ok" })
    at(1000, { kind: "tenure-start", c: "c2", key, tenure: 4, attempt: 3, token: 3, via: "acquire" })
    at(1500, { kind: "lost", c: "c1", key, tenure: 2, reason: "DeadlineExceeded" })
    at(1600, { kind: "step", c: "c1", key, tenure: 2, token: 3 })
    at(2000, { kind: "end" })
    const properties = new Set(Checker.check(plan, history.events).map((v) => v.property))
    assert.isTrue(properties.has("exclusion"))
    assert.isTrue(properties.has("guarded-step"))
    assert.isTrue(properties.has("token-order"))
  })

  it(
    `runs the CI budget (${ciBudget.schedules} schedules from seed ${ciBudget.firstSeed}) with no violation`,
    { timeout: 240_000 },
    async () => {
      const summary = await Parallel.runMany(ciBudget)
      assert.strictEqual(summary.schedules, ciBudget.schedules)
      assert.deepStrictEqual(summary.violations, {}, summary.failing.map((f) => f.report).join("\n\n"))
      // Every kind of operation and fault was exercised.
      for (const op of ["acquire:plain", "acquire:timeout", "acquire:interrupt", "tryAcquire", "withLease:plain", "leader", "release", "renew", "step"]) {
        assert.isAbove(summary.ops[op] ?? 0, 0, op)
      }
      for (const fault of ["update:delay-before", "update:delay-after", "update:lose-answer", "update:fail", "watch:stall", "watch:fail", "pause", "pause:long", "admin:delete"]) {
        assert.isAbove(summary.faults[fault] ?? 0, 0, fault)
      }
    }
  )
})
