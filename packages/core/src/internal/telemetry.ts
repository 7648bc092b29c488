/**
 * The metrics every lease reports, its spans, and the log annotations that identify it — under the
 * names of `LeaseTelemetry.ts` (one set of attribute keys for spans, metrics and logs).
 *
 * Counters are attributed with the lease's namespace and name; `leasekit_lease_held` is 1 while
 * this process holds the lease and 0 otherwise (client-go's `leader_election_master_status` in
 * spirit). Metrics go to whatever `Metric` exporter the application installs. The attributed
 * metrics of one lease are built once (`forLease`), not on every renewal.
 *
 * Spans of a tenure's own work (background renewals; a release because the tenure's scope closed)
 * are roots linked to the acquisition's span (`tenureSpan`): a lease held for days must not grow the
 * trace of the call that acquired it, nor hang off whatever span was current when its scope closed.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type * as Tracer from "effect/Tracer"
import type { LeaseKey } from "../LeaseRecord.ts"
import { Attributes, metricAttributes, Metrics, spanAttributes } from "../LeaseTelemetry.ts"

const acquisitions = Metric.counter(Metrics.acquisitions, {
  description: "Leases acquired (each change of holder to this process)"
})
const renewals = Metric.counter(Metrics.renewals, { description: "Successful lease renewals" })
const renewalFailures = Metric.counter(Metrics.renewalFailures, {
  description: "Renewal attempts that failed (each retry counts)"
})
const losses = Metric.counter(Metrics.losses, { description: "Held leases lost, by reason" })
const releases = Metric.counter(Metrics.releases, { description: "Leases released by this process" })
const held = Metric.gauge(Metrics.held, { description: "1 while this process holds the lease, else 0" })

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
  const attrs = metricAttributes(key)
  const one = (metric: Metric.Metric<number, unknown>) => Metric.update(Metric.withAttributes(metric, attrs), 1)
  const heldGauge = Metric.withAttributes(held, attrs)
  return {
    acquired: one(acquisitions),
    renewed: one(renewals),
    renewalFailed: one(renewalFailures),
    released: one(releases),
    lost: (reason) => Metric.update(Metric.withAttributes(losses, { ...attrs, [Attributes.lossReason]: reason }), 1),
    setHeld: (isHeld) => Metric.update(heldGauge, isHeld ? 1 : 0)
  }
}

/** Wraps `self` in a child span attributed with the lease; no stack capture (renewal is a hot path). */
export const span = (name: string, key: LeaseKey | undefined, holder?: string) =>
<A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.withSpan(self, name, {
    attributes: key === undefined ? {} : spanAttributes(key, holder),
    captureStackTrace: false
  })

/** The span of an operation of one tenure: attributed with the lease, its holder and token, and
 * linked to the acquisition's span (when there was one). A `root` span starts a trace of its own;
 * otherwise it is a child of the caller's span. */
export const tenureSpan = (
  name: string,
  key: LeaseKey,
  holder: string,
  token: number,
  acquisition: Tracer.AnySpan | undefined,
  root: boolean
) =>
<A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.withSpan(self, name, {
    attributes: { ...spanAttributes(key, holder), [Attributes.token]: token },
    links: acquisition === undefined ? [] : [{ span: acquisition, attributes: { "leasekit.link": "acquisition" } }],
    root,
    captureStackTrace: false
  })

/** The span current where the tenure starts (the acquisition's), if any. */
export const currentSpan: Effect.Effect<Tracer.AnySpan | undefined> = Effect.currentParentSpan.pipe(
  Effect.orElseSucceed(() => undefined)
)

/** Annotates the logs of `self` with the lease and holder. */
export const annotate = (key: LeaseKey, holder: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.annotateLogs(self, spanAttributes(key, holder))
