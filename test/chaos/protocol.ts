/**
 * What the chaos runner, its contender processes and the checker agree on: the contender's
 * configuration, the journal lines, and the shared timeline.
 *
 * Every process runs on this one machine, so `performance.timeOrigin + performance.now()` (epoch
 * milliseconds with sub-millisecond resolution, advancing monotonically within a process) is one
 * timeline that all journals can be compared on.
 *
 * Journals are JSON lines appended synchronously (one `write` per line), so a line is either in
 * the file or not, even when the process is SIGKILLed; the checker ignores a torn last line.
 */
import * as Fs from "node:fs"

/** Milliseconds on the shared timeline. */
export const now = (): number => performance.timeOrigin + performance.now()

/** Lease timing handed to `Lease.acquire`, in milliseconds (duration in whole seconds). */
export interface Timing {
  readonly durationSeconds: number
  readonly renewIntervalMillis: number
  readonly renewDeadlineMillis: number
  readonly retryPeriodMillis: number
  readonly requestTimeoutMillis: number
  /** Cap on a foreign record's `leaseDurationSeconds` (default of the library: 1 hour). */
  readonly maxHonouredSeconds?: number | undefined
}

/** The fenced resource: a ConfigMap on the same API server, written with admin credentials. */
export interface FenceTarget {
  /** The admin kubeconfig, pointing at the API server itself (no FaultProxy). */
  readonly kubeconfig: string
  readonly namespace: string
  readonly name: string
}

/** Everything a contender process needs, passed as one JSON argument. */
export interface ContenderConfig {
  /** Unique per process: `<scenario>-c<n>`. */
  readonly holder: string
  /** Kubeconfig for the lease (possibly through a FaultProxy). */
  readonly kubeconfig: string
  readonly namespace: string
  readonly lease: string
  readonly timing: Timing
  readonly fence: FenceTarget
  /** Rounds of acquire → critical section → release. */
  readonly rounds: number
  /** Fenced writes per critical section, each after `workMillis` of simulated work. */
  readonly writes: number
  readonly workMillis: number
  /** Bound on one acquire (then a journaled `acquire-failed`, and the next round). */
  readonly acquireTimeoutMillis: number
  /** The process exits by itself at this instant (shared timeline) whatever it is doing. */
  readonly exitAt: number
  readonly journal: string
  /** Folder of trigger files: `stop` (finish the round, then exit), `pause-<holder>` (SIGSTOP
   * itself between the validity check and the next fenced write — a GC pause at the worst moment). */
  readonly control: string
  /** Set: the contender takes a permit of the semaphore `lease` (created with this many permits)
   * instead of the lease itself, and writes to the permit's own fenced resource,
   * `<fence.name>-<permit>` (`fence.ts`: one token sequence per permit). */
  readonly permits?: number | undefined
}

/** One line of a contender's journal. `t` is on the shared timeline. */
export type ContenderEvent =
  | { readonly e: "start"; readonly t: number; readonly holder: string; readonly pid: number }
  /** `permit`: the permit's index (semaphore scenarios); every later line with a token, up to the
   * next `acquired`, is about that permit. */
  | {
    readonly e: "acquired"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly round: number
    readonly permit?: number | undefined
  }
  | { readonly e: "acquire-failed"; readonly t: number; readonly holder: string; readonly message: string }
  /** `lease.isHeld` answered true; `t` was taken *before* asking, so the holder believed it held
   * the lease at `t`. Journaled before the holder acts on it. */
  | { readonly e: "valid"; readonly t: number; readonly holder: string; readonly token: number }
  /** `lease.isHeld` answered false where the holder was about to act. */
  | { readonly e: "found-out"; readonly t: number; readonly holder: string; readonly token: number; readonly where: string }
  | { readonly e: "write-begin"; readonly t: number; readonly holder: string; readonly token: number; readonly id: string }
  | {
    readonly e: "write"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly id: string
    readonly outcome: WriteOutcome
    /** The token the resource held when it rejected the write. */
    readonly stored?: number | undefined
    readonly attempts: number
    readonly detail?: string | undefined
  }
  | {
    readonly e: "lost"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly reason: string
    /** Wall-clock instant of the last renewal that succeeded (DeadlineExceeded only). */
    readonly lastRenewal?: number | undefined
    readonly message: string
  }
  | {
    readonly e: "section"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly start: number
    readonly end: number
    readonly accepted: number
    readonly rejected: number
    readonly outcome: "completed" | "found-out" | "lost"
  }
  /** About to release (after the section, or after losing the lease to its deadline — the record
   * may still name us, and clearing it hands it over sooner). */
  | { readonly e: "releasing"; readonly t: number; readonly holder: string; readonly token: number; readonly afterLoss: boolean }
  | { readonly e: "released"; readonly t: number; readonly holder: string; readonly token: number }
  | { readonly e: "release-failed"; readonly t: number; readonly holder: string; readonly token: number; readonly message: string }
  | { readonly e: "self-pause"; readonly t: number; readonly holder: string; readonly token: number }
  | { readonly e: "resumed"; readonly t: number; readonly holder: string; readonly token: number }
  | { readonly e: "exit"; readonly t: number; readonly holder: string; readonly why: string }

/**
 * - `accepted`: the resource took the write (its token was ≤ ours).
 * - `rejected`: the resource holds a higher token; the write was refused by the fence.
 * - `found-out`: `isHeld` turned false between attempts; the holder stopped writing.
 * - `failed`: the resource could not be reached within the attempts allowed.
 */
export type WriteOutcome = "accepted" | "rejected" | "found-out" | "failed"

/** One line of the runner's journal: the faults it injected and what an admin wrote. */
export type RunnerEvent =
  | {
    readonly e: "fault"
    readonly t: number
    readonly kind: string
    readonly target?: string | undefined
    readonly detail?: string | undefined
    /** How long a write sent during the fault may linger in the network before it lands (added
     * latency): such a late write restarts the other contenders' observation of the record. */
    readonly lingerMillis?: number | undefined
  }
  /** A window in which the lease could not be written by anyone (API server or etcd down). */
  | {
    readonly e: "outage"
    readonly from: number
    readonly to: number
    readonly what: string
    /** Who held the lease when it began, if anyone. */
    readonly holder?: string | undefined
    readonly token?: number | undefined
  }
  /** An admin wrote the lease. `t`: when the write was sent; `answered`: when its answer came (the
   * write landed somewhere in between). `blocksMillis`: how long contenders may rightly wait on it;
   * `resetsTokens`: the record lowers `leaseTransitions`, so tokens start again. */
  | {
    readonly e: "admin"
    readonly t: number
    readonly answered?: number | undefined
    readonly variant: string
    readonly via: "api" | "etcd"
    readonly blocksMillis: number
    readonly resetsTokens: boolean
  }
  | {
    readonly e: "pause"
    readonly holder: string
    readonly token: number
    readonly kind: "external" | "self"
    readonly from: number
    readonly to: number
    /** The permit the paused holder held (semaphore scenarios). */
    readonly permit?: number | undefined
  }
  | { readonly e: "note"; readonly t: number; readonly text: string }

/** Appends one JSON line. */
export const append = (file: string, event: ContenderEvent | RunnerEvent): void => {
  Fs.appendFileSync(file, JSON.stringify(event) + "\n")
}

/** Reads a JSON-lines file, skipping a torn or unparseable line. */
export const readLines = <A>(file: string): Array<A> => {
  if (!Fs.existsSync(file)) return []
  const out: Array<A> = []
  for (const line of Fs.readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    try {
      out.push(JSON.parse(line) as A)
    } catch {
      // a line torn by SIGKILL
    }
  }
  return out
}
