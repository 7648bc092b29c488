/**
 * Figure 9 — a counting semaphore (`LeaseSemaphore`, leasekit only): N permits, 2N contender
 * processes, each looping acquire a permit (waiting in the queue) → hold it `holdMs` (a guarded
 * sleep) → release → acquire…, for a fixed time, at default timings; and, in the same run, the
 * FLOOR: figure 4's loop on one plain lease with 2 contenders (the least a mutual exclusion costs
 * on this control plane, to which the N = 1 semaphore is compared).
 *
 * Measured: acquisitions per second (permits whose acquisition returned inside the window), the
 * wait (from `acquire` called to returned: median and p99), and the order in which waiters were
 * served — from the API server's own answers, with no observer and no matching by time. Each
 * contender process records its successful writes to the semaphore (the harness's `semaphoreTrace`) and
 * reports, with each acquisition (`permit` event), its ticket, the head writes that enqueued it
 * (`enqueues`) and the permit write that served it (`granted`); released while waiting, the
 * ticket it got nothing for (`unserved`); and every other waiter's entry one of its head writes
 * removed (`removed`: pruned as judged dead). Each write is identified by its resourceVersion,
 * the etcd revision: on this control plane (one etcd) it orders all writes to leases — head,
 * permits, tickets — as the server applied them (Kubernetes calls it opaque to clients; the
 * figure relies on its one etcd). So whether a waiter's entry was in the head at a revision is
 * known exactly: between an enqueue and the next removal. An acquisition that took a free permit
 * without queueing (nobody live queued) has no ticket. The raw events are written beside the
 * contender logs (`figure9-N<n>-events.json`).
 *
 * Counted over the acquisitions that returned before the window ended:
 * - JUMP of a queued acquisition: the waiters whose entry was in the head ahead of its own when
 *   its permit was written, not yet served then (unserved ones wait to the end). The design
 *   BOUNDS it by N − 1: a waiter takes a permit only when fewer live entries are ahead of it than
 *   permits are free in its view (`rank < free`, `LeaseSemaphore.ts`); every waiter still unserved
 *   ahead of it is in that view (enqueued before it, not removed), and one it counts as served
 *   because it still sees its holder on an earlier permit occupies that permit in the same view.
 *   For an acquisition without a ticket: the waiters in the head it went ahead of (the design:
 *   none, it does not barge).
 * - REQUEUED: queued acquisitions whose entry was removed while they waited, so that they queued
 *   again at the end. The design removes only entries of dead waiters; nobody dies here: 0.
 * - OVERTAKES of a served waiter: the waiters whose FIRST enqueue came after its first enqueue
 *   (first come, first served, as its caller sees it) and whose permit was written before its own
 *   (reported: the largest, and how many waiters had any). The design does NOT bound it by N − 1:
 *   it promises no order among the waiters eligible together (the first `free` ranks), and a
 *   waiter that keeps losing those races in successive rounds (a slow process, a stale view, a
 *   lost compare-and-swap) is overtaken in each — every overtaker counted in its jump. A requeued
 *   waiter is also overtaken by everyone it lost its place to.
 *
 * Exclusion is checked too: per permit, critical sections (from `acquire` returning to just before the
 * release call) ordered by time must not overlap and must carry
 * strictly increasing tokens; at no instant more than N permits held.
 *
 * Judges issue 17's goals (throughput against the floor and against N = 1, the design's bound on the
 * order of service, no live waiter requeued, per-permit exclusion) and renders section 9 and
 * `semaphore.svg`; the order of service is computed in `semaphore/ServiceOrder.ts`, the missed goals
 * are explained in `semaphore/Findings.ts`.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Event } from "@leasekit/testing/ContenderProtocol"
import { nowMicros } from "@leasekit/testing/ContenderProtocol"
import type { Bench } from "../Bench.ts"
import { releaseAll, sleep } from "../Bench.ts"
import type { Contender } from "../Contenders.ts"
import { onEvents } from "../Contenders.ts"
import type { Goal } from "../Goal.ts"
import { table } from "../Markdown.ts"
import * as Plot from "../Plot.ts"
import type { Results } from "../Results.ts"
import { fmt, medianP99, summarize } from "../Statistics.ts"
import * as Contention from "./Contention.ts"
import { order, throughput } from "./semaphore/Findings.ts"
import type { Waiter } from "./semaphore/ServiceOrder.ts"
import { revision, serviceOrder } from "./semaphore/ServiceOrder.ts"

export interface SemaphoreResult {
  readonly permits: number
  readonly contenders: number
  readonly holdMs: number
  readonly seconds: number
  readonly acquisitions: number
  readonly perSecond: number
  /** `acquire` called → returned, ms. */
  readonly waitMs: Array<number>
  /** The most waiters enqueued after one served waiter whose permit was written before its own
   * (server order; not bounded by N − 1 — see the module header). */
  readonly maxOvertakes: number
  /** Served waiters (queued acquisitions that returned before the window ended, tied to their
   * ticket and permit writes), and how many of them were overtaken. */
  readonly queued: number
  readonly overtaken: number
  /** `maxOvertakes` among the waiters that were never removed from the queue (queued once). */
  readonly maxOvertakesNotRequeued?: number
  /** The most waiters enqueued before a queued acquisition and unserved when its permit was
   * written (the design bounds it by N − 1), and how many acquisitions had any. Absent in results
   * written before the figure read the server's order. */
  readonly maxJump?: number
  readonly jumped?: number
  /** Acquisitions without a ticket (a free permit, nobody live queued), and how many of them went
   * ahead of a waiter (the design: none). */
  readonly unqueued?: number
  readonly barged?: number
  /** Acquisitions not counted: the answer to their enqueue or permit write was lost (no revision). */
  readonly untied?: number
  /** Queued acquisitions whose entry was removed from the queue while they waited, so that they
   * queued again at the end (the design removes only entries judged dead). */
  readonly requeued?: number
  readonly violations: Array<string>
  /** Processes that got at least one permit. */
  readonly winners: number
}

type Grant = Extract<Event, { readonly ev: "permit" }> & { readonly by: Contender }

export const run = async (bench: Bench, permits: number, seconds: number, holdMs: number): Promise<SemaphoreResult> => {
  const n = 2 * permits
  const contenders = await bench.pool.take("leasekit", n)
  const name = `f9-${permits}-${Date.now().toString(36)}`
  const grants: Array<Grant> = []
  const unserved: Array<Extract<Event, { readonly ev: "unserved" }>> = []
  const removed: Array<Extract<Event, { readonly ev: "removed" }>> = []
  const unsubscribe = onEvents(contenders, ({ contender, event }) => {
    if (event.ev === "permit") grants.push({ by: contender, ...event })
    if (event.ev === "unserved") unserved.push(event)
    if (event.ev === "removed") removed.push(event)
  })
  let t0 = nowMicros()
  let t1 = t0
  try {
    // The first creates the semaphore; the others join once it exists.
    contenders[0]!.send({ cmd: "join", name, namespace: bench.namespace, mode: "semaphore", permits, holdMs })
    await sleep(1_000)
    for (const c of contenders.slice(1)) c.send({ cmd: "join", name, namespace: bench.namespace, mode: "semaphore", permits, holdMs })
    await sleep(2_000) // every contender is in the loop
    t0 = nowMicros()
    await sleep(seconds * 1000)
    t1 = nowMicros()
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    unsubscribe()
    bench.pool.give(contenders)
  }

  // The raw events, for a closer look at the order (beside the contender logs).
  Fs.writeFileSync(
    Path.join(bench.outDir, `figure9-N${permits}-events.json`),
    JSON.stringify({ t0, t1, grants: grants.map(({ by, ...g }) => ({ by: by.label, ...g })), unserved, removed }, null, 1)
  )
  const violations: Array<string> = []
  const byPermit = new Map<number, Array<Grant>>()
  for (const g of grants) byPermit.set(g.permit, [...byPermit.get(g.permit) ?? [], g])
  for (const [permit, list] of byPermit) {
    if (permit >= permits) violations.push(`permit ${permit} handed out, N = ${permits}`)
    const ordered = [...list].sort((a, b) => a.acquired - b.acquired)
    for (let i = 1; i < ordered.length; i++) {
      const prev = ordered[i - 1]!
      const cur = ordered[i]!
      if (cur.acquired < prev.ended) violations.push(`permit ${permit}: ${prev.by.label} and ${cur.by.label} overlap`)
      if (cur.token <= prev.token) violations.push(`permit ${permit}: token ${cur.token} after ${prev.token}`)
    }
  }
  const inWindow = grants.filter((g) => g.acquired >= t0 && g.acquired <= t1)
  // The server's order (see the module header): every acquisition that returned before the window
  // ended (the warm-up too: its waiters are ahead of the window's), every waiter left unserved.
  const counted = grants.filter((g) => g.acquired <= t1)
  const removals = new Map<string, Array<bigint>>()
  for (const r of removed) {
    const at = revision(r.version)
    if (at !== undefined) removals.set(r.ticket, [...removals.get(r.ticket) ?? [], at])
  }
  const enqueuesOf = (versions: ReadonlyArray<string> | undefined) => {
    const all = (versions ?? []).map(revision)
    return all.every((v) => v !== undefined) ? all : undefined
  }
  let untied = 0
  const waiters: Array<Waiter> = []
  const unqueued: Array<bigint> = []
  for (const g of grants) {
    const granted = revision(g.granted)
    const enqueues = enqueuesOf(g.enqueues)
    const isCounted = g.acquired <= t1
    if (granted === undefined || enqueues === undefined) {
      if (isCounted) untied++
      continue
    }
    if (g.ticket === undefined || enqueues.length === 0) {
      if (isCounted) unqueued.push(granted)
    } else {
      waiters.push({ enqueues, removals: removals.get(g.ticket) ?? [], granted, counted: isCounted })
    }
  }
  for (const u of unserved) {
    const enqueues = enqueuesOf(u.enqueues)
    if (enqueues !== undefined && enqueues.length > 0) {
      waiters.push({ enqueues, removals: removals.get(u.ticket) ?? [], granted: undefined, counted: false })
    }
  }
  const order = serviceOrder(waiters, unqueued)
  const elapsed = (t1 - t0) / 1e6
  return {
    permits,
    contenders: n,
    holdMs,
    seconds: elapsed,
    acquisitions: inWindow.length,
    perSecond: inWindow.length / elapsed,
    waitMs: inWindow.map((g) => (g.acquired - g.requested) / 1000),
    maxOvertakes: order.overtakes.length === 0 ? 0 : Math.max(...order.overtakes),
    queued: order.overtakes.length,
    overtaken: order.overtakes.filter((o) => o > 0).length,
    maxOvertakesNotRequeued: Math.max(0, ...order.overtakes.filter((_, i) => !order.requeued[i])),
    maxJump: order.jumps.length === 0 ? 0 : Math.max(...order.jumps),
    jumped: order.jumps.filter((j) => j > 0).length,
    unqueued: unqueued.length,
    barged: order.barged.filter((b) => b > 0).length,
    untied,
    requeued: counted.filter((g) => (g.enqueues?.length ?? 0) > 1).length,
    violations,
    winners: new Set(grants.map((g) => g.by)).size
  }
}

/** The permits measured, the seconds of each run, the hold, and the floor's seconds, in the quick and the full run. */
export const settings = {
  quick: { permits: [1, 3, 10], seconds: 6, holdMs: 0, floorSeconds: 4 },
  full: { permits: [1, 3, 10], seconds: 30, holdMs: 0, floorSeconds: 30 }
}

/** Figure 9 in a run: the floor first (figure 4's loop on one plain lease, 2 contenders), then each N. */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  const floor = await Contention.run(bench, "leasekit", 2, s.floorSeconds)
  bench.log(`  fig 9 floor: one lease, 2 contenders: ${floor.perSecond.toFixed(1)}/s`)
  const runs: Array<SemaphoreResult> = []
  for (const permits of s.permits) {
    const r = await run(bench, permits, s.seconds, s.holdMs)
    bench.log(`  fig 9 N=${permits}: ${r.perSecond.toFixed(1)}/s, max jump ${r.maxJump} (${r.jumped}/${r.queued}), max overtakes ${r.maxOvertakes} (${r.overtaken}/${r.queued}), requeued ${r.requeued}, unqueued ${r.unqueued} (${r.barged} ahead of a waiter), untied ${r.untied}, ${r.violations.length} violations`)
    runs.push(r)
  }
  results.semaphore = { floor: { contenders: 2, perSecond: floor.perSecond, gapMs: floor.gapMs }, runs }
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** Figure 9's results: the semaphore runs and the floor measured beside them (figure 4's loop on
 * one plain lease, 2 contenders). */
export interface SemaphoreFigure {
  readonly floor: { readonly contenders: number; readonly perSecond: number; readonly gapMs: ReadonlyArray<number> }
  readonly runs: ReadonlyArray<SemaphoreResult>
}

/** The goals issue 17 (semaphores) set, judged on figure 9 against the floor measured beside it. */
export const goals = (r: Results): Array<Goal> => {
  const f = r.semaphore
  if (f === undefined || f.runs.length === 0) return []
  const one = f.runs.find((x) => x.permits === 1)
  const out: Array<Goal> = []
  if (one !== undefined && f.floor.perSecond > 0) {
    const ratio = one.perSecond / f.floor.perSecond
    out.push({
      id: "semaphore-throughput-1",
      goal: "semaphore N = 1, 2 contenders: ≥ 1/3 of the acquisitions/s of one plain lease with 2 contenders, measured beside it (figure 9, issue 17)",
      measured: `${fmt(one.perSecond)}/s = ${fmt(ratio, 2)} × the floor (${fmt(f.floor.perSecond)}/s)`,
      met: ratio >= 1 / 3,
      explain: throughput
    })
  }
  for (const x of f.runs.filter((x) => x.permits > 1)) {
    if (one === undefined) continue
    out.push({
      id: `semaphore-throughput-${x.permits}`,
      goal: `semaphore N = ${x.permits}, ${x.contenders} contenders: at least the acquisitions/s of N = 1 (figure 9, issue 17)`,
      measured: `${fmt(x.perSecond)}/s = ${fmt(x.perSecond / Math.max(1e-9, one.perSecond), 2)} × N = 1`,
      met: x.perSecond >= one.perSecond,
      explain: throughput
    })
  }
  for (const x of f.runs) {
    if (x.maxJump === undefined) {
      // Results written before figure 9 read the server's order: the goal as it was then.
      out.push({
        id: `semaphore-fcfs-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no waiter overtaken by more than N − 1 = ${x.permits - 1} later waiters (figure 9, issue 17)`,
        measured: `max ${x.maxOvertakes} (${x.overtaken} of ${x.queued} waiters overtaken; matched by time)`,
        met: x.queued > 0 && x.maxOvertakes <= x.permits - 1,
        explain: order
      })
    } else {
      out.push({
        id: `semaphore-fcfs-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no acquisition served ahead of more than N − 1 = ${x.permits - 1} waiters still queued ahead of it, none without queueing ahead of any (the design's bound, in the server's order; figure 9, issue 17)`,
        measured: `max ${x.maxJump} (${x.jumped} of ${x.queued} went ahead of any); ${x.barged} of ${x.unqueued} unqueued ahead of a waiter` +
          (x.untied === 0 ? "" : `; ${x.untied} not tied to their writes`),
        met: x.queued > 0 && x.maxJump <= x.permits - 1 && x.barged === 0,
        explain: order
      })
      out.push({
        id: `semaphore-requeue-${x.permits}`,
        goal: `semaphore N = ${x.permits}: no waiting waiter's entry removed from the queue (only dead waiters' are; nobody dies in figure 9, issue 17)`,
        measured: `${x.requeued} of ${x.queued} served waiters queued again at the end; max overtakes ${x.maxOvertakes} (${x.overtaken} of ${x.queued} overtaken)`,
        met: x.queued > 0 && x.requeued === 0,
        explain: order
      })
    }
    out.push({
      id: `semaphore-exclusion-${x.permits}`,
      goal: `semaphore N = ${x.permits}: per permit no overlap, tokens increasing, no permit ≥ N (figure 9, issue 17)`,
      measured: x.violations.length === 0 ? `0 violations in ${x.acquisitions} acquisitions` : x.violations.slice(0, 3).join("; "),
      met: x.acquisitions > 0 && x.violations.length === 0
    })
  }
  return out
}

/** Section 9 of RESULTS.md. */
export const section = (r: Results) => {
  const f = r.semaphore
  if (f === undefined || f.runs.length === 0) return ""
  return [
    "## 9. A counting semaphore (leasekit only)",
    "",
    "`LeaseSemaphore` with N permits and 2N contender processes, each looping: acquire a permit (waiting in the",
    "queue) → hold it (a guarded sleep of `holdMs`) → release, at default timings. Wait: from `acquire` called to",
    "returned. The order of service is the API server's: each contender process reports the resourceVersions (etcd",
    "revisions, one etcd) of its own writes — the head writes that enqueued its ticket, the permit write that served it,",
    "the head writes that removed another waiter's entry. Jump: the waiters whose entry was ahead in the head, unserved,",
    "when an acquisition's permit was written — the design bounds it by N − 1 (`rank < free`). Requeued: waiters whose",
    "entry was removed while they waited (queued again at the end; the design removes only dead waiters' entries, nobody",
    "dies here). Overtakes: waiters first enqueued later and served earlier — not bounded by N − 1 (no order among the",
    "waiters eligible together, and a waiter can lose several rounds), plus everything a requeued waiter lost. Unqueued:",
    "acquisitions that took a free permit with nobody live queued (no ticket). Floor, measured in the same",
    `run: figure 4's loop on one plain lease with ${f.floor.contenders} contenders: ${fmt(f.floor.perSecond)} acquisitions/s.`,
    "",
    table(
      ["N", "contenders", "hold, ms", "acquisitions/s", "× floor", "wait, ms", "max jump", "requeued", "max overtakes", "waiters overtaken", "unqueued", "violations"],
      f.runs.map((x) => [
        String(x.permits),
        String(x.contenders),
        String(x.holdMs),
        fmt(x.perSecond),
        f.floor.perSecond > 0 ? fmt(x.perSecond / f.floor.perSecond, 2) : "-",
        medianP99(summarize(x.waitMs)),
        x.maxJump === undefined ? "–" : `${x.maxJump} (bound ${x.permits - 1})`,
        x.requeued === undefined ? "–" : `${x.requeued} of ${x.queued}`,
        String(x.maxOvertakes),
        `${x.overtaken} of ${x.queued}`,
        x.unqueued === undefined ? "–" : String(x.unqueued),
        String(x.violations.length)
      ])
    ),
    "",
    "![Semaphore wait distribution](semaphore.svg)"
  ].join("\n")
}

/** `semaphore.svg`: the distribution of the wait per N (absent without runs). */
export const plots = (r: Results): Array<{ readonly file: string; readonly svg: string }> => {
  const f = r.semaphore
  if (f === undefined || f.runs.length === 0) return []
  const colors = ["#9ecae1", "#4292c6", "#08519c"]
  const runs = [...f.runs].sort((a, b) => a.permits - b.permits)
  const svg = Plot.distributions({
    title: "Semaphore: wait for a permit, cumulative distribution",
    xLabel: "acquire called → permit held (ms, log scale)",
    yLabel: "fraction of acquisitions",
    series: runs.map((x, i) => ({ label: `N = ${x.permits}, ${x.contenders} contenders (n=${x.waitMs.length})`, color: colors[i % 3]!, samples: x.waitMs }))
  })
  return [{ file: "semaphore.svg", svg }]
}
