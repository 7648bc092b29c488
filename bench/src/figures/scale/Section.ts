/**
 * Figure 5 in RESULTS.md: the table of every scale run (leasekit and client-go, the tuning
 * variants), what happened at 10,000 leases with the CPU budget it would need on this machine,
 * and the plot of renewal lateness against the number of leases (`lateness.svg`). Every sentence
 * is generated from the run's numbers; the goals and their explanations are in `../Scale.ts` and
 * `./Findings.ts`.
 */
import { capitalized, kindLabel, pct, table } from "../../Markdown.ts"
import * as Plot from "../../Plot.ts"
import type { Results } from "../../Results.ts"
import { fmt, medianP99 } from "../../Statistics.ts"

/** Section 5 of RESULTS.md: the table, and what happened at 10,000 leases. */
export const section = (r: Results) => {
  if (r.scale.length === 0) return ""
  const rows = r.scale.map((x) =>
    x.ok
      ? [
        fmt(x.leases, 0),
        `${kindLabel(x.kind)}${x.nodeFlags.length > 0 ? ` (node ${x.nodeFlags.join(" ")})` : ""}`,
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
      : [fmt(x.leases, 0), kindLabel(x.kind), `**failed**: ${x.failure ?? ""}`, "", "", "", "", "", "", ""]
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

/** `lateness.svg`: renewal lateness against the number of leases (absent without a run that held them). */
export const plots = (r: Results): Array<{ readonly file: string; readonly svg: string }> => {
  if (!r.scale.some((x) => x.ok)) return []
  const series: Array<Plot.Series> = []
  for (const kind of ["leasekit", "client-go"] as const) {
    const points = r.scale.filter((x) => x.kind === kind && x.ok && x.nodeFlags.length === 0).sort((a, b) => a.leases - b.leases)
    if (points.length === 0) continue
    const color = kind === "leasekit" ? "#08519c" : "#a63603"
    series.push(
      { label: `${kindLabel(kind)} p99`, color, points: points.map((x) => [x.leases, Math.max(0.01, x.latenessMs.p99)] as const), markers: true },
      {
        label: `${kindLabel(kind)} median`,
        color,
        dashed: true,
        points: points.map((x) => [x.leases, Math.max(0.01, x.latenessMs.median)] as const),
        markers: true
      }
    )
  }
  const ys = series.flatMap((x) => x.points.map((p) => p[1]))
  const xs = series.flatMap((x) => x.points.map((p) => p[0]))
  return [{ file: "lateness.svg", svg: Plot.render({
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
      label: `${fmt(x.leases, 0)} ${kindLabel(x.kind)}: failed`
    }))
  }) }]
}
