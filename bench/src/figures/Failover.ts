/**
 * Figure 3 — failover after SIGKILL of the holder: from the kill to the waiter's acquisition, at
 * leaseDuration 5 s and 15 s.
 *
 * Timings: leasekit uses `duration` D with its defaults derived from it (renew every D/3, deadline
 * 2D/3, retry min(2 s, D/3)); client-go uses D, renewDeadline 2D/3 and retryPeriod 2D/15 — its
 * defaults 15 s / 10 s / 2 s scaled to D. One holder and one waiter; the kill falls at a random
 * phase of the renewal cycle, at least a second after the waiter joined. The killed holder never
 * releases, so the waiter must see the record unchanged for D on its own clock.
 *
 * Judges issue 6's failover goal (≤ leaseDuration + 0.5 s) and renders section 3 of RESULTS.md.
 */
import type { Bench } from "../Bench.ts"
import { joinAndLead, sleep, uniform } from "../Bench.ts"
import type { Contender, Kind } from "../Contenders.ts"
import { nextEvent, spawn, stop } from "../Contenders.ts"
import type { Goal } from "../Goal.ts"
import { table } from "../Markdown.ts"
import type { JoinCommand } from "@leasekit/testing/ContenderProtocol"
import { nowMicros, timeOf } from "@leasekit/testing/ContenderProtocol"
import type { Results } from "../Results.ts"
import { fmt, medianP99, summarize } from "../Statistics.ts"

export interface FailoverResult {
  readonly kind: Kind
  readonly durationSeconds: number
  readonly failoverMs: Array<number>
}

export const timings = (kind: Kind, seconds: number): Omit<JoinCommand, "cmd" | "name"> =>
  kind === "leasekit"
    ? { leaseDurationMs: seconds * 1000 }
    : { leaseDurationMs: seconds * 1000, renewDeadlineMs: Math.round((seconds * 2000) / 3), retryPeriodMs: Math.round((seconds * 2000) / 15) }

export const run = async (bench: Bench, kind: Kind, seconds: number, trials: number): Promise<FailoverResult> => {
  const name = `f3-${kind}-${seconds}-${Date.now().toString(36)}`
  const join = { name, namespace: bench.namespace, ...timings(kind, seconds) }
  const period = kind === "leasekit" ? (seconds * 1000) / 3 : (seconds * 2000) / 15
  const failoverMs: Array<number> = []
  const started: Array<Contender> = []
  const fresh = async () => {
    const c = await spawn(bench.spawnContext, kind)
    started.push(c)
    return c
  }
  try {
    let holder = await fresh()
    await joinAndLead(holder, join)
    let waiter = await fresh()
    waiter.send({ cmd: "join", ...join })
    for (let trial = 0; trial < trials; trial++) {
      await sleep(1_000 + uniform(0, 2 * period))
      const taken = nextEvent([waiter], ({ event }) => event.ev === "leading", (seconds + 30) * 1000, `${name} failover`)
      const killedAt = nowMicros()
      holder.kill("SIGKILL")
      const next = await taken
      failoverMs.push((timeOf(next.event) - killedAt) / 1000)
      holder = waiter
      waiter = await fresh()
      waiter.send({ cmd: "join", ...join })
      bench.log(`  fig 3 ${kind} ${seconds} s: ${trial + 1}/${trials} failovers`)
    }
  } finally {
    await Promise.all(started.map((c) => stop(c)))
  }
  return { kind, durationSeconds: seconds, failoverMs }
}

/** The leaseDurations measured and how many kills each, in the quick and the full run. */
export const settings: Record<"quick" | "full", ReadonlyArray<{ readonly seconds: number; readonly trials: number }>> = {
  quick: [{ seconds: 5, trials: 2 }, { seconds: 15, trials: 1 }],
  full: [{ seconds: 5, trials: 20 }, { seconds: 15, trials: 10 }]
}

/** Figure 3 in a run: per leaseDuration, leasekit and client-go side by side. */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  for (const { seconds, trials } of s) {
    results.failover.push(...(await Promise.all((["leasekit", "client-go"] as const).map((kind) => run(bench, kind, seconds, trials)))))
  }
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** Issue 6's failover goal, per leaseDuration: the waiter acquires within leaseDuration + 0.5 s. */
export const goals = (r: Results): Array<Goal> => {
  const out: Array<Goal> = []
  for (const f of r.failover.filter((x) => x.kind === "leasekit")) {
    const t = summarize(f.failoverMs)
    out.push({
      id: `failover-${f.durationSeconds}`,
      goal: `failover at leaseDuration ${f.durationSeconds} s: ≤ ${f.durationSeconds + 0.5} s`,
      measured: `p50 ${fmt(t.median / 1000, 2)} s, max ${fmt(t.max / 1000, 2)} s (n=${t.n})`,
      met: t.n > 0 && t.max <= f.durationSeconds * 1000 + 500
    })
  }
  return out
}

/** Section 3 of RESULTS.md. */
export const section = (r: Results) => {
  if (r.failover.length === 0) return ""
  const durations = [...new Set(r.failover.map((f) => f.durationSeconds))].sort((a, b) => a - b)
  const cell = (f: FailoverResult | undefined) => {
    if (f === undefined) return "–"
    const t = summarize(f.failoverMs.map((x) => x / 1000))
    return `${medianP99(t, 2)}, max ${fmt(t.max, 2)}`
  }
  return [
    "## 3. Failover after SIGKILL of the holder",
    "",
    table(
      ["leaseDuration", "leasekit s, median / p99 (n), max", "client-go s, median / p99 (n), max", "goal"],
      durations.map((d) => [
        `${d} s`,
        cell(r.failover.find((f) => f.kind === "leasekit" && f.durationSeconds === d)),
        cell(r.failover.find((f) => f.kind === "client-go" && f.durationSeconds === d)),
        `≤ ${d + 0.5} s`
      ])
    ),
    "",
    "Timed from the SIGKILL to the waiter's acquisition. Both judge expiry on their own clock from when they saw the",
    "last renewal, so failover lies between leaseDuration − renewal period and leaseDuration, plus how late the waiter",
    "notices: leasekit wakes at the computed expiry instant; client-go polls every retryPeriod (2D/15 here)."
  ].join("\n")
}
