/**
 * The names leasekit's telemetry uses: span names, metric names, and the one set of attribute keys
 * shared by spans, metrics and log annotations — so that a dashboard, a trace query and a log search
 * name a lease the same way, and so that other modules (health endpoints, an Events recorder, an
 * application's own metrics) reuse them instead of spelling them again.
 *
 * Attribute keys are dotted, as OpenTelemetry's semantic conventions are (`lease.namespace`); they
 * travel unchanged over OTLP, and Prometheus exporters (Effect's `PrometheusMetrics` among them)
 * replace the dots with underscores (`lease_namespace`), which is a valid label name. Metric names
 * are already Prometheus names (`leasekit_renewals_total`) and come out unchanged in both.
 *
 * Metrics carry only the low-cardinality keys (`lease.namespace`, `lease.name`, and
 * `lease.loss_reason` on losses). The holder identity (it ends in a random suffix, so every process
 * start is a new value) and the fencing token (a new value per tenure) go on spans and log
 * annotations only: as metric labels they would make a new time series per restart.
 *
 * This module holds constants only; it loads nothing. It does not promise that a span or metric
 * is exported: that is the application's tracer and metric exporter (see the README's "Telemetry").
 *
 * @since 0.3.0
 */
import type { LeaseKey } from "./LeaseRecord.ts"

/**
 * The attribute keys of spans, metrics and log annotations.
 *
 * @since 0.3.0
 * @category attributes
 */
export const Attributes = {
  /** The lease's namespace. On spans, metrics and logs. */
  namespace: "lease.namespace",
  /** The lease's name. On spans, metrics and logs. */
  name: "lease.name",
  /** The identity of this contender. On spans and logs only (high cardinality). */
  holder: "lease.holder",
  /** The fencing token of the tenure. On tenure spans (renew, release) only. */
  token: "lease.token",
  /** Why a held lease was lost (`Taken`, `Deleted`, `DeadlineExceeded`, `Released`). On `leasekit_losses_total`. */
  lossReason: "lease.loss_reason"
} as const

/**
 * The span names. `acquire`, `tryAcquire`, `inspect` and explicit `renew`/`release` calls are
 * children of the caller's span; background renewals, and a release made because the lease's scope
 * closed, are root spans linked to the acquisition's span. Store calls are children of the
 * operation that made them.
 *
 * @since 0.3.0
 * @category spans
 */
export const Spans = {
  acquire: "leasekit.lease.acquire",
  tryAcquire: "leasekit.lease.tryAcquire",
  renew: "leasekit.lease.renew",
  release: "leasekit.lease.release",
  inspect: "leasekit.lease.inspect",
  /** `Lease.requestHandoff`. @since 0.4.0 */
  requestHandoff: "leasekit.lease.requestHandoff",
  /** `leasekit.store.<operation>`: `get`, `list`, `create`, `update`, `remove`. */
  storePrefix: "leasekit.store."
} as const

/**
 * The metric names. All are attributed with `lease.namespace` and `lease.name`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const Metrics = {
  /** Counter: leases acquired (each change of holder to this process). */
  acquisitions: "leasekit_acquisitions_total",
  /** Counter: successful renewals. */
  renewals: "leasekit_renewals_total",
  /** Counter: renewal attempts that failed (each retry counts). */
  renewalFailures: "leasekit_renewal_failures_total",
  /** Counter: held leases lost; also attributed with `lease.loss_reason`. */
  losses: "leasekit_losses_total",
  /** Counter: leases released by this process. */
  releases: "leasekit_releases_total",
  /** Gauge: 1 while this process holds the lease, else 0. */
  held: "leasekit_lease_held"
} as const

/**
 * The attributes that identify a lease on metrics (namespace and name: low cardinality).
 *
 * @since 0.3.0
 * @category attributes
 */
export const metricAttributes = (key: LeaseKey): Record<string, string> => ({
  [Attributes.namespace]: key.namespace,
  [Attributes.name]: key.name
})

/**
 * The attributes that identify a lease and its holder on spans and log annotations.
 *
 * @since 0.3.0
 * @category attributes
 */
export const spanAttributes = (key: LeaseKey, holder?: string): Record<string, string> =>
  holder === undefined ? metricAttributes(key) : { ...metricAttributes(key), [Attributes.holder]: holder }
