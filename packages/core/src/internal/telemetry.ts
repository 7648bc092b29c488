/**
 * The metrics every lease reports, and the attributes and log annotations that identify a lease.
 *
 * Counters are attributed with the lease's namespace and name; `leasekit_lease_held` is 1 while
 * this process holds the lease and 0 otherwise (client-go's `leader_election_master_status` in
 * spirit). Metrics go to whatever `Metric` exporter the application installs. The attributed
 * metrics of one lease are built once (`forLease`), not on every renewal.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { LeaseKey } from "../LeaseRecord.ts"

const acquisitions = Metric.counter("leasekit_acquisitions_total", {
  description: "Leases acquired (each change of holder to this process)"
})
const renewals = Metric.counter("leasekit_renewals_total", { description: "Successful lease renewals" })
const renewalFailures = Metric.counter("leasekit_renewal_failures_total", {
  description: "Renewal attempts that failed (each retry counts)"
})
const losses = Metric.counter("leasekit_losses_total", { description: "Held leases lost, by reason" })
const releases = Metric.counter("leasekit_releases_total", { description: "Leases released by this process" })
const held = Metric.gauge("leasekit_lease_held", { description: "1 while this process holds the lease, else 0" })

export const attributes = (key: LeaseKey): Record<string, string> => ({ namespace: key.namespace, lease: key.name })

/** The metrics of one lease, attributed once. */
export interface LeaseMetrics {
  readonly acquired: Effect.Effect<void>
  readonly renewed: Effect.Effect<void>
  readonly renewalFailed: Effect.Effect<void>
  readonly released: Effect.Effect<void>
  readonly lost: (reason: string) => Effect.Effect<void>
  readonly setHeld: (isHeld: boolean) => Effect.Effect<void>
}

export const forLease = (key: LeaseKey): LeaseMetrics => {
  const attrs = attributes(key)
  const one = (metric: Metric.Metric<number, unknown>) => Metric.update(Metric.withAttributes(metric, attrs), 1)
  const heldGauge = Metric.withAttributes(held, attrs)
  return {
    acquired: one(acquisitions),
    renewed: one(renewals),
    renewalFailed: one(renewalFailures),
    released: one(releases),
    lost: (reason) => Metric.update(Metric.withAttributes(losses, { ...attrs, reason }), 1),
    setHeld: (isHeld) => Metric.update(heldGauge, isHeld ? 1 : 0)
  }
}

/** Wraps `self` in a span attributed with the lease; no stack capture (renewal is a hot path). */
export const span = (name: string, key: LeaseKey | undefined) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.withSpan(self, name, {
    attributes: key === undefined ? {} : { "lease.namespace": key.namespace, "lease.name": key.name },
    captureStackTrace: false
  })

/** Annotates the logs of `self` with the lease and holder. */
export const annotate = (key: LeaseKey, holder: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.annotateLogs(self, { "lease.namespace": key.namespace, "lease.name": key.name, "lease.holder": holder })
