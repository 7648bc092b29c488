/**
 * Figure 4 — contended throughput: N contender processes on one lease, each looping acquire →
 * tiny critical section → release → acquire…, for a fixed time, at default timings.
 *
 * Mutual exclusion is judged by `Exclusion` (`@leasekit/testing`), as the chaos suite judges it:
 * the critical sections of all processes must not overlap in time and must carry strictly
 * increasing tokens (a process that re-took its own lease keeps its token: `sameTenure`). leasekit
 * runs the harness's loop mode with no fenced write (its section is two `isHeld` checks, reported
 * as `valid` events); client-go reports each critical section as one `cs` event, taken here as a
 * tenure believed from its start to its end, and also checks it against files in a shared folder
 * (an O_EXCL marker, the last token written: the Go program keeps that check). For client-go the
 * token is spec.leaseTransitions, read with one extra GET in the critical section (client-go hands
 * out no token).
 *
 * Judges issue 6's exclusion goal (no violation in any leasekit series) and renders section 4 of
 * RESULTS.md with what its numbers say in words (what bounds each side's throughput).
 */
import { LeaseOptions } from "@leasekit/core"
import * as Exclusion from "@leasekit/testing/Exclusion"
import type { CriticalSectionEvent, LoopEvent } from "@leasekit/testing/ContenderProtocol"
import { isLoopEvent, nowMicros } from "@leasekit/testing/ContenderProtocol"
import { Duration } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { cpuGroups, releaseAll, sleep } from "../Bench.ts"
import * as CpuAccounting from "../CpuAccounting.ts"
import type { Contender, Kind } from "../Contenders.ts"
import { onEvents } from "../Contenders.ts"
import type { Goal } from "../Goal.ts"
import { kindLabel, pct, table } from "../Markdown.ts"
import type { Results } from "../Results.ts"
import { fmt, medianP99, summarize } from "../Statistics.ts"

/** The timing the figure runs at — the library's defaults (the checker's thresholds only). */
const defaultSeconds = Duration.toSeconds(LeaseOptions.defaults.duration)
const timing: Exclusion.Timing = {
  durationSeconds: defaultSeconds,
  renewIntervalMillis: (defaultSeconds * 1000) / 3,
  renewDeadlineMillis: (defaultSeconds * 2000) / 3,
  retryPeriodMillis: Duration.toMillis(LeaseOptions.defaults.retryPeriod),
  requestTimeoutMillis: Duration.toMillis(LeaseOptions.defaults.requestTimeout)
}

export interface ContentionResult {
  readonly kind: Kind
  readonly contenders: number
  readonly seconds: number
  readonly criticalSections: number
  readonly perSecond: number
  /** Critical sections whose holder differs from the previous one, per second. */
  readonly handoversPerSecond: number
  /** Largest share of critical sections won by one process. */
  readonly maxShare: number
  /** Processes that got at least one critical section. */
  readonly winners: number
  /** Gap between one critical section's end and the next one's start, ms. */
  readonly gapMs: Array<number>
  readonly violations: Array<string>
  /** Consecutive sections of one process with the same token: it re-took its own lease because
   * its release did not go through (the same tenure as far as the lease is concerned). */
  readonly sameTenure: number
  readonly requestsPerSecond: number
  readonly writesPerCriticalSection: number
  /** CPU time per critical section, ms, by process group, and how busy the machine was. */
  readonly cpuMsPerSection: Record<string, number>
  readonly machineBusy: number
}

export const run = async (bench: Bench, kind: Kind, n: number, seconds: number): Promise<ContentionResult> => {
  const contenders = await bench.pool.take(kind, n)
  const fenceDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-fence-"))
  const name = `f4-${kind}-${n}-${Date.now().toString(36)}`
  const sections: Array<{ readonly by: Contender; readonly cs: CriticalSectionEvent }> = []
  const journals = new Map<Contender, Array<LoopEvent>>()
  const journalOf = (c: Contender) => journals.get(c) ?? journals.set(c, []).get(c)!
  const unsubscribe = onEvents(contenders, ({ contender, event }) => {
    if (event.ev === "cs") {
      // client-go: one event per critical section, its tenure believed from t0 to t1.
      sections.push({ by: contender, cs: event })
      const at = { holder: contender.label, token: event.token }
      journalOf(contender).push(
        { ev: "acquired", t: event.t0 / 1000, round: 0, ...at },
        { ev: "valid", t: event.t0 / 1000, ...at },
        { ev: "valid", t: event.t1 / 1000, ...at }
      )
    } else if (isLoopEvent(event)) {
      journalOf(contender).push(Exclusion.inMillis(event))
      if (event.ev === "section") {
        sections.push({ by: contender, cs: { ev: "cs", t0: event.start, t1: event.end, token: event.token, ok: true } })
      }
    }
  })
  const { audit } = bench
  const m0 = audit.mark()
  const t0 = nowMicros()
  let t1 = t0
  let m1 = m0
  const cpu = CpuAccounting.start(cpuGroups(bench, contenders))
  let usage: CpuAccounting.CpuUsage | undefined
  try {
    for (const c of contenders) c.send({ cmd: "join", name, namespace: bench.namespace, mode: "loop", fenceDir })
    await sleep(seconds * 1000)
    t1 = nowMicros()
    m1 = audit.mark()
    usage = cpu.stop()
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    unsubscribe()
    bench.pool.give(contenders)
    Fs.rmSync(fenceDir, { recursive: true, force: true })
  }

  const violations: Array<string> = []
  for (const { by, cs } of sections) {
    if (!cs.ok) violations.push(`${by.label} token ${cs.token}: ${(cs.problems ?? []).join("; ")}`)
  }
  const report = Exclusion.check({ timing, journals: [...journals.values()], circumstances: [], fence: Exclusion.emptyFence })
  violations.push(...Exclusion.violations(report))
  // Re-took its own lease without a release in between: same holder, same token.
  const sameTenure = report.readoptions
  const ordered = [...sections].sort((a, b) => a.cs.t0 - b.cs.t0)
  const gapMs: Array<number> = []
  let changes = 0
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1]!
    const cur = ordered[i]!
    if (cur.by !== prev.by) changes++
    gapMs.push((cur.cs.t0 - prev.cs.t1) / 1000)
  }
  const inWindow = ordered.filter((s) => s.cs.t0 >= t0 && s.cs.t0 <= t1).length
  const elapsed = (t1 - t0) / 1e6
  const perProcess = new Map<Contender, number>()
  for (const s of ordered) perProcess.set(s.by, (perProcess.get(s.by) ?? 0) + 1)
  const records = audit.events(m0, m1, name)
  const writes = records.filter((r) => r.verb === "create" || r.verb === "update").length
  return {
    kind,
    contenders: n,
    seconds: elapsed,
    criticalSections: inWindow,
    perSecond: inWindow / elapsed,
    handoversPerSecond: changes / elapsed,
    maxShare: ordered.length === 0 ? 0 : Math.max(...perProcess.values()) / ordered.length,
    winners: perProcess.size,
    gapMs,
    violations,
    sameTenure,
    requestsPerSecond: records.filter((r) => r.verb !== "watch").length / elapsed,
    writesPerCriticalSection: inWindow === 0 ? Number.NaN : writes / inWindow,
    cpuMsPerSection: Object.fromEntries(Object.entries(usage?.byGroup ?? {}).map(([k, ms]) => [k, ms / Math.max(1, inWindow)])),
    machineBusy: usage?.machineBusy ?? Number.NaN
  }
}

/** The numbers of contenders and the seconds of each series, in the quick and the full run. */
export const settings = {
  quick: { contenders: [2, 8, 32], seconds: 4 },
  full: { contenders: [2, 8, 32], seconds: 30 }
}

/** Figure 4 in a run: per number of contenders, leasekit then client-go. */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  for (const n of s.contenders) {
    for (const kind of ["leasekit", "client-go"] as const) {
      const r = await run(bench, kind, n, s.seconds)
      bench.log(`  fig 4 ${kind} N=${n}: ${r.perSecond.toFixed(1)} critical sections/s, ${r.violations.length} violations`)
      results.contention.push(r)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** Issue 6's exclusion goal, over every leasekit series. */
export const goals = (r: Results): Array<Goal> => {
  const out: Array<Goal> = []
  const lkContention = r.contention.filter((x) => x.kind === "leasekit")
  if (lkContention.length > 0) {
    const violations = lkContention.reduce((a, c) => a + c.violations.length, 0)
    const sections = lkContention.reduce((a, c) => a + c.criticalSections, 0)
    out.push({
      id: "exclusion",
      goal: "contention: never two holders, tokens strictly increasing",
      measured: `${violations} violations in ${sections} critical sections`,
      met: violations === 0 && sections > 0
    })
  }
  return out
}

/** Section 4 of RESULTS.md: the table, and what it says in words. */
export const section = (r: Results) => {
  if (r.contention.length === 0) return ""
  const rows = r.contention.map((c) => [
    String(c.contenders),
    kindLabel(c.kind),
    `${fmt(c.perSecond, 1)} (${c.criticalSections} in ${fmt(c.seconds, 0)} s)`,
    fmt(c.handoversPerSecond, 1),
    `${pct(c.maxShare)} (${c.winners}/${c.contenders} won)`,
    medianP99(summarize(c.gapMs), 1),
    fmt(c.requestsPerSecond, 0),
    fmt(c.writesPerCriticalSection, 1),
    String(c.sameTenure),
    `${fmt(c.cpuMsPerSection["contenders"] ?? Number.NaN, 1)} / ${fmt(c.cpuMsPerSection["kube-apiserver"] ?? Number.NaN, 1)} / ${
      fmt(c.cpuMsPerSection["etcd"] ?? Number.NaN, 1)
    } (${pct(c.machineBusy)})`,
    c.violations.length === 0 ? "0" : `**${c.violations.length}**: ${c.violations.slice(0, 3).join("; ")}`
  ])
  return [
    "## 4. Contended throughput",
    "",
    table([
      "N",
      "",
      "critical sections / s",
      "holder changes / s",
      "largest share",
      "gap between sections ms, median / p99 (n)",
      "requests / s",
      "writes / section",
      "re-took own lease unreleased",
      "CPU ms / section: contenders / apiserver / etcd (machine busy)",
      "exclusion violations"
    ], rows),
    "",
    "Each contender loops acquire → critical section → release → acquire; leasekit's section checks `isHeld` twice (the",
    "harness's loop mode), client-go's creates an O_EXCL marker file and checks its token against a shared file. The",
    "chaos suite's checker (`Exclusion`) judges both: all critical sections of all processes must not overlap and must",
    "carry strictly increasing tokens — except that one process may carry the same token in consecutive sections when it",
    "re-took its own lease because its release did not go through (client-go keeps `leaseTransitions` for an unchanged",
    "holder identity; counted apart as \"re-took own lease unreleased\").",
    ...contentionNotes(r)
  ].join("\n")
}

/** What the contention table says, in words, from its own numbers. */
const contentionNotes = (r: Results): Array<string> => {
  const lk = r.contention.filter((c) => c.kind === "leasekit").sort((a, b) => a.contenders - b.contenders)
  const go = r.contention.filter((c) => c.kind === "client-go").sort((a, b) => a.contenders - b.contenders)
  const out: Array<string> = []
  const first = lk[0]
  const last = lk[lk.length - 1]
  if (first !== undefined && last !== undefined && last !== first) {
    out.push(
      "",
      `leasekit hands the lease over through the watch, so throughput is bounded by CPU: ${fmt(first.perSecond, 0)} sections/s with ${first.contenders}`,
      `contenders, ${fmt(last.perSecond, 1)} with ${last.contenders}, when the machine was ${pct(last.machineBusy)} busy and every section cost ${
        fmt(last.cpuMsPerSection["contenders"] ?? Number.NaN, 0)
      } ms of contender CPU and ${fmt(last.writesPerCriticalSection, 1)} writes — the thundering herd of figure 2 (same fix).`
    )
  }
  const g2 = go[0]
  const gN = go[go.length - 1]
  if (g2 !== undefined && gN !== undefined) {
    const retook = go.reduce((a, c) => a + c.sameTenure, 0)
    out.push(
      "",
      `client-go's waiters poll (every 2 s plus up to 120 % jitter), so its throughput is bounded by polling: ${fmt(g2.perSecond, 1)} sections/s with`,
      `${g2.contenders} contenders, ${fmt(gN.perSecond, 1)} with ${gN.contenders}. A contender that just released starts its next election at once and often`,
      `wins again before anyone polls (largest share ${pct(g2.maxShare)} with ${g2.contenders}). ${retook} times a client-go contender re-took its own`,
      "lease unreleased: cancelling the elector while its renewal request is in flight cancels that request, and the",
      "`ReleaseOnCancel` write that follows is built from a stale or emptied lock object and fails (\"the object has been",
      "modified\", \"resource name may not be empty\" in its log) — the lease stays held by a stopped elector until it",
      "expires, or until the same process joins again and takes it back."
    )
  }
  return out
}
