/**
 * The exclusion checker: judges a run of contenders (the loop mode of the contender harness) from
 * what they reported, what was done to them, and the fenced resource's own history — the one
 * verdict the chaos suite, the demo and the bench share.
 *
 * It trusts no contender's summary: belief intervals are rebuilt from the individual `valid`
 * events (each reported *before* the holder acted on it, so a SIGKILLed holder's interval is
 * complete up to its last action).
 *
 * What it reports (`check`):
 * - critical sections: tenures in which the holder positively believed, at least once, that it
 *   held the lease (a `valid` event);
 * - overlaps: two different holders whose belief intervals `[first valid, last valid]` intersect —
 *   the split brain a lock must never allow (required: 0). The one exception is outside the
 *   protocol: an admin writing a *free* record over a held lease (no spec, empty holder, a forced
 *   release) hands it over at once while the old holder believes until its next renewal; such an
 *   overlap is reported apart when the old holder found out within one renewal interval;
 * - stale writes accepted: entries of the resource's history carrying a token lower than one it had
 *   already accepted, or the current highest token but from another holder (required: 0);
 * - token order: consecutive tenures (by start) whose token does not increase, unless the same
 *   holder re-adopted its own lease, or an admin lowered `leaseTransitions` in between;
 * - stuck periods: gaps between belief intervals longer than `duration + retryPeriod +
 *   requestTimeout`, after removing the time during which nobody could have progressed (API server
 *   or etcd down, a hostile record an admin wrote that rightly blocks for its duration), plus, under
 *   added latency, the time a write the holder gave up on may linger in the network and still land;
 * - failover: the gap after a tenure that ended without a release (lost, killed, paused);
 * - how each SIGSTOP pause ended (found out before writing, or rejected by the fence), how late
 *   after the last renewal a holder declared a deadline loss, and how soon after that anyone else
 *   took over (must be ≥ `duration`, unless the holder itself cleared the record after declaring
 *   the loss).
 *
 * A semaphore run (`checkSemaphore`: N permits, each an ordinary lease with its own fenced
 * resource) is judged permit by permit with the same rules — every event of a journal after an
 * `acquired` of permit i, up to the next `acquired`, is about permit i — and, across permits:
 * - inside at once: the most belief intervals that intersect at one instant, over all permits;
 *   more than N is a violation;
 * - stuck periods: gaps during which nobody at all believed it held a permit.
 *
 * Time: every instant given to the checker is in milliseconds of `CLOCK_MONOTONIC` — the
 * contenders' events pass through `inMillis` (the protocol's microseconds ÷ 1000), and the
 * circumstances are timed with `ContenderProtocol.nowMicros() / 1000`. Durations are milliseconds.
 *
 * Does not: observe anything itself — a belief never reported is not judged, and a fenced resource
 * that was not used (`emptyFence`) judges no write.
 *
 * @since 0.2.0
 */
import type { FenceState } from "./Fence.ts"
import type { LoopEvent } from "./ContenderProtocol.ts"
import * as internal from "./internal/exclusion/check.ts"
import * as semaphore from "./internal/exclusion/semaphore.ts"

/**
 * The lease timing the contenders ran with (durations in milliseconds, the lease's duration in
 * whole seconds).
 *
 * @since 0.2.0
 * @category models
 */
export interface Timing {
  readonly durationSeconds: number
  readonly renewIntervalMillis: number
  readonly renewDeadlineMillis: number
  readonly retryPeriodMillis: number
  readonly requestTimeoutMillis: number
  /** Cap on a foreign record's `leaseDurationSeconds` (default of the library: 1 hour). */
  readonly maxHonouredSeconds?: number | undefined
}

/**
 * What was done to the contenders during the run (the chaos runner's journal), in milliseconds of
 * `CLOCK_MONOTONIC`.
 * - `fault`: one injected fault; `lingerMillis`: how long a write sent during the fault may linger
 *   in the network before it lands (added latency) — such a late write restarts the other
 *   contenders' observation of the record.
 * - `outage`: a window in which the lease could not be written by anyone (API server or etcd
 *   down), with who held the lease when it began, if anyone.
 * - `admin`: an admin wrote the lease, sent at `t`, answered at `answered` (the write landed in
 *   between); `blocksMillis`: how long contenders may rightly wait on it; `resetsTokens`: the record
 *   lowers `leaseTransitions`, so tokens start again.
 * - `pause`: a holder was SIGSTOPped from `from` to `to` (`self`: by its own `pause` command, between
 *   its check and its write); `permit`: the permit it held (semaphores).
 * - `note`: free text.
 *
 * @since 0.2.0
 * @category models
 */
export type Circumstance =
  | {
    readonly ev: "fault"
    readonly t: number
    readonly kind: string
    readonly target?: string | undefined
    readonly detail?: string | undefined
    readonly lingerMillis?: number | undefined
  }
  | {
    readonly ev: "outage"
    readonly from: number
    readonly to: number
    readonly what: string
    readonly holder?: string | undefined
    readonly token?: number | undefined
  }
  | {
    readonly ev: "admin"
    readonly t: number
    readonly answered?: number | undefined
    readonly variant: string
    readonly via: "api" | "etcd"
    readonly blocksMillis: number
    readonly resetsTokens: boolean
  }
  | {
    readonly ev: "pause"
    readonly holder: string
    readonly token: number
    readonly kind: "external" | "self"
    readonly from: number
    readonly to: number
    readonly permit?: number | undefined
  }
  | { readonly ev: "note"; readonly t: number; readonly text: string }

/**
 * One contender's events, in the order it reported them, in milliseconds (see `inMillis`).
 *
 * @since 0.2.0
 * @category models
 */
export type Journal = ReadonlyArray<LoopEvent>

/**
 * Two holders that believed at once: their tokens and for how long.
 *
 * @since 0.2.0
 * @category models
 */
export interface Overlap {
  readonly a: string
  readonly b: string
  readonly tokens: readonly [number, number]
  readonly millis: number
}

/**
 * The verdict's figures (see the module header; `violations` turns it into sentences).
 *
 * @since 0.2.0
 * @category models
 */
export interface Report {
  readonly sections: number
  readonly overlaps: ReadonlyArray<Overlap>
  /** Overlaps that began with an admin's write of a free record over the held lease (the old
   * holder finding out at its next renewal): outside the protocol, fenced, reported apart. */
  readonly excusedOverlaps: ReadonlyArray<Overlap & { readonly admin: string }>
  readonly staleAccepted: ReadonlyArray<string>
  readonly tokenRegressions: ReadonlyArray<string>
  readonly tokenResetsByAdmin: number
  readonly readoptions: number
  readonly stuck: ReadonlyArray<string>
  readonly stuckThresholdMillis: number
  readonly maxFailoverMillis: number
  readonly maxGapMillis: number
  readonly writes: { readonly accepted: number; readonly rejected: number; readonly foundOut: number; readonly failed: number }
  /** Accepted writes in a journal that are missing from the resource's (retained) history. */
  readonly lostWrites: ReadonlyArray<string>
  /** History entries no contender reported as begun. */
  readonly phantomWrites: ReadonlyArray<string>
  readonly losses: Readonly<Record<string, number>>
  /** `missed`: the process was stopped just after it had left its section (not counted in total). */
  readonly pauses: {
    readonly total: number
    readonly foundOut: number
    readonly fenced: number
    readonly missed: number
    readonly other: ReadonlyArray<string>
  }
  /** Deadline losses: how long after its last successful renewal the holder declared the loss. */
  readonly lossDeclaredAfterMillis: ReadonlyArray<number>
  /** After each deadline loss, how long after that last renewal the next holder started. */
  readonly takeoverAfterLastRenewalMillis: ReadonlyArray<number>
  /** Takeovers sooner than `duration` after the lost holder's last renewal (required: 0). */
  readonly earlyTakeovers: ReadonlyArray<string>
  readonly outages: ReadonlyArray<{ readonly what: string; readonly millis: number; readonly holderKept: boolean | undefined }>
  readonly faults: number
  readonly adminWrites: number
  /** Semaphore runs: the most contenders inside critical sections at one instant, and the
   * instants where that exceeded the permits (required: none). */
  readonly inside?:
    | {
      readonly permits: number
      readonly max: number
      readonly excess: ReadonlyArray<string>
      /** Contenders that entered a critical section at least once. */
      readonly served: number
      readonly contenders: number
    }
    | undefined
}

/**
 * A contender's event with its instants (`t`, a section's `start` and `end`, a loss's
 * `lastRenewal`) turned from the protocol's microseconds into the checker's milliseconds.
 *
 * @since 0.2.0
 * @category conversions
 */
export const inMillis = (event: LoopEvent): LoopEvent => {
  const t = event.t / 1000
  switch (event.ev) {
    case "section":
      return { ...event, t, start: event.start / 1000, end: event.end / 1000 }
    case "lost":
      return { ...event, t, lastRenewal: event.lastRenewal === undefined ? undefined : event.lastRenewal / 1000 }
    default:
      return { ...event, t }
  }
}

/**
 * The state of a fenced resource nobody wrote to (a run whose sections write nothing, such as the
 * bench's throughput figure): no history to judge.
 *
 * @since 0.2.0
 * @category constructors
 */
export const emptyFence: FenceState = { resourceVersion: "", token: -1, holder: "", writes: 0, log: [], dropped: 0 }

/**
 * Judges a run on one lease (see the module header).
 *
 * @since 0.2.0
 * @category checks
 */
export const check: (input: {
  readonly timing: Timing
  readonly journals: ReadonlyArray<Journal>
  readonly circumstances: ReadonlyArray<Circumstance>
  readonly fence: FenceState
}) => Report = internal.check

/**
 * Judges a semaphore run with `permits` permits: each permit by `check` against its own fenced
 * resource (`fences[i]`), plus the bound across permits (see the module header).
 *
 * @since 0.2.0
 * @category checks
 */
export const checkSemaphore: (input: {
  readonly timing: Timing
  readonly permits: number
  readonly journals: ReadonlyArray<Journal>
  readonly circumstances: ReadonlyArray<Circumstance>
  readonly fences: ReadonlyArray<FenceState>
}) => Report = semaphore.checkSemaphore

/**
 * The most intervals `[start, end]` that intersect at one instant (touching ones count), with the
 * instants (as text) where more than `bound` did.
 *
 * @since 0.2.0
 * @category checks
 */
export const maxConcurrent: (
  intervals: ReadonlyArray<{ readonly start: number; readonly end: number; readonly label: string }>,
  bound: number
) => { readonly max: number; readonly excess: ReadonlyArray<string> } = semaphore.maxConcurrent

/**
 * The violations that fail a run, as sentences (empty when the run is clean): more holders than
 * permits, overlaps, stale writes accepted, tokens not increasing, early takeovers, lost or phantom
 * writes, a write accepted after a pause.
 *
 * @since 0.2.0
 * @category checks
 */
export const violations = (report: Report): ReadonlyArray<string> => [
  ...(report.inside?.excess ?? []).map((s) => `more than ${report.inside!.permits} permits held: ${s}`),
  ...report.overlaps.map((o) => `overlap: ${o.a} (token ${o.tokens[0]}) and ${o.b} (token ${o.tokens[1]}) for ${o.millis.toFixed(0)} ms`),
  ...report.staleAccepted.map((s) => `stale write accepted: ${s}`),
  ...report.tokenRegressions.map((s) => `token not increasing: ${s}`),
  ...report.earlyTakeovers.map((s) => `early takeover: ${s}`),
  ...report.lostWrites.map((s) => `write journaled as accepted but missing from the resource: ${s}`),
  ...report.phantomWrites.map((s) => `write in the resource that no contender began: ${s}`),
  ...report.pauses.other.filter((s) => s.includes("accepted")).map((s) => `pause: ${s}`)
]
