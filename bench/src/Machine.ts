/**
 * What the numbers were measured on: the machine (cores, memory, CPU model, load), the versions
 * of everything involved (Node, effect, kube-apiserver, etcd, client-go, Go), the commit measured
 * (and whether the measured packages had uncommitted changes), and how quiet the machine was
 * (waiting, if asked, for the 1-minute load average to drop below 1). It does not keep the machine
 * quiet: other work may start after the wait, which is why every figure records the load.
 */
import { Process } from "@leasekit/testing"
import { Effect } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
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

/** The first line a command prints, or "unknown (why)". */
const firstLine = (command: string, args: ReadonlyArray<string>): Effect.Effect<string, never, ChildProcessSpawner> =>
  Process.run(command, args, { timeout: "10 seconds" }).pipe(
    Effect.map((out) => out.split("\n")[0]!.trim()),
    Effect.catch((error) => Effect.succeed(`unknown (${String(error).split("\n")[0]})`))
  )

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
}): Effect.Effect<Versions, never, ChildProcessSpawner> =>
  Effect.gen(function*() {
    // The baseline is built from the Debian kubernetes tree; its client-go is that tree's staging copy.
    // (build.sh names the binary clientgo-contender-<kubernetes version>-<hash>).
    const tree = /clientgo-contender-(v[0-9.]+)-/.exec(Path.basename(options.clientgoBinary))
    return {
      node: process.version,
      effect: packageVersion(options.benchDir, "effect"),
      kubeApiserver: yield* firstLine(options.kubeApiserver, ["--version"]),
      etcd: yield* firstLine(options.etcd, ["--version"]),
      clientGo: tree ? `k8s.io/client-go from Kubernetes ${tree[1]} (Debian source, vendored staging copy)` : "unknown",
      go: yield* firstLine("go", ["version"])
    }
  })

export interface Provenance {
  readonly commit: string
  readonly dirty: boolean
}

/** The commit measured, and whether the packages measured (core, kubernetes, bench) differ from it. */
export const provenance = (benchDir: string): Effect.Effect<Provenance, never, ChildProcessSpawner> => {
  const git = (args: ReadonlyArray<string>) =>
    Process.run("git", args, { cwd: benchDir }).pipe(Effect.map((out) => out.trim()), Effect.orElseSucceed(() => "unknown"))
  const paths = ["../packages/core", "../packages/kubernetes", "."]
  return Effect.all({
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: Effect.map(git(["status", "--porcelain", "--", ...paths]), (out) => out !== "")
  })
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
