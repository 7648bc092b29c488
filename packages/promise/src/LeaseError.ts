/**
 * The errors of the Promise API: plain `Error` subclasses, so `instanceof` works without Effect.
 *
 * - `LeaseAcquisitionError`: the lease could not be taken (another holder has it, the wait timed
 *   out or was aborted, the instance is closed, or the store failed).
 * - `LeaseRelinquishmentError`: the lease could not be released (another holder has it now, the
 *   store failed, or a retrying release was aborted).
 * - `LeaseLostError`: a lease this instance held was lost (taken over, released or deleted by
 *   someone else, or not renewed in time) — passed to `onLost` handlers, used as the abort reason
 *   of `run`'s signal, and thrown by `run` and `check`; with reason `Relinquished`, `run`'s
 *   callback was stopped because this instance began releasing the lease.
 * - `LeaseInspectionError`: the lease could not be read (`isAcquired`, `isExpired`).
 * - `InvalidLeaseOptionsError`: the options (or the kubeconfig they point to) cannot work.
 *
 * Every error carries the lease's `namespace` and `leaseName`, a message a person can act on, a
 * `reason` to branch on, and the underlying error as `cause`: the `@leasekit/core` error (whose own
 * `cause` is the store error), an abort signal's reason, or the kubeconfig error. Nothing is
 * flattened into a string.
 *
 * @since 0.1.0
 */

/**
 * Where a lease lives.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseLocation {
  readonly namespace: string
  readonly leaseName: string
}

/**
 * The common base of every error this package throws.
 *
 * @since 0.1.0
 * @category errors
 */
export abstract class LeaseError extends Error {
  readonly namespace: string
  readonly leaseName: string
  constructor(message: string, location: LeaseLocation, cause: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.namespace = location.namespace
    this.leaseName = location.leaseName
  }
}

/**
 * Why an acquisition failed.
 *
 * - `HeldByOther`: another holder has the lease and it has not expired (as this process judges).
 * - `Timeout`: `lock`'s `timeoutMs` ran out.
 * - `Aborted`: the caller's `AbortSignal` fired (`cause` is `signal.reason`).
 * - `Closed`: `close()` was called on this instance.
 * - `Contended`: other contenders won the compare-and-swap race several times in a row; try again.
 * - `Store`: the API server refused or failed in a way waiting does not fix (forbidden, invalid,
 *   unreachable for longer than the request timeout).
 * - `Coordinated`: the Lease has `spec.strategy` (the API server's coordinated leader election picks
 *   its holder): leasekit does not contend for it. Use a Lease without `spec.strategy`.
 * - `Semaphore`: a semaphore's object was taken for a plain lease (or the reverse), the semaphore
 *   does not exist and no permit count was given, or its queue is full (the message says which).
 *
 * @since 0.1.0
 * @category errors
 */
export type AcquisitionFailure = "HeldByOther" | "Timeout" | "Aborted" | "Closed" | "Contended" | "Store" | "Coordinated" | "Semaphore"

/**
 * The lease could not be acquired.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseAcquisitionError extends LeaseError {
  override readonly name = "LeaseAcquisitionError"
  readonly reason: AcquisitionFailure
  /** Who held the lease when the attempt failed, when known. */
  readonly holder: string | undefined
  /** For `HeldByOther`: how long until this process would consider the lease expired. */
  readonly expiresInMs: number | undefined
  constructor(options: LeaseLocation & {
    readonly message: string
    readonly reason: AcquisitionFailure
    readonly holder?: string | undefined
    readonly expiresInMs?: number | undefined
    readonly cause?: unknown
  }) {
    super(options.message, options, options.cause)
    this.reason = options.reason
    this.holder = options.holder
    this.expiresInMs = options.expiresInMs
  }
}

/**
 * Why a release failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RelinquishmentFailure = "HeldByOther" | "Store" | "Aborted"

/**
 * The lease could not be released.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseRelinquishmentError extends LeaseError {
  override readonly name = "LeaseRelinquishmentError"
  readonly reason: RelinquishmentFailure
  /** For `HeldByOther`: who holds the lease now. */
  readonly holder: string | undefined
  constructor(options: LeaseLocation & {
    readonly message: string
    readonly reason: RelinquishmentFailure
    readonly holder?: string | undefined
    readonly cause?: unknown
  }) {
    super(options.message, options, options.cause)
    this.reason = options.reason
    this.holder = options.holder
  }
}

/**
 * Why a held lease was lost.
 *
 * - `Taken`: the lease now names another holder (`takenBy`).
 * - `Released`: someone else cleared the holder.
 * - `Deleted`: the Lease object was deleted.
 * - `DeadlineExceeded`: no renewal succeeded within the renew deadline (or, from `check`, the last
 *   renewal is older than the lease duration plus the tolerance).
 * - `Relinquished`: not a loss to someone else: a `release()` (or a variant) of this instance began
 *   while `run`'s callback was running. The callback's signal aborted with it, the release waited
 *   for the callback (at most `renewDeadline`) before writing, and `run` rejects with it. Never
 *   passed to `onLost`.
 * - `Coordinated`: the Lease became managed by the API server's coordinated leader election
 *   (`spec.strategy` set while held); leasekit stopped renewing it and does not contend for it.
 *
 * @since 0.1.0
 * @category errors
 */
export type LossReason = "Taken" | "Released" | "Deleted" | "DeadlineExceeded" | "Relinquished" | "Coordinated"

/**
 * A lease this instance held was lost.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLostError extends LeaseError {
  override readonly name = "LeaseLostError"
  readonly reason: LossReason
  /** This instance's holder identity. */
  readonly holder: string
  /** For `Taken`: the new holder. */
  readonly takenBy: string | undefined
  /** When the last successful write of this instance was sent, when known. */
  readonly lastRenewal: Date | undefined
  constructor(options: LeaseLocation & {
    readonly message: string
    readonly reason: LossReason
    readonly holder: string
    readonly takenBy?: string | undefined
    readonly lastRenewal?: Date | undefined
    readonly cause?: unknown
  }) {
    super(options.message, options, options.cause)
    this.reason = options.reason
    this.holder = options.holder
    this.takenBy = options.takenBy
    this.lastRenewal = options.lastRenewal
  }
}

/**
 * Why the lease could not be read.
 *
 * @since 0.1.0
 * @category errors
 */
export type InspectionFailure = "Store" | "Closed"

/**
 * The lease could not be read.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseInspectionError extends LeaseError {
  override readonly name = "LeaseInspectionError"
  readonly reason: InspectionFailure
  constructor(options: LeaseLocation & {
    readonly message: string
    readonly reason: InspectionFailure
    readonly cause?: unknown
  }) {
    super(options.message, options, options.cause)
    this.reason = options.reason
  }
}

/**
 * Options that cannot work: thrown by the `IntervalLease` constructor (and by `lock` for a bad
 * `timeoutMs`) before anything is sent; rejected by the first call when the kubeconfig cannot be
 * loaded (`field` is then `"kubeconfig"` and `cause` the kubeconfig error).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidLeaseOptionsError extends LeaseError {
  override readonly name = "InvalidLeaseOptionsError"
  readonly field: string
  readonly value: unknown
  readonly rule: string
  constructor(options: LeaseLocation & {
    readonly field: string
    readonly value: unknown
    readonly rule: string
    readonly message?: string | undefined
    readonly cause?: unknown
  }) {
    super(options.message ?? `invalid lease option ${options.field} = ${formatValue(options.value)}: ${options.rule}`, options, options.cause)
    this.field = options.field
    this.value = options.value
    this.rule = options.rule
  }
}

const formatValue = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value)
    } catch {
      return String(value)
    }
  }
  return String(value)
}
