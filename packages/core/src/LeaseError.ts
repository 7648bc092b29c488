/**
 * The errors of the lease algorithm, one per concern, each with a tagged `reason`.
 *
 * - `LeaseAcquisitionError`: the lease could not be taken (someone else holds it, the wait timed
 *   out, or the store failed).
 * - `LeaseRelinquishmentError`: the lease could not be released (someone else holds it now, or the
 *   store failed).
 * - `LeaseLostError`: a held lease was lost (taken over, deleted, or not renewed in time).
 * - `InvalidLeaseOptions`: the options were rejected before any store call.
 *
 * Every error carries the lease's key and a message a person can act on. Store failures are kept
 * as `cause` (a `LeaseStoreError`), never flattened into a string.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type { LeaseKey } from "./LeaseRecord.ts"
import { formatKey } from "./LeaseRecord.ts"
import type { LeaseStoreError } from "./LeaseStore.ts"

/** A holder identity as messages show it: quoted and escaped (a hand-written one may hold newlines
 * or control characters that would forge log lines), and cut to a readable length. */
const describeHolder = (holder: string | undefined): string => {
  if (holder === undefined || holder === "") return "nobody"
  const shown = holder.length > 160 ? `${holder.slice(0, 160)}…` : holder
  return JSON.stringify(shown)
}

/**
 * Why an acquisition failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type AcquisitionReason =
  /** Another contender holds the lease; `expiresIn` is this contender's estimate, if it has one. */
  | { readonly _tag: "HeldByOther"; readonly holder: string; readonly expiresIn?: Duration.Duration }
  /** The wait ran out; `holder` is who held the lease when it did. */
  | { readonly _tag: "Timeout"; readonly holder: string | undefined; readonly waited: Duration.Duration }
  /** A single attempt lost the compare-and-swap race this many times in a row. */
  | { readonly _tag: "Contended"; readonly races: number }
  /** The store failed in a way that waiting will not fix (forbidden, invalid, …). */
  | { readonly _tag: "Store"; readonly error: LeaseStoreError }
  /** The lease has a `spec.strategy`: the API server's coordinated leader election picks its
   * holder, and leasekit does not contend for (or write) such a lease. Permanent. */
  | { readonly _tag: "Coordinated"; readonly strategy: string }
  /** The object is part of a semaphore (`LeaseSemaphore`): its head (the permit count and the
   * queue), one of its permits, or a waiter's ticket. A plain lease contender never takes one.
   * Permanent (since 0.5.0). */
  | {
    readonly _tag: "Semaphore"
    readonly semaphore: string
    readonly part: "head" | "permit" | "waiter"
    /** The permit's index, for `part: "permit"`. */
    readonly permit?: number | undefined
  }
  /** A semaphore was asked for, but its head object is a plain lease (it names a holder, or lacks
   * the `leasekit.io/semaphore-permits` annotation). Permanent (since 0.5.0). */
  | { readonly _tag: "NotASemaphore"; readonly holder?: string | undefined }
  /** The semaphore does not exist and no `permits` option was given to create it
   * (since 0.5.0). */
  | { readonly _tag: "NoSuchSemaphore" }
  /** The semaphore's queue holds as many waiters as its head can carry (`maxQueue`).
   * (since 0.5.0) */
  | { readonly _tag: "QueueFull"; readonly waiting: number }

/**
 * The lease could not be acquired.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseAcquisitionError extends Data.TaggedError("LeaseAcquisitionError")<{
  readonly key: LeaseKey
  readonly reason: AcquisitionReason
  readonly cause?: LeaseStoreError
}> {
  override get message(): string {
    const lease = `lease ${formatKey(this.key)}`
    switch (this.reason._tag) {
      case "HeldByOther": {
        const expires = this.reason.expiresIn === undefined
          ? ""
          : ` (expires in ${Duration.format(this.reason.expiresIn)} unless renewed)`
        return `${lease} is held by ${describeHolder(this.reason.holder)}${expires}`
      }
      case "Timeout":
        return `${lease}: gave up waiting after ${Duration.format(this.reason.waited)}; it is held by ${
          describeHolder(this.reason.holder)
        }`
      case "Contended":
        return `${lease}: lost the race to other contenders ${this.reason.races} times in a row; try again`
      case "Store":
        return `${lease} could not be acquired: ${this.reason.error.message}`
      case "Coordinated":
        return `${lease} is coordinated by the API server (spec.strategy ${
          JSON.stringify(this.reason.strategy.slice(0, 80))
        }): its holder is picked by the coordinator, so leasekit does not contend for it. Use a lease without spec.strategy, or let the coordinator pick`
      case "Semaphore": {
        const { part, permit, semaphore } = this.reason
        const what = part === "head"
          ? `the head of semaphore ${semaphore} (its permit count and queue)`
          : part === "permit"
          ? `permit ${permit ?? "?"} of semaphore ${semaphore}`
          : `a waiter's ticket in the queue of semaphore ${semaphore}`
        return `${formatKey(this.key)} is ${what}: acquire the semaphore, e.g. \`leasekit run ${semaphore} --permits N\` or LeaseSemaphore.acquire, or use another lease name`
      }
      case "NotASemaphore":
        return `${formatKey(this.key)} is a plain lease${
          this.reason.holder === undefined ? " (it lacks the leasekit.io/semaphore-permits annotation)" : ` (held by ${describeHolder(this.reason.holder)})`
        }, not a semaphore: use another name for the semaphore, or acquire it as a lease`
      case "NoSuchSemaphore":
        return `semaphore ${formatKey(this.key)} does not exist: pass \`permits\` (e.g. --permits N) to create it`
      case "QueueFull":
        return `semaphore ${formatKey(this.key)} has ${this.reason.waiting} waiters queued, the most its head holds: try again later, or raise the permit count (resize)`
    }
  }
}

/**
 * Why a release failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RelinquishmentReason =
  | { readonly _tag: "HeldByOther"; readonly holder: string }
  | { readonly _tag: "Store"; readonly error: LeaseStoreError }

/**
 * The lease could not be released.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseRelinquishmentError extends Data.TaggedError("LeaseRelinquishmentError")<{
  readonly key: LeaseKey
  readonly reason: RelinquishmentReason
  readonly cause?: LeaseStoreError
}> {
  override get message(): string {
    const lease = `lease ${formatKey(this.key)}`
    switch (this.reason._tag) {
      case "HeldByOther":
        return `${lease} cannot be released: it is held by ${describeHolder(this.reason.holder)}, not by us`
      case "Store":
        return `${lease} could not be released: ${this.reason.error.message}`
    }
  }
}

/**
 * Why a held lease was lost.
 *
 * - `Taken`: the record now names another holder.
 * - `Released`: someone else cleared the holder (e.g. `leasekit release --force`).
 * - `Deleted`: the object was deleted.
 * - `DeadlineExceeded`: no renewal succeeded within `renewDeadline` of the last successful one;
 *   the holder gives the lease up before any contender could take it over.
 * - `Relinquished`: this holder began releasing the lease while guarded work was running (or
 *   about to start): the work is stopped before the release is written. `lost` never fails with
 *   it; only `guard` (and what is built on it) does.
 * - `HandedOff`: like `Relinquished`, for a handoff (`HeldLease.handoff`) to `to`.
 * - `Coordinated`: the lease became managed by the API server's coordinated leader election
 *   (`spec.strategy` was set while this process held it); leasekit writes no coordinated lease,
 *   so it stopped renewing — the coordinator decides who holds it now.
 *
 * @since 0.1.0
 * @category errors
 */
export type LossReason =
  | { readonly _tag: "Taken"; readonly by: string }
  | { readonly _tag: "Released" }
  | { readonly _tag: "Deleted" }
  | { readonly _tag: "DeadlineExceeded"; readonly lastRenewal: Date; readonly lastError?: LeaseStoreError }
  | { readonly _tag: "Relinquished" }
  | { readonly _tag: "HandedOff"; readonly to: string }
  | { readonly _tag: "Coordinated"; readonly strategy: string }

/**
 * A held lease was lost.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseLostError extends Data.TaggedError("LeaseLostError")<{
  readonly key: LeaseKey
  readonly holder: string
  readonly reason: LossReason
  readonly cause?: LeaseStoreError
}> {
  override get message(): string {
    const lease = `lease ${formatKey(this.key)} lost by ${describeHolder(this.holder)}`
    switch (this.reason._tag) {
      case "Taken":
        return `${lease}: it is now held by ${describeHolder(this.reason.by)}`
      case "Released":
        return `${lease}: someone else released it`
      case "Deleted":
        return `${lease}: the lease object was deleted`
      case "DeadlineExceeded": {
        const why = this.reason.lastError === undefined ? "" : ` (last error: ${this.reason.lastError.message})`
        return `${lease}: not renewed since ${this.reason.lastRenewal.toISOString()}, renew deadline passed${why}`
      }
      case "Relinquished":
        return `${lease}: it is being released by its holder, so the guarded work was stopped`
      case "HandedOff":
        return `${lease}: it is being handed off to ${describeHolder(this.reason.to)} by its holder, so the guarded work was stopped`
      case "Coordinated":
        return `${lease}: it is now managed by the API server's coordinated leader election (spec.strategy ${
          JSON.stringify(this.reason.strategy)
        }), which leasekit does not contend with; use a lease without spec.strategy`
    }
  }
}

/**
 * Options were rejected before anything was sent to the store.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidLeaseOptions extends Data.TaggedError("InvalidLeaseOptions")<{
  readonly field: string
  readonly value: unknown
  readonly rule: string
}> {
  override get message(): string {
    return `invalid lease option ${this.field} = ${formatValue(this.value)}: ${this.rule}`
  }
}

const formatValue = (value: unknown): string => {
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "string") return JSON.stringify(value)
  return String(value)
}
