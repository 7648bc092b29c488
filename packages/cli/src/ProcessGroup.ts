/**
 * The processes of a process group, as `leasekit run` sees them: whether any is still alive, which
 * ones, and sending the group a signal.
 *
 * Alive means "running or stopped, not a zombie". On Linux a process that has exited stays in its
 * group as a zombie until its parent reaps it, and `kill(-pgid, 0)` still succeeds for it; orphans
 * are reaped by PID 1, which in a container (or a sandbox whose PID 1 is not an init) may never
 * happen — with `leasekit run` as PID 1 they are leasekit's, and Node does not reap processes it
 * did not start. So on Linux membership is read from `/proc` (`/proc/PID/stat`: state and process
 * group), zombies excluded; `kill(-pgid, 0)` answering `ESRCH` is the cheap "empty" answer checked
 * first, and the members found by the last scan are checked before the whole of `/proc` is read
 * again. Without `/proc` (macOS) `kill(-pgid, 0)` decides, with `EPERM` taken as "only zombies
 * left", as Effect's own process spawner does; a live member that leasekit may not signal counts as
 * gone there.
 *
 * Guarantees: on Linux, `hasLiveMember` is false exactly when no live process is in the group
 * (as of the moment it looked). Does not: tell a zombie from a live process that leasekit may not
 * signal where there is no `/proc`; follow processes that left the group (`setsid`, `setpgid`,
 * daemons) — they are not members any more, and nothing here sees or stops them.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"

/** Whether `/proc/PID/stat` can be read on this system (Linux). */
const hasProc = (() => {
  try {
    Fs.accessSync("/proc/self/stat", Fs.constants.R_OK)
    return true
  } catch {
    return false
  }
})()

/** State and process group of a process from `/proc/PID/stat`, or undefined when it is gone. */
const statOf = (pid: number): { readonly state: string; readonly pgid: number } | undefined => {
  let stat: string
  try {
    stat = Fs.readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return undefined
  }
  // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ")".
  const [state = "", , pgid = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3)
  return { state, pgid: Number(pgid) }
}

const isLiveMember = (pid: number, pgid: number): boolean => {
  const stat = statOf(pid)
  return stat !== undefined && stat.pgid === pgid && stat.state !== "Z" && stat.state !== "X"
}

/** Reads all of `/proc`: the live members of `pgid`. */
const scan = (pgid: number): Array<number> => {
  const members: Array<number> = []
  let entries: Array<string>
  try {
    entries = Fs.readdirSync("/proc")
  } catch {
    return members
  }
  for (const entry of entries) {
    const first = entry.charCodeAt(0)
    if (first < 48 || first > 57) continue
    const pid = Number(entry)
    if (isLiveMember(pid, pgid)) members.push(pid)
  }
  return members
}

/** The answer of `kill(-pgid, 0)`: some member exists (possibly a zombie), none, or none we may signal. */
const probe = (pgid: number): "exists" | "none" | "denied" => {
  try {
    process.kill(-pgid, 0)
    return "exists"
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM" ? "denied" : "none"
  }
}

/**
 * A process group, watched by one observer (the last members it found are remembered).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessGroup {
  readonly pgid: number
  /** Whether a live (not zombie) process is in the group now. */
  readonly hasLiveMember: () => boolean
  /** The live members now (Linux); elsewhere an empty list when the group looks empty, else `undefined`. */
  readonly liveMembers: () => ReadonlyArray<number> | undefined
  /** Sends `signal` to every process of the group; false when there was none to signal. */
  readonly signal: (signal: NodeJS.Signals) => boolean
}

/**
 * Watches the process group `pgid`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (pgid: number): ProcessGroup => {
  let known: ReadonlyArray<number> = []
  const liveMembers = (): ReadonlyArray<number> | undefined => {
    const answer = probe(pgid)
    if (answer === "none" || (answer === "denied" && !hasProc)) return []
    if (!hasProc) return undefined
    known = scan(pgid)
    return known
  }
  const hasLiveMember = (): boolean => {
    const answer = probe(pgid)
    if (answer === "none" || (answer === "denied" && !hasProc)) return false
    if (!hasProc) return true
    if (known.some((pid) => isLiveMember(pid, pgid))) return true
    known = scan(pgid)
    return known.length > 0
  }
  const signal = (sig: NodeJS.Signals): boolean => {
    try {
      process.kill(-pgid, sig)
      return true
    } catch {
      // ESRCH: nobody left; EPERM: nobody we may signal.
      return false
    }
  }
  return { pgid, hasLiveMember, liveMembers, signal }
}

/**
 * The pids as a message shows them: `pid 12`, `pids 12, 13`, or `processes` when unknown.
 *
 * @since 0.1.0
 * @category rendering
 */
export const describe = (pids: ReadonlyArray<number> | undefined): string =>
  pids === undefined || pids.length === 0
    ? "processes"
    : pids.length === 1
    ? `pid ${pids[0]}`
    : pids.length <= 8
    ? `pids ${pids.join(", ")}`
    : `pids ${pids.slice(0, 8).join(", ")} and ${pids.length - 8} more`
