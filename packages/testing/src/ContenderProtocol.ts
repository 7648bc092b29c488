/**
 * The line protocol of leasekit's contender processes: what a driver (`Contender`) sends to a
 * contender and what it hears back. The leasekit contender of this package and the client-go
 * baseline of the benchmarks (`bench/clientgo/main.go`) speak the same one, so a benchmark drives
 * and times both the same way.
 *
 * Commands go to the contender's stdin, one JSON object per line; events come back on stdout, one
 * JSON object per line. Timestamps (`t`, `t0`, `t1`, `requested`, …) are microseconds of
 * `CLOCK_MONOTONIC` ({@link nowMicros}): Node's `process.hrtime` and Go's monotonic clock both read
 * it, so they are comparable across processes on one machine and immune to wall-clock
 * adjustments — and meaningless across machines. A contender exits when its stdin ends, so none
 * outlives its driver.
 *
 * This module holds the types and the encoding only; it does not validate events beyond their
 * shape (a line that is not a JSON object with an `ev` is dropped by {@link decodeEvent}; one that
 * is, is trusted to be an `Event`).
 *
 * @since 0.2.0
 */
import type { FenceTarget, WriteOutcome } from "./Fence.ts"

/**
 * Enter the election for `name` (or `count` leases `name-0` … when `count > 1`).
 *
 * @since 0.2.0
 * @category commands
 */
export interface JoinCommand {
  readonly cmd: "join"
  readonly name: string
  readonly namespace?: string | undefined
  readonly leaseDurationMs?: number | undefined
  readonly renewDeadlineMs?: number | undefined
  readonly retryPeriodMs?: number | undefined
  /** leasekit only: renewal interval (client-go renews every retryPeriod). */
  readonly renewIntervalMs?: number | undefined
  /** `hold`: lead until released. `loop`: acquire → critical section → release, until released
   * (leasekit: the rounds of `internal/contender/loop.ts`, reported as `LoopEvent`s; client-go: one
   * `cs` event per critical section, checked against `fenceDir`).
   * `semaphore` (leasekit only): `name` is a semaphore of `permits` permits; acquire a permit
   * (waiting in its queue) → hold it `holdMs` → release, until released; each permit is a `permit`
   * event. */
  readonly mode?: "hold" | "loop" | "semaphore" | undefined
  /** `semaphore` mode: N, to create the semaphore. */
  readonly permits?: number | undefined
  /** `semaphore` mode: how long each permit is held (a guarded sleep), ms. Default 0. */
  readonly holdMs?: number | undefined
  /** client-go's `loop` mode: a folder shared by all contenders of a run, for its file checks. */
  readonly fenceDir?: string | undefined
  /** leasekit `loop` mode: the lease's request timeout, ms. */
  readonly requestTimeoutMs?: number | undefined
  /** leasekit `loop` mode: cap on a foreign record's duration (`maxHonouredDuration`), ms. */
  readonly maxHonouredMs?: number | undefined
  /** leasekit `loop` mode: bound on one acquisition, ms (then `acquire-failed`, and the next round). */
  readonly acquireTimeoutMs?: number | undefined
  /** leasekit `loop` mode: steps of each critical section (default 0: two checks and nothing else);
   * each step is `workMs` of work, a check, and a fenced write when `fence` is given. */
  readonly writes?: number | undefined
  /** leasekit `loop` mode: simulated work before each step's check, ms. */
  readonly workMs?: number | undefined
  /** leasekit `loop` mode: the fenced resource each step writes to with the lease's token (a
   * semaphore's permit `i` writes to `<name>-i`, see `Fence.ofPermit`). */
  readonly fence?: FenceTarget | undefined
  /** leasekit `loop` mode: a random pause of up to this long between rounds, ms (default none). */
  readonly pauseMs?: number | undefined
  readonly count?: number | undefined
  /** leasekit only: how many acquisitions run at once when `count > 1`. */
  readonly concurrency?: number | undefined
}

/**
 * leasekit only: cost of one renewal, measured in the contender (`store`: the in-memory store, or
 * the Kubernetes store on the real API server; `raw`: the same PUT through `KubeClient.http`
 * alone — the store's transport without the algorithm or the store's policy; `https`: the same PUT with node:https and
 * JSON.stringify on a keep-alive connection — the floor for one renewal over HTTP from Node;
 * `http2`: the same over one node:http2 session).
 */
export interface MicrobenchCommand {
  readonly cmd: "microbench"
  readonly namespace: string
  readonly name: string
  readonly target: "memory" | "kubernetes" | "raw" | "https" | "http2"
  readonly iterations: number
  readonly warmup: number
  /** Default true. False: just run the iterations (under a profiler), no per-call measurement. */
  readonly timed?: boolean | undefined
}

/**
 * Every command a contender understands (`release`, `handoff`, `usage`, `profile`, `quit` need no
 * interface of their own).
 *
 * @since 0.2.0
 * @category commands
 */
export type Command =
  | JoinCommand
  | MicrobenchCommand
  | { readonly cmd: "release" }
  /** leasekit only: hand the lease held (joined in `hold` mode) over to the contender `to`
   * (`HeldLease.handoff`), then leave the election as `release` does. */
  | { readonly cmd: "handoff"; readonly to: string }
  | { readonly cmd: "usage"; readonly gc?: boolean | undefined }
  /** leasekit only: a CPU profile of the next `seconds`, written to `file` (.cpuprofile). */
  | { readonly cmd: "profile"; readonly seconds: number; readonly file: string }
  | { readonly cmd: "quit" }
  /** leasekit `loop` mode: arm (default) or disarm a self-pause — at its next point between a check
   * and a fenced write, the contender SIGSTOPs itself (`self-pause`), until someone sends SIGCONT. */
  | { readonly cmd: "pause"; readonly armed?: boolean | undefined }

/**
 * Resource usage of a contender process (answer to `usage`).
 *
 * @since 0.2.0
 * @category events
 */
export interface UsageEvent {
  readonly ev: "usage"
  readonly t: number
  /** User + system CPU time of the process so far. */
  readonly cpuMicros: number
  readonly rss: number
  /** Go: bytes allocated so far (`TotalAlloc`); Node: heap in use. */
  readonly totalAlloc?: number | undefined
  /** Node: V8 heap in use, memory held by C++ objects bound to JS (external), and the committed
   * size of the young generation (empty right after a GC, yet resident). */
  readonly heapUsed?: number | undefined
  readonly external?: number | undefined
  readonly youngGeneration?: number | undefined
  readonly gets: number
  readonly creates: number
  readonly updates: number
  readonly failures: number
  /** Renewal lateness since the previous `usage` (µs): sent − (previous success + interval). */
  readonly latenessN: number
  readonly latenessP50: number
  readonly latenessP99: number
  readonly latenessMax: number
  /** leasekit only: every lateness sample since the previous `usage` (µs). */
  readonly lateness?: ReadonlyArray<number> | undefined
  /** leasekit only, since the previous `usage`: event-loop delay percentiles and GC pauses. */
  readonly eventLoopDelayP50Ms?: number | undefined
  readonly eventLoopDelayP99Ms?: number | undefined
  readonly eventLoopDelayMaxMs?: number | undefined
  readonly gcPauses?: number | undefined
  readonly gcPauseTotalMs?: number | undefined
  readonly gcPauseMaxMs?: number | undefined
}

/**
 * One critical section in client-go's loop mode, with the result of its file checks (`fenceDir`).
 *
 * @since 0.2.0
 * @category events
 */
export interface CriticalSectionEvent {
  readonly ev: "cs"
  readonly t0: number
  readonly t1: number
  readonly token: number
  readonly ok: boolean
  readonly problems?: ReadonlyArray<string> | undefined
}

/**
 * Per-iteration samples of a microbenchmark.
 *
 * @since 0.2.0
 * @category events
 */
export interface MicrobenchEvent {
  readonly ev: "microbench"
  readonly target: MicrobenchCommand["target"]
  /** CPU time (user + system) of each iteration, µs. */
  readonly cpuMicros: ReadonlyArray<number>
  /** Wall time of each iteration, µs. */
  readonly wallMicros: ReadonlyArray<number>
  /** Bytes allocated per iteration, measured over all iterations with no GC in between; absent
   * when a garbage collection happened anyway. */
  readonly bytesPerIteration: number | undefined
  readonly gcDuringMeasurement: number
}

/**
 * Every event a contender emits.
 *
 * @since 0.2.0
 * @category events
 */
export type Event =
  | { readonly ev: "ready"; readonly t: number; readonly pid: number; readonly identity: string }
  | { readonly ev: "leading"; readonly t: number; readonly name: string; readonly token?: number; readonly count?: number }
  | { readonly ev: "releasing"; readonly t: number }
  /** leasekit only: the first guarded step (`HeldLease.guard`) after `leading` ran, at `t`. */
  | { readonly ev: "guarded"; readonly t: number; readonly name: string; readonly token: number }
  | { readonly ev: "released"; readonly t: number; readonly led?: boolean; readonly rounds?: number }
  | { readonly ev: "error"; readonly msg: string }
  /** leasekit only, `semaphore` mode: one permit — `acquire` called at `requested`, returned at
   * `acquired`, its critical section ended at `ended`, just before the release (µs, `CLOCK_MONOTONIC`). */
  | {
    readonly ev: "permit"
    readonly requested: number
    readonly acquired: number
    readonly ended: number
    readonly permit: number
    readonly token: number
    /** The resourceVersion of the write that gave this process the permit (its acquisition), as
     * the API server answered it; absent if the answer was lost. */
    readonly granted?: string
    /** Waited in the queue: the ticket, and the resourceVersions of the head writes of this process
     * that enqueued it (more than one: its entry was removed and it queued again, at the end). */
    readonly ticket?: string
    readonly enqueues?: ReadonlyArray<string>
  }
  /** leasekit only, `semaphore` mode: the acquisition in progress when the contender was released
   * had enqueued `ticket` (head writes `enqueues`) and got no permit. */
  | { readonly ev: "unserved"; readonly ticket: string; readonly enqueues: ReadonlyArray<string> }
  /** leasekit only, `semaphore` mode: a head write of this process (resourceVersion `version`)
   * removed another waiter's entry `ticket` (one it judged dead). */
  | { readonly ev: "removed"; readonly ticket: string; readonly version: string }
  | { readonly ev: "profile"; readonly file: string; readonly error?: string | undefined }
  | UsageEvent
  | CriticalSectionEvent
  | MicrobenchEvent
  | LoopEvent

// The loop mode's events (`join` with `mode: "loop"`): one round is acquire → critical section →
// release. Every event is written to stdout *before* the contender acts on it (a SIGKILLed
// contender's last line is its last action). `holder` is the contender's identity.

/**
 * One event of the loop mode (`t`, a section's `start`/`end`, a loss's `lastRenewal`: µs of
 * `CLOCK_MONOTONIC`). What they mean:
 * - `joined`: the loop started (before its first acquisition).
 * - `acquired`: round `round` took the lease with `token` (`permit`: the permit's index, when the
 *   loop takes a permit of a semaphore; every later event with a token, up to the next `acquired`,
 *   is about that permit). `acquire-failed`: the bounded acquisition failed (the next round follows).
 * - `valid`: `isHeld` answered true; `t` was taken *before* asking, so the holder believed it held
 *   the lease at `t`. `found-out`: `isHeld` answered false where the holder was about to act.
 *   `where` (both): `enter` (the section's first check), `before-write` (each step), `write-retry`,
 *   `exit` (its last check).
 * - `write-begin` / `write`: one fenced write (`Fence.write`) and how it ended.
 * - `lost`: the lease's loss notification (`reason`: the `LeaseLostError` reason; `lastRenewal`: the
 *   last successful renewal of a `DeadlineExceeded` loss, converted from the wall clock).
 * - `section`: the critical section ended (`start`/`end`: its first and last `valid`).
 * - `releasing` (`afterLoss`: the section did not complete), then `release-ok` or `release-failed`.
 * - `self-pause` / `resumed`: the contender SIGSTOPped itself between its check and its write (armed
 *   by the `pause` command), and went on after SIGCONT.
 *
 * @since 0.2.0
 * @category models
 */
export type LoopEvent =
  | { readonly ev: "joined"; readonly t: number; readonly holder: string }
  | {
    readonly ev: "acquired"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly round: number
    readonly permit?: number | undefined
  }
  | { readonly ev: "acquire-failed"; readonly t: number; readonly holder: string; readonly message: string }
  | { readonly ev: "valid"; readonly t: number; readonly holder: string; readonly token: number; readonly where?: string | undefined }
  | { readonly ev: "found-out"; readonly t: number; readonly holder: string; readonly token: number; readonly where: string }
  | { readonly ev: "write-begin"; readonly t: number; readonly holder: string; readonly token: number; readonly id: string }
  | {
    readonly ev: "write"
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
    readonly ev: "lost"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly reason: string
    readonly lastRenewal?: number | undefined
    readonly message: string
  }
  | {
    readonly ev: "section"
    readonly t: number
    readonly holder: string
    readonly token: number
    readonly start: number
    readonly end: number
    readonly accepted: number
    readonly rejected: number
    readonly outcome: "completed" | "found-out" | "lost"
  }
  | { readonly ev: "releasing"; readonly t: number; readonly holder: string; readonly token: number; readonly afterLoss: boolean }
  | { readonly ev: "release-ok"; readonly t: number; readonly holder: string; readonly token: number }
  | { readonly ev: "release-failed"; readonly t: number; readonly holder: string; readonly token: number; readonly message: string }
  | { readonly ev: "self-pause"; readonly t: number; readonly holder: string; readonly token: number }
  | { readonly ev: "resumed"; readonly t: number; readonly holder: string; readonly token: number }

const loopEvents: ReadonlySet<string> = new Set<LoopEvent["ev"]>([
  "joined",
  "acquired",
  "acquire-failed",
  "valid",
  "found-out",
  "write-begin",
  "write",
  "lost",
  "section",
  "releasing",
  "release-ok",
  "release-failed",
  "self-pause",
  "resumed"
])

/**
 * Whether a decoded line is an event of the loop mode (a `releasing` without a holder is the
 * `hold` mode's).
 *
 * @since 0.2.0
 * @category guards
 */
export const isLoopEvent = (event: { readonly ev: string }): event is LoopEvent =>
  loopEvents.has(event.ev) && "holder" in event

/**
 * The timestamp of an event that has one (`ready`, `leading`, `guarded`, `releasing`, `released`,
 * `usage`); throws for the others.
 *
 * @since 0.2.0
 * @category events
 */
export const timeOf = (event: Event): number => {
  if ("t" in event) return event.t
  throw new Error(`event ${event.ev} has no timestamp`)
}

/**
 * Microseconds of `CLOCK_MONOTONIC`: the clock of every timestamp of the protocol.
 *
 * @since 0.2.0
 * @category clock
 */
export const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n)

/**
 * One command as its line (without the newline).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeCommand = (command: Command): string => JSON.stringify(command)

/**
 * One event as its line (without the newline).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeEvent = (event: Event): string => JSON.stringify(event)

/**
 * The event of one line, or `undefined` when the line is not JSON or not an object with an `ev`
 * (a stray log line).
 *
 * @since 0.2.0
 * @category encoding
 */
export const decodeEvent = (line: string): Event | undefined => {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === "object" && value !== null && typeof (value as { readonly ev?: unknown }).ev === "string"
      ? value as Event
      : undefined
  } catch {
    return undefined
  }
}

/**
 * The command of one line, or an error message when the line is not JSON or not an object with
 * a `cmd` (an unknown `cmd` is left to the contender).
 *
 * @since 0.2.0
 * @category encoding
 */
export const decodeCommand = (line: string): Command | { readonly error: string } => {
  try {
    const value: unknown = JSON.parse(line)
    return typeof value === "object" && value !== null && typeof (value as { readonly cmd?: unknown }).cmd === "string"
      ? value as Command
      : { error: `not a command: ${line}` }
  } catch (error) {
    return { error: String(error) }
  }
}
