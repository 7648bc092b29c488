/**
 * TEMPORARY (harness-b): the loop events, until ContenderProtocol lands from harness-a.
 *
 * @since 0.1.0
 */
import type { FenceTarget, WriteOutcome } from "./Fence.ts"

// ---------------------------------------------------------------------------------------------
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
 *   the lease at `t`. `found-out`: `isHeld` answered false where the holder was about to act
 *   (`where`: `enter`, `before-write`, `write-retry`, `exit`).
 * - `write-begin` / `write`: one fenced write (`Fence.write`) and how it ended.
 * - `lost`: the lease's loss notification (`reason`: the `LeaseLostError` reason; `lastRenewal`: the
 *   last successful renewal of a `DeadlineExceeded` loss, converted from the wall clock).
 * - `section`: the critical section ended (`start`/`end`: its first and last `valid`).
 * - `releasing` (`afterLoss`: the section did not complete), then `release-ok` or `release-failed`.
 * - `self-pause` / `resumed`: the contender SIGSTOPped itself between its check and its write (armed
 *   by the `pause` command), and went on after SIGCONT.
 *
 * @since 0.1.0
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
  | { readonly ev: "valid"; readonly t: number; readonly holder: string; readonly token: number }
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
 * @since 0.1.0
 * @category guards
 */
export const isLoopEvent = (event: { readonly ev: string }): event is LoopEvent =>
  loopEvents.has(event.ev) && "holder" in event

/** TEMPORARY until harness-a's protocol lands: the join fields the loop reads. */
export interface JoinCommand {
  readonly cmd: "join"
  readonly name: string
  readonly namespace?: string | undefined
  readonly leaseDurationMs?: number | undefined
  readonly renewDeadlineMs?: number | undefined
  readonly retryPeriodMs?: number | undefined
  readonly renewIntervalMs?: number | undefined
  readonly mode?: "hold" | "loop" | "semaphore" | undefined
  readonly permits?: number | undefined
  /** `loop` mode (leasekit): the lease's request timeout, ms. */
  readonly requestTimeoutMs?: number | undefined
  /** `loop` mode (leasekit): cap on a foreign record's duration (`maxHonouredDuration`), ms. */
  readonly maxHonouredMs?: number | undefined
  /** `loop` mode (leasekit): bound on one acquisition, ms (then `acquire-failed`, and the next round). */
  readonly acquireTimeoutMs?: number | undefined
  /** `loop` mode (leasekit): fenced writes per critical section (default 0: two checks and nothing else). */
  readonly writes?: number | undefined
  /** `loop` mode (leasekit): simulated work before each fenced write, ms. */
  readonly workMs?: number | undefined
  /** `loop` mode (leasekit): the fenced resource the writes go to (required when `writes > 0`). */
  readonly fence?: FenceTarget | undefined
  /** `loop` mode (leasekit): a random pause of up to this long between rounds, ms (default none). */
  readonly pauseMs?: number | undefined
}

/** Microseconds of `CLOCK_MONOTONIC`. */
export const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n)
