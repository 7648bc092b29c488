/**
 * Reading a V8 `.cpuprofile` (from `node --cpu-prof` or the inspector's Profiler): self time per
 * function and per package, so that RESULTS.md can say where the CPU time of a figure goes.
 */
import * as Fs from "node:fs"

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
