/**
 * `@leasekit/promise` — Kubernetes Lease locks (and counting semaphores) for code that does not use Effect.
 *
 * ```ts
 * import { IntervalLease } from "@leasekit/promise"
 *
 * const lease = new IntervalLease({ namespace: "jobs", leaseName: "nightly-report" })
 * await lease.run(async (signal, token) => {
 *   // runs while this process holds the lease; `signal` aborts if it is lost
 * })
 * await lease.close()
 * ```
 *
 * Built on `@leasekit/core` (the algorithm) and `@leasekit/kubernetes` (the store) through an
 * Effect `ManagedRuntime`; see `IntervalLease.ts` and `Semaphore.ts` for what is and is not
 * guaranteed.
 *
 * @module @leasekit/promise
 * @since 0.1.0
 */

/** @since 0.1.0 */
export {
  IntervalLease,
  type IntervalLeaseOptions,
  type LeaseLogger,
  type LeaseLogLevel,
  type LockOptions,
  type LostHandler
} from "./IntervalLease.ts"

/** @since 0.5.0 */
export { type Permit, Semaphore, type SemaphoreOptions } from "./Semaphore.ts"

/** @since 0.1.0 */
export {
  type AcquisitionFailure,
  type InspectionFailure,
  InvalidLeaseOptionsError,
  LeaseAcquisitionError,
  LeaseError,
  LeaseInspectionError,
  type LeaseLocation,
  LeaseLostError,
  type LossReason,
  LeaseRelinquishmentError,
  type RelinquishmentFailure
} from "./LeaseError.ts"

/**
 * The runtime an `IntervalLease` runs on: an Effect `ManagedRuntime` providing a `LeaseStore`.
 *
 * @since 0.1.0
 */
export * as LeaseRuntime from "./LeaseRuntime.ts"
