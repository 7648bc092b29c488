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
 * Guarantees: a record is immutable, and every field the store could not read is absent rather
 * than invented. Does not guarantee: that the fields are sane — a record may have been written by
 * hand (`kubectl edit`), so the algorithm treats each field defensively (see `Lease.ts`).
 *
 * @since 0.1.0
 */

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
}

/**
 * Labels and annotations of the stored object. The algorithm never reads them, but a write made
 * from a record keeps them, so that a label added by someone else survives our renewals.
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
 * The spec part of a record, without key, version or metadata.
 *
 * @since 0.1.0
 * @category accessors
 */
export const specOf = (record: LeaseRecord): LeaseSpec => {
  const { key: _key, version: _version, metadata: _metadata, ...spec } = record
  return spec
}
