/**
 * @leasekit/core — mutually exclusive, time-bounded leases over a pluggable store.
 *
 * Each module is exported as a namespace (`Lease.acquire`, `LeaseStore.layerMemory`), as Effect's
 * own packages do. There is no Kubernetes in here: `@leasekit/kubernetes` supplies that store.
 *
 * Not in here: `@leasekit/core/LeaseConfig` (options from `Config`), imported by itself because it
 * loads `effect/Config` and Schema; and `@leasekit/core/testing`.
 *
 * @module @leasekit/core
 * @since 0.1.0
 */

/**
 * Leases: mutually exclusive, time-bounded locks, held as scoped resources.
 *
 * @since 0.1.0
 */
export * as Lease from "./Lease.ts"
/**
 * Leader election: hold a lease for as long as possible, run work while holding it, and go back
 * into the election after every loss.
 *
 * @since 0.1.0
 */
export * as LeaderElection from "./LeaderElection.ts"
/**
 * Health, readiness and metrics of a leader election, over HTTP (`effect/http`).
 *
 * @since 0.3.0
 */
export * as LeaderHealth from "./LeaderHealth.ts"
/**
 * A contender: one identity competing for one lease, for as long as its scope lasts — what every
 * way of taking a lease is built on.
 *
 * @since 0.2.0
 */
export * as LeaseContender from "./LeaseContender.ts"
/**
 * The errors of the lease algorithm, one per concern, each with a tagged `reason`.
 *
 * @since 0.1.0
 */
export * as LeaseError from "./LeaseError.ts"
/**
 * Holder identities: who a lease record says holds it.
 *
 * @since 0.1.0
 */
export * as LeaseHolder from "./LeaseHolder.ts"
/**
 * Lease options, their defaults, and the rules they must satisfy.
 *
 * @since 0.1.0
 */
export * as LeaseOptions from "./LeaseOptions.ts"
/**
 * The neutral view of one lease object, as a store hands it out.
 *
 * @since 0.1.0
 */
export * as LeaseRecord from "./LeaseRecord.ts"
/**
 * Counting semaphores: at most N holders at once, made of ordinary leases, with a fair queue.
 *
 * @since 0.5.0
 */
export * as LeaseSemaphore from "./LeaseSemaphore.ts"
/**
 * The storage contract behind leases, and an in-memory implementation of it.
 *
 * @since 0.1.0
 */
export * as LeaseStore from "./LeaseStore.ts"
/**
 * The names of leasekit's spans and metrics, and the attribute keys they and the log annotations share.
 *
 * @since 0.3.0
 */
export * as LeaseTelemetry from "./LeaseTelemetry.ts"

export type { HeldLease } from "./Lease.ts"
export type { LeaseEvent, TryAcquireResult } from "./LeaseContender.ts"
export { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
export type { LeaseKey } from "./LeaseRecord.ts"
export { LeaseStoreError } from "./LeaseStore.ts"
