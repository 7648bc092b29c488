/**
 * The independent checker: reads what the contenders journaled, what the runner injected, and the
 * fenced resource's own history, and judges the run. It trusts no contender's summary: belief
 * intervals are rebuilt from the individual `valid` lines (each journaled *before* the holder
 * acted on it, so a SIGKILLed holder's interval is complete up to its last action).
 *
 * What it reports:
 * - critical sections: tenures in which the holder positively believed, at least once, that it
 *   held the lease (a `valid` line);
 * - overlaps: two different holders whose belief intervals `[first valid, last valid]` intersect —
 *   the split brain this library must never allow (required: 0). The one exception is outside the
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
 *   added latency, the time a write the holder gave up on may linger in the network and still land
 *   (it restarts everyone's observation of the record);
 * - failover: the gap after a tenure that ended without a release (lost, killed, paused);
 * - how each SIGSTOP pause ended (found out before writing, or rejected by the fence), how late
 *   after the last renewal a holder declared a deadline loss, and how soon after that anyone else
 *   took over (must be ≥ `duration`, unless the holder itself cleared the record after declaring
 *   the loss).
 *
 * A semaphore run (`checkSemaphore`: N permits, each an ordinary lease with its own fenced
 * resource) is judged permit by permit with the same rules — every line of a journal after an
 * `acquired` of permit i, up to the next `acquired`, is about permit i — and, across permits:
 * - inside at once: the most belief intervals that intersect at one instant, over all permits;
 *   more than N is a violation (the semaphore's bound: N unchanged during the run);
 * - stuck periods: gaps during which nobody at all believed it held a permit (a permit idle while
 *   others are held is not stuck: the waiters are served by the held ones' releases).
 */
import type { FenceState } from "./fence.ts"
import type { ContenderEvent, RunnerEvent, Timing } from "./protocol.ts"

export interface Tenure {
  readonly holder: string
  readonly token: number
  readonly acquiredAt: number
  start: number
  end: number
  released: boolean
  lost: string | undefined
}

export interface Overlap {
  readonly a: string
  readonly b: string
  readonly tokens: readonly [number, number]
  readonly millis: number
}

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
  /** History entries no contender journaled as begun. */
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
      /** Contenders that entered a critical section at least once (the queue turns: all of them). */
      readonly served: number
      readonly contenders: number
    }
    | undefined
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`)

/** Length of the parts of `[from, to]` covered by `windows`. */
const covered = (from: number, to: number, windows: ReadonlyArray<readonly [number, number]>): number => {
  const clipped = windows
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0])
  let total = 0
  let cursor = from
  for (const [a, b] of clipped) {
    const start = Math.max(a, cursor)
    if (b > start) {
      total += b - start
      cursor = b
    }
  }
  return total
}

export const check = (input: {
  readonly timing: Timing
  readonly journals: ReadonlyArray<ReadonlyArray<ContenderEvent>>
  readonly runner: ReadonlyArray<RunnerEvent>
  readonly fence: FenceState
}): Report => {
  const { fence, runner, timing } = input
  const durationMillis = timing.durationSeconds * 1000

  // --- tenures: each `acquired` starts one; `valid` lines extend it --------------------------
  const tenures: Array<Tenure> = []
  const writes = { accepted: 0, rejected: 0, foundOut: 0, failed: 0 }
  const losses: Record<string, number> = {}
  const begun = new Set<string>()
  const acceptedIds: Array<{ id: string; token: number }> = []
  const deadlineLosses: Array<{ holder: string; token: number; t: number; lastRenewal: number }> = []
  const releasing: Array<{ holder: string; token: number; t: number }> = []
  const releasedTokens = new Set<string>()
  let readoptions = 0
  for (const journal of input.journals) {
    let current: Tenure | undefined
    let releasingAfterLoss = false
    const all: Array<Tenure> = []
    for (const event of journal) {
      switch (event.e) {
        case "acquired":
          current = { holder: event.holder, token: event.token, acquiredAt: event.t, start: NaN, end: NaN, released: false, lost: undefined }
          all.push(current)
          break
        case "valid":
          if (current !== undefined && current.token === event.token) {
            if (Number.isNaN(current.start)) current.start = event.t
            current.end = Math.max(Number.isNaN(current.end) ? event.t : current.end, event.t)
          }
          break
        case "released":
          // A release after a loss still ends the tenure involuntarily (it counts as failover).
          if (current !== undefined && !releasingAfterLoss) current.released = true
          releasedTokens.add(`${event.holder}#${event.token}`)
          break
        case "releasing":
          releasing.push({ holder: event.holder, token: event.token, t: event.t })
          releasingAfterLoss = event.afterLoss
          break
        case "lost":
          losses[event.reason] = (losses[event.reason] ?? 0) + 1
          if (current !== undefined) current.lost = event.reason
          if (event.reason === "DeadlineExceeded" && event.lastRenewal !== undefined) {
            deadlineLosses.push({ holder: event.holder, token: event.token, t: event.t, lastRenewal: event.lastRenewal })
          }
          break
        case "write-begin":
          begun.add(event.id)
          break
        case "write":
          if (event.outcome === "accepted") {
            writes.accepted++
            acceptedIds.push({ id: event.id, token: event.token })
          } else if (event.outcome === "rejected") writes.rejected++
          else if (event.outcome === "found-out") writes.foundOut++
          else writes.failed++
          break
        case "found-out":
          if (event.where !== "write-retry") writes.foundOut++
          break
        default:
          break
      }
    }
    for (const t of all) if (!Number.isNaN(t.start)) tenures.push(t)
  }
  tenures.sort((a, b) => a.start - b.start)

  // --- overlaps -------------------------------------------------------------------------------
  const overlaps: Array<Overlap> = []
  const excusedOverlaps: Array<Overlap & { readonly admin: string }> = []
  const adminWrites = runner.filter((e): e is Extract<RunnerEvent, { e: "admin" }> => e.e === "admin")
  const seen = new Set<string>()
  for (let i = 0; i < tenures.length; i++) {
    const a = tenures[i]!
    for (let j = i + 1; j < tenures.length && tenures[j]!.start <= a.end; j++) {
      const b = tenures[j]!
      if (a.holder === b.holder) continue
      const key = `${pairKey(a.holder, b.holder)}#${a.token}#${b.token}`
      if (seen.has(key)) continue
      seen.add(key)
      const overlap: Overlap = { a: a.holder, b: b.holder, tokens: [a.token, b.token], millis: Math.min(a.end, b.end) - b.start }
      // An admin who writes a free record over a held lease hands it to the next contender at
      // once; the old holder learns it at its next renewal. Outside the protocol — excused, but
      // only when the old holder did find out within one renewal interval (plus its retries). The
      // admin's write is unconditional and lands somewhere between its send (`t`) and its answer:
      // one sent just before the old holder acquired can land just after and free its lease.
      const admin = adminWrites.find((w) =>
        (w.answered ?? w.t) >= a.acquiredAt && w.t <= b.start &&
        a.end <= w.t + timing.renewIntervalMillis + 2 * timing.requestTimeoutMillis + 1_000
      )
      if (admin !== undefined) excusedOverlaps.push({ ...overlap, admin: admin.variant })
      else overlaps.push(overlap)
    }
  }

  // --- the resource's history -----------------------------------------------------------------
  const staleAccepted: Array<string> = []
  let highest = -Infinity
  let highestBy = ""
  for (const entry of fence.log) {
    const by = entry.id.slice(0, entry.id.lastIndexOf("#"))
    if (entry.token < highest) staleAccepted.push(`${entry.id} wrote token ${entry.token} after ${highest} had been accepted`)
    else if (entry.token === highest && by !== highestBy) {
      staleAccepted.push(`${entry.id} wrote token ${entry.token}, which ${highestBy} had already written with`)
    }
    if (entry.token > highest) {
      highest = entry.token
      highestBy = by
    }
  }
  const inHistory = new Set(fence.log.map((e) => e.id))
  const lostWrites = fence.dropped > 0 ? [] : acceptedIds.filter((w) => !inHistory.has(w.id)).map((w) => w.id)
  const phantomWrites = fence.log.filter((e) => !begun.has(e.id)).map((e) => e.id)

  // --- token order ----------------------------------------------------------------------------
  const resets = runner.filter((e): e is Extract<RunnerEvent, { e: "admin" }> => e.e === "admin" && e.resetsTokens)
  const tokenRegressions: Array<string> = []
  let tokenResetsByAdmin = 0
  for (let i = 1; i < tenures.length; i++) {
    const prev = tenures[i - 1]!
    const next = tenures[i]!
    if (next.token > prev.token) continue
    if (next.token === prev.token && next.holder === prev.holder) {
      readoptions++
      continue
    }
    if (resets.some((r) => r.t >= prev.acquiredAt - 1 && r.t <= next.start)) {
      tokenResetsByAdmin++
      continue
    }
    tokenRegressions.push(`${next.holder} started with token ${next.token} after ${prev.holder} held ${prev.token}`)
  }

  // --- gaps -----------------------------------------------------------------------------------
  const excused: Array<readonly [number, number]> = []
  for (const e of runner) {
    if (e.e === "outage") excused.push([e.from, e.to])
    if (e.e === "admin") excused.push([e.t, e.t + e.blocksMillis])
  }
  const stuckThresholdMillis = durationMillis + timing.retryPeriodMillis + timing.requestTimeoutMillis
  const stuck: Array<string> = []
  let maxGapMillis = 0
  let maxFailoverMillis = 0
  let reach = tenures.length > 0 ? tenures[0]! : undefined
  for (let i = 1; i < tenures.length; i++) {
    const next = tenures[i]!
    const prev = reach!
    if (next.start > prev.end) {
      const gap = next.start - prev.end
      maxGapMillis = Math.max(maxGapMillis, gap)
      if (!prev.released) maxFailoverMillis = Math.max(maxFailoverMillis, gap)
      const unexcused = gap - covered(prev.end, next.start, excused)
      const linger = Math.max(0, ...runner.map((e) =>
        e.e === "fault" && e.lingerMillis !== undefined && e.t >= prev.acquiredAt - durationMillis && e.t <= next.start
          ? e.lingerMillis
          : 0
      ))
      if (unexcused > stuckThresholdMillis + linger) {
        stuck.push(`${(gap / 1000).toFixed(1)} s without a holder after ${prev.holder} (token ${prev.token}; ${
          (unexcused / 1000).toFixed(1)
        } s not explained by an outage or an admin's record)`)
      }
    }
    if (next.end >= prev.end) reach = next
  }

  // --- deadline losses: declared before `duration`, nobody earlier ---------------------------
  const frozen = runner.filter((e): e is Extract<RunnerEvent, { e: "pause" }> => e.e === "pause")
  const lossDeclaredAfterMillis = deadlineLosses
    .filter((l) => !frozen.some((p) => p.holder === l.holder && p.token === l.token))
    .map((l) => l.t - l.lastRenewal)
  const takeoverAfterLastRenewalMillis: Array<number> = []
  const earlyTakeovers: Array<string> = []
  for (const loss of deadlineLosses) {
    const next = tenures.find((t) => t.holder !== loss.holder && t.start > loss.lastRenewal && t.token >= loss.token)
    if (next === undefined) continue
    const after = next.start - loss.lastRenewal
    // The holder itself may clear the record once it declared the loss: not a takeover then.
    const cleared = releasing.some((r) => r.holder === loss.holder && r.token === loss.token && r.t <= next.start) &&
      releasedTokens.has(`${loss.holder}#${loss.token}`)
    if (cleared) continue
    takeoverAfterLastRenewalMillis.push(after)
    if (after < durationMillis) {
      earlyTakeovers.push(`${next.holder} started ${after.toFixed(0)} ms after ${loss.holder}'s last renewal (< ${durationMillis} ms)`)
    }
  }

  // --- pauses ---------------------------------------------------------------------------------
  const byHolder = new Map<string, ReadonlyArray<ContenderEvent>>()
  for (const journal of input.journals) {
    const first = journal[0]
    if (first !== undefined) byHolder.set(first.holder, journal)
  }
  const pauseEvents = runner.filter((e): e is Extract<RunnerEvent, { e: "pause" }> => e.e === "pause")
  let foundOut = 0
  let fenced = 0
  let missed = 0
  const other: Array<string> = []
  for (const pause of pauseEvents) {
    // What the holder did next: a write (the fence decides) or stopping (it found out). The
    // asynchronous `lost` notification is not an action.
    // A stopped process timestamps nothing: every line timed after `from` was made after SIGCONT
    // (`to` is taken by the runner just before it, the contender may be quicker to journal).
    const after = (byHolder.get(pause.holder) ?? []).filter((e) =>
      e.t > pause.from && "token" in e && e.token === pause.token &&
      (e.e === "write" || e.e === "found-out" || e.e === "section")
    )
    const first = after[0]
    const events = byHolder.get(pause.holder) ?? []
    // Stopped just after it left its section (a line timed before the stop, written after it).
    const leftBefore = events.some((e) => (e.e === "section" || e.e === "found-out") && e.token === pause.token && e.t < pause.from)
    if (leftBefore) missed++
    else if (first === undefined) other.push(`${pause.holder}: nothing journaled after the pause`)
    else if (first.e === "write" && first.outcome === "rejected") fenced++
    else if (first.e === "write" && first.outcome === "accepted") other.push(`${pause.holder}: a write was accepted after the pause`)
    else foundOut++
  }

  // --- outages: did the holder of the moment keep its lease? --------------------------------
  const outages = runner.filter((e): e is Extract<RunnerEvent, { e: "outage" }> => e.e === "outage").map((o) => {
    const events = o.holder === undefined ? [] : byHolder.get(o.holder) ?? []
    // Kept: it neither lost nor found out it lost the lease, and it went on afterwards (acted as
    // holder after the outage, or released the lease normally).
    const gaveUp = events.some((e) =>
      (e.e === "lost" || e.e === "found-out") && e.token === o.token && e.t >= o.from
    )
    const wentOn = events.some((e) =>
      (e.e === "valid" && e.token === o.token && e.t > o.to) ||
      (e.e === "released" && e.token === o.token && e.t > o.from)
    )
    const holderKept = o.holder === undefined ? undefined : !gaveUp && wentOn
    return { what: o.what, millis: o.to - o.from, holderKept }
  })

  return {
    sections: tenures.length,
    overlaps,
    excusedOverlaps,
    staleAccepted,
    tokenRegressions,
    tokenResetsByAdmin,
    readoptions,
    stuck,
    stuckThresholdMillis,
    maxFailoverMillis,
    maxGapMillis,
    writes,
    lostWrites,
    phantomWrites,
    losses,
    pauses: { total: pauseEvents.length - missed, foundOut, fenced, missed, other },
    lossDeclaredAfterMillis,
    takeoverAfterLastRenewalMillis,
    earlyTakeovers,
    outages,
    faults: runner.filter((e) => e.e === "fault").length,
    adminWrites: runner.filter((e) => e.e === "admin").length
  }
}

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
const byPermit = (journal: ReadonlyArray<ContenderEvent>, permit: number): Array<ContenderEvent> => {
  let current: number | undefined
  const out: Array<ContenderEvent> = []
  for (const event of journal) {
    if (event.e === "acquired") current = event.permit
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
  readonly journals: ReadonlyArray<ReadonlyArray<ContenderEvent>>
  readonly runner: ReadonlyArray<RunnerEvent>
  readonly fences: ReadonlyArray<FenceState>
}): Report => {
  const { permits, runner, timing } = input
  const reports = input.fences.map((fence, i) =>
    check({
      timing,
      journals: input.journals.map((j) => byPermit(j, i)),
      // Pauses are judged on the paused holder's permit; everything else concerns every permit.
      runner: runner.filter((e) => e.e !== "pause" || e.permit === i),
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
      if (event.e === "acquired") {
        flush()
        current = { holder: event.holder, token: event.token, permit: event.permit, start: NaN, end: NaN }
      } else if (event.e === "valid" && current !== undefined && current.token === event.token) {
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
    if (e.e === "outage") excused.push([e.from, e.to])
    if (e.e === "admin") excused.push([e.t, e.t + e.blocksMillis])
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
    faults: runner.filter((e) => e.e === "fault").length,
    adminWrites: runner.filter((e) => e.e === "admin").length,
    inside: {
      permits,
      max: inside.max,
      excess: inside.excess,
      served: served.size,
      contenders: input.journals.filter((j) => j.length > 0).length
    }
  }
}

/** The violations that fail a run, as sentences (empty when the run is clean). */
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
