/**
 * This package's `Error`s: conversions from the errors of `@leasekit/core` (and the kubeconfig
 * loader), which keep the core error as `cause` and reuse its message, already readable; and the
 * answers `IntervalLease` gives of its own (closed, aborted, relinquished, overdue).
 */
import type { InvalidLeaseOptions } from "@leasekit/core/LeaseError"
import type { LeaseKey } from "@leasekit/core/LeaseRecord"
import type { LeaseStoreError } from "@leasekit/core/LeaseStore"
import { LeaseAcquisitionError as CoreAcquisitionError, LeaseLostError as CoreLostError, LeaseRelinquishmentError as CoreRelinquishmentError } from "@leasekit/core/LeaseError"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Duration from "effect/Duration"
import {
  InvalidLeaseOptionsError,
  LeaseAcquisitionError,
  LeaseError,
  LeaseInspectionError,
  type LeaseLocation,
  LeaseLostError,
  LeaseRelinquishmentError
} from "../LeaseError.ts"

export const fromAcquisition = (location: LeaseLocation, error: CoreAcquisitionError): LeaseAcquisitionError => {
  const reason = error.reason
  switch (reason._tag) {
    case "HeldByOther":
      return new LeaseAcquisitionError({
        ...location,
        message: error.message,
        reason: "HeldByOther",
        holder: reason.holder,
        expiresInMs: reason.expiresIn === undefined ? undefined : Duration.toMillis(reason.expiresIn),
        cause: error
      })
    case "Timeout":
      return new LeaseAcquisitionError({ ...location, message: error.message, reason: "Timeout", holder: reason.holder, cause: error })
    case "Contended":
      return new LeaseAcquisitionError({ ...location, message: error.message, reason: "Contended", cause: error })
    case "Store":
      return new LeaseAcquisitionError({ ...location, message: error.message, reason: "Store", cause: error })
    case "Coordinated":
      return new LeaseAcquisitionError({ ...location, message: error.message, reason: "Coordinated", cause: error })
    case "Semaphore":
    case "NotASemaphore":
    case "NoSuchSemaphore":
    case "QueueFull":
      return new LeaseAcquisitionError({ ...location, message: error.message, reason: "Semaphore", cause: error })
  }
}

export const fromRelinquishment = (location: LeaseLocation, error: CoreRelinquishmentError): LeaseRelinquishmentError =>
  error.reason._tag === "HeldByOther"
    ? new LeaseRelinquishmentError({
      ...location,
      message: error.message,
      reason: "HeldByOther",
      holder: error.reason.holder,
      cause: error
    })
    : new LeaseRelinquishmentError({ ...location, message: error.message, reason: "Store", cause: error })

export const fromLoss = (location: LeaseLocation, error: CoreLostError): LeaseLostError => {
  const reason = error.reason
  return new LeaseLostError({
    ...location,
    message: error.message,
    // This API has no handoff: its release waits for `run`'s callback the same way.
    reason: reason._tag === "HandedOff" ? "Relinquished" : reason._tag,
    holder: error.holder,
    takenBy: reason._tag === "Taken" ? reason.by : undefined,
    lastRenewal: reason._tag === "DeadlineExceeded" ? reason.lastRenewal : undefined,
    cause: error
  })
}

export const fromInspection = (location: LeaseLocation, error: LeaseStoreError): LeaseInspectionError =>
  new LeaseInspectionError({
    ...location,
    message: `lease ${location.namespace}/${location.leaseName} could not be read: ${error.message}`,
    reason: "Store",
    cause: error
  })

/** Core names the lease `name` and its duration `duration`; this API says `leaseName` and `durationSeconds`. */
const fieldNames: Record<string, string> = { name: "leaseName", duration: "durationSeconds" }

export const fromInvalidOptions = (location: LeaseLocation, error: InvalidLeaseOptions): InvalidLeaseOptionsError =>
  new InvalidLeaseOptionsError({
    ...location,
    field: fieldNames[error.field] ?? error.field,
    value: Duration.isDuration(error.value) ? Duration.format(error.value) : error.value,
    rule: error.rule,
    cause: error
  })

/**
 * Any failure that reaches the Promise boundary: this package's errors pass through, core errors
 * are converted, a kubeconfig that cannot be loaded becomes `InvalidLeaseOptionsError`, anything
 * else (the failure of a store layer you supplied) is passed on as it is.
 */
export const fromUnknown = (location: LeaseLocation, error: unknown): unknown => {
  if (error instanceof LeaseError) return error
  if (error instanceof CoreAcquisitionError) return fromAcquisition(location, error)
  if (error instanceof CoreRelinquishmentError) return fromRelinquishment(location, error)
  if (error instanceof CoreLostError) return fromLoss(location, error)
  if (error instanceof KubeClient.KubeConfigError) {
    return new InvalidLeaseOptionsError({
      ...location,
      field: "kubeconfig",
      value: error.source,
      rule: `must be a usable kubeconfig (${error.reason})`,
      message: `the Kubernetes client cannot be configured: ${error.message}`,
      cause: error
    })
  }
  return error
}

/** What an `IntervalLease` call was doing, for the error a close or an abort answers it with. */
export type Operation = "acquire" | "release" | "inspect"

const keyOf = (location: LeaseLocation) => `${location.namespace}/${location.leaseName}`

/** The answer of a call made to (or interrupted by) a closed instance. */
export const closed = (location: LeaseLocation, operation: Operation): Error => {
  const message = `lease ${keyOf(location)}: this IntervalLease is closed`
  return operation === "inspect"
    ? new LeaseInspectionError({ ...location, message, reason: "Closed" })
    : new LeaseAcquisitionError({ ...location, message, reason: "Closed" })
}

/** The answer of a call whose `signal` aborted (`reason` is the signal's). */
export const aborted = (location: LeaseLocation, operation: Operation, reason: unknown): Error => {
  const why = reason instanceof Error ? `: ${reason.message}` : ""
  const key = keyOf(location)
  return operation === "release"
    ? new LeaseRelinquishmentError({ ...location, message: `lease ${key}: release aborted${why}`, reason: "Aborted", cause: reason })
    : new LeaseAcquisitionError({ ...location, message: `lease ${key}: acquisition aborted${why}`, reason: "Aborted", cause: reason })
}

/** The reason `run`'s callback is told to stop when a release of its instance begins. */
export const relinquished = (location: LeaseLocation, holder: string): LeaseLostError =>
  new LeaseLostError({
    ...location,
    message: `lease ${keyOf(location)}: released by this instance while run()'s callback was running; ` +
      "the callback was told to stop before the release is written",
    reason: "Relinquished",
    holder
  })

/** The answer of `acquire` when another holder has the lease (a core error as `cause`). */
export const heldByOther = (
  location: LeaseLocation,
  key: LeaseKey,
  other: { readonly holder: string; readonly expiresIn: Duration.Duration }
): LeaseAcquisitionError =>
  fromAcquisition(location, new CoreAcquisitionError({ key, reason: { _tag: "HeldByOther", ...other } }))

/** The answer of `check` when `holder`'s last renewal is `expiredFor` ms past its expiry, more than
 * `tolerated`; `lost` is the loss the core declared, if it did. */
export const overdue = (
  location: LeaseLocation,
  holder: string,
  renewed: Date,
  expiredFor: number,
  tolerated: number,
  lost: LeaseLostError | undefined
): LeaseLostError =>
  new LeaseLostError({
    ...location,
    message: `lease ${keyOf(location)} held by "${holder}" has been expired for ${expiredFor}ms, more than the ${tolerated}ms ` +
      `tolerated (last renewal ${renewed.toISOString()}${lost === undefined ? "" : `; ${lost.message}`})`,
    reason: lost?.reason ?? "DeadlineExceeded",
    holder,
    takenBy: lost?.takenBy,
    lastRenewal: renewed,
    cause: lost?.cause
  })
