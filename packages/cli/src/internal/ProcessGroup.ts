/**
 * The processes of a process group, or of a session, as `leasekit run` sees them: whether any is
 * still alive, which ones, and sending all of them a signal.
 *
 * Group or session. `make(pgid)` watches a process group. `session(sid)` watches a session: CMD
 * runs as a session leader (Node's `detached: true` calls `setsid`), and the processes it starts
 * stay in its session even when they move to a process group of their own — GNU `timeout` does
 * (`setpgid(0, 0)`), so do the jobs of a `set -m` script. A signal to a session goes to every
 * process group found in it (`kill(-pgid)` for each: a process group never spans two sessions),
 * so nothing but a further `setsid` (a new session, as `setsid(1)` and daemons do) escapes it.
 *
 * Alive means "running or stopped, not a zombie". On Linux a process that has exited stays in its
 * group as a zombie until its parent reaps it, and `kill(-pgid, 0)` still succeeds for it; orphans
 * are reaped by PID 1, which in a container (or a sandbox whose PID 1 is not an init) may never
 * happen — with `leasekit run` as PID 1 they are leasekit's, and Node does not reap processes it
 * did not start. So on Linux membership is read from `/proc` (`/proc/PID/stat`: state, process
 * group, session), zombies excluded. A process whose main thread exited while its other threads
 * run on (`pthread_exit` in `main`) also reads as a zombie there (`Z`): a `Z` process counts as
 * alive while any of its threads (`/proc/PID/task/TID/stat`) is not a zombie. For a group,
 * `kill(-pgid, 0)` answering `ESRCH` is the cheap "empty" answer checked first; for a group and a
 * session alike, the members found by the last scan are checked before the whole of `/proc` is
 * read again. Without `/proc` (macOS) a session is watched as the process group of its leader
 * (the same number), and `kill(-pgid, 0)` decides, with `EPERM` taken as "only zombies left", as
 * Effect's own process spawner does; a live member that leasekit may not signal counts as gone
 * there.
 *
 * Guarantees: on Linux, `hasLiveMember` is false exactly when no live process is in the group (the
 * session) as of the moment it looked. Does not: tell a zombie from a live process that leasekit
 * may not signal where there is no `/proc`; see processes that left the group (`setpgid`) when
 * watching a group, or that left the session (`setsid`, daemons) — they are not members any more,
 * and nothing here sees or stops them; without `/proc`, see the processes of a session outside its
 * leader's group.
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

interface Stat {
  readonly state: string
  readonly pgid: number
  readonly sid: number
}

/** The stat line of `/proc/PATH/stat` from its state on: "pid (comm) state ppid pgrp session …";
 * comm may hold spaces and parentheses, so it is split after the last ")". */
const readStat = (path: string): Stat | undefined => {
  let stat: string
  try {
    stat = Fs.readFileSync(`/proc/${path}/stat`, "latin1")
  } catch {
    return undefined
  }
  const [state = "", , pgid = "", sid = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 4)
  return { state, pgid: Number(pgid), sid: Number(sid) }
}

const exited = (state: string) => state === "Z" || state === "X" || state === "x" || state === ""

/** Whether a process whose stat reads `stat` is alive: not a zombie — or a zombie only because its
 * main thread exited, while another of its threads still runs. */
const isAlive = (pid: number, stat: Stat): boolean => {
  if (!exited(stat.state)) return true
  if (stat.state !== "Z") return false
  let tasks: Array<string>
  try {
    tasks = Fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return false
  }
  return tasks.some((tid) => {
    const task = readStat(`${pid}/task/${tid}`)
    return task !== undefined && !exited(task.state)
  })
}

/** What is watched: the processes whose `key` (process group or session) is `id`. */
interface Watched {
  readonly key: "pgid" | "sid"
  readonly id: number
}

const isLiveMember = (pid: number, watched: Watched): boolean => {
  const stat = readStat(String(pid))
  return stat !== undefined && stat[watched.key] === watched.id && isAlive(pid, stat)
}

/** Reads all of `/proc`: the live members, with their process groups. */
const scan = (watched: Watched): Array<{ readonly pid: number; readonly pgid: number }> => {
  const members: Array<{ readonly pid: number; readonly pgid: number }> = []
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
    const stat = readStat(entry)
    if (stat !== undefined && stat[watched.key] === watched.id && isAlive(pid, stat)) members.push({ pid, pgid: stat.pgid })
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

/** `kill(-pgid, signal)`: false when there was none to signal. */
const signalGroup = (pgid: number, sig: NodeJS.Signals): boolean => {
  try {
    process.kill(-pgid, sig)
    return true
  } catch {
    // ESRCH: nobody left; EPERM: nobody we may signal.
    return false
  }
}

/**
 * A process group or a session, watched by one observer (the last members it found are
 * remembered).
 *
 * @since 0.1.0
 * @category models
 */
export interface ProcessGroup {
  /** The process group's id, or the session's (its leader's pid, the id of the leader's group too). */
  readonly pgid: number
  /** Whether this watches a session rather than a process group. */
  readonly session: boolean
  /** Whether a live (not zombie) process is in the group (the session) now. */
  readonly hasLiveMember: () => boolean
  /** The live members now (Linux); elsewhere an empty list when the group looks empty, else `undefined`. */
  readonly liveMembers: () => ReadonlyArray<number> | undefined
  /** Sends `signal` to every process of the group (of every process group of the session); false
   * when there was none to signal. */
  readonly signal: (signal: NodeJS.Signals) => boolean
}

const watch = (watched: Watched): ProcessGroup => {
  const { id } = watched
  const session = watched.key === "sid"
  let known: ReadonlyArray<number> = []
  const rescan = () => {
    const members = scan(watched)
    known = members.map((m) => m.pid)
    return members
  }
  const liveMembers = (): ReadonlyArray<number> | undefined => {
    if (!hasProc) return probe(id) === "exists" ? undefined : []
    // A session's members may all be in other groups than its leader's: no shortcut there.
    if (!session && probe(id) === "none") return []
    rescan()
    return known
  }
  const hasLiveMember = (): boolean => {
    if (!hasProc) return probe(id) === "exists"
    if (!session && probe(id) === "none") return false
    if (known.some((pid) => isLiveMember(pid, watched))) return true
    return rescan().length > 0
  }
  const signal = (sig: NodeJS.Signals): boolean => {
    if (!session || !hasProc) return signalGroup(id, sig)
    // The leader's group first (the usual case: everything is in it), then every other group
    // found in the session. A group with only zombies left in it takes the signal harmlessly.
    let signalled = signalGroup(id, sig)
    const groups = new Set(rescan().map((m) => m.pgid))
    groups.delete(id)
    for (const pgid of groups) if (signalGroup(pgid, sig)) signalled = true
    return signalled
  }
  return { pgid: id, session, hasLiveMember, liveMembers, signal }
}

/**
 * Watches the process group `pgid`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (pgid: number): ProcessGroup => watch({ key: "pgid", id: pgid })

/**
 * Watches the session `sid` — every process group in it (without `/proc`: the process group
 * `sid`, its leader's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const session = (sid: number): ProcessGroup => watch({ key: "sid", id: sid })

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
