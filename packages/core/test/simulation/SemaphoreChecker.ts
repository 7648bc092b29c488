/**
 * The independent checker of semaphore schedules (`SemaphoreSimulation.ts`): it judges a history
 * from what the contenders recorded (permits held, guarded steps, losses, releases, crashes) and
 * the writes the store applied (the head's N and queue, each permit's and ticket's holder), never
 * from the library's own judgements.
 *
 * Properties (the only relaxations are named):
 * - `sem-permit-exclusion`: no guarded step of a tenure of permit i after another tenure of permit
 *   i started (tenures whose contender paused for longer than its pause allowance are exempt, as in
 *   the lease checker).
 * - `sem-holders`: at every guarded step, the tenures in progress (from their start to their last
 *   step) number at most the largest N the head had since the earliest of them started — N while N
 *   is unchanged, M during the drain after lowering from M.
 * - `sem-withdrawn`: no permit is handed out whose index was ≥ N throughout its acquisition
 *   (from the call to the start of the tenure).
 * - `sem-token-order`: per permit, each write that gives it to a new holder carries a greater token
 *   than the last holder's, unless the permit object was deleted in between (the tokens contenders
 *   are told are the records they wrote: `HeldLease.token`).
 * - `sem-guarded-step`: no guarded step later than its tenure's loss or the start of its release.
 * In the quiet tail (from `settledAt`: no faults, pauses, crashes or resizes any more), with the
 * checker's LIVE entries — the ticket exists, names the entry's waiter, was written less than
 * `duration/(1+δ)` ago, and the waiter is still waiting and has not crashed (every process judges
 * such an entry live) — and FREE permits — index < N and absent, free, or held by nobody with a
 * tenure in progress (at least as many as any process counts):
 * - `sem-barging` (judged at all times, faults included): a permit is not taken by a contender
 *   without an entry of its own while an entry was live throughout its attempt — in the queue and
 *   its ticket naming its waiter since before the attempt's call (the attempt's reads come after
 *   it), last written less than `duration/(1+δ)` before the write that took the permit (`tryAcquire`
 *   never barges, nor does an unqueued `acquire`).
 * - `sem-fifo`: when a queued waiter B takes a permit, every live entry A ahead of B was ELIGIBLE
 *   (fewer live entries ahead of it than free permits) at some instant within B's `requestTimeout`
 *   before — so B overtook A only when both were eligible in the same round (then the order among
 *   them is a race, as documented).
 * - `sem-starvation`: a waiter that has been eligible without interruption for its liveness bound
 *   (`livenessBound` + `renewInterval`: a dead holder's or waiter's record expires within the longest
 *   duration, and the waiter notices within a watch or poll) has a permit.
 * - `sem-live-pruned` (judged at all times, faults included): no write to the head by a process
 *   other than the entry's own waiter removes an entry that no process can have judged dead — its
 *   waiter W is still waiting in the blocking acquisition that wrote the ticket (called before the
 *   ticket's first write, not done, not crashed), every write of the ticket up to the removal named
 *   W (never deleted, released or taken), and its first write was less than `min(W's duration, the
 *   writer's maxHonouredDuration)/(1+δ)` before the removal. A process may prune an entry it judged
 *   dead on its own clock (the ticket absent, released, or a version of it observed unrenewed for
 *   the honoured duration); any version it saw was written at or after the ticket's first write and
 *   its clock runs at most 1+δ fast, so it cannot judge such an entry dead, however stale its reads,
 *   pauses or lost answers. (A pruned waiter queues again at the end: `sem-fifo`, which judges the
 *   queue as it is, does not see that overtaking.)
 */
import type { Property, Violation } from "./Checker.ts"
import type { Event, RecordView } from "./History.ts"
import * as Plans from "./Plan.ts"
import type { SemaphorePlan } from "./SemaphoreSimulation.ts"

interface Tenure {
  readonly id: number
  readonly c: string
  readonly permit: number
  readonly attempt: number
  readonly start: Event
  lastStep: Event | undefined
  lostT: number | undefined
  releaseT: number | undefined
  end: number | undefined // seq of the loss, release or crash
  exempt: boolean
}

interface Attempt {
  readonly c: string
  readonly callT: number
  readonly blocking: boolean
  done: boolean
}

export const check = (plan: SemaphorePlan, events: ReadonlyArray<Event>): Array<Violation> => {
  const violations: Array<Violation> = []
  const seen = new Set<string>()
  const violate = (property: Property, message: string, from: number, to: number, contenders: ReadonlyArray<string>, once?: string) => {
    if (once !== undefined) {
      if (seen.has(once)) return
      seen.add(once)
    }
    violations.push({ property, message, from, to, key: undefined, contenders })
  }
  const timings = new Map(plan.contenders.map((c) => [c.id, c.timings]))
  const honouredCap = new Map(plan.contenders.map((c) => [c.id, c.timings.maxHonouredDuration]))
  const head = `${plan.keys[0]!.namespace}/${plan.keys[0]!.name}`
  const permitOf = (key: string): number | undefined => {
    if (!key.startsWith(`${head}-`)) return undefined
    const rest = key.slice(head.length + 1)
    return /^\d+$/.test(rest) ? Number(rest) : undefined
  }
  const ticketOf = (key: string): string | undefined =>
    key.startsWith(`${head}-w-`) ? key.slice(key.indexOf("/") + 1) : undefined

  // The store as the checker replays it.
  let headView: RecordView | undefined
  const nHistory: Array<{ readonly t: number; readonly n: number }> = []
  const permits = new Map<number, RecordView>()
  const lastToken = new Map<number, { readonly holder: string; readonly token: number; readonly t: number }>()
  const tickets = new Map<string, { readonly holder: string; readonly writtenAt: number }>()
  const enqueuedAt = new Map<string, number>()
  /** Ticket → since when it has been in the head's queue without interruption. */
  const inQueueSince = new Map<string, number>()
  /** Ticket → its writes (holder, or "" for a delete), in order. */
  const ticketWrites = new Map<string, Array<{ readonly t: number; readonly holder: string }>>()
  // What the contenders recorded.
  const tenures = new Map<number, Tenure>()
  const attempts = new Map<number, Attempt>()
  const pending = new Map<string, Attempt>() // contender → its blocking attempt in progress
  const crashed = new Map<string, number>()
  const exemptPauses: Array<{ readonly c: string; readonly t: number }> = []
  const lastEligible = new Map<string, number>() // ticket → last instant eligible
  const eligibleSince = new Map<string, number>() // ticket → since when eligible without interruption
  const delta = plan.delta

  const nAt = (t: number): number => {
    let n = plan.permits
    for (const h of nHistory) if (h.t <= t) n = h.n
    return n
  }
  const maxN = (from: number, to: number): number => {
    let m = nAt(from)
    for (const h of nHistory) if (h.t > from && h.t <= to) m = Math.max(m, h.n)
    return m
  }
  const activeOn = (permit: number, holder: string, seq: number): boolean => {
    for (const x of tenures.values()) {
      if (x.permit === permit && x.c === holder && x.start.seq <= seq && (x.end === undefined || x.end > seq)) return true
    }
    return false
  }
  const liveEntry = (e: { readonly h: string; readonly w: string }, t: number): boolean => {
    const ticket = tickets.get(e.w)
    const d = timings.get(e.h)?.duration
    return ticket !== undefined && ticket.holder === e.h && d !== undefined && t - ticket.writtenAt < d / (1 + delta) &&
      !crashed.has(e.h) && pending.has(e.h)
  }
  const freeCount = (seq: number): number => {
    const n = headView?.semPermits ?? 0
    let free = 0
    for (let i = 0; i < n; i++) {
      const p = permits.get(i)
      if (p === undefined || p.holder === "" || crashed.has(p.holder) || !activeOn(i, p.holder, seq)) free++
    }
    return free
  }
  /** Re-judges every queued waiter's eligibility after a change. */
  const judge = (e: Event) => {
    const queue = headView?.semQueue ?? []
    const free = freeCount(e.seq)
    let rank = 0
    const eligibleNow = new Set<string>()
    for (const entry of queue) {
      const live = liveEntry(entry, e.t)
      if (live && rank < free) {
        eligibleNow.add(entry.w)
        lastEligible.set(entry.w, e.t)
        if (!eligibleSince.has(entry.w)) eligibleSince.set(entry.w, e.t)
      }
      if (live) rank++
    }
    for (const w of [...eligibleSince.keys()]) if (!eligibleNow.has(w)) eligibleSince.delete(w)
    // Starvation: eligible for longer than the bound, still waiting.
    if (e.t >= plan.settledAt) {
      for (const entry of queue) {
        const since = eligibleSince.get(entry.w)
        const w = timings.get(entry.h)
        if (since === undefined || w === undefined || !liveEntry(entry, e.t)) continue
        const bound = Plans.livenessBound(plan, w) + w.renewInterval
        if (e.t - Math.max(since, plan.settledAt) > bound) {
          violate("sem-starvation", `${entry.h} (ticket ${entry.w}) eligible since ${since} ms and still waiting at ${e.t} ms (bound ${bound} ms)`, since, e.t, [entry.h], `starve ${entry.w}`)
        }
      }
    }
  }

  /**
   * Whether every process judged `entry` live throughout the attempt that began at `callT` and
   * wrote at `t` (its reads come after its call): in the queue and its ticket naming its waiter
   * since before the call, and written less than `duration/(1+δ)` before `t`.
   */
  const liveThroughout = (entry: { readonly h: string; readonly w: string }, callT: number, t: number): boolean => {
    const since = inQueueSince.get(entry.w)
    const writes = ticketWrites.get(entry.w) ?? []
    const before = writes.filter((x) => x.t <= callT).at(-1)
    const d = timings.get(entry.h)?.duration
    return since !== undefined && since < callT && before !== undefined && before.holder === entry.h && d !== undefined &&
      t - before.t < d / (1 + delta) && writes.every((x) => x.t <= callT || x.holder === entry.h)
  }

  /** A write giving permit `index` to `holder` (who did not hold it): barging and FIFO. */
  const granted = (e: Event, index: number, holder: string) => {
    const queue = headView?.semQueue ?? []
    const mine = queue.findIndex((q) => q.h === holder && tickets.get(q.w)?.holder === holder)
    const rt = timings.get(holder)?.requestTimeout ?? 0
    if (mine < 0) {
      // A grantee with a ticket is a waiter whose entry someone pruned meanwhile: not judged here.
      if ([...tickets.values()].some((x) => x.holder === holder)) return
      // At any time: the grantee's reads came after its call, so an entry live throughout is in them.
      const callT = [...attempts.values()].filter((a) => a.c === holder && a.callT <= e.t).at(-1)?.callT
      const ahead = callT === undefined ? undefined : queue.find((q) => q.h !== holder && liveThroughout(q, callT, e.t))
      if (ahead !== undefined) {
        violate("sem-barging", `${holder} took permit ${index} without queueing while ${ahead.h} (ticket ${ahead.w}) waited in the queue`, e.t - 1000, e.t, [holder, ahead.h])
      }
      return
    }
    if (e.t < plan.settledAt) return
    for (const a of queue.slice(0, mine)) {
      if (a.h === holder || !liveEntry(a, e.t)) continue
      const last = lastEligible.get(a.w)
      if (last === undefined || last < e.t - rt - 1) {
        violate("sem-fifo", `${holder} took permit ${index} while ${a.h} (ticket ${a.w}), ahead of it in the queue, was not eligible (last eligible ${last ?? "never"})`, e.t - 1000, e.t, [holder, a.h])
      }
    }
  }

  /**
   * A write to the head by `e.c` that removed entries of other waiters: none may be an entry that
   * no process can have judged dead (see `sem-live-pruned` above).
   */
  const prunedLive = (
    e: Event & { readonly kind: "store-apply" },
    before: ReadonlyArray<{ readonly h: string; readonly w: string }>,
    after: ReadonlyArray<{ readonly h: string; readonly w: string }>
  ) => {
    const kept = new Set(after.map((q) => q.w))
    for (const entry of before) {
      if (kept.has(entry.w) || entry.h === e.c) continue
      const writes = ticketWrites.get(entry.w) ?? []
      const first = writes[0]
      const d = timings.get(entry.h)?.duration
      const waiting = pending.get(entry.h)
      if (first === undefined || d === undefined || waiting === undefined || crashed.has(entry.h)) continue
      if (waiting.callT > first.t || !writes.every((x) => x.holder === entry.h)) continue
      const honoured = Math.min(d, honouredCap.get(e.c) ?? d)
      // A millisecond of room for the clocks' rounding.
      if (e.t - first.t + 1 < honoured / (1 + delta)) {
        violate(
          "sem-live-pruned",
          `${e.c} removed ${entry.h}'s entry (ticket ${entry.w}) from the queue while ${entry.h} waited; the ticket, first written ${
            e.t - first.t
          } ms before, had named ${entry.h} ever since (no process can judge it dead before ${Math.round(honoured / (1 + delta))} ms)`,
          first.t,
          e.t,
          [e.c, entry.h]
        )
      }
    }
  }

  for (const e of events) {
    switch (e.kind) {
      case "store-apply": {
        if (!e.ok) break
        if (e.key === head) {
          prunedLive(e, headView?.semQueue ?? [], e.deleted ? [] : e.after?.semQueue ?? [])
          headView = e.deleted ? undefined : e.after
          const n = headView?.semPermits
          if (n !== undefined && n !== nHistory.at(-1)?.n) nHistory.push({ t: e.t, n })
          for (const q of headView?.semQueue ?? []) if (!enqueuedAt.has(q.w)) enqueuedAt.set(q.w, e.t)
          const queued = new Set((headView?.semQueue ?? []).map((q) => q.w))
          for (const w of [...inQueueSince.keys()]) if (!queued.has(w)) inQueueSince.delete(w)
          for (const w of queued) if (!inQueueSince.has(w)) inQueueSince.set(w, e.t)
          judge(e)
          break
        }
        const index = permitOf(e.key)
        if (index !== undefined) {
          const before = permits.get(index)
          const holder = e.deleted ? "" : e.after?.holder ?? ""
          if (holder !== "" && holder !== before?.holder) {
            granted(e, index, holder)
            // Tokens: each new holder's token is greater than the last holder's, unless deleted since.
            const last = lastToken.get(index)
            const token = e.after?.transitions ?? 0
            if (last !== undefined && token <= last.token) {
              violate("sem-token-order", `permit ${index}: ${holder} got token ${token} after ${last.holder} had ${last.token}`, last.t, e.t, [last.holder, holder])
            }
            lastToken.set(index, { holder, token, t: e.t })
          }
          if (e.deleted) lastToken.delete(index)
          if (e.deleted || e.after === undefined) permits.delete(index)
          else permits.set(index, e.after)
          judge(e)
          break
        }
        const ticket = ticketOf(e.key)
        if (ticket !== undefined) {
          if (e.deleted || e.after === undefined || e.after.holder === "") tickets.delete(ticket)
          else tickets.set(ticket, { holder: e.after.holder, writtenAt: e.t })
          ticketWrites.set(ticket, [...ticketWrites.get(ticket) ?? [], { t: e.t, holder: tickets.get(ticket)?.holder ?? "" }])
          judge(e)
        }
        break
      }
      case "pause-begin":
        if (e.exempt) exemptPauses.push({ c: e.c, t: e.t })
        break
      case "sem": {
        switch (e.what) {
          case "call": {
            const a: Attempt = { c: e.c, callT: e.t, blocking: e.blocking === true, done: false }
            attempts.set(e.attempt!, a)
            if (a.blocking) pending.set(e.c, a)
            break
          }
          case "done": {
            const a = attempts.get(e.attempt!)
            if (a !== undefined) a.done = true
            if (pending.get(e.c) === a) pending.delete(e.c)
            judge(e)
            break
          }
          case "tenure": {
            const x: Tenure = {
              id: e.tenure!, c: e.c, permit: e.permit!, attempt: e.attempt!, start: e,
              lastStep: undefined, lostT: undefined, releaseT: undefined, end: undefined, exempt: false
            }
            tenures.set(x.id, x)
            const a = attempts.get(x.attempt)
            const n = maxN(a?.callT ?? e.t, e.t)
            if (x.permit >= n) {
              violate("sem-withdrawn", `${e.c} got permit ${x.permit} although N was at most ${n} throughout its acquisition`, a?.callT ?? e.t, e.t, [e.c])
            }
            break
          }
          case "step": {
            const x = tenures.get(e.tenure!)
            if (x === undefined) break
            x.lastStep = e
            if ((x.lostT !== undefined && e.t > x.lostT) || (x.releaseT !== undefined && e.t > x.releaseT)) {
              violate("sem-guarded-step", `${e.c} stepped in permit ${x.permit} (tenure #${x.id}) after its ${x.lostT !== undefined ? "loss" : "release"}`, x.start.t, e.t, [e.c])
            }
            break
          }
          case "lost":
          case "release": {
            const x = tenures.get(e.tenure!)
            if (x === undefined) break
            if (e.what === "lost") x.lostT ??= e.t
            else x.releaseT ??= e.t
            x.end ??= e.seq
            judge(e)
            break
          }
          case "crash": {
            crashed.set(e.c, e.t)
            pending.delete(e.c)
            for (const x of tenures.values()) if (x.c === e.c) x.end ??= e.seq
            judge(e)
            break
          }
          default:
            break
        }
        break
      }
      case "end":
        judge(e)
        break
      default:
        break
    }
  }

  // Exempt tenures: their contender paused for longer than its allowance while they were in progress.
  const all = [...tenures.values()].sort((a, b) => a.start.seq - b.start.seq)
  for (const x of all) {
    const last = x.lastStep?.t ?? x.start.t
    const from = attempts.get(x.attempt)?.callT ?? x.start.t
    x.exempt = exemptPauses.some((p) => p.c === x.c && p.t >= from && p.t <= last)
  }
  const byPermit = new Map<number, Array<Tenure>>()
  for (const x of all) byPermit.set(x.permit, [...byPermit.get(x.permit) ?? [], x])
  for (const [permit, list] of byPermit) {
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!
      for (let j = i + 1; j < list.length; j++) {
        const b = list[j]!
        if (!a.exempt && !b.exempt && a.lastStep !== undefined && a.lastStep.seq > b.start.seq && a.c !== b.c) {
          violate("sem-permit-exclusion", `${a.c} (tenure #${a.id}) stepped in permit ${permit} after ${b.c} took it (tenure #${b.id})`, b.start.t, a.lastStep.t, [a.c, b.c])
        }
      }
    }
  }
  // Holders at once, judged at every step.
  const steps = events.filter((e) => e.kind === "sem" && e.what === "step")
  for (const s of steps) {
    const active = all.filter((x) => !x.exempt && x.start.seq <= s.seq && x.lastStep !== undefined && x.lastStep.seq >= s.seq)
    if (active.length === 0) continue
    const since = Math.min(...active.map((x) => x.start.t))
    const bound = maxN(since, s.t)
    if (active.length > bound) {
      violate("sem-holders", `${active.length} tenures in progress at ${s.t} ms (${active.map((x) => `${x.c}:${x.permit}`).join(", ")}), N at most ${bound} since ${since} ms`, since, s.t, active.map((x) => x.c), "holders")
    }
  }
  return violations
}
