/**
 * What every figure gets: the run's settings, the control plane, the audit log, the contender
 * pool, and small helpers for timing and progress.
 */
import type { ControlPlane } from "@leasekit/testing"
import type * as AuditLog from "@leasekit/testing/AuditLog"
import { Effect } from "effect"
import type { Contender, Pool, SpawnContext } from "./Contenders.ts"
import { nextEvent } from "./Contenders.ts"
import type { Event, JoinCommand, UsageEvent } from "@leasekit/testing/ContenderProtocol"

export interface Bench {
  readonly quick: boolean
  readonly controlPlane: ControlPlane.ControlPlaneService
  readonly namespace: string
  readonly audit: BenchAudit
  readonly pool: Pool
  readonly spawnContext: SpawnContext
  readonly outDir: string
  readonly log: (message: string) => void
  /** Process ids of the control plane, for CPU accounting. */
  readonly controlPlanePids: { readonly apiserver: number; readonly etcd: number }
}

/**
 * The control plane's audit log (`@leasekit/testing/AuditLog`) as the figures read it: marks are
 * byte offsets, `events` are the lease requests logged between two marks (default: now) whose
 * name is `name` or passes it, and `settle` waits for requests that completed to be logged.
 */
export interface BenchAudit {
  readonly mark: () => number
  readonly events: (
    from: number,
    to: number | undefined,
    name?: string | ((name: string) => boolean)
  ) => ReadonlyArray<AuditLog.AuditEvent>
  readonly settle: (ms?: number) => Promise<void>
}

/** The figures' view of `log` (reads fail with the reader's error, e.g. a rotated log). */
export const benchAudit = (log: AuditLog.AuditLog): BenchAudit => ({
  mark: () => Effect.runSync(log.mark).offset,
  events: (from, to, name) =>
    Effect.runSync(log.events({
      resource: "leases",
      name,
      after: { offset: from },
      before: to === undefined ? undefined : { offset: to }
    })),
  settle: (ms = 250) => sleep(ms)
})

/** CPU accounting groups: the API server, etcd, and the given contenders (by kind). */
export const cpuGroups = (bench: Bench, contenders: ReadonlyArray<Contender>) => () => ({
  "kube-apiserver": [bench.controlPlanePids.apiserver],
  "etcd": [bench.controlPlanePids.etcd],
  "contenders": contenders.filter((c) => c.alive).map((c) => c.pid)
})

/** Summarizes a CPU profile a figure took into the run's results (nothing when `file` is undefined). */
export type RecordProfile = (name: string, file: string | undefined) => void

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Uniformly distributed in [lo, hi). */
export const uniform = (lo: number, hi: number): number => lo + Math.random() * (hi - lo)

/** Sends `join` and waits until this contender leads. */
export const joinAndLead = async (c: Contender, join: Omit<JoinCommand, "cmd">, timeoutMs = 60_000) => {
  const leading = nextEvent([c], ({ event }) => event.ev === "leading", timeoutMs, `${c.label} leading ${join.name}`)
  c.send({ cmd: "join", ...join })
  return (await leading).event as Extract<Event, { ev: "leading" }>
}

/** Sends `release` to each and waits until each has left the election. */
export const releaseAll = async (contenders: ReadonlyArray<Contender>, timeoutMs = 60_000): Promise<void> => {
  await Promise.all(contenders.map((c) => {
    const released = nextEvent([c], ({ event }) => event.ev === "released", timeoutMs, `${c.label} released`)
    c.send({ cmd: "release" })
    return released
  }))
}

/** Asks for a `usage` event and returns it. */
export const usageOf = async (c: Contender, gc = false) => {
  const usage = nextEvent([c], ({ event }) => event.ev === "usage", 30_000, `${c.label} usage`)
  c.send({ cmd: "usage", gc })
  return (await usage).event as UsageEvent
}
