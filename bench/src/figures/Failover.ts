/**
 * Figure 3 — failover after SIGKILL of the holder: from the kill to the waiter's acquisition, at
 * leaseDuration 5 s and 15 s.
 *
 * Timings: leasekit uses `duration` D with its defaults derived from it (renew every D/3, deadline
 * 2D/3, retry min(2 s, D/3)); client-go uses D, renewDeadline 2D/3 and retryPeriod 2D/15 — its
 * defaults 15 s / 10 s / 2 s scaled to D. One holder and one waiter; the kill falls at a random
 * phase of the renewal cycle, at least a second after the waiter joined. The killed holder never
 * releases, so the waiter must see the record unchanged for D on its own clock.
 */
import type { Bench } from "../Bench.ts"
import { joinAndLead, sleep, uniform } from "../Bench.ts"
import type { Contender, Kind } from "../Contenders.ts"
import { nextEvent, spawn, stop } from "../Contenders.ts"
import type { JoinCommand } from "@leasekit/testing/ContenderProtocol"
import { nowMicros, timeOf } from "@leasekit/testing/ContenderProtocol"

export interface FailoverResult {
  readonly kind: Kind
  readonly durationSeconds: number
  readonly failoverMs: Array<number>
}

export const timings = (kind: Kind, seconds: number): Omit<JoinCommand, "cmd" | "name"> =>
  kind === "leasekit"
    ? { leaseDurationMs: seconds * 1000 }
    : { leaseDurationMs: seconds * 1000, renewDeadlineMs: Math.round((seconds * 2000) / 3), retryPeriodMs: Math.round((seconds * 2000) / 15) }

export const run = async (bench: Bench, kind: Kind, seconds: number, trials: number): Promise<FailoverResult> => {
  const name = `f3-${kind}-${seconds}-${Date.now().toString(36)}`
  const join = { name, namespace: bench.namespace, ...timings(kind, seconds) }
  const period = kind === "leasekit" ? (seconds * 1000) / 3 : (seconds * 2000) / 15
  const failoverMs: Array<number> = []
  const started: Array<Contender> = []
  const fresh = async () => {
    const c = await spawn(bench.spawnContext, kind)
    started.push(c)
    return c
  }
  try {
    let holder = await fresh()
    await joinAndLead(holder, join)
    let waiter = await fresh()
    waiter.send({ cmd: "join", ...join })
    for (let trial = 0; trial < trials; trial++) {
      await sleep(1_000 + uniform(0, 2 * period))
      const taken = nextEvent([waiter], ({ event }) => event.ev === "leading", (seconds + 30) * 1000, `${name} failover`)
      const killedAt = nowMicros()
      holder.kill("SIGKILL")
      const next = await taken
      failoverMs.push((timeOf(next.event) - killedAt) / 1000)
      holder = waiter
      waiter = await fresh()
      waiter.send({ cmd: "join", ...join })
      bench.log(`  fig 3 ${kind} ${seconds} s: ${trial + 1}/${trials} failovers`)
    }
  } finally {
    await Promise.all(started.map((c) => stop(c)))
  }
  return { kind, durationSeconds: seconds, failoverMs }
}
