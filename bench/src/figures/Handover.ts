/**
 * Figure 2 — handover after a graceful release: from the instant the holder starts releasing
 * (its `releasing` event, just before `HeldLease.release` / the client-go context cancel) to the
 * instant a waiter has acquired (its `leading` event), with 1, 4 and 16 waiters on one lease, at
 * default timings.
 *
 * All W + 1 contenders join; then, repeatedly: the holder keeps the lease for a random 0.2–0.6 s
 * (so that the release falls at a random phase of client-go's polling), releases, the new leader
 * is timed, and the old holder joins again as a waiter — W waiters at every handover. The requests
 * made at the server during the series are counted per handover, writes (and conflicts, the
 * thundering herd) apart.
 */
import { isWrite } from "../AuditLog.ts"
import type { Bench } from "../Bench.ts"
import { cpuGroups, releaseAll, sleep, uniform } from "../Bench.ts"
import * as CpuAccounting from "../CpuAccounting.ts"
import type { Contender, Kind } from "../Contenders.ts"
import { nextEvent } from "../Contenders.ts"
import { timeOf } from "@leasekit/testing/ContenderProtocol"

export interface HandoverResult {
  readonly kind: Kind
  readonly waiters: number
  /** Release start → new leader, ms. */
  readonly latencyMs: Array<number>
  /** Release start → the holder's release write answered, ms. */
  readonly releaseMs: Array<number>
  readonly requestsPerHandover: number
  readonly writesPerHandover: number
  readonly conflictsPerHandover: number
  readonly verbsPerHandover: Record<string, number>
  /** CPU time per handover, ms, by process group (the API server's and etcd's include whatever
   * else ran against them meanwhile), and how busy the machine was. */
  readonly cpuMsPerHandover: Record<string, number>
  readonly machineBusy: number
}

export const run = async (
  bench: Bench,
  kind: Kind,
  waiters: number,
  handovers: number,
  options: { readonly profileFile?: string } = {}
): Promise<HandoverResult> => {
  const contenders = await bench.pool.take(kind, waiters + 1)
  const name = `f2-${kind}-${waiters}-${Date.now().toString(36)}`
  const join = { cmd: "join" as const, name, namespace: bench.namespace }
  const latencyMs: Array<number> = []
  const releaseMs: Array<number> = []
  const { audit } = bench
  let m0 = 0
  let m1 = 0
  let cpu: ReturnType<typeof CpuAccounting.start> | undefined
  let usage: CpuAccounting.CpuUsage | undefined
  try {
    const first = nextEvent(contenders, ({ event }) => event.ev === "leading", 60_000, `first leader of ${name}`)
    for (const c of contenders) c.send(join)
    let holder: Contender = (await first).contender
    await sleep(1_000) // every waiter has read the lease (and, for leasekit, is watching it)
    m0 = audit.mark()
    cpu = CpuAccounting.start(cpuGroups(bench, contenders))
    let profiled: Promise<unknown> = Promise.resolve()
    if (options.profileFile !== undefined && kind === "leasekit") {
      // One contender's CPU profile over (most of) the series: mostly waiting, sometimes holding.
      const target = contenders.find((c) => c !== holder)!
      const seconds = Math.max(3, Math.min(30, handovers * 0.4))
      profiled = nextEvent([target], ({ event }) => event.ev === "profile", (seconds + 120) * 1000, "profile")
      target.send({ cmd: "profile", seconds, file: options.profileFile })
    }
    for (let h = 0; h < handovers; h++) {
      await sleep(uniform(200, 600))
      const current = holder
      const others = contenders.filter((c) => c !== current)
      const next = nextEvent(others, ({ event }) => event.ev === "leading", 60_000, `next leader of ${name}`)
      const releasing = nextEvent([current], ({ event }) => event.ev === "releasing", 30_000, "releasing")
      const released = nextEvent([current], ({ event }) => event.ev === "released", 60_000, "released")
      current.send({ cmd: "release" })
      const [start, taken] = await Promise.all([releasing, next])
      const end = await released
      latencyMs.push((timeOf(taken.event) - timeOf(start.event)) / 1000)
      releaseMs.push((timeOf(end.event) - timeOf(start.event)) / 1000)
      current.send(join) // back in as a waiter
      holder = taken.contender
      if ((h + 1) % Math.max(1, Math.floor(handovers / 4)) === 0) {
        bench.log(`  fig 2 ${kind} ×${waiters}: ${h + 1}/${handovers} handovers`)
      }
    }
    await sleep(300) // the last re-join's read lands before the mark
    m1 = audit.mark()
    usage = cpu.stop()
    await profiled
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    bench.pool.give(contenders)
  }
  const records = audit.events(m0, m1, name)
  const verbs: Record<string, number> = {}
  for (const r of records) {
    const key = r.code === 409 ? `${r.verb} 409` : r.verb
    verbs[key] = (verbs[key] ?? 0) + 1 / handovers
  }
  return {
    kind,
    waiters,
    latencyMs,
    releaseMs,
    requestsPerHandover: records.filter((r) => r.verb !== "watch").length / handovers,
    writesPerHandover: records.filter(isWrite).length / handovers,
    conflictsPerHandover: records.filter((r) => isWrite(r) && r.code === 409).length / handovers,
    verbsPerHandover: verbs,
    cpuMsPerHandover: Object.fromEntries(Object.entries(usage?.byGroup ?? {}).map(([k, ms]) => [k, ms / handovers])),
    machineBusy: usage?.machineBusy ?? Number.NaN
  }
}
