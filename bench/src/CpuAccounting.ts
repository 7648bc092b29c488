/**
 * Where the machine's CPU went during a phase: CPU time per process group (API server, etcd,
 * leasekit contenders, client-go contenders, …) from `/proc/<pid>/stat`, and how busy the whole
 * machine was from `/proc/stat` (other work on the machine included). Linux only; elsewhere every
 * figure is NaN.
 */
import * as Fs from "node:fs"

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on every Linux platform). */
const HZ = 100

/** CPU time (user + system) of one process so far, ms; NaN when it is gone. */
export const processCpuMs = (pid: number): number => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / HZ
  } catch {
    return Number.NaN
  }
}

/** Busy and total jiffies of the whole machine. */
const machineTicks = (): { busy: number; total: number } => {
  try {
    const line = Fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!
    const values = line.trim().split(/\s+/).slice(1).map(Number)
    const total = values.reduce((a, b) => a + b, 0)
    const idle = (values[3] ?? 0) + (values[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: Number.NaN, total: Number.NaN }
  }
}

export type Groups = Record<string, ReadonlyArray<number>>

export interface CpuUsage {
  /** CPU time per group during the phase, ms. */
  readonly byGroup: Record<string, number>
  /** Share of all cores that were busy during the phase (0..1), whoever used them. */
  readonly machineBusy: number
  readonly wallMs: number
}

/** Starts measuring; `stop` returns the CPU used by each group since. */
export const start = (groups: () => Groups) => {
  const sum = (pids: ReadonlyArray<number>) => pids.reduce((a, pid) => a + (processCpuMs(pid) || 0), 0)
  const before: Record<string, number> = {}
  for (const [name, pids] of Object.entries(groups())) before[name] = sum(pids)
  const machine0 = machineTicks()
  const t0 = Date.now()
  return {
    stop: (): CpuUsage => {
      const byGroup: Record<string, number> = {}
      for (const [name, pids] of Object.entries(groups())) byGroup[name] = sum(pids) - (before[name] ?? 0)
      const machine1 = machineTicks()
      return {
        byGroup,
        machineBusy: (machine1.busy - machine0.busy) / (machine1.total - machine0.total),
        wallMs: Date.now() - t0
      }
    }
  }
}
