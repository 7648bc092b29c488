/**
 * Figure 4 — contended throughput: N contender processes on one lease, each looping acquire →
 * tiny critical section → release → acquire…, for a fixed time, at default timings.
 *
 * Mutual exclusion is verified three ways: inside each critical section the contender creates a
 * marker file with O_EXCL (fails if another is inside) and checks its fencing token against the
 * last token written to a shared file (must be strictly greater); afterwards all critical sections
 * of all processes, ordered by start time, must not overlap in time and must carry strictly
 * increasing tokens. For client-go the token is spec.leaseTransitions, read with one extra GET in
 * the critical section (client-go hands out no token).
 */
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import { cpuGroups, releaseAll, sleep } from "../Bench.ts"
import * as CpuAccounting from "../CpuAccounting.ts"
import type { Contender, Kind } from "../Contenders.ts"
import { onEvents } from "../Contenders.ts"
import type { CriticalSectionEvent } from "@leasekit/testing/ContenderProtocol"
import { nowMicros } from "@leasekit/testing/ContenderProtocol"

export interface ContentionResult {
  readonly kind: Kind
  readonly contenders: number
  readonly seconds: number
  readonly criticalSections: number
  readonly perSecond: number
  /** Critical sections whose holder differs from the previous one, per second. */
  readonly handoversPerSecond: number
  /** Largest share of critical sections won by one process. */
  readonly maxShare: number
  /** Processes that got at least one critical section. */
  readonly winners: number
  /** Gap between one critical section's end and the next one's start, ms. */
  readonly gapMs: Array<number>
  readonly violations: Array<string>
  /** Consecutive sections of one process with the same token: it re-took its own lease because
   * its release did not go through (the same tenure as far as the lease is concerned). */
  readonly sameTenure: number
  readonly requestsPerSecond: number
  readonly writesPerCriticalSection: number
  /** CPU time per critical section, ms, by process group, and how busy the machine was. */
  readonly cpuMsPerSection: Record<string, number>
  readonly machineBusy: number
}

export const run = async (bench: Bench, kind: Kind, n: number, seconds: number): Promise<ContentionResult> => {
  const contenders = await bench.pool.take(kind, n)
  const fenceDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-fence-"))
  const name = `f4-${kind}-${n}-${Date.now().toString(36)}`
  const sections: Array<{ readonly by: Contender; readonly cs: CriticalSectionEvent }> = []
  const unsubscribe = onEvents(contenders, ({ contender, event }) => {
    if (event.ev === "cs") sections.push({ by: contender, cs: event })
  })
  const { audit } = bench
  const m0 = audit.mark()
  const t0 = nowMicros()
  let t1 = t0
  let m1 = m0
  const cpu = CpuAccounting.start(cpuGroups(bench, contenders))
  let usage: CpuAccounting.CpuUsage | undefined
  try {
    for (const c of contenders) c.send({ cmd: "join", name, namespace: bench.namespace, mode: "loop", fenceDir })
    await sleep(seconds * 1000)
    t1 = nowMicros()
    m1 = audit.mark()
    usage = cpu.stop()
  } finally {
    await releaseAll(contenders).catch(() => undefined)
    unsubscribe()
    bench.pool.give(contenders)
    Fs.rmSync(fenceDir, { recursive: true, force: true })
  }

  const violations: Array<string> = []
  for (const { by, cs } of sections) {
    if (!cs.ok) violations.push(`${by.label} token ${cs.token}: ${(cs.problems ?? []).join("; ")}`)
  }
  const ordered = [...sections].sort((a, b) => a.cs.t0 - b.cs.t0)
  const gapMs: Array<number> = []
  let changes = 0
  let sameTenure = 0
  for (let i = 1; i < ordered.length; i++) {
    const prev = ordered[i - 1]!
    const cur = ordered[i]!
    if (cur.cs.t0 < prev.cs.t1) {
      violations.push(`critical sections overlap: ${prev.by.label} (token ${prev.cs.token}) and ${cur.by.label} (token ${cur.cs.token})`)
    }
    if (cur.by === prev.by && cur.cs.token === prev.cs.token) {
      sameTenure++ // re-took its own lease without a release in between: same holder, same token
    } else if (cur.cs.token <= prev.cs.token) {
      violations.push(`token not increasing: ${prev.cs.token} (${prev.by.label}) then ${cur.cs.token} (${cur.by.label})`)
    }
    if (cur.by !== prev.by) changes++
    gapMs.push((cur.cs.t0 - prev.cs.t1) / 1000)
  }
  const inWindow = ordered.filter((s) => s.cs.t0 >= t0 && s.cs.t0 <= t1).length
  const elapsed = (t1 - t0) / 1e6
  const perProcess = new Map<Contender, number>()
  for (const s of ordered) perProcess.set(s.by, (perProcess.get(s.by) ?? 0) + 1)
  const records = audit.events(m0, m1, name)
  const writes = records.filter((r) => r.verb === "create" || r.verb === "update").length
  return {
    kind,
    contenders: n,
    seconds: elapsed,
    criticalSections: inWindow,
    perSecond: inWindow / elapsed,
    handoversPerSecond: changes / elapsed,
    maxShare: ordered.length === 0 ? 0 : Math.max(...perProcess.values()) / ordered.length,
    winners: perProcess.size,
    gapMs,
    violations,
    sameTenure,
    requestsPerSecond: records.filter((r) => r.verb !== "watch").length / elapsed,
    writesPerCriticalSection: inWindow === 0 ? Number.NaN : writes / inWindow,
    cpuMsPerSection: Object.fromEntries(Object.entries(usage?.byGroup ?? {}).map(([k, ms]) => [k, ms / Math.max(1, inWindow)])),
    machineBusy: usage?.machineBusy ?? Number.NaN
  }
}
