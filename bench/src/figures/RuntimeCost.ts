/**
 * Figure 6 — the cost of the Effect runtime: client-side CPU time and allocations of one renewal.
 *
 * In a dedicated leasekit process (large young generation, `--expose-gc`), `HeldLease.renew` is
 * called in a loop on a lease held with hour-long timings (so no background renewal interferes):
 * - on the in-memory store: the algorithm and the Effect runtime alone, no I/O;
 * - on the Kubernetes store against the real API server: one PUT per renewal;
 * - the same PUT through `KubeClient.http` alone (transport only): the store's HTTP client and
 *   connection pool, without the algorithm or the store's policy;
 * - and the same PUT with node:https and JSON.stringify on one keep-alive connection: the floor
 *   for a renewal over HTTP/1.1 from Node; and with node:http2 on one session (the HTTP/2 floor).
 * CPU time is per call (process user + system time, all threads); allocations are the heap's
 * growth over 200 calls during which no GC ran, per call. CPU profiles of the Kubernetes and
 * in-memory renewal loops say where the time goes.
 */
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { nextEvent, spawn, stop } from "../Contenders.ts"
import type { MicrobenchEvent } from "@leasekit/testing/ContenderProtocol"

export interface RuntimeCostResult {
  readonly runs: ReadonlyArray<MicrobenchEvent>
  /** CPU profiles of the renewal loops, by target. */
  readonly profiles: Partial<Record<"kubernetes" | "memory", string>>
}

export const run = async (bench: Bench, iterations: { memory: number; kubernetes: number }): Promise<RuntimeCostResult> => {
  const c = await spawn(bench.spawnContext, "leasekit", {
    nodeFlags: ["--min-semi-space-size=128", "--max-semi-space-size=128"]
  })
  const runs: Array<MicrobenchEvent> = []
  const profiles: Partial<Record<"kubernetes" | "memory", string>> = {}
  try {
    for (const target of ["memory", "kubernetes", "raw", "https", "http2"] as const) {
      const n = target === "memory" ? iterations.memory : iterations.kubernetes
      const done = nextEvent([c], ({ event }) => event.ev === "microbench", 600_000, `microbench ${target}`)
      c.send({
        cmd: "microbench",
        namespace: bench.namespace,
        name: `f6-${target}-${Date.now().toString(36)}`,
        target,
        iterations: n,
        warmup: Math.min(200, Math.ceil(n / 5))
      })
      runs.push((await done).event as MicrobenchEvent)
      bench.log(`  fig 6: ${target} done (${n} renewals)`)
    }
    // Where a renewal's CPU time goes: profile a second run of the Kubernetes loop and of the
    // in-memory loop, each long enough to outlast its profile.
    const seconds = bench.quick ? 3 : 10
    for (const target of ["kubernetes", "memory"] as const) {
      const file = Path.join(bench.outDir, `profile-renewal-${target}.cpuprofile`)
      const wall = [...(runs.find((x) => x.target === target)?.wallMicros ?? [])].sort((a, b) => a - b)
      const perRenewal = Math.max(10, wall[Math.floor(wall.length / 2)] ?? 1_000)
      const profiled = nextEvent([c], ({ event }) => event.ev === "profile", 600_000, "profile")
      const loop = nextEvent([c], ({ event }) => event.ev === "microbench", 600_000, "profiled microbench")
      c.send({ cmd: "profile", seconds, file })
      c.send({
        cmd: "microbench",
        namespace: bench.namespace,
        name: `f6-profiled-${target}-${Date.now().toString(36)}`,
        target,
        iterations: Math.ceil((seconds * 1.2e6) / perRenewal),
        warmup: 0,
        timed: false
      })
      const [p] = await Promise.all([profiled, loop])
      if (!(p.event.ev === "profile" && p.event.error !== undefined)) profiles[target] = file
    }
  } finally {
    await stop(c)
  }
  return { runs, profiles }
}
