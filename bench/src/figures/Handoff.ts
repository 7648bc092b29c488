/**
 * Figure 8 — handoff to a named successor beside a plain release, leasekit only (client-go's
 * elector has no handoff): from the instant the holder starts handing over (its `releasing` event,
 * just before `HeldLease.handoff(to)` / `HeldLease.release`) to the instant the next holder's
 * first guarded step ran (its `guarded` event: `HeldLease.guard` right after acquiring), with W
 * waiters on one lease, at default timings.
 *
 * All W + 1 contenders join; then, repeatedly and alternating: the holder keeps the lease for a
 * random 0.2–0.6 s, then either hands it to one of the W waiters picked at random, or releases it
 * (any waiter may take it); the next holder is timed, and the old holder joins again as a waiter.
 * Alternating puts both series under the same conditions (load, watch connections, the API
 * server's caches). A handoff taken by anyone but the named successor is counted: the design says
 * it never is while the successor waits.
 *
 * Judges issue 16's goals (first guarded step p50 ≤ 100 ms, always the named successor) and renders
 * section 8 of RESULTS.md.
 */
import type { Bench } from "../Bench.ts"
import { releaseAll, sleep, uniform } from "../Bench.ts"
import type { Contender } from "../Contenders.ts"
import { nextEvent } from "../Contenders.ts"
import type { Goal } from "../Goal.ts"
import { table } from "../Markdown.ts"
import { timeOf } from "@leasekit/testing/ContenderProtocol"
import type { Results } from "../Results.ts"
import { fmt, medianP99, summarize } from "../Statistics.ts"

export interface HandoffResult {
  readonly waiters: number
  /** `handoff(to)` start → the successor's first guarded step, ms. */
  readonly handoffMs: Array<number>
  /** `release` start → any waiter's first guarded step, ms. */
  readonly releaseMs: Array<number>
  /** `handoff(to)` start → the successor's acquisition returned (`leading`), ms. */
  readonly handoffAcquiredMs: Array<number>
  /** Handoffs whose lease went to a contender other than the named successor. */
  readonly wrongSuccessor: number
}

export const run = async (bench: Bench, waiters: number, rounds: number): Promise<HandoffResult> => {
  const contenders = await bench.pool.take("leasekit", waiters + 1)
  const name = `f8-${waiters}-${Date.now().toString(36)}`
  const join = { cmd: "join" as const, name, namespace: bench.namespace }
  const handoffMs: Array<number> = []
  const releaseMs: Array<number> = []
  const handoffAcquiredMs: Array<number> = []
  let wrongSuccessor = 0
  try {
    const first = nextEvent(contenders, ({ event }) => event.ev === "guarded", 60_000, `first leader of ${name}`)
    for (const c of contenders) c.send(join)
    let holder: Contender = (await first).contender
    await sleep(1_000) // every waiter has read the lease and is watching it
    for (let h = 0; h < rounds * 2; h++) {
      await sleep(uniform(200, 600))
      const current = holder
      const others = contenders.filter((c) => c !== current)
      const handoff = h % 2 === 0
      const successor = others[Math.floor(Math.random() * others.length)]!
      const acquired = nextEvent(others, ({ event }) => event.ev === "leading", 60_000, `next holder of ${name}`)
      const guarded = nextEvent(others, ({ event }) => event.ev === "guarded", 60_000, `next guarded step on ${name}`)
      const releasing = nextEvent([current], ({ event }) => event.ev === "releasing", 30_000, "releasing")
      const released = nextEvent([current], ({ event }) => event.ev === "released", 60_000, "released")
      current.send(handoff ? { cmd: "handoff", to: successor.identity } : { cmd: "release" })
      const [start, taken, next] = await Promise.all([releasing, acquired, guarded])
      await released
      const ms = (timeOf(next.event) - timeOf(start.event)) / 1000
      if (handoff) {
        handoffMs.push(ms)
        handoffAcquiredMs.push((timeOf(taken.event) - timeOf(start.event)) / 1000)
        if (next.contender !== successor) wrongSuccessor++
      } else {
        releaseMs.push(ms)
      }
      current.send(join) // back in as a waiter
      holder = next.contender
      if ((h + 1) % Math.max(1, Math.floor(rounds / 2)) === 0) {
        bench.log(`  fig 8 ×${waiters}: ${Math.ceil((h + 1) / 2)}/${rounds} handoffs and releases`)
      }
    }
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    bench.pool.give(contenders)
  }
  return { waiters, handoffMs, releaseMs, handoffAcquiredMs, wrongSuccessor }
}

/** Waiters and rounds (handoffs and releases alternating), in the quick and the full run. */
export const settings = {
  quick: { waiters: 3, rounds: 15 },
  full: { waiters: 3, rounds: 200 }
}

/** Figure 8 in a run (replacing an earlier result with as many waiters). */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  const r = await run(bench, s.waiters, s.rounds)
  bench.log(`  fig 8: ${r.handoffMs.length} handoffs, ${r.releaseMs.length} releases, ${r.wrongSuccessor} to another contender`)
  results.handoff = [...(results.handoff ?? []).filter((x) => x.waiters !== r.waiters), r]
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** The goals issue 16 (graceful handoff) set, judged on figure 8. */
export const goals = (r: Results): Array<Goal> =>
  (r.handoff ?? []).flatMap((h) => {
    const t = summarize(h.handoffMs)
    return [
      {
        id: `handoff-${h.waiters}`,
        goal: `handoff to a named successor among ${h.waiters} waiters: first guarded step p50 ≤ 100 ms (figure 8, issue 16)`,
        measured: `p50 ${fmt(t.median)} ms, p99 ${fmt(t.p99)} ms (n=${t.n})`,
        met: t.n > 0 && t.median <= 100
      },
      {
        id: `handoff-successor-${h.waiters}`,
        goal: "a handoff goes to the named successor while it waits (figure 8, issue 16)",
        measured: `${h.wrongSuccessor} of ${h.handoffMs.length} to another contender`,
        met: h.handoffMs.length > 0 && h.wrongSuccessor === 0
      }
    ]
  })
/** Section 8 of RESULTS.md. */
export const section = (r: Results) => {
  const results = r.handoff ?? []
  if (results.length === 0) return ""
  return [
    "## 8. Handoff to a named successor (leasekit only)",
    "",
    "From the holder starting `HeldLease.handoff(to)` — or, beside it, a plain `HeldLease.release` — to the next",
    "holder's first guarded step (`HeldLease.guard` right after its acquisition), with the waiters on one lease at",
    "default timings, the two alternating in one series (client-go's elector has no handoff). A handoff is a release",
    "that reserves the free lease for the successor; the successor takes it through its watch like any waiter, the",
    "others judge it busy for the handoff window.",
    "",
    table(
      ["waiters", "handoff → successor's first guarded step, ms", "handoff → successor acquired, ms", "release → any waiter's first guarded step, ms", "to another contender"],
      results.map((h) => [
        String(h.waiters),
        medianP99(summarize(h.handoffMs)),
        medianP99(summarize(h.handoffAcquiredMs)),
        medianP99(summarize(h.releaseMs)),
        `${h.wrongSuccessor} of ${h.handoffMs.length}`
      ])
    )
  ].join("\n")
}
