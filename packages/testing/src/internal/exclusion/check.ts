/**
 * The exclusion checker on one lease (`Exclusion.check`, whose header says what it judges): tenures
 * rebuilt from `valid` events, overlaps, the fenced resource's history, token order, gaps and
 * failover, deadline losses and early takeovers, pauses and outages.
 */
import type { Circumstance, Journal, Overlap, Report, Timing } from "../../Exclusion.ts"
import type { LoopEvent } from "../../ContenderProtocol.ts"
import type { FenceState } from "../../Fence.ts"

/** One tenure: from its `acquired` event, believed from its first to its last `valid`. */
interface Tenure {
  readonly holder: string
  readonly token: number
  readonly acquiredAt: number
  start: number
  end: number
  released: boolean
  lost: string | undefined
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`)

/** Length of the parts of `[from, to]` covered by `windows`. */
export const covered = (from: number, to: number, windows: ReadonlyArray<readonly [number, number]>): number => {
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
  readonly journals: ReadonlyArray<Journal>
  readonly circumstances: ReadonlyArray<Circumstance>
  readonly fence: FenceState
}): Report => {
  const { fence, timing } = input
  const runner = input.circumstances
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
      switch (event.ev) {
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
        case "release-ok":
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
  const adminWrites = runner.filter((e): e is Extract<Circumstance, { ev: "admin" }> => e.ev === "admin")
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
  const resets = runner.filter((e): e is Extract<Circumstance, { ev: "admin" }> => e.ev === "admin" && e.resetsTokens)
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
    if (e.ev === "outage") excused.push([e.from, e.to])
    if (e.ev === "admin") excused.push([e.t, e.t + e.blocksMillis])
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
        e.ev === "fault" && e.lingerMillis !== undefined && e.t >= prev.acquiredAt - durationMillis && e.t <= next.start
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
  const frozen = runner.filter((e): e is Extract<Circumstance, { ev: "pause" }> => e.ev === "pause")
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
  const byHolder = new Map<string, ReadonlyArray<LoopEvent>>()
  for (const journal of input.journals) {
    const first = journal[0]
    if (first !== undefined) byHolder.set(first.holder, journal)
  }
  const pauseEvents = runner.filter((e): e is Extract<Circumstance, { ev: "pause" }> => e.ev === "pause")
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
      (e.ev === "write" || e.ev === "found-out" || e.ev === "section")
    )
    const first = after[0]
    const events = byHolder.get(pause.holder) ?? []
    // Stopped just after it left its section (a line timed before the stop, written after it).
    const leftBefore = events.some((e) => (e.ev === "section" || e.ev === "found-out") && e.token === pause.token && e.t < pause.from)
    if (leftBefore) missed++
    else if (first === undefined) other.push(`${pause.holder}: nothing journaled after the pause`)
    else if (first.ev === "write" && first.outcome === "rejected") fenced++
    else if (first.ev === "write" && first.outcome === "accepted") other.push(`${pause.holder}: a write was accepted after the pause`)
    else foundOut++
  }

  // --- outages: did the holder of the moment keep its lease? --------------------------------
  const outages = runner.filter((e): e is Extract<Circumstance, { ev: "outage" }> => e.ev === "outage").map((o) => {
    const events = o.holder === undefined ? [] : byHolder.get(o.holder) ?? []
    // Kept: it neither lost nor found out it lost the lease, and it went on afterwards (acted as
    // holder after the outage, or released the lease normally).
    const gaveUp = events.some((e) =>
      (e.ev === "lost" || e.ev === "found-out") && e.token === o.token && e.t >= o.from
    )
    const wentOn = events.some((e) =>
      (e.ev === "valid" && e.token === o.token && e.t > o.to) ||
      (e.ev === "release-ok" && e.token === o.token && e.t > o.from)
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
    faults: runner.filter((e) => e.ev === "fault").length,
    adminWrites: runner.filter((e) => e.ev === "admin").length
  }
}

