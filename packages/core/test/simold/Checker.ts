/**
 * The independent checker: judges a recorded history against the lease guarantees.
 *
 * It knows nothing of core's internals — only what the public API told each contender, what the
 * store applied, and what the harness did (pauses, admin writes). Properties, per lease key:
 *
 * 1. exclusion — no two tenures' held intervals overlap. A held interval runs from the moment
 *    `acquire`/`tryAcquire` (or the combinator) handed the lease to the user to the first of: its
 *    `lost` failed; its `release` returned success; the store applied its release write; its
 *    scope finished closing (or the combinator returned).
 * 2. guarded steps — a step runs only inside its own tenure, before that tenure's work window ends
 *    (the first of: `lost` failed, the user called `release` or began closing the scope), never
 *    inside another contender's held interval, and never after the renew deadline of the tenure's
 *    last successful write as the store saw it (applied at true time w: the deadline is
 *    w + renewDeadline / rate) — except in the instant a pause that spanned the deadline ends.
 *    And no acquisition hands the lease out after that deadline of the write that took it (no
 *    relaxation: however long the answer took, the holder can tell from its own clock).
 * 3. tokens — tenures' fencing tokens strictly increase in the order the tenures start, unless the
 *    object was deleted in between (admin delete or `releaseMode: "delete"`).
 * 4. no stray holder — every write a contender issues naming itself as holder is issued while it
 *    has an acquisition in progress or a tenure open (a failed, timed-out or interrupted acquire
 *    must leave no renewal behind).
 * 5. liveness, in the quiet tail after `settledAt`: (a) a blocking acquire does not stay pending
 *    while nobody holds the key for longer than `Plan.livenessBound`; (b) a blocking acquire does
 *    not stay pending while the record is FREE in the store for longer than `Plan.handoverBound`.
 * 6. no loss after release — once a tenure's release is confirmed (`release` returned success,
 *    or its scope finished closing) `lost` does not fire; once its release write landed (the store
 *    applied its clearing write or delete) `lost` does not fire with `Taken`, `Released` or
 *    `Deleted` and `release` does not report `HeldByOther` (an ambiguous release that then finds
 *    another holder was a release). `DeadlineExceeded` between landing and confirmation is right:
 *    the holder cannot know yet.
 * 7. fence — modelling the guarded resource as a fenced register that rejects a step whose token
 *    is lower than the highest it accepted: no step of an older tenure is accepted after a step of
 *    a newer one (unless the object was deleted in between, which restarts tokens).
 *
 * Relaxations (the documented non-guarantees), and only these: a tenure hit by a pause longer
 * than its contender's pause allowance (`duration/(1+δ) − renewDeadline/(1−δ)`), or by an admin
 * write that changed or removed the holder (while it was held or being acquired), is exempt from
 * 1 and 2 from that moment on (7 still applies to a paused one). Shorter pauses relax nothing.
 * Tokens (3, 7) are not compared across a delete of the object (the counter restarts), nor across
 * an admin takeover that hit either tenure before the later one started (an acquisition whose
 * answer was in flight when the admin cleared the record may be handed out after a later
 * taker's, with a lower token). A tenure hit by such an admin takeover may also learn of it from
 * its release write, so its `Taken`/`Released`/`Deleted` is not judged by 6. Nothing else relaxes
 * 4, 5 (judged only in the quiet tail) or 6, nor the late-acquisition rule of 2.
 *
 * Guarantees: a pure function of the plan and the history. Does not guarantee: to find a hole the
 * schedule did not exercise.
 */
import type { Event } from "./History.ts"
import type { Plan, Timings } from "./Plan.ts"
import { handoverBound, livenessBound } from "./Plan.ts"

export type Property =
  | "exclusion"
  | "guarded-step"
  | "late-acquisition"
  | "token-order"
  | "stray-holder"
  | "liveness"
  | "handover"
  | "loss-after-release"
  | "fence"

export interface Violation {
  readonly property: Property
  readonly message: string
  /** The window of the trace worth reading (true ms). */
  readonly from: number
  readonly to: number
  readonly key: string | undefined
  readonly contenders: ReadonlyArray<string>
}

interface Mark {
  readonly seq: number
  readonly t: number
}

const never: Mark = { seq: Number.POSITIVE_INFINITY, t: Number.POSITIVE_INFINITY }
const first = (...marks: ReadonlyArray<Mark | undefined>): Mark =>
  marks.reduce<Mark>((m, x) => (x !== undefined && x.seq < m.seq ? x : m), never)

interface Tenure {
  readonly id: number
  readonly c: string
  readonly key: string
  readonly token: number
  readonly start: Mark
  readonly opStart: Mark
  lost?: Mark & { readonly reason: string }
  releaseBegin?: Mark
  releaseOk?: Mark
  releaseEnds: Array<Mark & { readonly detail: string }>
  close?: Mark
  releaseApply?: Mark
  exemptFrom?: Mark & { readonly why: string }
  /** An admin write changed or removed the holder while this tenure was acquired or held. */
  adminFrom?: Mark
}

interface Attempt {
  readonly id: number
  readonly c: string
  readonly key: string
  readonly call: Mark
  readonly blocking: boolean
  readonly detail: string
  done?: Mark
}

const heldEnd = (t: Tenure): Mark => first(t.lost, t.releaseOk, t.releaseApply, t.close)
const workEnd = (t: Tenure): Mark => first(t.lost, t.releaseBegin, t.close)
const exemptAt = (t: Tenure, at: Mark): boolean => t.exemptFrom !== undefined && at.seq >= t.exemptFrom.seq
const fmt = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(3)}s` : "end")

export const check = (plan: Plan, events: ReadonlyArray<Event>): ReadonlyArray<Violation> => {
  const violations: Array<Violation> = []
  const timings = new Map<string, Timings>(plan.contenders.map((c) => [c.id, c.timings]))
  const tenures = new Map<number, Tenure>()
  const attempts = new Map<number, Attempt>()
  const steps: Array<Event & { readonly kind: "step" }> = []
  const writesNamingSelf: Array<Event & { readonly kind: "store-call" }> = []
  const deletes = new Map<string, Array<Mark>>()
  const takeovers: Array<Event & { readonly kind: "admin" }> = []
  const pauses = new Map<string, Array<{ begin: Mark; end: Mark; exempt: boolean }>>()
  /** Store state changes per key: whether the record is free after each. */
  const freeAfter = new Map<string, Array<Mark & { readonly free: boolean }>>()
  const end = events.find((e) => e.kind === "end") ?? events[events.length - 1]!
  const latestTenureOf = new Map<string, Tenure>()
  /** Writes naming their caller as holder, as the store applied them. */
  const appliesNamingSelf: Array<Event & { readonly kind: "store-apply" }> = []

  for (const e of events) {
    switch (e.kind) {
      case "acquire-call":
        attempts.set(e.attempt, { id: e.attempt, c: e.c, key: e.key, call: e, blocking: e.blocking, detail: e.detail })
        break
      case "acquire-done": {
        const a = attempts.get(e.attempt)
        if (a !== undefined && a.done === undefined) a.done = e
        break
      }
      case "tenure-start": {
        const a = attempts.get(e.attempt)
        const tenure: Tenure = { id: e.tenure, c: e.c, key: e.key, token: e.token, start: e, opStart: a?.call ?? e, releaseEnds: [] }
        tenures.set(e.tenure, tenure)
        latestTenureOf.set(`${e.c} ${e.key}`, tenure)
        break
      }
      case "lost": {
        const t = tenures.get(e.tenure)
        if (t !== undefined && t.lost === undefined) t.lost = { seq: e.seq, t: e.t, reason: e.reason }
        break
      }
      case "guard-end":
      case "renew-end": {
        // A guard or renew failing with the loss also tells the holder (perhaps before the
        // observer fiber runs); `Relinquished` is the holder's own release, not a loss.
        const t = tenures.get(e.tenure)
        const m = /^LeaseLostError\((\w+)\)/.exec(e.detail)
        if (t !== undefined && m !== null && m[1] !== "Relinquished" && t.lost === undefined) {
          t.lost = { seq: e.seq, t: e.t, reason: m[1]! }
        }
        break
      }
      case "release-begin": {
        const t = tenures.get(e.tenure)
        if (t !== undefined && t.releaseBegin === undefined) t.releaseBegin = e
        break
      }
      case "release-end": {
        const t = tenures.get(e.tenure)
        if (t === undefined) break
        t.releaseEnds.push({ seq: e.seq, t: e.t, detail: e.detail })
        if (e.ok && t.releaseOk === undefined) t.releaseOk = e
        break
      }
      case "tenure-close": {
        const t = tenures.get(e.tenure)
        if (t === undefined) break
        // A combinator that returned because of the loss: the loss came first.
        const m = /LeaseLostError\((\w+)\)/.exec(e.detail)
        if (m !== null && m[1] !== "Relinquished" && t.lost === undefined) t.lost = { seq: e.seq, t: e.t, reason: m[1]! }
        if (t.close === undefined) t.close = e
        break
      }
      case "step":
        steps.push(e)
        break
      case "store-call":
        if (e.holder === e.c && (e.op === "create" || e.op === "update")) writesNamingSelf.push(e)
        break
      case "store-apply": {
        if (e.ok && e.holder === e.c && (e.op === "create" || e.op === "update")) appliesNamingSelf.push(e)
        if (!e.ok) break
        const free = e.deleted || (e.after !== undefined && e.after.holder === "")
        const list = freeAfter.get(e.key) ?? []
        list.push({ seq: e.seq, t: e.t, free })
        freeAfter.set(e.key, list)
        if (e.deleted) deletes.set(e.key, [...(deletes.get(e.key) ?? []), e])
        // A write of ours that frees the record is our release landing (only releases write so).
        if (free) {
          const t = latestTenureOf.get(`${e.c} ${e.key}`)
          if (t !== undefined && t.releaseApply === undefined) t.releaseApply = e
        }
        break
      }
      case "admin": {
        if (e.after !== undefined || e.deleted) {
          const list = freeAfter.get(e.key) ?? []
          list.push({ seq: e.seq, t: e.t, free: e.deleted || e.after?.holder === "" })
          freeAfter.set(e.key, list)
        }
        if (e.deleted) deletes.set(e.key, [...(deletes.get(e.key) ?? []), e])
        if (e.takeover) takeovers.push(e)
        break
      }
      case "pause-begin": {
        const list = pauses.get(e.c) ?? []
        list.push({ begin: e, end: never, exempt: e.exempt })
        pauses.set(e.c, list)
        break
      }
      case "pause-end": {
        const list = pauses.get(e.c)
        const last = list?.[list.length - 1]
        if (last !== undefined) last.end = e
        break
      }
      default:
        break
    }
  }

  // Exemptions: long pauses and admin takeovers, from the moment they hit.
  const exempt = (t: Tenure, from: Mark, why: string) => {
    const at = from.seq < t.start.seq ? t.start : from
    if (t.exemptFrom === undefined || at.seq < t.exemptFrom.seq) t.exemptFrom = { seq: at.seq, t: at.t, why }
  }
  for (const t of tenures.values()) {
    const until = heldEnd(t)
    for (const p of pauses.get(t.c) ?? []) {
      if (p.exempt && p.end.seq >= t.opStart.seq && p.begin.seq < until.seq) {
        exempt(t, p.begin, `paused ${fmt(p.end.t - p.begin.t)} at ${fmt(p.begin.t)}`)
      }
    }
    for (const a of takeovers) {
      if (a.key === t.key && a.seq >= t.opStart.seq && a.seq < until.seq) {
        exempt(t, a, `admin ${a.action} at ${fmt(a.t)}`)
        if (t.adminFrom === undefined) t.adminFrom = a
      }
    }
  }

  const byKey = new Map<string, Array<Tenure>>()
  for (const t of tenures.values()) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t])
  const describeTenure = (t: Tenure) => `${t.c} tenure #${t.id} (token ${t.token}, held ${fmt(t.start.t)}–${fmt(heldEnd(t).t)})`
  const deletedBetween = (key: string, from: Mark, to: Mark) => (deletes.get(key) ?? []).some((d) => d.seq > from.seq && d.seq < to.seq)
  /** Whether the object was deleted while either tenure was being acquired or before the later
   * one started: its token then comes from a counter that restarted. */
  const deletedAround = (a: Tenure, b: Tenure) =>
    deletedBetween(a.key, first(a.opStart, b.opStart), a.start.seq > b.start.seq ? a.start : b.start)
  /** Whether an admin takeover hit either tenure before the later one started: an acquisition
   * whose answer was still on its way when the admin cleared or re-assigned the record may start
   * after a tenure that took the record later (with a greater token) — the documented
   * non-guarantee against out-of-protocol writes. */
  const adminAround = (a: Tenure, b: Tenure) => {
    const later = a.start.seq > b.start.seq ? a.start : b.start
    return [a, b].some((x) => x.adminFrom !== undefined && x.adminFrom.seq <= later.seq)
  }

  // 1. exclusion
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.start.seq - b.start.seq)
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!
        const b = list[j]!
        if (b.start.seq >= heldEnd(a).seq) continue
        if (exemptAt(a, b.start) || exemptAt(b, b.start)) continue
        violations.push({
          property: "exclusion",
          message: `${describeTenure(a)} overlaps ${describeTenure(b)} from ${fmt(b.start.t)}`,
          from: a.start.t,
          to: Math.min(heldEnd(a).t, end.t),
          key,
          contenders: [a.c, b.c]
        })
      }
    }
  }

  // 2. guarded steps, 7. fence
  const register = new Map<string, { max: number; accepted: Array<Tenure> }>()
  for (const s of steps) {
    const t = tenures.get(s.tenure)
    if (t === undefined) continue
    if (s.seq > workEnd(t).seq && !exemptAt(t, s)) {
      const why = workEnd(t) === t.lost ? `lost (${t.lost?.reason}) at ${fmt(t.lost!.t)}` : `release/close began at ${fmt(workEnd(t).t)}`
      violations.push({
        property: "guarded-step",
        message: `${t.c} ran a guarded step at ${fmt(s.t)} after its tenure #${t.id} ended for work: ${why}`,
        from: t.start.t,
        to: s.t,
        key: t.key,
        contenders: [t.c]
      })
    }
    for (const o of byKey.get(t.key) ?? []) {
      if (o.c === t.c || o.start.seq >= s.seq || heldEnd(o).seq <= s.seq) continue
      if (exemptAt(t, s) || exemptAt(o, s)) continue
      violations.push({
        property: "guarded-step",
        message: `${t.c} ran a guarded step (tenure #${t.id}, token ${t.token}) at ${fmt(s.t)} while ${describeTenure(o)} held the lease`,
        from: Math.min(o.start.t, t.start.t),
        to: s.t,
        key: t.key,
        contenders: [t.c, o.c]
      })
    }
    const reg = register.get(t.key) ?? { max: Number.NEGATIVE_INFINITY, accepted: [] }
    register.set(t.key, reg)
    if (s.token < reg.max) continue
    const newer = reg.accepted.find((o) => o.id !== t.id && o.start.seq > t.start.seq && !deletedAround(t, o) && !adminAround(t, o))
    if (newer !== undefined) {
      violations.push({
        property: "fence",
        message: `the fenced register accepted a step of ${describeTenure(t)} at ${fmt(s.t)} after a step of the newer ${
          describeTenure(newer)
        }`,
        from: t.start.t,
        to: s.t,
        key: t.key,
        contenders: [t.c, newer.c]
      })
    }
    reg.max = Math.max(reg.max, s.token)
    if (!reg.accepted.includes(t)) reg.accepted.push(t)
  }

  // 2c. no guarded step after the renew deadline of the tenure's last successful write: applied by
  // the store at true time w, the holder must stop by w + renewDeadline / rate (its clock runs at
  // `rate`). The holder measures from the write's *send*, which is no later than w (also when it
  // adopts, by reading back, a version another of its writes made: that version was applied after
  // the read that preceded the send); others measure `duration` from when they see it, no earlier
  // than w. Judged from the store's history, so it bounds what the holder may believe without
  // knowing its internals. The one exception is the instant a pause that spanned the deadline
  // ends, when the work and the watchdog wake together.
  const rates = new Map(plan.contenders.map((c) => [c.id, c.rate]))
  const byContenderKey = new Map<string, Array<Tenure>>()
  for (const t of tenures.values()) {
    const id = `${t.c} ${t.key}`
    byContenderKey.set(id, [...(byContenderKey.get(id) ?? []), t])
  }
  const successfulWrites = appliesNamingSelf
  for (const list of byContenderKey.values()) {
    list.sort((a, b) => a.start.seq - b.start.seq)
    list.forEach((t, i) => {
      const previous = list[i - 1]
      // Writes of this tenure: from its acquisition on, but not those of the previous tenure.
      const previousEnd = previous === undefined ? undefined : first(heldEnd(previous), t.start)
      const from = previousEnd !== undefined && previousEnd.seq > t.opStart.seq ? previousEnd : t.opStart
      const writes = successfulWrites.filter((w) => w.c === t.c && w.key === t.key && w.seq >= from.seq)
      const allowance = timings.get(t.c)!.renewDeadline / (rates.get(t.c) ?? 1)
      const allowanceAt = (at: Mark) => {
        let last: number | undefined
        for (const w of writes) if (w.seq < at.seq) last = w.t
        return last
      }
      // 2d. a lease is not handed out past that deadline either — whatever delayed the answer,
      // a pause included: the holder can tell from its own clock when the answer comes.
      const took = allowanceAt(t.start)
      if (took !== undefined && t.start.t > took + allowance + 1) {
        violations.push({
          property: "late-acquisition",
          message: `${t.c} was handed tenure #${t.id} at ${fmt(t.start.t)}, after the renew deadline ${fmt(took + allowance)} of the write that took it (applied ${
            fmt(took)
          })`,
          from: took - 1000,
          to: t.start.t,
          key: t.key,
          contenders: [t.c]
        })
      }
      for (const s of steps) {
        if (s.tenure !== t.id || exemptAt(t, s)) continue
        let last: number | undefined
        for (const w of writes) if (w.seq < s.seq) last = w.t
        if (last === undefined) continue
        const deadline = last + allowance
        if (s.t <= deadline + 1) continue
        const resumed = (pauses.get(t.c) ?? []).some((p) => p.begin.t <= deadline + 1 && Math.abs(p.end.t - s.t) <= 1)
        if (resumed) continue
        violations.push({
          property: "guarded-step",
          message: `${t.c} ran a guarded step (tenure #${t.id}) at ${fmt(s.t)}, after the renew deadline ${fmt(deadline)} of its last successful write (applied ${
            fmt(last)
          })`,
          from: last - 1000,
          to: s.t,
          key: t.key,
          contenders: [t.c]
        })
      }
    })
  }

  // 3. tokens
  for (const [key, list] of byKey) {
    let previous: Tenure | undefined
    for (const t of list) {
      if (previous !== undefined && !deletedAround(previous, t) && !adminAround(previous, t) && t.token <= previous.token) {
        violations.push({
          property: "token-order",
          message: `${describeTenure(t)} got token ${t.token}, not above the earlier ${describeTenure(previous)}`,
          from: previous.start.t,
          to: t.start.t,
          key,
          contenders: [previous.c, t.c]
        })
      }
      if (previous === undefined || deletedAround(previous, t) || adminAround(previous, t) || t.token > previous.token) previous = t
    }
  }

  // 4. stray holder
  const windows = new Map<string, Array<readonly [Mark, Mark]>>()
  const addWindow = (c: string, key: string, from: Mark, to: Mark) => {
    const id = `${c} ${key}`
    windows.set(id, [...(windows.get(id) ?? []), [from, to]])
  }
  for (const a of attempts.values()) addWindow(a.c, a.key, a.call, a.done ?? never)
  for (const t of tenures.values()) addWindow(t.c, t.key, t.start, heldEnd(t))
  for (const w of writesNamingSelf) {
    const open = (windows.get(`${w.c} ${w.key}`) ?? []).some(([from, to]) => from.seq <= w.seq && w.seq <= to.seq)
    if (!open) {
      violations.push({
        property: "stray-holder",
        message: `${w.c} issued a ${w.op} naming itself holder at ${fmt(w.t)} with no acquisition in progress and no tenure open`,
        from: w.t - 2 * (timings.get(w.c)?.duration ?? 0),
        to: w.t,
        key: w.key,
        contenders: [w.c]
      })
    }
  }

  // 5. liveness and handover in the quiet tail
  const settled: Mark = { seq: events.find((e) => e.t >= plan.settledAt)?.seq ?? end.seq, t: plan.settledAt }
  for (const a of attempts.values()) {
    if (!a.blocking) continue
    // (`settled` is the first event at or after settledAt — possibly this very call)
    const from = a.call.seq >= settled.seq ? a.call : settled
    const to = first(a.done, end)
    if (to.seq <= from.seq) continue
    const waiter = timings.get(a.c)!
    const held = (byKey.get(a.key) ?? []).map((t) => [t.start.t, heldEnd(t).t] as const)
    const gap = longestGap(from.t, to.t, held)
    const bound = livenessBound(plan, waiter)
    if (gap.length > bound) {
      violations.push({
        property: "liveness",
        message: `${a.c} waited (acquire #${a.id}, ${a.detail}) while nobody held ${a.key} from ${fmt(gap.start)} for ${
          fmt(gap.length)
        } (bound ${fmt(bound)})`,
        from: gap.start - bound,
        to: gap.start + gap.length,
        key: a.key,
        contenders: [a.c]
      })
      continue
    }
    // The intervals during which the record is free in the store (absent at first).
    const freeIntervals: Array<readonly [number, number]> = []
    let free = true
    let since = 0
    for (const ch of freeAfter.get(a.key) ?? []) {
      if (free && !ch.free) freeIntervals.push([since, ch.t])
      if (!free && ch.free) since = ch.t
      free = ch.free
    }
    if (free) freeIntervals.push([since, end.t])
    const notFree = complement(freeIntervals, 0, end.t)
    const freeGap = longestGap(from.t, to.t, [...notFree, ...held])
    const hb = handoverBound(waiter)
    if (freeGap.length > hb) {
      violations.push({
        property: "handover",
        message: `${a.c} waited (acquire #${a.id}, ${a.detail}) while ${a.key} was free in the store from ${fmt(freeGap.start)} for ${
          fmt(freeGap.length)
        } (bound ${fmt(hb)})`,
        from: freeGap.start - hb,
        to: freeGap.start + freeGap.length,
        key: a.key,
        contenders: [a.c]
      })
    }
  }

  // 6. no loss after release
  for (const t of tenures.values()) {
    // Confirmed: no loss of any kind after it. Landed but not yet confirmed: the holder cannot know
    // yet, so `DeadlineExceeded` is still right — but not a takeover or a release (that was ours).
    const confirmed = first(t.releaseOk, t.close)
    const released = t.lost?.reason === "DeadlineExceeded" ? confirmed : first(confirmed, t.releaseApply)
    // A tenure whose record an admin took over finds out at its next write — which may be its
    // release write, while the release is being confirmed: its `Taken`/`Released`/`Deleted` is then
    // the documented answer, not a loss after our own release.
    const adminTakeover = t.adminFrom !== undefined && t.lost !== undefined && t.lost.reason !== "DeadlineExceeded"
    if (t.lost !== undefined && t.lost.seq > released.seq && !adminTakeover) {
      violations.push({
        property: "loss-after-release",
        message: `${describeTenure(t)} reported lost (${t.lost.reason}) at ${fmt(t.lost.t)} after its release ${
          released === confirmed ? "was confirmed" : "landed"
        } at ${fmt(released.t)}`,
        from: t.start.t,
        to: t.lost.t,
        key: t.key,
        contenders: [t.c]
      })
    }
    for (const r of t.releaseEnds) {
      if (r.detail.includes("HeldByOther") && t.releaseApply !== undefined && t.releaseApply.seq < r.seq) {
        violations.push({
          property: "loss-after-release",
          message: `${t.c}'s release of tenure #${t.id} reported HeldByOther at ${fmt(r.t)} although its release write landed at ${
            fmt(t.releaseApply.t)
          }`,
          from: t.start.t,
          to: r.t,
          key: t.key,
          contenders: [t.c]
        })
      }
    }
  }

  return violations
}

/** The longest stretch of [from, to] not covered by `blocks` (each [start, end)). */
const longestGap = (from: number, to: number, blocks: ReadonlyArray<readonly [number, number]>) => {
  const sorted = blocks.filter(([s, e]) => e > from && s < to).sort((a, b) => a[0] - b[0])
  let cursor = from
  let best = { start: from, length: 0 }
  for (const [s, e] of sorted) {
    if (s > cursor && s - cursor > best.length) best = { start: cursor, length: s - cursor }
    cursor = Math.max(cursor, e)
    if (cursor >= to) break
  }
  if (to > cursor && to - cursor > best.length) best = { start: cursor, length: to - cursor }
  return best
}

/** The parts of [from, to] not covered by `intervals`. */
const complement = (intervals: ReadonlyArray<readonly [number, number]>, from: number, to: number) => {
  const out: Array<readonly [number, number]> = []
  let cursor = from
  for (const [s, e] of [...intervals].sort((a, b) => a[0] - b[0])) {
    if (s > cursor) out.push([cursor, s])
    cursor = Math.max(cursor, e)
  }
  if (cursor < to) out.push([cursor, to])
  return out
}
