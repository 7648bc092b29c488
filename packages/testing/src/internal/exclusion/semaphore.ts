/**
 * The exclusion checker on a semaphore (`Exclusion.checkSemaphore`): each permit judged as one
 * lease by `check`, plus the bound across permits (how many believed at once) and the gaps during
 * which nobody held any permit.
 */
import type { LoopEvent } from "../../ContenderProtocol.ts"
import type { Circumstance, Journal, Report, Timing } from "../../Exclusion.ts"
import type { FenceState } from "../../Fence.ts"
import { check, covered } from "./check.ts"

/**
 * The most intervals `[start, end]` that intersect at one instant, with the instants (as text)
 * where more than `bound` did.
 */
export const maxConcurrent = (
  intervals: ReadonlyArray<{ readonly start: number; readonly end: number; readonly label: string }>,
  bound: number
): { readonly max: number; readonly excess: ReadonlyArray<string> } => {
  // Starts before ends at the same instant: touching intervals count as intersecting.
  const points = intervals.flatMap((i) => [
    { t: i.start, d: 1, label: i.label },
    { t: i.end, d: -1, label: i.label }
  ]).sort((a, b) => a.t - b.t || b.d - a.d)
  const open = new Set<string>()
  let max = 0
  const excess: Array<string> = []
  for (const p of points) {
    if (p.d === 1) {
      open.add(p.label)
      max = Math.max(max, open.size)
      if (open.size > bound) excess.push(`${open.size} inside critical sections at ${p.t.toFixed(0)}: ${[...open].join(", ")}`)
    } else open.delete(p.label)
  }
  return { max, excess }
}

/** The permit each journal line is about: that of the last `acquired` before it (undefined before any). */
const byPermit = (journal: ReadonlyArray<LoopEvent>, permit: number): Array<LoopEvent> => {
  let current: number | undefined
  const out: Array<LoopEvent> = []
  for (const event of journal) {
    if (event.ev === "acquired") current = event.permit
    // Lines without a tenure (start, exit, acquire-failed) belong to every permit's view.
    if (!("token" in event) || current === permit) out.push(event)
  }
  return out
}

/**
 * A semaphore run with `permits` permits: each permit judged by `check` against its own fenced
 * resource (`fences[i]`), plus the bound across permits (see the module header).
 */
export const checkSemaphore = (input: {
  readonly timing: Timing
  readonly permits: number
  readonly journals: ReadonlyArray<Journal>
  readonly circumstances: ReadonlyArray<Circumstance>
  readonly fences: ReadonlyArray<FenceState>
}): Report => {
  const { permits, timing } = input
  const runner = input.circumstances
  const reports = input.fences.map((fence, i) =>
    check({
      timing,
      journals: input.journals.map((j) => byPermit(j, i)),
      // Pauses are judged on the paused holder's permit; everything else concerns every permit.
      circumstances: runner.filter((e) => e.ev !== "pause" || e.permit === i),
      fence
    })
  )
  const tag = (i: number) => (s: string) => `permit ${i}: ${s}`
  const sum = (f: (r: Report) => number) => reports.reduce((n, r) => n + f(r), 0)
  const all = <A>(f: (r: Report) => ReadonlyArray<A>) => reports.flatMap(f)
  const allTagged = (f: (r: Report) => ReadonlyArray<string>) => reports.flatMap((r, i) => f(r).map(tag(i)))

  // Belief intervals over every permit, rebuilt as `check` does (first to last `valid` of a tenure).
  const intervals: Array<{ start: number; end: number; label: string }> = []
  const served = new Set<string>()
  for (const journal of input.journals) {
    let current: { holder: string; token: number; permit: number | undefined; start: number; end: number } | undefined
    const flush = () => {
      if (current !== undefined && !Number.isNaN(current.start)) {
        served.add(current.holder)
        intervals.push({ start: current.start, end: current.end, label: `${current.holder} (permit ${current.permit}, token ${current.token})` })
      }
    }
    for (const event of journal) {
      if (event.ev === "acquired") {
        flush()
        current = { holder: event.holder, token: event.token, permit: event.permit, start: NaN, end: NaN }
      } else if (event.ev === "valid" && current !== undefined && current.token === event.token) {
        if (Number.isNaN(current.start)) current.start = event.t
        current.end = Math.max(Number.isNaN(current.end) ? event.t : current.end, event.t)
      }
    }
    flush()
  }
  const inside = maxConcurrent(intervals, permits)

  // Stuck: nobody inside any section for longer than the single-lease threshold, outages excused.
  const excused: Array<readonly [number, number]> = []
  for (const e of runner) {
    if (e.ev === "outage") excused.push([e.from, e.to])
    if (e.ev === "admin") excused.push([e.t, e.t + e.blocksMillis])
  }
  const stuckThresholdMillis = timing.durationSeconds * 1000 + timing.retryPeriodMillis + timing.requestTimeoutMillis
  const sorted = [...intervals].sort((a, b) => a.start - b.start)
  const stuck: Array<string> = []
  let maxGapMillis = 0
  let reach = sorted[0]
  for (const next of sorted.slice(1)) {
    if (next.start > reach!.end) {
      const gap = next.start - reach!.end
      maxGapMillis = Math.max(maxGapMillis, gap)
      const unexcused = gap - covered(reach!.end, next.start, excused)
      if (unexcused > stuckThresholdMillis) {
        stuck.push(`${(gap / 1000).toFixed(1)} s without any holder after ${reach!.label}`)
      }
    }
    if (next.end >= reach!.end) reach = next
  }

  const losses: Record<string, number> = {}
  for (const r of reports) for (const [k, v] of Object.entries(r.losses)) losses[k] = (losses[k] ?? 0) + v
  return {
    sections: sum((r) => r.sections),
    overlaps: all((r) => r.overlaps),
    excusedOverlaps: all((r) => r.excusedOverlaps),
    staleAccepted: allTagged((r) => r.staleAccepted),
    tokenRegressions: allTagged((r) => r.tokenRegressions),
    tokenResetsByAdmin: sum((r) => r.tokenResetsByAdmin),
    readoptions: sum((r) => r.readoptions),
    stuck,
    stuckThresholdMillis,
    maxFailoverMillis: Math.max(0, ...reports.map((r) => r.maxFailoverMillis)),
    maxGapMillis,
    writes: {
      accepted: sum((r) => r.writes.accepted),
      rejected: sum((r) => r.writes.rejected),
      foundOut: sum((r) => r.writes.foundOut),
      failed: sum((r) => r.writes.failed)
    },
    lostWrites: allTagged((r) => r.lostWrites),
    phantomWrites: allTagged((r) => r.phantomWrites),
    losses,
    pauses: {
      total: sum((r) => r.pauses.total),
      foundOut: sum((r) => r.pauses.foundOut),
      fenced: sum((r) => r.pauses.fenced),
      missed: sum((r) => r.pauses.missed),
      other: allTagged((r) => r.pauses.other)
    },
    lossDeclaredAfterMillis: all((r) => r.lossDeclaredAfterMillis),
    takeoverAfterLastRenewalMillis: all((r) => r.takeoverAfterLastRenewalMillis),
    earlyTakeovers: allTagged((r) => r.earlyTakeovers),
    outages: reports[0]?.outages ?? [],
    faults: runner.filter((e) => e.ev === "fault").length,
    adminWrites: runner.filter((e) => e.ev === "admin").length,
    inside: {
      permits,
      max: inside.max,
      excess: inside.excess,
      served: served.size,
      contenders: input.journals.filter((j) => j.length > 0).length
    }
  }
}

