/**
 * What the numbers were measured on: the machine (cores, memory, CPU model, load), the versions
 * of everything involved (Node, effect, kube-apiserver, etcd, client-go, Go), the commit measured
 * (and whether the measured packages had uncommitted changes), and how quiet the machine was
 * (waiting, if asked, for the 1-minute load average to drop below 1). It does not keep the machine
 * quiet: other work may start after the wait, which is why every figure records the load.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { sleep } from "./Bench.ts"

export interface Machine {
  readonly cores: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly kernel: string
  readonly loadAverage: ReadonlyArray<number>
}

export const machine = (): Machine => ({
  cores: Os.cpus().length,
  cpuModel: Os.cpus()[0]?.model.trim() ?? "unknown",
  memoryGiB: Os.totalmem() / 1024 ** 3,
  kernel: `${Os.type()} ${Os.release()}`,
  loadAverage: Os.loadavg()
})

const firstLine = (command: string, args: ReadonlyArray<string>): string => {
  try {
    const out = ChildProcess.execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })
    return out.split("\n")[0]!.trim()
  } catch (error) {
    return `unknown (${String(error).split("\n")[0]})`
  }
}

const packageVersion = (benchDir: string, name: string): string => {
  try {
    const file = Path.join(benchDir, "node_modules", ...name.split("/"), "package.json")
    return (JSON.parse(Fs.readFileSync(Fs.realpathSync(file), "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
}

export interface Versions {
  readonly node: string
  readonly effect: string
  readonly kubeApiserver: string
  readonly etcd: string
  readonly clientGo: string
  readonly go: string
}

export const versions = (options: {
  readonly benchDir: string
  readonly kubeApiserver: string
  readonly etcd: string
  readonly clientgoBinary: string
}): Versions => {
  // The baseline is built from the Debian kubernetes tree; its client-go is that tree's staging copy.
  // (build.sh names the binary clientgo-contender-<kubernetes version>-<hash>).
  const tree = /clientgo-contender-(v[0-9.]+)-/.exec(Path.basename(options.clientgoBinary))
  return {
    node: process.version,
    effect: packageVersion(options.benchDir, "effect"),
    kubeApiserver: firstLine(options.kubeApiserver, ["--version"]),
    etcd: firstLine(options.etcd, ["--version"]),
    clientGo: tree ? `k8s.io/client-go from Kubernetes ${tree[1]} (Debian source, vendored staging copy)` : "unknown",
    go: firstLine("go", ["version"])
  }
}

export interface Provenance {
  readonly commit: string
  readonly dirty: boolean
}

/** The commit measured, and whether the packages measured (core, kubernetes, bench) differ from it. */
export const provenance = (benchDir: string): Provenance => {
  const git = (args: ReadonlyArray<string>) => {
    try {
      return ChildProcess.execFileSync("git", [...args], { cwd: benchDir, encoding: "utf8" }).trim()
    } catch {
      return "unknown"
    }
  }
  const paths = ["../packages/core", "../packages/kubernetes", "."]
  return {
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: git(["status", "--porcelain", "--", ...paths]) !== ""
  }
}

export interface Quiet {
  readonly waitedSeconds: number
  readonly loadAtStart: ReadonlyArray<number>
  readonly reached: boolean
  readonly threshold: number
  readonly asked: boolean
}

/**
 * Waits, polling once a minute for at most `minutes`, until the 1-minute load average is below 1
 * (not at all when `minutes` is 0), and says how quiet the machine was when it stopped waiting.
 */
export const waitQuiet = async (minutes: number, log: (message: string) => void): Promise<Quiet> => {
  const threshold = 1.0
  const first = Os.loadavg()
  const start = Date.now()
  if (minutes <= 0) return { waitedSeconds: 0, loadAtStart: first, reached: first[0]! < threshold, threshold, asked: false }
  let load = first
  while (load[0]! >= threshold && Date.now() - start < minutes * 60_000) {
    log(`load average ${load.map((l) => l.toFixed(2)).join(" ")} ≥ ${threshold}: waiting for a quiet machine (up to ${minutes} min)`)
    await sleep(60_000)
    load = Os.loadavg()
  }
  return { waitedSeconds: (Date.now() - start) / 1000, loadAtStart: load, reached: load[0]! < threshold, threshold, asked: true }
}
