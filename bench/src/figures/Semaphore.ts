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
 * contender process records its successful writes to the semaphore (`LeasekitContender.ts`) and
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
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { releaseAll, sleep } from "../Bench.ts"
import type { Contender } from "../Contenders.ts"
import { onEvents } from "../Contenders.ts"
import type { Event } from "@leasekit/testing/ContenderProtocol"
import { nowMicros } from "@leasekit/testing/ContenderProtocol"

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

/** One waiter (server revisions): the head writes that enqueued its ticket (more than one: it was
 * removed and queued again), those of other processes that removed its entry, and the permit
 * write that served it (undefined: never served, it waited to the end). */
export interface Waiter {
  readonly enqueues: ReadonlyArray<bigint>
  readonly removals: ReadonlyArray<bigint>
  readonly granted: bigint | undefined
  /** Its acquisition returned before the window ended (its jump and overtakes are counted). */
  readonly counted: boolean
}

/** The enqueue of the waiter's entry in the head at revision `at` (not removed since), if any. */
export const entryAt = (w: Waiter, at: bigint): bigint | undefined => {
  const enqueued = w.enqueues.filter((e) => e <= at).at(-1)
  if (enqueued === undefined || w.removals.some((r) => r > enqueued && r <= at)) return undefined
  return enqueued
}

/** Acquisitions as the server ordered them: the JUMP of each queued acquisition (waiters whose
 * entry was ahead of its own in the head, unserved when its permit was written), the waiters in
 * the queue that each acquisition WITHOUT a ticket went ahead of, and the OVERTAKES of each served
 * waiter (waiters first enqueued after its first enqueue, served before it). See the module header. */
export const serviceOrder = (
  waiters: ReadonlyArray<Waiter>,
  unqueued: ReadonlyArray<bigint>
): {
  readonly jumps: Array<number>
  readonly barged: Array<number>
  readonly overtakes: Array<number>
  /** Per served waiter (as `overtakes`): it queued more than once. */
  readonly requeued: Array<boolean>
} => {
  const waitingAhead = (granted: bigint, own: bigint) =>
    waiters.filter((w) => {
      const entry = entryAt(w, granted)
      return entry !== undefined && entry < own && (w.granted === undefined || w.granted > granted)
    }).length
  const served = waiters.filter((w): w is Waiter & { readonly granted: bigint } => w.granted !== undefined)
  const counted = served.filter((w) => w.counted)
  return {
    jumps: counted.map((x) => waitingAhead(x.granted, entryAt(x, x.granted) ?? x.enqueues.at(-1)!)),
    barged: unqueued.map((g) => waitingAhead(g, g)),
    overtakes: counted.map((w) => served.filter((x) => x.enqueues[0]! > w.enqueues[0]! && x.granted < w.granted).length),
    requeued: counted.map((w) => w.enqueues.length > 1)
  }
}

/** The etcd revision of a write: the Kubernetes store's record version is `resourceVersion/uid`. */
const revision = (version: string | undefined): bigint | undefined => {
  const resourceVersion = version === undefined ? undefined : /^(\d+)(\/|$)/.exec(version)?.[1]
  return resourceVersion === undefined ? undefined : BigInt(resourceVersion)
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
