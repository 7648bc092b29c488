/**
 * The contender's resource usage, answered to `usage`: CPU time, memory (RSS, V8 heap, external,
 * young generation), store calls, renewal lateness, event-loop delay and GC pauses since the
 * previous `usage`.
 *
 * The GC observer runs for the whole process (microbenchmarks read its count); the event-loop
 * delay sampler costs CPU (a 10 ms timer), so it runs only while a mode enables it (`many`). A
 * `usage` with `gc` first runs a full collection, when the process was started with
 * `--expose-gc` (otherwise it cannot, and does not).
 *
 * @internal
 */
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import * as V8 from "node:v8"
import type { Event } from "../../ContenderProtocol.ts"
import { nowMicros } from "../../ContenderProtocol.ts"
import type { Stats } from "./instrumentedStore.ts"

export interface Usage {
  /** How late the event loop runs its callbacks (what delays a renewal timer), reset by `report`. */
  readonly eventLoopDelay: ReturnType<typeof monitorEventLoopDelay>
  /** Garbage collections since the process started. */
  readonly gcCount: () => number
  /** Emits a `usage` event (after a full GC when `withGc`), and resets the per-report samples. */
  readonly report: (withGc: boolean) => void
}

/** `global.gc`, present when the process runs with `--expose-gc`. */
export const gc = (globalThis as { gc?: () => void }).gc

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

/** Starts the GC observer; `store` is read (and its lateness reset) by each report. */
export const make = (store: Stats, emit: (event: Event) => void): Usage => {
  let gcCount = 0
  let gcPauses: Array<number> = []
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      gcCount++
      gcPauses.push(entry.duration)
    }
  }).observe({ entryTypes: ["gc"] })
  const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 })

  const report = (withGc: boolean) => {
    const pauses = gcPauses
    gcPauses = []
    const delay = {
      eventLoopDelayP50Ms: eventLoopDelay.percentile(50) / 1e6,
      eventLoopDelayP99Ms: eventLoopDelay.percentile(99) / 1e6,
      eventLoopDelayMaxMs: eventLoopDelay.max / 1e6
    }
    eventLoopDelay.reset()
    if (withGc && gc !== undefined) gc()
    const cpu = process.cpuUsage()
    const memory = process.memoryUsage()
    const samples = store.lateness
    store.lateness = []
    const sorted = [...samples].sort((a, b) => a - b)
    emit({
      ev: "usage",
      t: nowMicros(),
      cpuMicros: cpu.user + cpu.system,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      youngGeneration: V8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.physical_space_size ?? 0,
      ...store.counters,
      latenessN: sorted.length,
      latenessP50: percentile(sorted, 0.5),
      latenessP99: percentile(sorted, 0.99),
      latenessMax: percentile(sorted, 1),
      lateness: samples,
      ...delay,
      gcPauses: pauses.length,
      gcPauseTotalMs: pauses.reduce((a, b) => a + b, 0),
      gcPauseMaxMs: pauses.reduce((a, b) => Math.max(a, b), 0)
    })
  }
  return { eventLoopDelay, gcCount: () => gcCount, report }
}
