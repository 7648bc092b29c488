/**
 * @leasekit/core — mutually exclusive, time-bounded leases over a pluggable store.
 *
 * Each module is exported as a namespace (`Lease.acquire`, `LeaseStore.layerMemory`), as Effect's
 * own packages do. There is no Kubernetes in here: `@leasekit/kubernetes` supplies that store.
 *
 * @module @leasekit/core
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Lease from "./Lease.ts"
/** @since 0.1.0 */
export * as LeaderElection from "./LeaderElection.ts"
/** @since 0.1.0 */
export * as LeaseError from "./LeaseError.ts"
/** @since 0.1.0 */
export * as LeaseHolder from "./LeaseHolder.ts"
/** @since 0.1.0 */
export * as LeaseOptions from "./LeaseOptions.ts"
/** @since 0.1.0 */
export * as LeaseRecord from "./LeaseRecord.ts"
/** @since 0.1.0 */
export * as LeaseStore from "./LeaseStore.ts"

export type { HeldLease } from "./Lease.ts"
export { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
export type { LeaseKey } from "./LeaseRecord.ts"
export { LeaseStoreError } from "./LeaseStore.ts"
