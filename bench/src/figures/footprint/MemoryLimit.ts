/**
 * `leasekit run` inside a memory cgroup limited to 128 MiB, entered by a shell that then `exec`s
 * the CLI: cgroup v2 `memory.max` (and `memory.swap.max` 0) where a v2 hierarchy offers the memory
 * controller to new groups, else v1 `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`, so
 * that swap does not hide the limit). Recorded: whether the lease was held, how the CLI exited, the
 * cgroup's peak usage, how often usage hit the limit, OOM kills. The cgroup is removed afterwards
 * (also, best effort, if the bench exits meanwhile). Where none can be made (no root, no memory
 * controller), the reason is recorded and the plain run stands in; this never fails the figure.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../../Bench.ts"
import { sleep } from "../../Bench.ts"
import { followHolder, leaseName, runArgs } from "./Holding.ts"
import type { Installed } from "./Install.ts"
import type { HoldingResult, MemoryLimitResult } from "./Model.ts"
import { memoryLimitBytes } from "./Model.ts"
import { logFile, read, start } from "./Processes.ts"

interface Cgroup {
  readonly mechanism: "cgroup v2" | "cgroup v1"
  readonly dir: string
  readonly swapLimited: boolean
}


const readNumber = (dir: string, file: string) => {
  const text = read(dir, file)
  return text === undefined ? undefined : Number(text.trim())
}
/** `key N` from a flat-keyed file (memory.events, memory.oom_control). */
const readKey = (dir: string, file: string, key: string) => {
  const match = new RegExp(`^${key} (\\d+)$`, "m").exec(read(dir, file) ?? "")
  return match === null ? undefined : Number(match[1])
}
const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Mounted cgroup hierarchies: v2, and v1 with their controllers. */
const cgroupMounts = () =>
  (read("/proc/self", "mounts") ?? "").split("\n").map((line) => line.split(" ")).filter((f) => f[2] === "cgroup2" || f[2] === "cgroup").map((
    f
  ) => ({ dir: f[1]!, version: f[2] === "cgroup2" ? 2 : 1, options: (f[3] ?? "").split(",") }))

/**
 * A new cgroup limited to `limitBytes` — v2 if a v2 hierarchy offers the memory controller to new
 * groups, else v1 — or why none could be made.
 */
const makeCgroup = (limitBytes: number): Cgroup | string => {
  const name = `leasekit-bench-${process.pid}-${Date.now().toString(36)}`
  const reasons: Array<string> = []
  const attempt = (mechanism: Cgroup["mechanism"], parent: string, limit: (dir: string) => boolean): Cgroup | undefined => {
    const dir = Path.join(parent, name)
    try {
      Fs.mkdirSync(dir)
    } catch (error) {
      reasons.push(`${mechanism}: cannot create ${dir} (${message(error)})`)
      return undefined
    }
    try {
      return { mechanism, dir, swapLimited: limit(dir) }
    } catch (error) {
      reasons.push(`${mechanism}: cannot set the limit in ${dir} (${message(error)})`)
      removeEmpty(dir)
      return undefined
    }
  }
  const mounts = cgroupMounts()
  for (const mount of mounts.filter((m) => m.version === 2)) {
    if (!(read(mount.dir, "cgroup.subtree_control") ?? "").split(/\s+/).includes("memory")) {
      reasons.push(`cgroup v2 at ${mount.dir} does not offer the memory controller to new groups`)
      continue
    }
    const made = attempt("cgroup v2", mount.dir, (dir) => {
      Fs.writeFileSync(Path.join(dir, "memory.max"), String(limitBytes))
      if (read(dir, "memory.swap.max") === undefined) return false
      Fs.writeFileSync(Path.join(dir, "memory.swap.max"), "0")
      return true
    })
    if (made !== undefined) return made
  }
  const v1 = mounts.find((m) => m.version === 1 && m.options.includes("memory"))
  if (v1 === undefined) reasons.push("no cgroup v1 memory hierarchy is mounted")
  else {
    const made = attempt("cgroup v1", v1.dir, (dir) => {
      Fs.writeFileSync(Path.join(dir, "memory.limit_in_bytes"), String(limitBytes))
      if (read(dir, "memory.memsw.limit_in_bytes") === undefined) return false
      Fs.writeFileSync(Path.join(dir, "memory.memsw.limit_in_bytes"), String(limitBytes))
      return true
    })
    if (made !== undefined) return made
  }
  return reasons.join("; ")
}

/** Removes a cgroup that has no processes left; false if it could not. */
const removeEmpty = (dir: string): boolean => {
  try {
    Fs.rmdirSync(dir)
    return true
  } catch {
    return false
  }
}

/** SIGKILLs the processes in the cgroup (only this figure's processes are put there). */
const killMembers = (cgroup: Cgroup): void => {
  for (const pid of (read(cgroup.dir, "cgroup.procs") ?? "").split("\n").filter((p) => p !== "").map(Number)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
}

/** Stops what is left in the cgroup and removes it, within about 5 s; false if it could not. */
const removeCgroup = async (cgroup: Cgroup): Promise<boolean> => {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (removeEmpty(cgroup.dir)) return true
    killMembers(cgroup)
    await sleep(100)
  }
  return false
}

/** The same, synchronously (for the process's `exit` event): spins for at most 2 s. */
const removeCgroupNow = (cgroup: Cgroup): void => {
  killMembers(cgroup)
  const until = Date.now() + 2_000
  while (!removeEmpty(cgroup.dir) && Date.now() < until) {
    // the killed processes leave the cgroup as the kernel finishes them
  }
}

export const inMemoryLimit = async (bench: Bench, installed: Installed, holdSeconds: number, plain: HoldingResult): Promise<MemoryLimitResult> => {
  const cgroup = makeCgroup(memoryLimitBytes)
  if (typeof cgroup === "string") {
    bench.log(`  fig 7: no memory cgroup (${cgroup}); the plain run's peak RSS stands in`)
    return { mechanism: "none", reason: cgroup, limitBytes: memoryLimitBytes, swapLimited: false, run: plain }
  }
  // If the bench is stopped meanwhile, the cgroup is removed on the way out (best effort).
  const onExit = () => removeCgroupNow(cgroup)
  process.once("exit", onExit)
  try {
    const log = logFile(bench, "run-limited")
    const argv = [
      "sh",
      "-c",
      `echo $$ > "$1" || exit 97; shift; exec "$@"`,
      "leasekit-in-cgroup",
      Path.join(cgroup.dir, "cgroup.procs"),
      installed.leasekit,
      ...runArgs(bench, leaseName("limited"), holdSeconds)
    ]
    const run = await bench.spawnContext.processes.run(followHolder("leasekit run", start(installed.dir, argv, installed.app, log), holdSeconds, log))
    const v2 = cgroup.mechanism === "cgroup v2"
    return {
      mechanism: cgroup.mechanism,
      limitBytes: readNumber(cgroup.dir, v2 ? "memory.max" : "memory.limit_in_bytes") ?? Number.NaN,
      swapLimited: cgroup.swapLimited,
      run: run.exit === "exit 97" ? { ...run, failure: `could not enter the cgroup: ${run.failure ?? ""}` } : run,
      peakUsageBytes: readNumber(cgroup.dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes"),
      failcnt: v2 ? readKey(cgroup.dir, "memory.events", "max") : readNumber(cgroup.dir, "memory.failcnt"),
      oomKills: readKey(cgroup.dir, v2 ? "memory.events" : "memory.oom_control", "oom_kill")
    }
  } finally {
    if (!(await removeCgroup(cgroup))) bench.log(`  fig 7: could not remove ${cgroup.dir}`)
    process.removeListener("exit", onExit)
  }
}
