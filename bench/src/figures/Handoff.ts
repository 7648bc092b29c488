/**
 * Figure 8 — handoff to a named successor beside a plain release, leasekit only (client-go's
 * elector has no handoff): from the instant the holder starts handing over (its `releasing` event,
 * just before `HeldLease.handoff(to)` / `HeldLease.release`) to the instant the next holder's
 * first guarded step ran (its `guarded` event: `HeldLease.guard` right after acquiring), with W
 * waiters on one lease, at default timings.
 *
 * All W + 1 contenders join; then, repeatedly and alternating: the holder keeps the lease for a
 * random 0.2–0.6 s, then either hands it to one of the W waiters picked at random, or releases it
 * (any waiter may take it); the next holder is timed, and the old holder joins again as a waiter.
 * Alternating puts both series under the same conditions (load, watch connections, the API
 * server's caches). A handoff taken by anyone but the named successor is counted: the design says
 * it never is while the successor waits.
 */
import type { Bench } from "../Bench.ts"
import { releaseAll, sleep, uniform } from "../Bench.ts"
import type { Contender } from "../Contenders.ts"
import { nextEvent } from "../Contenders.ts"
import { timeOf } from "@leasekit/testing/ContenderProtocol"

export interface HandoffResult {
  readonly waiters: number
  /** `handoff(to)` start → the successor's first guarded step, ms. */
  readonly handoffMs: Array<number>
  /** `release` start → any waiter's first guarded step, ms. */
  readonly releaseMs: Array<number>
  /** `handoff(to)` start → the successor's acquisition returned (`leading`), ms. */
  readonly handoffAcquiredMs: Array<number>
  /** Handoffs whose lease went to a contender other than the named successor. */
  readonly wrongSuccessor: number
}

export const run = async (bench: Bench, waiters: number, rounds: number): Promise<HandoffResult> => {
  const contenders = await bench.pool.take("leasekit", waiters + 1)
  const name = `f8-${waiters}-${Date.now().toString(36)}`
  const join = { cmd: "join" as const, name, namespace: bench.namespace }
  const handoffMs: Array<number> = []
  const releaseMs: Array<number> = []
  const handoffAcquiredMs: Array<number> = []
  let wrongSuccessor = 0
  try {
    const first = nextEvent(contenders, ({ event }) => event.ev === "guarded", 60_000, `first leader of ${name}`)
    for (const c of contenders) c.send(join)
    let holder: Contender = (await first).contender
    await sleep(1_000) // every waiter has read the lease and is watching it
    for (let h = 0; h < rounds * 2; h++) {
      await sleep(uniform(200, 600))
      const current = holder
      const others = contenders.filter((c) => c !== current)
      const handoff = h % 2 === 0
      const successor = others[Math.floor(Math.random() * others.length)]!
      const acquired = nextEvent(others, ({ event }) => event.ev === "leading", 60_000, `next holder of ${name}`)
      const guarded = nextEvent(others, ({ event }) => event.ev === "guarded", 60_000, `next guarded step on ${name}`)
      const releasing = nextEvent([current], ({ event }) => event.ev === "releasing", 30_000, "releasing")
      const released = nextEvent([current], ({ event }) => event.ev === "released", 60_000, "released")
      current.send(handoff ? { cmd: "handoff", to: successor.identity } : { cmd: "release" })
      const [start, taken, next] = await Promise.all([releasing, acquired, guarded])
      await released
      const ms = (timeOf(next.event) - timeOf(start.event)) / 1000
      if (handoff) {
        handoffMs.push(ms)
        handoffAcquiredMs.push((timeOf(taken.event) - timeOf(start.event)) / 1000)
        if (next.contender !== successor) wrongSuccessor++
      } else {
        releaseMs.push(ms)
      }
      current.send(join) // back in as a waiter
      holder = next.contender
      if ((h + 1) % Math.max(1, Math.floor(rounds / 2)) === 0) {
        bench.log(`  fig 8 ×${waiters}: ${Math.ceil((h + 1) / 2)}/${rounds} handoffs and releases`)
      }
    }
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    bench.pool.give(contenders)
  }
  return { waiters, handoffMs, releaseMs, handoffAcquiredMs, wrongSuccessor }
}
