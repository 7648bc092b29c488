/**
 * A contender: one identity competing for one lease, for as long as its scope lasts.
 *
 * A contender is what every way of taking a lease is built on — `Lease.acquire`, `tryAcquire`
 * and `withLease`, `LeaderElection`, the Promise facade and the CLI. Its options are resolved and
 * validated once, when it is made. It holds at most one tenure at a time: `acquire` and
 * `tryAcquire` answer with the tenure in progress (renewing it first) instead of starting a
 * second one, and start a new one once the previous tenure was lost or released. `release` ends
 * the tenure in progress; closing the contender's scope releases it too.
 *
 * Guarantees: those of `Lease` for every tenure it starts (at most one holder under the clock-rate
 * assumption, loss declared before anyone can take over, no lease left held by an acquisition
 * that failed, timed out or was interrupted). Calls that change what the contender holds
 * (`acquire`, `tryAcquire`, `release`) run one at a time, in the order they were made.
 *
 * Does not guarantee: that `events` subscribers see events from before they subscribed; that a
 * slow subscriber delays anything (events are buffered for each subscriber, never awaited).
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Stream from "effect/Stream"
import type { HandoffRequestResult, HeldLease } from "./Lease.ts"
import type { LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "./LeaseError.ts"
import type { ResolvedLeaseOptions } from "./LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "./LeaseRecord.ts"
import type { LeaseStoreError } from "./LeaseStore.ts"

/**
 * The answer of one attempt that did not wait: the lease held by this contender, or who holds
 * it and when this contender would judge it expired.
 *
 * @since 0.2.0
 * @category models
 */
export type TryAcquireResult =
  | { readonly _tag: "Acquired"; readonly lease: HeldLease }
  | {
    readonly _tag: "HeldByOther"
    /** The holder named in the record. */
    readonly holder: string
    /** Time until this contender would judge the record expired (its own observation). */
    readonly expiresIn: Duration.Duration
    /** The duration this contender honours for the record (its `leaseDurationSeconds` after
     * capping hostile values, or this contender's own duration when the record declares none). */
    readonly honouredDuration: Duration.Duration
    /** The record as read, for callers that want more than the holder (e.g. its `renewTime`). */
    readonly record: LeaseRecord
  }

/**
 * What happens to a contender's tenures, in order.
 *
 * @since 0.2.0
 * @category models
 */
export type LeaseEvent =
  | { readonly _tag: "Acquired"; readonly token: number; readonly record: LeaseRecord }
  | { readonly _tag: "Renewed"; readonly token: number; readonly record: LeaseRecord }
  | { readonly _tag: "RenewalFailing"; readonly token: number; readonly error: LeaseStoreError }
  | { readonly _tag: "Lost"; readonly token: number; readonly error: LeaseLostError }
  | {
    readonly _tag: "Released"
    readonly token: number
    /** The successor, when the release was a handoff (`HeldLease.handoff`). */
    readonly handedOffTo?: string | undefined
  }

/**
 * What a waiting `acquire` tells its caller while it waits.
 *
 * @since 0.3.0
 * @category models
 */
export interface AcquireObserver {
  /** Called with the holder each time the store's answer (a read or the watch) shows the lease
   * held by another contender; it must not block (the wait waits for it). */
  readonly onHeldByOther?: ((holder: string) => Effect.Effect<void>) | undefined
}

/**
 * One identity competing for one lease.
 *
 * @since 0.2.0
 * @category models
 */
export interface LeaseContender {
  readonly key: LeaseKey
  readonly holder: string
  /** The options, resolved and validated once. */
  readonly options: ResolvedLeaseOptions
  /**
   * Waits until this contender holds the lease (forever without `timeout`; then fails with reason
   * `Timeout`). Answers at once with the tenure in progress, renewed first, when there is one.
   * The tenure lasts until `release`, a loss, or the contender's scope closes. `options.onHeldByOther`
   * is told the holder each time the wait finds the lease held by another (an answer from the store:
   * how `LeaderElection` reports `Following` while it waits).
   */
  readonly acquire: (
    timeout?: Duration.Duration,
    options?: AcquireObserver
  ) => Effect.Effect<HeldLease, LeaseAcquisitionError>
  /**
   * One attempt, never waiting for another holder: the lease (the tenure in progress, renewed, or
   * a new one), or who holds it. Fails only for what is not contention (store errors, or reason
   * `Contended` after a few lost races).
   */
  readonly tryAcquire: Effect.Effect<TryAcquireResult, LeaseAcquisitionError>
  /** The latest tenure, from its acquisition until it is released or a new one starts; it may be
   * lost meanwhile (`isHeld` says false, `lost` has failed). */
  readonly current: Effect.Effect<Option.Option<HeldLease>>
  /**
   * Releases the tenure in progress (see `HeldLease.release`). Without one, it reads the lease
   * once: held by another holder that has not expired (as this contender judges expiry), it fails
   * with reason `HeldByOther` (what the Promise API's `release` reports); free, absent, expired or
   * naming this contender, it does nothing.
   */
  readonly release: Effect.Effect<void, LeaseRelinquishmentError>
  /** Asks the holder of the lease to hand it to this contender (`Lease.requestHandoff` with this
   * contender's identity): at most one request write per holder tenure. Then `acquire` as usual —
   * the handed-off lease is reserved for this contender, which takes it at once.
   * @since 0.4.0 */
  readonly requestHandoff: Effect.Effect<HandoffRequestResult, LeaseStoreError>
  /** The events of every tenure of this contender from the moment of subscribing. */
  readonly events: Stream.Stream<LeaseEvent>
}
