/**
 * RESULTS.md and its plots from one run's results: the document's order and headings, the machine
 * and versions it ran on, the table of every goal (each figure judges its own) with the
 * explanation of every goal missed, each figure's section (each figure renders its own), the
 * profiles, and how everything is measured. Nothing here measures or judges a figure: to add a
 * figure, add its module under `figures/` and list its goals, section and plots below.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Contention from "./figures/Contention.ts"
import * as Failover from "./figures/Failover.ts"
import * as Footprint from "./figures/Footprint.ts"
import * as Handoff from "./figures/Handoff.ts"
import * as Handover from "./figures/Handover.ts"
import * as RequestsPerOperation from "./figures/RequestsPerOperation.ts"
import * as RuntimeCost from "./figures/RuntimeCost.ts"
import * as Scale from "./figures/Scale.ts"
import * as Semaphore from "./figures/Semaphore.ts"
import type { Goal } from "./Goal.ts"
import { explainMissed, verdict } from "./Goal.ts"
import { table } from "./Markdown.ts"
import * as Profile from "./Profile.ts"
import type { Provenance } from "./Machine.ts"
import type { Results } from "./Results.ts"
import { fmt } from "./Statistics.ts"

/** Every goal, in the order of the goals table: issue 6's by figure, issue 14's, then issues 19, 16 and 17. */
export const goals = (r: Results): Array<Goal> => [
  ...RequestsPerOperation.goals(r),
  ...Handover.goals(r),
  ...Failover.goals(r),
  ...Contention.goals(r),
  ...Scale.goals(r),
  ...RuntimeCost.goals(r),
  ...Scale.goals14(r),
  ...Handover.goals14(r),
  ...Footprint.goals(r),
  ...Handoff.goals(r),
  ...Semaphore.goals(r)
]

/** Every figure's section, in the document's order. */
const sections = [
  RequestsPerOperation.section,
  Handover.section,
  Failover.section,
  Contention.section,
  Scale.section,
  RuntimeCost.section,
  Footprint.section,
  Handoff.section,
  Semaphore.section
]

/** Every figure's plots (file name and SVG), written beside RESULTS.md. */
const plots = (r: Results) => [...Handover.plots(r), ...Scale.plots(r), ...Semaphore.plots(r)]

/** A profile's title: the figure that took it names it. */
const profileTitle = (name: string) => RuntimeCost.profileTitle(name) ?? Handover.profileTitle(name) ?? Scale.profileTitle(name)

const commitOf = (p: Provenance | undefined) =>
  p === undefined ? "unknown" : `${p.commit}${p.dirty ? " with uncommitted changes to core, kubernetes or bench" : ""}`

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
    "  (`@leasekit/testing`'s contender harness: `Lease.acquire` / `HeldLease.release` over `KubernetesLeaseStore`), and the baseline",
    "  (`clientgo/main.go`: `leaderelection.RunOrDie` with a `resourcelock.LeaseLock`, `ReleaseOnCancel: true`), both driven",
    "  by the same orchestrator through the same line protocol (`@leasekit/testing/ContenderProtocol`).",
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

const goalsSection = (r: Results, gs: ReadonlyArray<Goal>) => {
  const missed = gs.filter((g) => g.met === false)
  return [
    `## Goals (issue 6, those issue 14 moved closer to the floor${r.footprint === undefined ? "" : ", and issue 19's footprint"})`,
    "",
    table(["goal", "leasekit measured", ""], gs.map((g) => [g.goal, g.measured, verdict(g.met)])),
    "",
    missed.length === 0
      ? "Every goal measured in this run is met."
      : `Missed in this run: ${missed.map((g) => g.goal).join("; ")}. Causes and fixes below.`,
    "",
    ...explainMissed(r, gs),
    ...Handover.notes(r, gs),
    ...(r.errors.length > 0 ? ["", "**Figures that failed in this run:**", "", ...r.errors.map((e) => `- ${e.figure}: ${e.message}`)] : [])
  ].join("\n")
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
    ...sections.map((section) => section(r)),
    Profile.section(r.profiles, profileTitle),
    methodSection()
  ].filter((x) => x !== "").join("\n\n") + "\n"
  Fs.writeFileSync(Path.join(outDir, "RESULTS.md"), body)
  for (const plot of plots(r)) Fs.writeFileSync(Path.join(outDir, plot.file), plot.svg)
}

