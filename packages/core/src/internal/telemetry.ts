/**
 * The metrics every lease reports, and the attributes and log annotations that identify a lease.
 *
 * Counters are attributed with the lease's namespace and name; `leasekit_lease_held` is 1 while
 * this process holds the lease and 0 otherwise (client-go's `leader_election_master_status` in
 * spirit). Metrics go to whatever `Metric` exporter the application installs.
 */
import { Effect, Metric } from "effect"
import type { LeaseKey } from "../LeaseRecord.ts"

export const acquisitions = Metric.counter("leasekit_acquisitions_total", {
  description: "Leases acquired (each change of holder to this process)"
})
export const renewals = Metric.counter("leasekit_renewals_total", { description: "Successful lease renewals" })
export const renewalFailures = Metric.counter("leasekit_renewal_failures_total", {
  description: "Renewal attempts that failed (each retry counts)"
})
export const losses = Metric.counter("leasekit_losses_total", { description: "Held leases lost, by reason" })
export const releases = Metric.counter("leasekit_releases_total", { description: "Leases released by this process" })
export const held = Metric.gauge("leasekit_lease_held", { description: "1 while this process holds the lease, else 0" })

export const attributes = (key: LeaseKey): Record<string, string> => ({ namespace: key.namespace, lease: key.name })

/** Adds 1 to a counter for this lease (plus extra attributes such as a loss reason). */
export const count = (
  metric: Metric.Metric<number, unknown>,
  key: LeaseKey,
  extra: Record<string, string> = {}
): Effect.Effect<void> => Metric.update(Metric.withAttributes(metric, { ...attributes(key), ...extra }), 1)

export const setHeld = (key: LeaseKey, isHeld: boolean): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(held, attributes(key)), isHeld ? 1 : 0)

/** Annotates the logs of `self` with the lease and holder. */
export const annotate = (key: LeaseKey, holder: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.annotateLogs(self, { "lease.namespace": key.namespace, "lease.name": key.name, "lease.holder": holder })
