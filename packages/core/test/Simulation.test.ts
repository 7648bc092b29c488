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

  it("the checker is not vacuous: it flags overlapping tenures, steps after a loss, repeated tokens, reports of holders the store did not name (or no longer names), and a reserved lease taken during its handoff window", () => {
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
    // The store: c1's write, then c2's.
    at(0, { kind: "store-apply", c: "c1", call: 10, op: "create", key, ok: true, detail: "applied", after: { holder: "c1", transitions: 3, version: "1", durationSeconds: 5 }, deleted: false, holder: "c1" })
    at(1000, { kind: "store-apply", c: "c2", call: 11, op: "update", key, ok: true, detail: "applied", after: { holder: "c2", transitions: 3, version: "2", durationSeconds: 5 }, deleted: false, holder: "c2" })
    // An observer reports a holder the store never named, then c1 long after c2 took over; a
    // tryAcquire is told of a holder that never held.
    at(1100, { kind: "observer-start", c: "c3", key, observer: 20, store: "c3.obs" })
    at(1100, { kind: "report", c: "c3", key, source: "observer", observer: 20, holder: "ghost", token: 9, live: true })
    at(1200, { kind: "report", c: "c3", key, source: "tryAcquire", observer: undefined, holder: "ghost", token: 9, live: true })
    // A handle's events say Lost for a tenure that was not lost; `current` answers a tenure the
    // handle never had; an election says Leading with a token nobody held.
    at(1300, { kind: "handle-open", c: "c4", key, handle: 30 })
    at(1300, { kind: "handle-event", c: "c4", key, handle: 30, tag: "Lost", token: 7, reason: "DeadlineExceeded" })
    at(1300, { kind: "current", c: "c4", key, handle: 30, tenure: -1, token: 7, isHeld: true })
    at(1400, { kind: "status", c: "c4", key, election: 31, tag: "Leading", token: 8, holder: undefined })
    at(1500, { kind: "lost", c: "c1", key, tenure: 2, reason: "DeadlineExceeded" })
    at(1600, { kind: "step", c: "c1", key, tenure: 2, token: 3 })
    // A handoff by c1 reserves lease-b for a ghost for 5 s; c2 takes it half a second later.
    const other = "sim/lease-b"
    at(1700, { kind: "store-apply", c: "c1", call: 12, op: "update", key: other, ok: true, detail: "applied", after: { holder: "", transitions: 1, version: "7", durationSeconds: 5, handoffTo: "ghost", handoffWindowSeconds: 5 }, deleted: false, holder: "" })
    at(1750, { kind: "store-apply", c: "c2", call: 13, op: "update", key: other, ok: true, detail: "applied", after: { holder: "c2", transitions: 2, version: "8", durationSeconds: 5 }, deleted: false, holder: "c2" })
    at(2000, { kind: "end" })
    const properties = new Set(Checker.check(plan, history.events).map((v) => v.property))
    for (const property of ["exclusion", "guarded-step", "token-order", "observer", "held-by-other", "events", "current", "status", "handoff"]) {
      assert.isTrue(properties.has(property as Checker.Property), property)
    }

    // An observer whose report goes stale while it stays silent: c1 (token 3) reported at 100,
    // replaced in the store by c2 at 1000, still the observer's word at the end (10 000 s later).
    const stale = History.make(() => now)
    const add = (t: number, event: History.EventBody) => {
      now = t
      stale.record(event)
    }
    add(0, { kind: "store-apply", c: "c1", call: 10, op: "create", key, ok: true, detail: "applied", after: { holder: "c1", transitions: 3, version: "1", durationSeconds: 5 }, deleted: false, holder: "c1" })
    add(100, { kind: "observer-start", c: "c3", key, observer: 20, store: "c3.obs" })
    add(100, { kind: "report", c: "c3", key, source: "observer", observer: 20, holder: "c1", token: 3, live: true })
    add(1000, { kind: "store-apply", c: "c2", call: 11, op: "update", key, ok: true, detail: "applied", after: { holder: "c2", transitions: 4, version: "2", durationSeconds: 5 }, deleted: false, holder: "c2" })
    add(10_000_000, { kind: "end" })
    const staleViolations = Checker.check(plan, stale.events)
    assert.deepStrictEqual(staleViolations.map((v) => v.property), ["observer"])
  })

  it(
    `runs the CI budget (${ciBudget.schedules} schedules from seed ${ciBudget.firstSeed}) with no violation`,
    { timeout: 240_000 },
    async () => {
      const summary = await Parallel.runMany(ciBudget)
      assert.strictEqual(summary.schedules, ciBudget.schedules)
      assert.deepStrictEqual(summary.violations, {}, summary.failing.map((f) => f.report).join("\n\n"))
      // Every kind of operation and fault was exercised.
      for (
        const op of [
          "acquire:plain",
          "acquire:timeout",
          "acquire:interrupt",
          "tryAcquire",
          "withLease:plain",
          "leader",
          "release",
          "renew",
          "step",
          "contender.acquire:plain",
          "contender.acquire:timeout",
          "contender.tryAcquire",
          "contender.tryAcquire:HeldByOther",
          "contender.release",
          "contender.release:none",
          "contender.release-during",
          "contender.current",
          "election",
          "status:Leading",
          "status:Following",
          "observe",
          "observe:report",
          "handoff",
          "handoff:reserved",
          "handoff:reserved-for-ghost",
          "handoff:taken-by-successor",
          "handoff:taken-after-window",
          "contender.requestHandoff:Requested",
          "election:preferred",
          "leader:preferred",
          "election:stepDown",
          "status:SteppedDown"
        ]
      ) {
        assert.isAbove(summary.ops[op] ?? 0, 0, op)
      }
      for (const fault of ["update:delay-before", "update:delay-after", "update:lose-answer", "update:fail", "watch:stall", "watch:fail", "pause", "pause:long", "admin:delete"]) {
        assert.isAbove(summary.faults[fault] ?? 0, 0, fault)
      }
    }
  )
})
