/**
 * Reading a V8 `.cpuprofile` (from `node --cpu-prof` or the inspector's Profiler): self time per
 * function and per package, so that RESULTS.md can say where the CPU time of a figure goes — the
 * summary kept in results.json, the shares the figures' explanations quote, and RESULTS.md's
 * section of profiles (each titled by the figure that took it). It does not take profiles.
 */
import * as Fs from "node:fs"
import { pct, table } from "./Markdown.ts"
import { fmt } from "./Statistics.ts"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
  readonly startTime: number
  readonly endTime: number
}

export interface ProfileSummary {
  /** Wall time covered, ms. */
  readonly wallMs: number
  /** Time not idle, ms (includes GC and V8's own work). */
  readonly busyMs: number
  readonly byPackage: ReadonlyArray<{ readonly name: string; readonly ms: number }>
  readonly topFunctions: ReadonlyArray<{ readonly name: string; readonly where: string; readonly ms: number }>
}

/** Which package a script belongs to, from its URL. */
export const packageOf = (url: string, functionName: string): string => {
  if (url === "") {
    if (functionName === "(garbage collector)") return "V8 garbage collector"
    if (functionName === "(program)") return "V8 / native (program)"
    if (functionName === "(idle)") return "(idle)"
    return `native ${functionName || "(anonymous)"}`
  }
  if (url.includes("/packages/core/")) return "@leasekit/core"
  if (url.includes("/packages/kubernetes/")) return "@leasekit/kubernetes"
  if (url.includes("/bench/src/")) return "bench harness"
  const modules = url.lastIndexOf("/node_modules/")
  if (modules >= 0) {
    const rest = url.slice(modules + "/node_modules/".length).split("/")
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  if (url.startsWith("node:internal/deps/undici")) return "undici (Node's fetch)"
  if (/node:(internal\/)?(tls|_tls|crypto)/.test(url)) return "node: TLS / crypto"
  if (/node:(internal\/)?(net|stream|streams)/.test(url)) return "node: net / streams"
  if (url.startsWith("node:")) return "node: other internals"
  return url
}

export const summarizeProfile = (file: string, top = 15): ProfileSummary => {
  const profile = JSON.parse(Fs.readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the time to the following sample.
    const dt = profile.timeDeltas[i + 1] ?? 0
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt)
  }
  const packages = new Map<string, number>()
  const functions = new Map<string, { name: string; where: string; ms: number }>()
  let busy = 0
  for (const [id, micros] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, lineNumber, url } = node.callFrame
    const pkg = packageOf(url, functionName)
    if (pkg === "(idle)") continue
    busy += micros
    packages.set(pkg, (packages.get(pkg) ?? 0) + micros)
    const short = url.replace(/^.*\/node_modules\//, "").replace(/^.*\/(packages|bench)\//, "$1/")
    const key = `${functionName}@${short}:${lineNumber}`
    const entry = functions.get(key) ?? { name: functionName || "(anonymous)", where: `${pkg} ${short}:${lineNumber + 1}`, ms: 0 }
    entry.ms += micros / 1000
    functions.set(key, entry)
  }
  return {
    wallMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busy / 1000,
    byPackage: [...packages].map(([name, us]) => ({ name, ms: us / 1000 })).sort((a, b) => b.ms - a.ms),
    topFunctions: [...functions.values()].sort((a, b) => b.ms - a.ms).slice(0, top)
  }
}

/** Share of a profile's busy time spent in packages matching `match`, as "N %". */
export const share = (p: ProfileSummary | undefined, match: (name: string) => boolean) =>
  p === undefined ? "–" : `${fmt((100 * p.byPackage.filter((x) => match(x.name)).reduce((a, x) => a + x.ms, 0)) / p.busyMs, 0)} %`
export const isHttp = (name: string) =>
  name === "undici" || name.startsWith("node:") || name === "@kubernetes/client-node" || name === "undici (Node's fetch)"
export const isEffect = (name: string) => name === "effect"
export const isLeasekit = (name: string) => name.startsWith("@leasekit/")
/** The most expensive Effect functions of a profile, "runLoop 215 ms, …". */
export const topEffect = (p: ProfileSummary | undefined) =>
  p === undefined
    ? "no profile in this run"
    : p.topFunctions.filter((f) => f.where.startsWith("effect ")).slice(0, 5).map((f) => `\`${f.name}\` ${fmt(f.ms, 0)} ms`).join(", ") +
      ` of ${fmt(p.busyMs, 0)} ms busy`

/** RESULTS.md's section of profiles: per profile, self time by package and the top functions. */
export const section = (profiles: Record<string, ProfileSummary>, title: (name: string) => string) => {
  const entries = Object.entries(profiles)
  if (entries.length === 0) return ""
  const parts = ["## Where the CPU time goes (profiles)", ""]
  for (const [name, p] of entries) {
    parts.push(
      `### ${title(name)}`,
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
