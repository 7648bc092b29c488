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
import * as SemaphoreChecker from "./simulation/SemaphoreChecker.ts"
import * as SemaphoreSimulation from "./simulation/SemaphoreSimulation.ts"
import * as Simulation from "./simulation/Simulation.ts"
import * as Trace from "./simulation/Trace.ts"

describe("Simulation", () => {
  it("replays a seed exactly: the same seed gives the same trace twice", async () => {
    for (const seed of [1, 17, 933, 20]) { // 20: a semaphore schedule
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

  it("the semaphore checker is not vacuous: it flags more holders than N, a withdrawn permit handed out, a step after a loss, a permit shared, tokens going back, barging, overtaking and starvation", () => {
    const plan = { ...SemaphoreSimulation.draw(8), permits: 1, crashes: new Map<string, number>(), settledAt: 10_000 }
    let now = 0
    const history = History.make(() => now)
    const at = (t: number, event: History.EventBody) => {
      now = t
      history.record(event)
    }
    const head = "sim/sem"
    const view = (holder: string, transitions: number, version: string, extra: Partial<History.RecordView> = {}): History.RecordView => ({ holder, transitions, version, durationSeconds: 5, ...extra })
    const apply = (t: number, c: string, key: string, after: History.RecordView | undefined) =>
      at(t, { kind: "store-apply", c, call: history.nextId(), op: "update", key, ok: true, detail: "applied", after, deleted: after === undefined, holder: after?.holder })
    // N = 1; c1 and c2 both hold permit 0 (c2 with a lower token), c1 steps after c2 took it and after its own loss.
    apply(0, "c1", head, view("", 0, "1", { semPermits: 1, semQueue: [] }))
    at(100, { kind: "sem", c: "c1", what: "call", attempt: 1, blocking: true, detail: "acquire" })
    apply(100, "c1", `${head}-0`, view("c1", 3, "2"))
    at(100, { kind: "sem", c: "c1", what: "tenure", attempt: 1, tenure: 2, permit: 0, token: 3, detail: "" })
    at(200, { kind: "sem", c: "c2", what: "call", attempt: 3, blocking: true, detail: "acquire" })
    apply(200, "c2", `${head}-0`, view("c2", 2, "3"))
    at(200, { kind: "sem", c: "c2", what: "tenure", attempt: 3, tenure: 4, permit: 0, token: 2, detail: "" })
    at(300, { kind: "sem", c: "c1", what: "lost", tenure: 2, permit: 0, detail: "Taken" })
    at(400, { kind: "sem", c: "c1", what: "step", tenure: 2, permit: 0, token: 3, detail: "" })
    at(400, { kind: "sem", c: "c2", what: "step", tenure: 4, permit: 0, token: 2, detail: "" })
    // c3 gets permit 1 although N = 1 throughout.
    at(500, { kind: "sem", c: "c3", what: "call", attempt: 5, blocking: true, detail: "acquire" })
    apply(500, "c3", `${head}-1`, view("c3", 1, "4"))
    at(500, { kind: "sem", c: "c3", what: "tenure", attempt: 5, tenure: 6, permit: 1, token: 1, detail: "" })
    at(510, { kind: "sem", c: "c3", what: "step", tenure: 6, permit: 1, token: 1, detail: "" })
    // The quiet tail: everything released; c1 and c2 queue (c1 first) on N = 1 with permit 0 free;
    // c3 takes it by tryAcquire (barging) and holds it; c2 takes it from c3 while c1, ahead of it, is
    // not eligible (overtaking); once it is free, c1 stays eligible and unserved (starvation).
    for (const [c, tenure] of [["c1", 2], ["c2", 4], ["c3", 6]] as const) at(9000, { kind: "sem", c, what: "release", tenure, detail: "" })
    apply(9000, "c2", `${head}-0`, view("", 4, "5"))
    apply(9000, "c3", `${head}-1`, undefined)
    at(11_000, { kind: "sem", c: "c1", what: "call", attempt: 7, blocking: true, detail: "acquire" })
    at(11_000, { kind: "sem", c: "c2", what: "call", attempt: 8, blocking: true, detail: "acquire" })
    apply(11_000, "c1", `${head}-w-aaaaaaaa`, view("c1", 0, "6"))
    apply(11_000, "c2", `${head}-w-bbbbbbbb`, view("c2", 0, "7"))
    apply(11_000, "c1", head, view("", 0, "8", { semPermits: 1, semQueue: [{ h: "c1", w: "sem-w-aaaaaaaa" }, { h: "c2", w: "sem-w-bbbbbbbb" }] }))
    at(11_500, { kind: "sem", c: "c3", what: "call", attempt: 9, blocking: false, detail: "try" })
    apply(11_500, "c3", `${head}-0`, view("c3", 5, "9"))
    at(11_500, { kind: "sem", c: "c3", what: "tenure", attempt: 9, tenure: 10, permit: 0, token: 5, detail: "" })
    for (let t = 12_000; t < 50_000; t += 1000) {
      apply(t, "c1", `${head}-w-aaaaaaaa`, view("c1", 0, `a${t}`))
      apply(t, "c2", `${head}-w-bbbbbbbb`, view("c2", 0, `b${t}`))
    }
    apply(50_000, "c2", `${head}-0`, view("c2", 6, "10"))
    for (let t = 50_000; t < 400_000; t += 1000) apply(t, "c1", `${head}-w-aaaaaaaa`, view("c1", 0, `a${t}`))
    at(200_000, { kind: "sem", c: "c3", what: "release", tenure: 10, detail: "" })
    apply(200_000, "c3", `${head}-0`, view("", 6, "11"))
    at(400_000, { kind: "end" })
    const properties = new Set(SemaphoreChecker.check(plan, history.events).map((v) => v.property))
    for (const property of ["sem-holders", "sem-withdrawn", "sem-guarded-step", "sem-permit-exclusion", "sem-token-order", "sem-barging", "sem-fifo", "sem-starvation"]) {
      assert.isTrue(properties.has(property as Checker.Property), property)
    }
  })

  it("the semaphore checker flags a live entry pruned by another waiter, and no entry a process may have judged dead", () => {
    // c1..c4: durations 5 s, 5 s, 4 s, 5 s; δ = 0.
    const plan = { ...SemaphoreSimulation.draw(8), permits: 1, crashes: new Map<string, number>(), settledAt: 100_000 }
    const head = "sim/sem"
    const run = (prunedBy: string, prunedAt: number, options: { readonly ticketDeleted?: boolean; readonly waiterDone?: boolean } = {}) => {
      let now = 0
      const history = History.make(() => now)
      const at = (t: number, event: History.EventBody) => {
        now = t
        history.record(event)
      }
      const view = (holder: string, version: string, extra: Partial<History.RecordView> = {}): History.RecordView => ({ holder, transitions: 0, version, durationSeconds: 5, ...extra })
      const apply = (t: number, c: string, key: string, after: History.RecordView | undefined) =>
        at(t, { kind: "store-apply", c, call: history.nextId(), op: "update", key, ok: true, detail: "applied", after, deleted: after === undefined, holder: after?.holder })
      const queue = (...hs: ReadonlyArray<string>) => view("", `h${history.events.length}`, { semPermits: 1, semQueue: hs.map((h) => ({ h, w: `sem-w-${h}000000` })) })
      apply(0, "c1", head, queue())
      // c1, then c2 queue (tickets written first); c1 takes the permit.
      at(1000, { kind: "sem", c: "c1", what: "call", attempt: 1, blocking: true, detail: "acquire" })
      apply(1000, "c1", `${head}-w-c1000000`, view("c1", "1"))
      apply(1000, "c1", head, queue("c1"))
      at(1100, { kind: "sem", c: "c2", what: "call", attempt: 2, blocking: true, detail: "acquire" })
      apply(1100, "c2", `${head}-w-c2000000`, view("c2", "2"))
      apply(1100, "c2", head, queue("c1", "c2"))
      if (options.ticketDeleted === true) {
        // c2 gives its ticket up (reads failing) and takes it again: a process may have seen it absent.
        apply(1200, "c2", `${head}-w-c2000000`, undefined)
        apply(1300, "c2", `${head}-w-c2000000`, view("c2", "3"))
      }
      apply(1400, "c1", `${head}-0`, view("c1", "4"))
      at(1400, { kind: "sem", c: "c1", what: "done", attempt: 1, detail: "held" })
      for (let t = 2000; t < prunedAt; t += 1000) apply(t, "c2", `${head}-w-c2000000`, view("c2", `r${t}`))
      if (options.waiterDone === true) at(prunedAt - 1, { kind: "sem", c: "c2", what: "done", attempt: 2, detail: "TimedOut" })
      // The write that removes c2's entry (c1's leave, or c2's own).
      apply(prunedAt, prunedBy, head, queue())
      at(prunedAt + 10_000, { kind: "end" })
      return SemaphoreChecker.check(plan, history.events).filter((v) => v.property === "sem-live-pruned")
    }
    // c1's leave removes c2's entry 0.4 s after c2's ticket was first written: nobody can have judged it dead.
    const flagged = run("c1", 1500)
    assert.deepStrictEqual(flagged.map((v) => v.contenders), [["c1", "c2"]])
    // Not flagged: c2's own leave; its ticket's first write 5 s (its duration) before; a ticket
    // deleted meanwhile (seen absent); a waiter no longer waiting.
    assert.deepStrictEqual(run("c2", 1500), [])
    assert.deepStrictEqual(run("c1", 6100), [])
    assert.deepStrictEqual(run("c1", 1500, { ticketDeleted: true }), [])
    assert.deepStrictEqual(run("c1", 1500, { waiterDone: true }), [])
    // Just within: 4.9 s after the first write, the ticket renewed since.
    assert.strictEqual(run("c1", 6000).length, 1)
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
          "status:SteppedDown",
          // Semaphore schedules (one seed in ten).
          "sem.acquire:held",
          "sem.timeout:held",
          "sem.timeout:LeaseAcquisitionError",
          "sem.interrupt:interrupted",
          "sem.one-shot:held",
          "sem.try:Acquired",
          "sem.try:Full",
          "sem.release",
          "sem.release-during",
          "sem.close",
          "sem.step",
          "sem.withdrawn"
        ]
      ) {
        assert.isAbove(summary.ops[op] ?? 0, 0, op)
      }
      for (const fault of ["update:delay-before", "update:delay-after", "update:lose-answer", "update:fail", "watch:stall", "watch:fail", "pause", "pause:long", "admin:delete", "crash", "resize"]) {
        assert.isAbove(summary.faults[fault] ?? 0, 0, fault)
      }
    }
  )
})
