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
 * entries first seen together in queue order) and its disappearance (the waiter took a permit and
 * left). A waiter's overtakes are the waiters enqueued after it that left the queue before it;
 * reported: the largest of them, and how many waiters had any (only departures with a permit count:
 * its holder's process reported the permit within a second). The design allows overtaking only
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
  /** The most waiters enqueued after one waiter that left the queue before it. */
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
  left: number | undefined
}

/** Enqueue order and departures of the semaphore's waiters, from its observed states. */
const watchQueue = (bench: Bench, name: string) => {
  const runtime = ManagedRuntime.make(
    KubernetesLeaseStore.layer().pipe(Layer.provideMerge(KubeClient.layerFromFile(bench.controlPlane.users.admin.kubeconfig)))
  )
  const seen = new Map<string, Seen>()
  let next = 0
  let present = new Set<string>()
  const fiber = runtime.runFork(
    Stream.runForEach(LeaseSemaphore.observe({ namespace: bench.namespace, name }), (state) =>
      Effect.sync(() => {
        const now = nowMicros()
        const tickets = new Set(state.waiting.map((w) => w.ticket))
        for (const w of state.waiting) if (!seen.has(w.ticket)) seen.set(w.ticket, { order: next++, holder: w.holder, left: undefined })
        for (const t of present) if (!tickets.has(t)) seen.get(t)!.left = now
        present = tickets
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

/** The overtakes of each waiter seen entering and leaving the queue with a permit: a departure
 * counts as a grant when its holder's process reported a permit acquired within a second of it
 * (a waiter that gave up overtakes nobody). */
export const overtakes = (
  seen: ReadonlyMap<string, { readonly order: number; readonly holder: string; readonly left: number | undefined }>,
  granted: (holder: string, at: number) => boolean
): Array<number> => {
  const done = [...seen.values()].filter((s) => s.left !== undefined && granted(s.holder, s.left))
  return done.map((w) => done.filter((x) => x.order > w.order && x.left! < w.left!).length)
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
  const perOvertaken = overtakes(queue.seen, (holder, at) =>
    grants.some((g) => g.by.identity === holder && Math.abs(g.acquired - at) < 1_000_000))
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

