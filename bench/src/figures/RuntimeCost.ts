/**
 * Figure 6 — the cost of the Effect runtime: client-side CPU time and allocations of one renewal.
 *
 * In a dedicated leasekit process (large young generation, `--expose-gc`), `HeldLease.renew` is
 * called in a loop on a lease held with hour-long timings (so no background renewal interferes):
 * - on the in-memory store: the algorithm and the Effect runtime alone, no I/O;
 * - on the Kubernetes store against the real API server: one PUT per renewal;
 * - for comparison, the same PUT through the same pooled @kubernetes/client-node client, awaited
 *   in a plain loop without Effect or leasekit.
 * CPU time is per call (process user + system time, all threads); allocations are the heap's
 * growth over up to 1,000 calls during which no GC ran, per call. A CPU profile of the Kubernetes
 * renewal loop says where the time goes.
 */
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { nextEvent, spawn, stop } from "../Contenders.ts"
import type { MicrobenchEvent } from "../Protocol.ts"

export interface RuntimeCostResult {
  readonly runs: ReadonlyArray<MicrobenchEvent>
  readonly profileFile?: string | undefined
}

export const run = async (bench: Bench, iterations: { memory: number; kubernetes: number }): Promise<RuntimeCostResult> => {
  const c = await spawn(bench.spawnContext, "leasekit", {
    nodeFlags: ["--min-semi-space-size=128", "--max-semi-space-size=128"]
  })
  const runs: Array<MicrobenchEvent> = []
  let profileFile: string | undefined
  try {
    for (const target of ["memory", "kubernetes", "raw"] as const) {
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
    // Where a Kubernetes renewal's CPU time goes: profile a second run of that loop.
    profileFile = Path.join(bench.outDir, "profile-renewal.cpuprofile")
    const profiled = nextEvent([c], ({ event }) => event.ev === "profile", 600_000, "profile")
    const loop = nextEvent([c], ({ event }) => event.ev === "microbench", 600_000, "profiled microbench")
    const seconds = bench.quick ? 3 : 10
    // Enough renewals to outlast the profile (the allocation pass adds up to 1,000 more).
    const wallMicros = [...(runs[1]?.wallMicros ?? [])].sort((a, b) => a - b)
    const perRenewal = Math.max(100, wallMicros[Math.floor(wallMicros.length / 2)] ?? 3_000)
    c.send({ cmd: "profile", seconds, file: profileFile })
    c.send({
      cmd: "microbench",
      namespace: bench.namespace,
      name: `f6-profiled-${Date.now().toString(36)}`,
      target: "kubernetes",
      iterations: Math.ceil((seconds * 1e6) / perRenewal),
      warmup: 0
    })
    const [p] = await Promise.all([profiled, loop])
    if (p.event.ev === "profile" && p.event.error !== undefined) profileFile = undefined
  } finally {
    await stop(c)
  }
  return { runs, profileFile }
}
