/**
 * Figure 9 — a counting semaphore (`LeaseSemaphore`, leasekit only): N permits, 2N contender
 * processes, each looping acquire a permit (waiting in the queue) → hold it `holdMs` (a guarded
 * sleep) → release → acquire…, for a fixed time, at default timings; and, in the same run, the
 * FLOOR: figure 4's loop on one plain lease with 2 contenders (the least a mutual exclusion costs
 * on this control plane, to which the N = 1 semaphore is compared).
 *
 * Measured: acquisitions per second (permits whose acquisition returned inside the window), the
 * wait (from `acquire` called to returned: median and p99), and OVERTAKES relative to
 * first-come-first-served enqueue order. The queue order is read at the API server: an observer in
 * the orchestrator (`LeaseSemaphore.observe` over the Kubernetes store) records each waiter
 * ticket's first appearance in the head's queue (enqueue order: the order of the enqueue writes,
 * entries first seen together in queue order); the ticket's permit is the acquisition its holder's
 * process was making then (called before, returned after), timed by that process. A waiter's
 * overtakes are the waiters enqueued after it whose permit came before its own; reported: the
 * largest of them, and how many waiters had any. The design allows overtaking only
 * among waiters made eligible by the same change (at most N − 1 of them); a coalesced observation
 * can hide a waiter that came and went between two states (such waiters are not counted).
 *
 * Exclusion is checked too: per permit, critical sections (from `acquire` returning to just before the
 * release call) ordered by time must not overlap and must carry
 * strictly increasing tokens; at no instant more than N permits held.
 */
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Stream from "effect/Stream"
import type { Bench } from "../Bench.ts"
import { releaseAll, sleep } from "../Bench.ts"
import type { Contender } from "../Contenders.ts"
import { onEvents } from "../Contenders.ts"
import { nowMicros } from "../Protocol.ts"

export interface SemaphoreResult {
  readonly permits: number
  readonly contenders: number
  readonly holdMs: number
  readonly seconds: number
  readonly acquisitions: number
  readonly perSecond: number
  /** `acquire` called → returned, ms. */
  readonly waitMs: Array<number>
  /** The most waiters enqueued after one waiter whose permit came before its own. */
  readonly maxOvertakes: number
  /** Waiters seen both entering and leaving the queue, and how many of them were overtaken. */
  readonly queued: number
  readonly overtaken: number
  readonly violations: Array<string>
  /** Processes that got at least one permit. */
  readonly winners: number
}

interface Seen {
  readonly order: number
  readonly holder: string
  readonly firstSeen: number
}

/** Enqueue order and departures of the semaphore's waiters, from its observed states. */
const watchQueue = (bench: Bench, name: string) => {
  const runtime = ManagedRuntime.make(
    KubernetesLeaseStore.layer().pipe(Layer.provideMerge(KubeClient.layerFromFile(bench.controlPlane.users.admin.kubeconfig)))
  )
  const seen = new Map<string, Seen>()
  let next = 0
  const fiber = runtime.runFork(
    Stream.runForEach(LeaseSemaphore.observe({ namespace: bench.namespace, name }), (state) =>
      Effect.sync(() => {
        const now = nowMicros()
        for (const w of state.waiting) if (!seen.has(w.ticket)) seen.set(w.ticket, { order: next++, holder: w.holder, firstSeen: now })
      })).pipe(Effect.ignore)
  )
  return {
    seen,
    stop: async () => {
      await runtime.runPromise(Fiber.interrupt(fiber))
      await runtime.dispose()
    }
  }
}

/** The overtakes of each queued waiter that got its permit: the waiters enqueued after it whose
 * permit came first. A ticket's permit is its holder's acquisition that was in progress when the
 * ticket was first seen in the queue (`acquire` called before, returned after or at the time of
 * the next state): the time its process measured, not the time the ticket left the queue (leaving
 * is a later, best-effort write that a busy head can delay). */
export const overtakes = (
  seen: ReadonlyMap<string, { readonly order: number; readonly holder: string; readonly firstSeen: number }>,
  grantOf: (holder: string, enqueuedBy: number) => number | undefined
): Array<number> => {
  const done = [...seen.values()].flatMap((s) => {
    const at = grantOf(s.holder, s.firstSeen)
    return at === undefined ? [] : [{ order: s.order, at }]
  })
  return done.map((w) => done.filter((x) => x.order > w.order && x.at < w.at).length)
}

export const run = async (bench: Bench, permits: number, seconds: number, holdMs: number): Promise<SemaphoreResult> => {
  const n = 2 * permits
  const contenders = await bench.pool.take("leasekit", n)
  const name = `f9-${permits}-${Date.now().toString(36)}`
  const grants: Array<{ readonly by: Contender; readonly requested: number; readonly acquired: number; readonly ended: number; readonly permit: number; readonly token: number }> = []
  const unsubscribe = onEvents(contenders, ({ contender, event }) => {
    if (event.ev === "permit") grants.push({ by: contender, ...event })
  })
  const queue = watchQueue(bench, name)
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
    await queue.stop().catch(() => undefined)
  }

  const violations: Array<string> = []
  const byPermit = new Map<number, typeof grants>()
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
  // A ticket's permit: its holder's acquisition called before the ticket was first seen, the
  // earliest such one still unfinished then (it returns after, or the state was seen late).
  const perOvertaken = overtakes(queue.seen, (holder, firstSeen) => {
    const mine = grants.filter((g) => g.by.identity === holder && g.requested <= firstSeen).sort((a, b) => b.requested - a.requested)
    // An acquisition that returned well before the ticket was seen is an earlier one: this ticket's
    // never returned (stopped at the end of the window) or was seen late. Not counted.
    return mine[0] !== undefined && mine[0].acquired >= firstSeen - 200_000 ? mine[0].acquired : undefined
  })
  const elapsed = (t1 - t0) / 1e6
  return {
    permits,
    contenders: n,
    holdMs,
    seconds: elapsed,
    acquisitions: inWindow.length,
    perSecond: inWindow.length / elapsed,
    waitMs: inWindow.map((g) => (g.acquired - g.requested) / 1000),
    maxOvertakes: perOvertaken.length === 0 ? 0 : Math.max(...perOvertaken),
    queued: perOvertaken.length,
    overtaken: perOvertaken.filter((o) => o > 0).length,
    violations,
    winners: new Set(grants.map((g) => g.by)).size
  }
}

