/**
 * RESULTS.md and its plots (handover.svg, lateness.svg) from one run's results: the machine, the
 * versions, every figure as median and p99 with the number of samples beside the client-go
 * baseline, each goal of issues 6, 14 and 19 marked met or missed, and for a missed goal the
 * cause found by profiling and the fix, or what the numbers show (`Findings.ts`).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Kind } from "./Contenders.ts"
import type { ContentionResult } from "./figures/Contention.ts"
import type { FailoverResult } from "./figures/Failover.ts"
import type { FootprintResult, LibraryVariant, ModuleCount } from "./figures/Footprint.ts"
import { medians } from "./figures/Footprint.ts"
import type { HandoffResult } from "./figures/Handoff.ts"
import type { SemaphoreResult } from "./figures/Semaphore.ts"
import type { HandoverResult } from "./figures/Handover.ts"
import type { RequestsResult } from "./figures/RequestsPerOperation.ts"
import type { RuntimeCostResult } from "./figures/RuntimeCost.ts"
import type { ScaleResult } from "./figures/Scale.ts"
import * as Findings from "./Findings.ts"
import type { Machine, Versions } from "./Machine.ts"
import * as Plot from "./Plot.ts"
import type { ProfileSummary } from "./Profile.ts"
import type { Summary } from "./Statistics.ts"
import { fmt, medianP99, summarize } from "./Statistics.ts"

export interface Provenance {
  readonly commit: string
  readonly dirty: boolean
}

const commitOf = (p: Provenance | undefined) =>
  p === undefined ? "unknown" : `${p.commit}${p.dirty ? " with uncommitted changes to core, kubernetes or bench" : ""}`

export interface Quiet {
  readonly waitedSeconds: number
  readonly loadAtStart: ReadonlyArray<number>
  readonly reached: boolean
  readonly threshold: number
  readonly asked: boolean
}

export interface Results {
  mode: "quick" | "full"
  startedAt: string
  durationSeconds: number
  machine: Machine
  versions: Versions
  quiet: Quiet
  /** The commit measured; `dirty` when core, kubernetes or bench had uncommitted changes. */
  provenance?: Provenance | undefined
  loads: Array<{ figure: string; load: ReadonlyArray<number> }>
  settings: unknown
  requests: Array<RequestsResult>
  handover: Array<HandoverResult>
  failover: Array<FailoverResult>
  contention: Array<ContentionResult>
  scale: Array<ScaleResult>
  runtimeCost: RuntimeCostResult | undefined
  /** Figure 7 (absent from results written before it existed). */
  footprint?: FootprintResult | undefined
  /** Figure 8 (absent from results written before it existed). */
  handoff?: Array<HandoffResult> | undefined
  /** Figure 9 (absent from results written before it existed): the semaphore runs and the floor
   * measured beside them (figure 4's loop on one plain lease, 2 contenders). */
  semaphore?: SemaphoreFigure | undefined
  profiles: Record<string, ProfileSummary>
  errors: Array<{ figure: string; message: string }>
  /** Figures re-run later into these results (`--update`), with when and how quiet it was. */
  reruns?: Array<{ figures: ReadonlyArray<number>; at: string; quiet: Quiet; provenance?: Provenance | undefined }>
}

export interface SemaphoreFigure {
  readonly floor: { readonly contenders: number; readonly perSecond: number; readonly gapMs: ReadonlyArray<number> }
  readonly runs: ReadonlyArray<SemaphoreResult>
}

export interface Goal {
  readonly id: string
  readonly goal: string
  readonly measured: string
  readonly met: boolean | undefined
}

const label = (kind: Kind) => (kind === "leasekit" ? "leasekit" : "client-go")
const yes = (met: boolean | undefined) => (met === undefined ? "not measured" : met ? "**met**" : "**MISSED**")
const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")
const pct = (x: number) => `${fmt(x * 100, 1)} %`
const s = (values: ReadonlyArray<number>) => summarize(values)

/** Every goal of issues 6 and 14, judged on these results. */
export const goals = (r: Results): Array<Goal> => {
  const out: Array<Goal> = []
  const lk = r.requests.find((x) => x.kind === "leasekit")
  if (lk !== undefined) {
    const max = (xs: ReadonlyArray<number>) => (xs.length === 0 ? Number.NaN : Math.max(...xs))
    out.push(
      { id: "renewal", goal: "renewal = 1 request", measured: `max ${max(lk.renewal)} (n=${lk.renewal.length})`, met: max(lk.renewal) === 1 },
      { id: "release", goal: "release = 1 request", measured: `max ${max(lk.release)} (n=${lk.release.length})`, met: max(lk.release) === 1 },
      {
        id: "acquire",
        goal: "acquire ≤ 2 requests",
        measured: `absent max ${max(lk.acquireAbsent)}, released max ${max(lk.acquireReleased)}`,
        met: max(lk.acquireAbsent) <= 2 && max(lk.acquireReleased) <= 2
      },
      {
        id: "perMinute",
        goal: "holding: ≤ 60 / renewInterval requests per minute (9 at the 20 s default)",
        measured: `${fmt(lk.requestsPerMinute)} per minute over ${fmt(lk.windowSeconds, 0)} s`,
        met: lk.requestsPerMinute <= 60 / (20 / 3) + 0.5
      }
    )
  }
  for (const h of r.handover.filter((x) => x.kind === "leasekit")) {
    const t = s(h.latencyMs)
    out.push({
      id: `handover-${h.waiters}`,
      goal: `handover with ${h.waiters} waiter${h.waiters > 1 ? "s" : ""}: p50 ≤ 50 ms, p99 ≤ 250 ms`,
      measured: `p50 ${fmt(t.median)} ms, p99 ${fmt(t.p99)} ms (n=${t.n})`,
      met: t.n > 0 && t.median <= 50 && t.p99 <= 250
    })
  }
  for (const f of r.failover.filter((x) => x.kind === "leasekit")) {
    const t = s(f.failoverMs)
    out.push({
      id: `failover-${f.durationSeconds}`,
      goal: `failover at leaseDuration ${f.durationSeconds} s: ≤ ${f.durationSeconds + 0.5} s`,
      measured: `p50 ${fmt(t.median / 1000, 2)} s, max ${fmt(t.max / 1000, 2)} s (n=${t.n})`,
      met: t.n > 0 && t.max <= f.durationSeconds * 1000 + 500
    })
  }
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
  const scale1000 = r.scale.find((x) => x.kind === "leasekit" && x.leases === 1000 && x.nodeFlags.length === 0)
  if (scale1000 !== undefined) {
    out.push(
      {
        id: "scale-cpu",
        goal: "1,000 leases: < 5 % of one core",
        measured: scale1000.ok ? pct(scale1000.cpuShare) : "failed",
        met: scale1000.ok ? scale1000.cpuShare < 0.05 : false
      },
      {
        id: "scale-memory",
        goal: "1,000 leases: < 50 MB above an idle process",
        measured: scale1000.ok ? `${fmt(scale1000.heldRssMB - scale1000.idleRssMB)} MB` : "failed",
        met: scale1000.ok ? scale1000.heldRssMB - scale1000.idleRssMB < 50 : false
      },
      {
        id: "scale-lateness",
        goal: "1,000 leases: renewal lateness p99 < 100 ms",
        measured: scale1000.ok ? `${fmt(scale1000.latenessMs.p99)} ms (n=${scale1000.latenessMs.n})` : "failed",
        met: scale1000.ok ? scale1000.latenessMs.p99 < 100 : false
      }
    )
  }
  out.push(...transportGoals(r))
  out.push(...footprintGoals(r))
  out.push(...handoffGoals(r))
  out.push(...semaphoreGoals(r))
  return out
}

/** The goals issue 17 (semaphores) set, judged on figure 9 against the floor measured beside it. */
const semaphoreGoals = (r: Results): Array<Goal> => {
  const f = r.semaphore
  if (f === undefined || f.runs.length === 0) return []
  const one = f.runs.find((x) => x.permits === 1)
  const out: Array<Goal> = []
  if (one !== undefined && f.floor.perSecond > 0) {
    const ratio = one.perSecond / f.floor.perSecond
    out.push({
      id: "semaphore-throughput-1",
      goal: "semaphore N = 1, 2 contenders: ≥ 1/3 of the acquisitions/s of one plain lease with 2 contenders, measured beside it (figure 9, issue 17)",
      measured: `${fmt(one.perSecond)}/s = ${fmt(ratio, 2)} × the floor (${fmt(f.floor.perSecond)}/s)`,
      met: ratio >= 1 / 3
    })
  }
  for (const x of f.runs.filter((x) => x.permits > 1)) {
    if (one === undefined) continue
    out.push({
      id: `semaphore-throughput-${x.permits}`,
      goal: `semaphore N = ${x.permits}, ${x.contenders} contenders: at least the acquisitions/s of N = 1 (figure 9, issue 17)`,
      measured: `${fmt(x.perSecond)}/s = ${fmt(x.perSecond / Math.max(1e-9, one.perSecond), 2)} × N = 1`,
      met: x.perSecond >= one.perSecond
    })
  }
  for (const x of f.runs) {
    if (x.maxJump === undefined) {
      // Results written before figure 9 read the server's order: the goal as it was then.
      out.push({
        id: `semaphore-fcfs-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no waiter overtaken by more than N − 1 = ${x.permits - 1} later waiters (figure 9, issue 17)`,
        measured: `max ${x.maxOvertakes} (${x.overtaken} of ${x.queued} waiters overtaken; matched by time)`,
        met: x.queued > 0 && x.maxOvertakes <= x.permits - 1
      })
    } else {
      out.push({
        id: `semaphore-fcfs-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no acquisition served ahead of more than N − 1 = ${x.permits - 1} waiters still queued ahead of it, none without queueing ahead of any (the design's bound, in the server's order; figure 9, issue 17)`,
        measured: `max ${x.maxJump} (${x.jumped} of ${x.queued} went ahead of any); ${x.barged} of ${x.unqueued} unqueued ahead of a waiter` +
          (x.untied === 0 ? "" : `; ${x.untied} not tied to their writes`),
        met: x.queued > 0 && x.maxJump <= x.permits - 1 && x.barged === 0
      })
      out.push({
        id: `semaphore-requeue-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no waiting waiter's entry removed from the queue (only dead waiters' are; nobody dies in figure 9, issue 17)`,
        measured: `${x.requeued} of ${x.queued} served waiters queued again at the end; max overtakes ${x.maxOvertakes} (${x.overtaken} of ${x.queued} overtaken)`,
        met: x.queued > 0 && x.requeued === 0
      })
    }
    out.push({
      id: `semaphore-exclusion-${x.permits}`,
      goal: `semaphore N = ${x.permits}: per permit no overlap, tokens increasing, no permit ≥ N (figure 9, issue 17)`,
      measured: x.violations.length === 0 ? `0 violations in ${x.acquisitions} acquisitions` : x.violations.slice(0, 3).join("; "),
      met: x.acquisitions > 0 && x.violations.length === 0
    })
  }
  return out
}

const semaphoreSection = (r: Results) => {
  const f = r.semaphore
  if (f === undefined || f.runs.length === 0) return ""
  return [
    "## 9. A counting semaphore (leasekit only)",
    "",
    "`LeaseSemaphore` with N permits and 2N contender processes, each looping: acquire a permit (waiting in the",
    "queue) → hold it (a guarded sleep of `holdMs`) → release, at default timings. Wait: from `acquire` called to",
    "returned. The order of service is the API server's: each contender process reports the resourceVersions (etcd",
    "revisions, one etcd) of its own writes — the head writes that enqueued its ticket, the permit write that served it,",
    "the head writes that removed another waiter's entry. Jump: the waiters whose entry was ahead in the head, unserved,",
    "when an acquisition's permit was written — the design bounds it by N − 1 (`rank < free`). Requeued: waiters whose",
    "entry was removed while they waited (queued again at the end; the design removes only dead waiters' entries, nobody",
    "dies here). Overtakes: waiters first enqueued later and served earlier — not bounded by N − 1 (no order among the",
    "waiters eligible together, and a waiter can lose several rounds), plus everything a requeued waiter lost. Unqueued:",
    "acquisitions that took a free permit with nobody live queued (no ticket). Floor, measured in the same",
    `run: figure 4's loop on one plain lease with ${f.floor.contenders} contenders: ${fmt(f.floor.perSecond)} acquisitions/s.`,
    "",
    table(
      ["N", "contenders", "hold, ms", "acquisitions/s", "× floor", "wait, ms", "max jump", "requeued", "max overtakes", "waiters overtaken", "unqueued", "violations"],
      f.runs.map((x) => [
        String(x.permits),
        String(x.contenders),
        String(x.holdMs),
        fmt(x.perSecond),
        f.floor.perSecond > 0 ? fmt(x.perSecond / f.floor.perSecond, 2) : "-",
        medianP99(s(x.waitMs)),
        x.maxJump === undefined ? "–" : `${x.maxJump} (bound ${x.permits - 1})`,
        x.requeued === undefined ? "–" : `${x.requeued} of ${x.queued}`,
        String(x.maxOvertakes),
        `${x.overtaken} of ${x.queued}`,
        x.unqueued === undefined ? "–" : String(x.unqueued),
        String(x.violations.length)
      ])
    ),
    "",
    "![Semaphore wait distribution](semaphore.svg)"
  ].join("\n")
}

const semaphorePlot = (f: SemaphoreFigure) => {
  const colors = ["#9ecae1", "#4292c6", "#08519c"]
  const runs = [...f.runs].sort((a, b) => a.permits - b.permits)
  const series: Array<Plot.Series> = runs.map((x, i) => ({
    label: `N = ${x.permits}, ${x.contenders} contenders (n=${x.waitMs.length})`,
    color: colors[i % 3]!,
    points: Plot.ecdf(x.waitMs.map((v) => Math.max(v, 0.1))),
    steps: true
  }))
  const all = runs.flatMap((x) => x.waitMs)
  return Plot.render({
    title: "Semaphore: wait for a permit, cumulative distribution",
    xLabel: "acquire called → permit held (ms, log scale)",
    yLabel: "fraction of acquisitions",
    xLog: true,
    xDomain: [Math.max(0.1, 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all))))), 10 ** Math.ceil(Math.log10(Math.max(10, ...all)))],
    yDomain: [0, 1],
    series,
    width: 900
  })
}

/** The goals issue 16 (graceful handoff) set, judged on figure 8. */
const handoffGoals = (r: Results): Array<Goal> =>
  (r.handoff ?? []).flatMap((h) => {
    const t = s(h.handoffMs)
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

const handoffSection = (r: Results) => {
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
        medianP99(s(h.handoffMs)),
        medianP99(s(h.handoffAcquiredMs)),
        medianP99(s(h.releaseMs)),
        `${h.wrongSuccessor} of ${h.handoffMs.length}`
      ])
    )
  ].join("\n")
}

/** The goals issue 14 (one transport on Effect's HttpClient) set, judged on these results. */
const transportGoals = (r: Results): Array<Goal> => {
  const out: Array<Goal> = []
  const run = (target: string) => r.runtimeCost?.runs.find((x) => x.target === target)
  const kube = run("kubernetes")
  const https = run("https")
  if (kube !== undefined && https !== undefined) {
    const ratio = s(kube.cpuMicros).median / s(https.cpuMicros).median
    out.push({
      id: "renewal-cpu",
      goal: "renewal CPU ≤ 1.2 × the bare node:https PUT in the same run (figure 6, issue 14)",
      measured: `${fmt(ratio, 2)} × (${fmt(s(kube.cpuMicros).median, 0)} against ${fmt(s(https.cpuMicros).median, 0)} µs)`,
      met: ratio <= 1.2
    })
    const bytes = kube.bytesPerIteration
    out.push({
      id: "renewal-alloc",
      goal: "renewal allocates ≤ 40 KiB (figure 6, issue 14)",
      measured: bytes === undefined ? "not measured (a GC ran)" : `${fmt(bytes / 1024, 1)} KiB`,
      met: bytes === undefined ? undefined : bytes <= 40 * 1024
    })
  }
  const scale1000 = r.scale.find((x) => x.kind === "leasekit" && x.leases === 1000 && x.nodeFlags.length === 0)
  if (scale1000 !== undefined) {
    out.push(
      {
        id: "scale-cpu-14",
        goal: "1,000 leases: ≤ 6 % of one core (issue 14)",
        measured: scale1000.ok ? pct(scale1000.cpuShare) : "failed",
        met: scale1000.ok ? scale1000.cpuShare <= 0.06 : false
      },
      {
        id: "scale-memory-14",
        goal: "1,000 leases: ≤ +60 MB RSS without V8 flags (issue 14)",
        measured: scale1000.ok ? `${fmt(scale1000.heldRssMB - scale1000.idleRssMB)} MB` : "failed",
        met: scale1000.ok ? scale1000.heldRssMB - scale1000.idleRssMB <= 60 : false
      }
    )
  }
  const h16 = r.handover.find((x) => x.kind === "leasekit" && x.waiters === 16)
  if (h16 !== undefined) {
    const t = s(h16.latencyMs)
    out.push({
      id: "handover-16-14",
      goal: "handover with 16 waiters: p50 ≤ 15 ms (issue 14)",
      measured: `p50 ${fmt(t.median)} ms (n=${t.n})`,
      met: t.n > 0 && t.median <= 15
    })
  }
  return out
}

const mib = (x: number, digits = 0) => `${fmt(x, digits)} MiB`
const signed = (x: number) => `${x < 0 ? "−" : "+"}${fmt(Math.abs(x), 1)}`

/** The goals issue 19 (footprint) set, judged on figure 7. */
const footprintGoals = (r: Results): Array<Goal> => {
  const f = r.footprint
  if (f === undefined) return []
  const v = medians(f)
  const out: Array<Goal> = []
  for (const [id, x] of [["version", v.version], ["help", v.help]] as const) {
    const command = `\`leasekit --${id}\``
    const ratio = x.wallMs / v.floor.wallMs
    out.push(
      {
        id: `footprint-wall-${id}`,
        goal: `${command}: wall time ≤ 10 × \`node -e 0\` in the same run (issue 19)`,
        measured: x.n === 0 ? "failed" : `${fmt(ratio, 1)} × (${fmt(x.wallMs, 0)} against ${fmt(v.floor.wallMs, 0)} ms, n=${x.n})`,
        met: x.n > 0 && v.floor.n > 0 && ratio <= 10
      },
      {
        id: `footprint-peak-${id}`,
        goal: `${command}: peak RSS ≤ 80 MiB (issue 19)`,
        measured: x.n === 0 ? "failed" : `${mib(x.peakMiB, 1)} (\`node -e 0\`: ${mib(v.floor.peakMiB, 1)})`,
        met: x.n > 0 && x.peakMiB <= 80
      }
    )
  }
  const run = v.run.result
  if (run !== undefined) {
    out.push({
      id: "footprint-run",
      goal: `\`leasekit run NAME -- sleep ${f.holdSeconds}\` holding a lease: RSS ≤ 80 MiB (issue 19)`,
      measured: run.held ? `${mib(v.run.steadyMiB, 1)} while holding (peak ${mib(run.peakRssMiB, 1)})` : `did not hold the lease: ${run.failure ?? ""}`,
      met: run.held && v.run.steadyMiB <= 80
    })
  }
  const library = v.library.result
  if (library !== undefined) {
    const above = v.library.steadyMiB - v.floor.peakMiB
    out.push({
      id: "footprint-library",
      goal: "a library process holding one lease: ≤ +40 MB (38.1 MiB) above a bare Node process (issue 19)",
      measured: library.held
        ? `+${mib(above, 1)} (${mib(v.library.steadyMiB, 1)} holding, \`node -e 0\` ${mib(v.floor.peakMiB, 1)}); client-go ${mib(v.clientgo.steadyMiB, 1)}`
        : `did not hold the lease: ${library.failure ?? ""}`,
      met: library.held && above <= 40e6 / 2 ** 20
    })
  }
  const limit = f.memoryLimit
  const limited = limit.run
  out.push(
    limit.mechanism === "none"
      ? {
        id: "footprint-limit",
        goal: "the installed CLI holds a lease inside a 128 MiB memory limit, 0 OOM kills (issue 19)",
        measured: `no cgroup could be made (${limit.reason ?? ""}); peak RSS of the plain run ${mib(limited.peakRssMiB, 1)}`,
        met: limited.held && limited.peakRssMiB < 128
      }
      : {
        id: "footprint-limit",
        goal: "the installed CLI holds a lease inside a 128 MiB memory limit, 0 OOM kills (issue 19)",
        measured: `${limit.mechanism}: ${limited.held ? "held" : "**not held**"}, ${limited.exit}, peak usage ${
          mib((limit.peakUsageBytes ?? Number.NaN) / 2 ** 20, 1)
        }, ${limit.oomKills ?? "unknown"} OOM kills`,
        met: limited.held && limited.exit === "exit 0" && (limit.oomKills === undefined || limit.oomKills === 0)
      }
  )
  return out
}

const machineSection = (r: Results) => {
  const m = r.machine
  const v = r.versions
  const q = r.quiet
  const loads = r.loads.map((l) => `${l.figure.replace(/:.*/, "")} ${l.load[0]!.toFixed(2)}`).join(", ")
  const quietLine = !q.asked
    ? `Not waited for a quiet machine (quick run); 1-minute load average at the start: ${q.loadAtStart[0]!.toFixed(2)}.`
    : q.reached
    ? `Waited ${fmt(q.waitedSeconds / 60, 1)} min for the 1-minute load average to drop below ${q.threshold} (it was ${
      q.loadAtStart[0]!.toFixed(2)
    }) before starting.`
    : `**The machine was not quiet**: after waiting ${fmt(q.waitedSeconds / 60, 0)} min (polling every minute) the 1-minute load average was still ${
      q.loadAtStart[0]!.toFixed(2)
    } (≥ ${q.threshold}); other work was running on this shared 2-core machine, and the numbers were taken anyway. Latencies and CPU shares are inflated by it.`
  return [
    "## Machine and versions",
    "",
    table(["", ""], [
      ["CPU", `${m.cores} cores, ${m.cpuModel}`],
      ["Memory", `${fmt(m.memoryGiB, 1)} GiB`],
      ["OS", m.kernel],
      ["Node", v.node],
      ["effect", v.effect],
      ["kube-apiserver", v.kubeApiserver],
      ["etcd", v.etcd],
      ["client-go (baseline)", v.clientGo],
      ["Go (baseline)", v.go],
      ["leasekit measured at", `commit ${commitOf(r.provenance)}`]
    ]),
    "",
    quietLine,
    `1-minute load average when each figure started: ${loads}.`,
    ...(r.reruns ?? []).map((x) =>
      `Figure${x.figures.length > 1 ? "s" : ""} ${x.figures.join(", ")} re-run on ${x.at.slice(0, 16).replace("T", " ")} UTC at commit ${commitOf(x.provenance)} into these results${
        x.quiet.asked ? `, ${x.quiet.reached ? "on a quiet machine" : "on a busy machine"} (load ${x.quiet.loadAtStart[0]!.toFixed(2)})` : ""
      }.`
    )
  ].join("\n")
}

const methodSection = () =>
  [
    "## How it is measured",
    "",
    "- One control plane on loopback, started by `@leasekit/testing`: etcd and kube-apiserver as child processes, HTTPS with",
    "  TLS verification, RBAC, and an audit log at Metadata level (`--audit-log-mode=blocking`) in which every request is",
    "  counted. Each contender is its own OS process talking HTTPS to the API server: leasekit on Node",
    "  (`src/LeasekitContender.ts`: `Lease.acquire` / `HeldLease.release` over `KubernetesLeaseStore`), and the baseline",
    "  (`clientgo/main.go`: `leaderelection.RunOrDie` with a `resourcelock.LeaseLock`, `ReleaseOnCancel: true`), both driven",
    "  by the same orchestrator through the same line protocol (`src/Protocol.ts`).",
    "- Timestamps are `CLOCK_MONOTONIC` microseconds read in the contenders themselves (Node `process.hrtime`, Go",
    "  `clock_gettime`): a handover is timed from the holder's `releasing` event to the new holder's `leading` event.",
    "- Default timings unless a figure says otherwise: leasekit duration 20 s (renew every 6.7 s, deadline 13.3 s, retry",
    "  2 s); client-go 15 s / 10 s / 2 s (it reads and writes every `RetryPeriod`).",
    "- The audit log is never rotated during a run (`--audit-log-maxsize` raised): phases are delimited by byte offsets",
    "  in it, and the reader refuses a log that shrank.",
    "- Everything runs on the same machine, the API server and etcd included: CPU-bound numbers (contention, scale) are",
    "  shared with them. The client-go handover series (which spend their time waiting on 2 s polls) run at the same time",
    "  as the leasekit ones to keep the run short; figures 1 and 3 also run side by side (3 waits on timers)."
  ].join("\n")

const requestsSection = (r: Results) => {
  if (r.requests.length === 0) return ""
  const by = (k: Kind) => r.requests.find((x) => x.kind === k)
  const lk = by("leasekit")
  const go = by("client-go")
  const cell = (x: RequestsResult | undefined, f: (x: RequestsResult) => ReadonlyArray<number>) =>
    x === undefined ? "–" : medianP99(s(f(x)), 0)
  const comp = (x: RequestsResult | undefined, op: string) => (x === undefined ? "" : x.composition[op] ?? "")
  return [
    "## 1. API requests per operation (counted at the server)",
    "",
    table(["operation", "leasekit median / p99 (n)", "leasekit requests", "client-go median / p99 (n)", "client-go requests"], [
      ["acquire, lease absent", cell(lk, (x) => x.acquireAbsent), comp(lk, "acquireAbsent"), cell(go, (x) => x.acquireAbsent), comp(go, "acquireAbsent")],
      [
        "acquire, lease released",
        cell(lk, (x) => x.acquireReleased),
        comp(lk, "acquireReleased"),
        cell(go, (x) => x.acquireReleased),
        comp(go, "acquireReleased")
      ],
      ["one renewal", cell(lk, (x) => x.renewal), comp(lk, "renewal"), cell(go, (x) => x.renewal), comp(go, "renewal")],
      ["release", cell(lk, (x) => x.release), comp(lk, "release"), cell(go, (x) => x.release), comp(go, "release")],
      [
        "requests per minute while holding",
        lk ? `${fmt(lk.requestsPerMinute)} (${fmt(lk.windowSeconds, 0)} s window)` : "–",
        lk ? `${fmt(lk.writesPerMinute)} writes/min` : "",
        go ? `${fmt(go.requestsPerMinute)} (${fmt(go.windowSeconds, 0)} s window)` : "–",
        go ? `${fmt(go.writesPerMinute)} writes/min` : ""
      ]
    ]),
    "",
    "An operation's requests run from the previous successful write (or the command) to its own successful write, as the",
    "audit log shows them. client-go renews once right after acquiring (its renew loop starts with an immediate",
    "`tryAcquireOrRenew`, a GET and an UPDATE), which counts as its first renewal here; every one of its renewals reads",
    "before it writes. leasekit renews with one compare-and-swap PUT from the record it last wrote."
  ].join("\n")
}

const handoverSection = (r: Results) => {
  if (r.handover.length === 0) return ""
  const waiters = [...new Set(r.handover.map((h) => h.waiters))].sort((a, b) => a - b)
  const get = (k: Kind, w: number) => r.handover.find((h) => h.kind === k && h.waiters === w)
  const rows = waiters.map((w) => {
    const lk = get("leasekit", w)
    const go = get("client-go", w)
    const writes = (h: HandoverResult | undefined) =>
      h === undefined ? "–" : `${fmt(h.writesPerHandover, 1)} (${fmt(h.conflictsPerHandover, 1)} conflicts)`
    return [
      String(w),
      lk ? medianP99(s(lk.latencyMs), 1) : "–",
      go ? medianP99(s(go.latencyMs), 0) : "–",
      lk ? medianP99(s(lk.releaseMs), 1) : "–",
      writes(lk),
      writes(go),
      lk ? fmt(lk.requestsPerHandover, 1) : "–",
      go ? fmt(go.requestsPerHandover, 1) : "–"
    ]
  })
  const lk16 = get("leasekit", 16)
  const verbs = (h: HandoverResult | undefined) =>
    h === undefined ? "–" : Object.entries(h.verbsPerHandover).map(([v, n]) => `${v} ${fmt(n, 2)}`).join(", ")
  return [
    "## 2. Handover after a graceful release",
    "",
    table([
      "waiters",
      "leasekit handover ms, median / p99 (n)",
      "client-go handover ms, median / p99 (n)",
      "leasekit release write ms",
      "leasekit writes / handover",
      "client-go writes / handover",
      "leasekit requests / handover",
      "client-go requests / handover"
    ], rows),
    "",
    `Requests per handover by verb with 16 waiters — leasekit: ${verbs(lk16)}; client-go: ${verbs(get("client-go", 16))}.`,
    "",
    "CPU time per handover, by process, while each series ran (the API server's and etcd's include the concurrent",
    "client-go series), and how busy the machine's cores were:",
    "",
    table(
      ["waiters", "", "contenders ms", "kube-apiserver ms", "etcd ms", "machine busy"],
      r.handover.map((h) => [
        String(h.waiters),
        label(h.kind),
        fmt(h.cpuMsPerHandover["contenders"] ?? Number.NaN, 1),
        fmt(h.cpuMsPerHandover["kube-apiserver"] ?? Number.NaN, 1),
        fmt(h.cpuMsPerHandover["etcd"] ?? Number.NaN, 1),
        pct(h.machineBusy)
      ])
    ),
    "",
    "Watches are not counted as requests (one long-lived watch per waiting leasekit contender, re-opened every 25 s).",
    "The get and list per leasekit handover are the former holder joining again as a waiter (a read, then its watch's",
    "initial list); client-go's gets are its waiters' polls.",
    "",
    "![Handover latency distribution](handover.svg)"
  ].join("\n")
}

const failoverSection = (r: Results) => {
  if (r.failover.length === 0) return ""
  const durations = [...new Set(r.failover.map((f) => f.durationSeconds))].sort((a, b) => a - b)
  const cell = (f: FailoverResult | undefined) => {
    if (f === undefined) return "–"
    const t = s(f.failoverMs.map((x) => x / 1000))
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

const contentionSection = (r: Results) => {
  if (r.contention.length === 0) return ""
  const rows = r.contention.map((c) => [
    String(c.contenders),
    label(c.kind),
    `${fmt(c.perSecond, 1)} (${c.criticalSections} in ${fmt(c.seconds, 0)} s)`,
    fmt(c.handoversPerSecond, 1),
    `${pct(c.maxShare)} (${c.winners}/${c.contenders} won)`,
    medianP99(s(c.gapMs), 1),
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
    "Each contender loops acquire → critical section (an O_EXCL marker file and a fencing-token check against a shared",
    "file) → release → acquire. All critical sections of all processes, ordered by start, must not overlap and must carry",
    "strictly increasing tokens — except that one process may carry the same token in consecutive sections when it",
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

const scaleSection = (r: Results) => {
  if (r.scale.length === 0) return ""
  const rows = r.scale.map((x) =>
    x.ok
      ? [
        fmt(x.leases, 0),
        `${label(x.kind)}${x.nodeFlags.length > 0 ? ` (node ${x.nodeFlags.join(" ")})` : ""}`,
        `${fmt(x.acquireSeconds, 1)} s`,
        `${fmt(x.idleRssMB, 0)} → ${fmt(x.heldRssMB, 0)} MB (+${fmt(x.heldRssMB - x.idleRssMB, 1)})`,
        x.kind === "leasekit"
          ? `+${fmt(x.heldHeapMB - x.idleHeapMB, 1)} MB (${fmt(((x.heldHeapMB - x.idleHeapMB) * 1024) / x.leases, 1)} KiB per lease); young generation ${
            fmt(x.youngGenerationMB, 0)
          } MB`
          : "–",
        pct(x.cpuShare),
        `${fmt(x.requestsPerSecond, 1)} (ideal ${fmt(x.kind === "leasekit" ? x.leases / (20 / 3) : x.leases, 1)})`,
        `${pct(x.apiserverShare)} / ${pct(x.etcdShare)} (${pct(x.machineBusy)})`,
        medianP99(x.latenessMs, 1),
        x.eventLoopDelayP99Ms === undefined
          ? "–"
          : `${fmt(x.eventLoopDelayP99Ms, 1)} / ${fmt(x.eventLoopDelayMaxMs ?? Number.NaN, 0)}; GC max ${fmt(x.gcPauseMaxMs ?? Number.NaN, 1)}`
      ]
      : [fmt(x.leases, 0), label(x.kind), `**failed**: ${x.failure ?? ""}`, "", "", "", "", "", "", ""]
  )
  return [
    "## 5. Scale: many leases held by one process",
    "",
    table([
      "leases",
      "",
      "acquiring all",
      "RSS idle → holding (after full GC)",
      "JS heap + external retained, after full GC",
      "CPU, share of one core",
      "requests / s at the server",
      "kube-apiserver / etcd CPU (machine busy)",
      "renewal lateness ms, median / p99 (n)",
      "event-loop delay ms p99 / max; longest GC pause ms"
    ], rows),
    "",
    r.mode === "quick"
      ? "Quick run: the window opens right after the last acquisition (no settling) and lasts two renewal periods."
      : "Measured over a 60 s window opened after every lease had renewed at least once.",
    "Lateness is the renewal's send time minus its schedule (previous successful write + renewal interval: 6.7 s for",
    "leasekit, 2 s for client-go). client-go holds N leases with N leader electors sharing one client (its 5 QPS limit",
    "lifted to N). The kube-apiserver / etcd column is their CPU time per wall time (100 % = one core).",
    ...tenThousand(r),
    "",
    "![Renewal lateness against the number of leases](lateness.svg)"
  ].join("\n")
}

const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** What happened at 10,000 leases (full run only), and why it cannot work on this machine. */
const tenThousand = (r: Results): Array<string> => {
  const x = r.scale.find((y) => y.kind === "leasekit" && y.leases === 10_000 && y.nodeFlags.length === 0)
  if (x === undefined) {
    return r.mode === "quick" ? ["", "10,000 leases are measured only in the full run."] : []
  }
  const one = r.scale.find((y) => y.kind === "leasekit" && y.leases === 1000 && y.nodeFlags.length === 0)
  const ideal = x.leases / (20 / 3)
  // What 1,500 renewals per second cost at the per-request prices measured at 1,000 leases.
  const need = one === undefined || !one.ok
    ? undefined
    : {
      client: (one.cpuShare / one.requestsPerSecond) * ideal,
      apiserver: (one.apiserverShare / one.requestsPerSecond) * ideal,
      etcd: (one.etcdShare / one.requestsPerSecond) * ideal
    }
  const budget = need === undefined
    ? ""
    : ` At the per-renewal CPU prices measured with 1,000 leases, ${fmt(ideal, 0)} renewals per second need ${fmt(need.client, 2)} cores in the contender, ${
      fmt(need.apiserver, 2)
    } in the API server and ${fmt(need.etcd, 2)} in etcd — ${fmt(need.client + need.apiserver + need.etcd, 1)} cores, on a machine that has ${r.machine.cores}.`
  if (!x.ok) {
    return [
      "",
      `**10,000 leases cannot work on this machine.** ${capitalized(x.failure ?? "it failed")}.${budget}`,
      "Before issue 14 this failure had one known cause (diagnosed with `gdb`): client-node spoke HTTP/2 over undici, and",
      "thousands of timed-out requests aborted at once as RST_STREAMs blocked the event loop in native code while memory",
      "grew until the kernel killed the process. The store now sends HTTP/1.1 over leasekit's own keep-alive pool with a",
      "bounded number of requests in flight (`packages/kubernetes/src/internal/apiRequest.ts`), and the full run at",
      "3dd94d9 held 10,000 leases without failing; a failure here is a new one: read the contender's log in the run's folder."
    ]
  }
  const kept = x.requestsPerSecond / ideal
  const verdict = kept >= 0.97 && x.latenessMs.p99 < 1000
    ? `it works here: ${fmt(kept * 100, 0)} % of the ideal ${fmt(ideal, 0)} renewals per second went out, lateness p99 ${fmt(x.latenessMs.p99, 0)} ms.`
    : `**it does not keep up on this machine**: ${fmt(x.requestsPerSecond, 0)} of the ${fmt(ideal, 0)} renewals per second went out (${fmt(kept * 100, 0)} %), lateness p99 ${
      fmt(x.latenessMs.p99, 0)
    } ms.`
  return ["", `At 10,000 leases ${verdict}${budget}`]
}

const runtimeSection = (r: Results) => {
  const rc = r.runtimeCost
  if (rc === undefined && r.requests.length === 0) return ""
  const rows: Array<Array<string>> = []
  const names = {
    memory: "leasekit `HeldLease.renew`, in-memory store (algorithm + Effect runtime, no I/O)",
    kubernetes: "leasekit `HeldLease.renew`, Kubernetes store (one PUT to the real API server)",
    raw: "`KubeClient.http` PUT (transport only): the same PUT through the store's HTTP client, without the algorithm or the store's policy",
    https: "the same PUT with node:https + JSON.stringify on one keep-alive connection (the floor over HTTP/1.1)",
    http2: "the same PUT with node:http2 + JSON.stringify on one HTTP/2 session (the floor over HTTP/2)"
  } as const
  for (const run of rc?.runs ?? []) {
    rows.push([
      names[run.target],
      medianP99(s(run.cpuMicros), 0),
      medianP99(s(run.wallMicros), 0),
      run.bytesPerIteration === undefined ? `– (${run.gcDuringMeasurement} GCs ran)` : `${fmt(run.bytesPerIteration / 1024, 1)} KiB`
    ])
  }
  for (const q of r.requests) {
    rows.push([
      `${label(q.kind)} renewals in the background while holding one lease (figure 1 window, whole process)`,
      `${fmt(q.cpuMicrosPerRenewal, 0)} (mean of ${q.renewalsInWindow})`,
      "–",
      q.bytesPerRenewal === undefined ? "–" : `${fmt(q.bytesPerRenewal / 1024, 1)} KiB (Go TotalAlloc)`
    ])
  }
  const kube = rc?.runs.find((x) => x.target === "kubernetes")
  const https = rc?.runs.find((x) => x.target === "https")
  const overhead = kube && https ? s(kube.cpuMicros).median - s(https.cpuMicros).median : Number.NaN
  return [
    "## 6. Cost of the Effect runtime: one renewal, client side",
    "",
    table(["what", "CPU µs, median / p99 (n)", "wall µs, median / p99 (n)", "allocated per renewal"], rows),
    "",
    Number.isFinite(overhead)
      ? `leasekit + Effect on top of the bare HTTPS PUT: about ${fmt(overhead, 0)} µs of CPU per renewal (median difference).`
      : "",
    "CPU time is the process's user + system time around each call (all threads: GC helpers and libuv included).",
    "The background rows divide a holding process's whole CPU time by its renewals: a process holding one lease renews",
    "nine times a minute, so its renewal code never gets hot in V8 (it stays in the interpreter and baseline tiers) and",
    "each renewal costs far more than in the loops above, which run thousands of renewals back to back; Go has no",
    "warm-up.",
    "Allocations: the heap's growth over 200 calls with no GC in between (young generation enlarged to 128 MB)."
  ].join("\n")
}

const footprintSection = (r: Results) => {
  const f = r.footprint
  if (f === undefined) return ""
  const v = medians(f)
  const startupRow = (label: string, x: ReturnType<typeof medians>["floor"]) => {
    const wall = s(x.result?.wallMs ?? [])
    const failures = x.result?.failures ?? []
    return [
      label,
      wall.n === 0 ? "–" : `${fmt(wall.median, 0)} (${fmt(wall.min, 0)}–${fmt(wall.max, 0)}, n=${wall.n})`,
      wall.n === 0 ? "–" : `${fmt(wall.median / v.floor.wallMs, 1)} ×`,
      wall.n === 0 ? "–" : fmt(x.peakMiB, 1),
      "–",
      wall.n === 0 || x === v.floor || x === v.spawn ? "–" : signed(x.peakMiB - v.floor.peakMiB),
      failures.length === 0 ? "" : `**${failures.length} runs failed**: ${failures[0]}`
    ]
  }
  const holdingRow = (label: string, x: ReturnType<typeof medians>["run"], extra = "") => {
    const h = x.result
    if (h === undefined) return [label, "–", "–", "–", "–", "–", "not measured"]
    const lease = h.held
      ? `held after ${fmt(h.heldAfterSeconds, 2)} s${h.token === undefined ? "" : ` (token ${h.token})`}; ${h.exit}${h.failure === undefined ? "" : ` — ${h.failure}`}`
      : `**not held**: ${h.failure ?? h.exit}`
    return [
      label,
      "–",
      "–",
      fmt(h.peakRssMiB, 1),
      h.rssMiB.length === 0 ? "–" : `${fmt(x.steadyMiB, 1)} (${fmt(x.anonMiB, 1)}; n=${h.rssMiB.length})`,
      h.rssMiB.length === 0 ? "–" : signed(x.steadyMiB - v.floor.peakMiB),
      lease + extra
    ]
  }
  const limit = f.memoryLimit
  const where = limit.mechanism === "cgroup v2"
    ? `cgroup v2 (\`memory.max\` ${fmt(limit.limitBytes / 2 ** 20, 0)} MiB${limit.swapLimited ? ", `memory.swap.max` 0" : ", swap not limited"})`
    : `cgroup v1 (\`memory.limit_in_bytes\` ${fmt(limit.limitBytes / 2 ** 20, 0)} MiB${limit.swapLimited ? " and `memory.memsw.limit_in_bytes`" : ", swap not limited"})`
  const run = `\`leasekit run NAME -- sh -c '…; sleep ${f.holdSeconds}'\``
  const rows = [
    startupRow("`node -e 0` (the floor)", v.floor),
    startupRow("`leasekit --version`", v.version),
    startupRow("`leasekit --help`", v.help),
    ...v.imports.map((x) => startupRow(`node that only imports \`${x.module}\``, x)),
    startupRow("`true` (spawning and reaping through GNU time alone: part of every wall time above)", v.spawn),
    holdingRow(`${run}${flagged(v.run.result?.nodeFlags)}`, v.run),
    ...(v.runNoFlags.result === undefined
      ? []
      : [holdingRow(`the same with \`LEASEKIT_NODE_FLAGS=\` (none of the flags the CLI gives itself)${flagged(v.runNoFlags.result.nodeFlags)}`, v.runNoFlags)]),
    ...v.libraries.map((x) => holdingRow(libraryLabel(f, x.variant), x)),
    holdingRow("client-go contender (one elector, `--serve`)", v.clientgo),
    limit.mechanism === "none"
      ? ["`leasekit run` in a 128 MiB limit", "–", "–", "–", "–", "–", `no cgroup could be made: ${limit.reason ?? ""} (the plain run's peak RSS stands in)`]
      : holdingRow(
        `${run} in a 128 MiB ${where}`,
        v.limited,
        `; the cgroup's peak usage ${mib((limit.peakUsageBytes ?? Number.NaN) / 2 ** 20, 1)}, hit the limit ${limit.failcnt ?? "?"} times, ${
          limit.oomKills ?? "?"
        } OOM kills`
      )
  ]
  return [
    "## 7. Footprint: the installed CLI and a library process, whole process",
    "",
    table([
      "process",
      "wall ms, median (min–max, n)",
      "× `node -e 0`",
      "peak RSS MiB (VmHWM), median",
      "RSS MiB while holding, median (of it anonymous; samples)",
      "above `node -e 0`'s peak, MiB (peak, or while holding)",
      "lease"
    ], rows),
    "",
    `Installed as a user gets it: ${f.cliVersion}, @leasekit/core and @leasekit/kubernetes packed with pnpm (after \`pnpm build\`) and`,
    `installed with npm into a temporary app outside the workspace — ${mib(f.installedMiB)} of node_modules; the CLI's JavaScript`,
    `(its dist/*.js) is ${fmt(f.cliBundleKiB, 0)} KiB. Everything runs on the bench's Node.`,
    `Start-up: ${f.runs} runs of each command, interleaved, after one warm-up each; wall time from spawn to exit as the`,
    "bench sees it, peak RSS from GNU time (`%M`, the exited process's VmHWM). The import rows are node processes that import",
    "one module of the installed packages and exit: what loading the library costs before it does anything.",
    `Holding: VmRSS of the process that holds the lease (for \`leasekit run\` its node process, not CMD) every 250 ms for`,
    `${f.holdSeconds} s; the median of the samples taken while the lease was held (in brackets its anonymous part, RssAnon: what`,
    "is not backed by a file), and the VmHWM. RSS also counts the pages of the node binary and libc that the process has",
    "mapped. The cgroup run's shell writes its pid to `cgroup.procs`, then execs the CLI; the cgroup's usage counts",
    "leasekit, `sh` and `sleep`, and the page cache charged to it — not the node binary, which the runs before had already",
    "brought into the cache (charged to the bench's cgroup); a pod starting on a cold node is also charged the pages of",
    "the binary it reads, file pages the kernel can reclaim under the limit.",
    "The library rows ran one after the other with the same sampling: `hold.mjs` as the app installed it, with two V8",
    `flags, and bundled${
      f.libraryBundleKiB === undefined ? "" : ` (${fmt(f.libraryBundleKiB, 0)} KiB)`
    } by the workspace's esbuild from the installed packages as an application would ship it (one ESM file for Node,`,
    "`@kubernetes/client-node` left out as in the CLI's bundle), plain and with `--lite-mode`. The goal is judged on the first.",
    ...libraryProfile(f)
  ].join("\n")
}

/** Node's flags as the holding process's command line showed them, for a row's label. */
const flagged = (flags: ReadonlyArray<string> | undefined) =>
  flags === undefined ? "" : flags.length === 0 ? " (node without flags)" : ` (runs as \`node ${flags.join(" ")}\`)`

const libraryLabel = (f: FootprintResult, variant: LibraryVariant) => {
  const flags = variant.flags.length === 0 ? "" : ` ${variant.flags.join(" ")}`
  switch (variant.holder) {
    case "library":
      return "library process as installed: `node hold.mjs` (`Lease.acquire` over `KubernetesLeaseStore`, deep imports; the goal's row)"
    case "library --max-semi-space-size=1":
      return `the same, \`node${flags} hold.mjs\` (V8's young generation kept at 1 MiB semi-spaces)`
    case "library --lite-mode":
      return `the same, \`node${flags} hold.mjs\` (V8's lite mode: no JIT at all and no WebAssembly — so no \`fetch\` in Node)`
    case "library bundled":
      return `the same bundled by esbuild into one file: \`node hold.bundle.mjs\` (${fmt(f.libraryBundleKiB ?? Number.NaN, 0)} KiB)`
    case "library bundled --lite-mode":
      return `the same bundled, \`node${flags} hold.bundle.mjs\``
  }
}

/** "N files, M MiB; effect's: …" of what a script loaded. */
const loaded = (count: ModuleCount | string | undefined) => {
  if (count === undefined) return "not counted"
  if (typeof count === "string") return count
  const effect = count.byPackage["effect"]
  return `${count.files} (${mib(count.bytes / 2 ** 20, 1)})${effect === undefined ? "" : `; effect's ${effect.files} (${mib(effect.bytes / 2 ** 20, 1)})`}`
}

/** The library processes' own reports: `process.memoryUsage()`, V8's heap spaces, files loaded. */
const libraryProfile = (f: FootprintResult): Array<string> => {
  const v = medians(f)
  const profiled = v.libraries.flatMap((x) => (x.result?.profile === undefined ? [] : [{ variant: x.variant, p: x.result.profile }]))
  if (profiled.length === 0) return []
  const m = (bytes: number | undefined) => fmt((bytes ?? Number.NaN) / 2 ** 20, 1)
  const rows = profiled.map(({ p, variant }) => {
    const young = p.spaces["new_space"]
    const old = p.spaces["old_space"]
    return [
      `\`${variant.holder}\``,
      m(p.rss),
      m(p.heapTotal),
      m(p.heapUsed),
      m(p.external),
      `${m(p.loaded.youngCommitted)} (rss ${m(p.loaded.rss)})`,
      `${m(young?.committed)} (${m(young?.resident)}; ${m(young?.used)})`,
      `${m(old?.committed)} (${m(old?.used)})`,
      m(p.spaces["code_space"]?.committed),
      loaded(f.modules?.[variant.script])
    ]
  })
  return [
    "",
    `Profile of each library process, reported by the process itself ${fmt(profiled[0]!.p.afterSeconds, 1)} s after it held the lease (MiB):`,
    "",
    table([
      "library process",
      "rss",
      "heapTotal",
      "heapUsed",
      "external",
      "new_space committed once the imports had loaded (rss then)",
      "new_space (young generation) committed (resident; used)",
      "old_space committed (used)",
      "code_space committed",
      "files loaded (source on disk); of them effect's"
    ], rows),
    "",
    "From `process.memoryUsage()` and `v8.getHeapSpaceStatistics()` (committed: `space_size`, resident:",
    "`physical_space_size`, used: `space_used_size`). Files loaded: ESM and CommonJS files, counted with a",
    "`module.registerHooks` preload in a separate short run of `hold.mjs` and of `hold.bundle.mjs` (not in the measured",
    "processes; the flags do not change what loads), over the process's whole life, with their size on disk."
  ]
}

const profileSection = (r: Results) => {
  const entries = Object.entries(r.profiles)
  if (entries.length === 0) return ""
  const parts = ["## Where the CPU time goes (profiles)", ""]
  for (const [name, p] of entries) {
    const title = name === "renewal-kubernetes"
      ? "`HeldLease.renew` in a loop on the Kubernetes store (figure 6)"
      : name === "renewal-memory"
      ? "`HeldLease.renew` in a loop on the in-memory store (figure 6)"
      : name === "handover-waiter"
      ? "One leasekit contender during the handover series with 16 waiters (figure 2)"
      : `${name.replace("scale-", "")} leases held, steady state (figure 5)`
    parts.push(
      `### ${title}`,
      "",
      `${fmt(p.busyMs, 0)} ms busy in ${fmt(p.wallMs, 0)} ms of wall time (${pct(p.busyMs / p.wallMs)} of one core while profiled).`,
      "",
      table(["package", "self time ms", "share of busy"], p.byPackage.slice(0, 10).map((x) => [x.name, fmt(x.ms, 0), pct(x.ms / p.busyMs)])),
      "",
      table(["function (self time)", "where", "ms"], p.topFunctions.slice(0, 10).map((f) => [`\`${f.name}\``, f.where, fmt(f.ms, 0)])),
      ""
    )
  }
  return parts.join("\n")
}

const goalsSection = (r: Results, gs: ReadonlyArray<Goal>) => {
  const missed = gs.filter((g) => g.met === false)
  return [
    `## Goals (issue 6, those issue 14 moved closer to the floor${r.footprint === undefined ? "" : ", and issue 19's footprint"})`,
    "",
    table(["goal", "leasekit measured", ""], gs.map((g) => [g.goal, g.measured, yes(g.met)])),
    "",
    missed.length === 0
      ? "Every goal measured in this run is met."
      : `Missed in this run: ${missed.map((g) => g.goal).join("; ")}. Causes and fixes below.`,
    "",
    ...Findings.explain(r, gs),
    ...Findings.notes(r, gs),
    ...(r.errors.length > 0 ? ["", "**Figures that failed in this run:**", "", ...r.errors.map((e) => `- ${e.figure}: ${e.message}`)] : [])
  ].join("\n")
}

const handoverPlot = (r: Results) => {
  const colors: Record<Kind, ReadonlyArray<string>> = {
    "leasekit": ["#9ecae1", "#4292c6", "#08519c"],
    "client-go": ["#fdae6b", "#f16913", "#a63603"]
  }
  const series: Array<Plot.Series> = []
  for (const kind of ["leasekit", "client-go"] as const) {
    r.handover.filter((h) => h.kind === kind).sort((a, b) => a.waiters - b.waiters).forEach((h, i) => {
      series.push({
        label: `${label(kind)}, ${h.waiters} waiter${h.waiters > 1 ? "s" : ""} (n=${h.latencyMs.length})`,
        color: colors[kind][i % 3]!,
        points: Plot.ecdf(h.latencyMs.map((x) => Math.max(x, 0.1))),
        steps: true
      })
    })
  }
  const all = r.handover.flatMap((h) => h.latencyMs)
  return Plot.render({
    title: "Handover after a graceful release: cumulative distribution",
    xLabel: "release → new holder (ms, log scale)",
    yLabel: "fraction of handovers",
    xLog: true,
    xDomain: [Math.max(0.1, 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all))))), 10 ** Math.ceil(Math.log10(Math.max(10, ...all)))],
    yDomain: [0, 1],
    series,
    vLines: [{ x: 50, label: "p50 goal 50 ms" }, { x: 250, label: "p99 goal 250 ms" }],
    width: 900
  })
}

const latenessPlot = (r: Results) => {
  const series: Array<Plot.Series> = []
  for (const kind of ["leasekit", "client-go"] as const) {
    const points = r.scale.filter((x) => x.kind === kind && x.ok && x.nodeFlags.length === 0).sort((a, b) => a.leases - b.leases)
    if (points.length === 0) continue
    const color = kind === "leasekit" ? "#08519c" : "#a63603"
    series.push(
      { label: `${label(kind)} p99`, color, points: points.map((x) => [x.leases, Math.max(0.01, x.latenessMs.p99)] as const), markers: true },
      {
        label: `${label(kind)} median`,
        color,
        dashed: true,
        points: points.map((x) => [x.leases, Math.max(0.01, x.latenessMs.median)] as const),
        markers: true
      }
    )
  }
  const ys = series.flatMap((x) => x.points.map((p) => p[1]))
  const xs = series.flatMap((x) => x.points.map((p) => p[0]))
  return Plot.render({
    title: "Renewal lateness against the number of leases in one process",
    xLabel: "leases held at once (log scale)",
    yLabel: "lateness (ms, log scale)",
    xLog: true,
    yLog: true,
    xDomain: [
      10 ** Math.floor(Math.log10(Math.min(100, ...xs) / 1.5)),
      10 ** Math.ceil(Math.log10(Math.max(1000, ...xs, ...r.scale.map((x) => x.leases)) * 1.5))
    ],
    yDomain: [10 ** Math.floor(Math.log10(Math.min(0.1, ...ys))), 10 ** Math.ceil(Math.log10(Math.max(1000, ...ys)))],
    series,
    hLines: [{ y: 100, label: "p99 goal at 1,000 leases: 100 ms" }],
    vLines: r.scale.filter((x) => !x.ok && x.nodeFlags.length === 0).map((x) => ({
      x: x.leases,
      label: `${fmt(x.leases, 0)} ${label(x.kind)}: failed`
    }))
  })
}

export const write = (outDir: string, r: Results): void => {
  Fs.mkdirSync(outDir, { recursive: true })
  const gs = goals(r)
  const header = [
    "# leasekit benchmarks, side by side with client-go",
    "",
    `Generated by \`pnpm bench${r.mode === "quick" ? " --quick" : ""}\` (bench/src/main.ts) on ${r.startedAt.slice(0, 16).replace("T", " ")} UTC in ${
      fmt(r.durationSeconds / 60, 1)
    } minutes. Regenerate with \`pnpm bench\` (full, about 30 minutes) or \`pnpm bench --quick\` (under 3 minutes).`,
    r.mode === "quick"
      ? "\n**This is a quick run**: few samples per figure, indicative only. The committed RESULTS.md comes from a full run.\n"
      : "",
    "Every figure: median / p99 (n = number of samples), leasekit beside the client-go 1.20 baseline."
  ].join("\n")
  const body = [
    header,
    machineSection(r),
    goalsSection(r, gs),
    requestsSection(r),
    handoverSection(r),
    failoverSection(r),
    contentionSection(r),
    scaleSection(r),
    runtimeSection(r),
    footprintSection(r),
    handoffSection(r),
    semaphoreSection(r),
    profileSection(r),
    methodSection()
  ].filter((x) => x !== "").join("\n\n") + "\n"
  Fs.writeFileSync(Path.join(outDir, "RESULTS.md"), body)
  if (r.handover.length > 0) Fs.writeFileSync(Path.join(outDir, "handover.svg"), handoverPlot(r))
  if (r.scale.some((x) => x.ok)) Fs.writeFileSync(Path.join(outDir, "lateness.svg"), latenessPlot(r))
  if (r.semaphore !== undefined && r.semaphore.runs.length > 0) Fs.writeFileSync(Path.join(outDir, "semaphore.svg"), semaphorePlot(r.semaphore))
}

export type { Summary }
