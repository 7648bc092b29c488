/**
 * Figure 5 — scale in one process: N leases held at once by one contender process, at default
 * timings (leasekit 20 s, renewing every 6.7 s; client-go 15 s / 10 s / 2 s, one elector per
 * lease sharing one client).
 *
 * Measured over a steady window after every lease was acquired and had renewed once: resident
 * memory after a full GC above the same process idle (after a full GC, before acquiring), CPU time
 * of the process per wall time (share of one core), requests per second at the API server for
 * those leases, and renewal lateness — when each renewal was sent against when it was scheduled
 * (the previous successful write + the renewal interval), as the contender's instrumented client
 * sees it. Afterwards, for leasekit, a CPU profile of the same steady state is taken (in a separate
 * window, so that profiling does not inflate the CPU share). The process is then killed without
 * releasing (N release requests would only slow the run down).
 */
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { cpuGroups, sleep, usageOf } from "../Bench.ts"
import * as CpuAccounting from "../CpuAccounting.ts"
import type { Kind } from "../Contenders.ts"
import { nextEvent, spawn } from "../Contenders.ts"
import type { Event, UsageEvent } from "../Protocol.ts"
import { nowMicros } from "../Protocol.ts"
import type { Summary } from "../Statistics.ts"
import { summarize } from "../Statistics.ts"

export interface ScaleResult {
  readonly kind: Kind
  readonly leases: number
  /** Extra Node flags of this run (a tuning variant), if any. */
  readonly nodeFlags: ReadonlyArray<string>
  readonly ok: boolean
  readonly failure?: string | undefined
  readonly acquireSeconds: number
  readonly windowSeconds: number
  readonly idleRssMB: number
  readonly heldRssMB: number
  /** V8 heap in use + external memory, after a full GC (Node only). */
  readonly idleHeapMB: number
  readonly heldHeapMB: number
  /** Committed young generation while holding (Node only). */
  readonly youngGenerationMB: number
  readonly cpuShare: number
  readonly requestsPerSecond: number
  /** Renewal lateness, ms. For client-go only median, p99 and n are known (computed in Go). */
  readonly latenessMs: Summary
  readonly profileFile?: string | undefined
  /** CPU share of one core of the API server and of etcd during the window. */
  readonly apiserverShare: number
  readonly etcdShare: number
  readonly machineBusy: number
}

const heapOf = (u: UsageEvent) =>
  u.heapUsed === undefined ? Number.NaN : (u.heapUsed + (u.external ?? 0)) / 2 ** 20

export const run = async (
  bench: Bench,
  kind: Kind,
  leases: number,
  timing: { readonly settleSeconds: number; readonly windowSeconds: number; readonly profileSeconds: number },
  nodeFlags: ReadonlyArray<string> = []
): Promise<ScaleResult> => {
  const { profileSeconds, settleSeconds, windowSeconds } = timing
  const c = await spawn(bench.spawnContext, kind, { nodeFlags })
  const name = `f5-${kind}-${leases}-${Date.now().toString(36)}`
  const prefix = `${name}-`
  const { audit } = bench
  const empty: ScaleResult = {
    kind,
    leases,
    nodeFlags,
    ok: false,
    acquireSeconds: Number.NaN,
    windowSeconds: 0,
    idleRssMB: Number.NaN,
    heldRssMB: Number.NaN,
    idleHeapMB: Number.NaN,
    heldHeapMB: Number.NaN,
    youngGenerationMB: Number.NaN,
    cpuShare: Number.NaN,
    requestsPerSecond: Number.NaN,
    latenessMs: summarize([]),
    apiserverShare: Number.NaN,
    etcdShare: Number.NaN,
    machineBusy: Number.NaN
  }
  try {
    await sleep(1_000)
    const idle = await usageOf(c, true)
    const acquireStart = nowMicros()
    // Acquiring is bounded: a machine that cannot even create the leases fast enough is a result.
    const acquireBudgetMs = 60_000 + leases * 30
    const leading = nextEvent([c], ({ event }) => event.ev === "leading", acquireBudgetMs, `${leases} leases acquired`)
    c.send({ cmd: "join", name, namespace: bench.namespace, count: leases, concurrency: 32 })
    const acquired = await leading.then(() => true, () => false)
    const acquireSeconds = (nowMicros() - acquireStart) / 1e6
    if (!acquired) {
      return { ...empty, acquireSeconds, failure: `not all ${leases} leases were acquired within ${acquireBudgetMs / 1000} s` }
    }
    bench.log(`  fig 5 ${kind} ${leases}: acquired in ${acquireSeconds.toFixed(1)} s`)
    // In the full run every lease renews once before the window opens.
    await sleep(settleSeconds * 1000)
    const u0 = await usageOf(c)
    const mA = audit.mark()
    const t0 = nowMicros()
    const cpu = CpuAccounting.start(cpuGroups(bench, [c]))
    await sleep(windowSeconds * 1000)
    const usage = cpu.stop()
    const u1 = await usageOf(c)
    const mB = audit.mark()
    const t1 = nowMicros()
    const held = await usageOf(c, true)
    const elapsed = (t1 - t0) / 1e6
    const requests = audit.events(mA, mB, (n) => n.startsWith(prefix)).length
    const latenessMs = u1.lateness !== undefined
      ? summarize(u1.lateness.map((us) => us / 1000))
      : {
        n: u1.latenessN,
        median: u1.latenessP50 / 1000,
        p99: u1.latenessP99 / 1000,
        min: Number.NaN,
        max: u1.latenessMax / 1000,
        mean: Number.NaN
      }
    let profileFile: string | undefined
    if (kind === "leasekit" && profileSeconds > 0) {
      profileFile = Path.join(bench.outDir, `profile-scale-${leases}.cpuprofile`)
      const profiled = nextEvent([c], ({ event }) => event.ev === "profile", (profileSeconds + 60) * 1000, "profile")
      c.send({ cmd: "profile", seconds: profileSeconds, file: profileFile })
      const done = (await profiled).event as Extract<Event, { ev: "profile" }>
      if (done.error !== undefined) {
        bench.log(`  fig 5 profile failed: ${done.error}`)
        profileFile = undefined
      }
    }
    return {
      kind,
      leases,
      nodeFlags,
      ok: true,
      acquireSeconds,
      windowSeconds: elapsed,
      idleRssMB: idle.rss / 2 ** 20,
      heldRssMB: held.rss / 2 ** 20,
      idleHeapMB: heapOf(idle),
      heldHeapMB: heapOf(held),
      youngGenerationMB: (held.youngGeneration ?? Number.NaN) / 2 ** 20,
      cpuShare: (u1.cpuMicros - u0.cpuMicros) / (t1 - t0),
      requestsPerSecond: requests / elapsed,
      latenessMs,
      profileFile,
      apiserverShare: (usage.byGroup["kube-apiserver"] ?? Number.NaN) / usage.wallMs,
      etcdShare: (usage.byGroup["etcd"] ?? Number.NaN) / usage.wallMs,
      machineBusy: usage.machineBusy
    }
  } finally {
    c.kill("SIGKILL")
    await c.exited
  }
}
