/**
 * The neutral view of one lease object, as a store hands it out.
 *
 * A `LeaseRecord` maps field for field to a Kubernetes `coordination.k8s.io/v1` Lease as
 * client-go's `LeaseLock` writes it (`holderIdentity`, `leaseDurationSeconds`, `acquireTime`,
 * `renewTime`, `leaseTransitions`), so leasekit and a client-go leader elector can share one
 * object. The record is a value: it carries the store's opaque `version` (the Kubernetes
 * `resourceVersion`), and compare-and-swap writes are made *from a record*, never from state
 * cached inside a store.
 *
 * Handoff: leasekit's own annotations (`Annotations`) carry a handoff on the record itself — a
 * free record reserved for a successor (`handoff-to`, `handoff-window-seconds`, see
 * `pendingHandoff`) and a request to a holder (`handoff-request`, see `handoffRequest`). They are
 * hints that only restrain contenders or ask a holder; exclusion never depends on them (see
 * `Lease.ts`). `spec.strategy` / `spec.preferredHolder` are Kubernetes coordinated leader election's
 * fields: kept as read by every write, never contended for when `strategy` is set.
 *
 * Guarantees: a record is immutable, and every field the store could not read is absent rather
 * than invented. Does not guarantee: that the fields are sane — a record may have been written by
 * hand (`kubectl edit`), so the algorithm treats each field defensively (see `Lease.ts`).
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"

/**
 * Where a lease lives: a namespace and a name.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseKey {
  readonly namespace: string
  readonly name: string
}

/**
 * The fields of a lease that the algorithm writes. Times are wall-clock epoch milliseconds.
 *
 * - `holder`: the holder's identity; absent or `""` means free (client-go writes `""` on release).
 * - `durationSeconds`: how long, after a contender observed the last change, it must wait before
 *   taking the lease over.
 * - `transitions`: incremented every time the holder changes; leasekit's fencing token.
 * - `strategy`, `preferredHolder`: Kubernetes coordinated leader election (KEP-4355). Read-mostly:
 *   leasekit refuses to contend for a lease with a `strategy` (the API server's coordinator manages
 *   it), and every write it makes from a record carries both as read: it never sets or clears
 *   either (a handoff's reservation is an annotation — the API server accepts `preferredHolder`
 *   only with `strategy`). API servers without coordinated leader election drop both.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseSpec {
  readonly holder?: string
  readonly durationSeconds?: number
  readonly acquireTime?: number
  readonly renewTime?: number
  readonly transitions?: number
  /** @since 0.4.0 */
  readonly strategy?: string
  /** @since 0.4.0 */
  readonly preferredHolder?: string
}

/**
 * Labels and annotations of the stored object. A write made from a record keeps them, so that a
 * label added by someone else survives our renewals. The algorithm reads only its own handoff
 * annotations (see `Annotations`).
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseMetadata {
  readonly labels?: Readonly<Record<string, string>>
  readonly annotations?: Readonly<Record<string, string>>
}

/**
 * One observed state of a lease object.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseRecord extends LeaseSpec {
  readonly key: LeaseKey
  /** Opaque, changes on every write; compare-and-swap preconditions carry it. */
  readonly version: string
  /** Which incarnation of the object this is (Kubernetes' `metadata.uid`): an object deleted and
   * created again has another one, every write to one object keeps it. Absent when the store has
   * none. Expiry observations are keyed on it with the spec (see `internal/observations.ts`). */
  readonly uid?: string | undefined
  readonly metadata: LeaseMetadata
}

/**
 * `namespace/name`, the form used in logs, errors and metrics.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatKey = (key: LeaseKey): string => `${key.namespace}/${key.name}`

/**
 * Whether the record names a holder (a non-empty `holderIdentity`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isHeld = (record: LeaseSpec): boolean => record.holder !== undefined && record.holder !== ""

/**
 * The spec part of a record, without key, version, uid or metadata.
 *
 * @since 0.1.0
 * @category accessors
 */
export const specOf = (record: LeaseRecord): LeaseSpec => {
  const { key: _key, version: _version, uid: _uid, metadata: _metadata, ...spec } = record
  return spec
}

/**
 * The annotations of a graceful handoff (see `HeldLease.handoff` and `Lease.requestHandoff`):
 *
 * - `handoffTo`: on a *free* record, the identity of the successor its last holder handed it to.
 *   The record is reserved for that successor for the window below: other contenders judge it
 *   busy until they have observed it for that long.
 * - `handoffWindowSeconds`: the reservation window, whole seconds; read defensively (missing or
 *   garbage → the reader's own `handoffWindow`; capped at its `maxHonouredDuration`).
 * - `handoffRequest`: on a *held* record, the identity of the contender asking its holder to hand
 *   it over; the holder honours or refuses it (`LeaseOptions.handoffRequests`).
 *
 * Every acquisition removes all three from the object.
 *
 * @since 0.4.0
 * @category constants
 */
export const Annotations = {
  handoffTo: "leasekit.io/handoff-to",
  handoffWindowSeconds: "leasekit.io/handoff-window-seconds",
  handoffRequest: "leasekit.io/handoff-request"
} as const

/**
 * A handoff waiting for its successor: who it is for, and the window its last holder declared
 * (`undefined` when the annotation is missing or not a positive whole number of seconds).
 *
 * @since 0.4.0
 * @category models
 */
export interface PendingHandoff {
  readonly to: string
  readonly windowSeconds: number | undefined
}

const annotation = (record: LeaseRecord, name: string): string | undefined => {
  const value = record.metadata.annotations?.[name]
  return typeof value === "string" && value.trim() !== "" ? value : undefined
}

/**
 * The handoff a *free* record is reserved for, if any: its `handoff-to` annotation, non-empty. A
 * held record has none (the annotation is stale: the successor's acquisition removes it).
 *
 * @since 0.4.0
 * @category accessors
 */
export const pendingHandoff = (record: LeaseRecord): Option.Option<PendingHandoff> => {
  if (isHeld(record)) return Option.none()
  const to = annotation(record, Annotations.handoffTo)
  if (to === undefined) return Option.none()
  const raw = annotation(record, Annotations.handoffWindowSeconds)
  const seconds = raw !== undefined && /^[0-9]{1,9}$/.test(raw.trim()) ? Number(raw.trim()) : undefined
  return Option.some({ to, windowSeconds: seconds !== undefined && seconds > 0 ? seconds : undefined })
}

/**
 * The contender a *held* record's holder is asked to hand the lease to, if any: its
 * `handoff-request` annotation, non-empty and other than the holder.
 *
 * @since 0.4.0
 * @category accessors
 */
export const handoffRequest = (record: LeaseRecord): Option.Option<string> => {
  if (!isHeld(record)) return Option.none()
  const to = annotation(record, Annotations.handoffRequest)
  return to === undefined || to === record.holder ? Option.none() : Option.some(to)
}

/**
 * The annotations without leasekit's handoff annotations (what every acquisition writes).
 *
 * @since 0.4.0
 * @category accessors
 */
export const withoutHandoffAnnotations = (
  annotations: Readonly<Record<string, string>> | undefined
): Readonly<Record<string, string>> | undefined => {
  if (annotations === undefined) return undefined
  const names: ReadonlyArray<string> = Object.values(Annotations)
  if (!Object.keys(annotations).some((name) => names.includes(name))) return annotations
  return Object.fromEntries(Object.entries(annotations).filter(([name]) => !names.includes(name)))
}
