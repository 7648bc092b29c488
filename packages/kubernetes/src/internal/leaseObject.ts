/**
 * Conversion between a decoded `coordination.k8s.io/v1` Lease (`wire.ts`) and leasekit's
 * `LeaseRecord`.
 *
 * Field for field as client-go's `LeaseLock` does it (`resourcelock/leaselock.go`):
 * `holderIdentity` ↔ `holder`, `leaseDurationSeconds` ↔ `durationSeconds`, `acquireTime` /
 * `renewTime` (MicroTime, six fractional digits) ↔ epoch milliseconds, `leaseTransitions` ↔
 * `transitions`; labels and annotations travel in the record's metadata. The coordinated leader
 * election fields (KEP-4355, Kubernetes 1.31+ behind a feature gate) map as they are:
 * `strategy` ↔ `strategy`, `preferredHolder` ↔ `preferredHolder`.
 *
 * Writing back: `toUpdateBody` starts from the object as it was read and replaces only the spec
 * fields the algorithm owns (the five above, and `preferredHolder`), the resourceVersion and the
 * uid, so whatever leasekit does not model survives a renewal or a release —
 * `metadata.ownerReferences`, `finalizers`, labels, annotations, spec fields of newer API servers.
 * `metadata.managedFields` is left out of the body: the API server then keeps the stored one
 * (server-side apply bookkeeping, not ours to rewrite).
 *
 * The two coordinated-election fields, on an update:
 * - `preferredHolder` is written from the new spec, like the five owned fields: present when the
 *   spec carries it, absent otherwise. The algorithm carries it over from the record it writes
 *   from (so a coordinator's `preferredHolder` survives every write), sets it with a handoff and
 *   clears only the one it set — the same rule the in-memory store follows, where the spec
 *   replaces the stored one.
 * - `strategy` is never changed by an update: it is sent as it was read, whatever the new spec
 *   says (leasekit does not set or clear it; it does not contend for a lease that has one). An
 *   update without the object as read takes it from the new spec, which the algorithm carries over
 *   from the record.
 * An API server that does not know them (before 1.31, or with the feature gate off) drops both.
 *
 * Guarantees: reading is total — a decoded Lease has already been checked (`wire.ts` fails on a
 * field of the wrong type), so every field it has maps to the record and every field it lacks is
 * absent; numbers are taken as they are (a negative duration stays negative: judging it is the
 * algorithm's job). Bodies are encoded by the `Lease` schema (MicroTime with six digits). Does not:
 * validate what it writes beyond what the schema checks (32-bit integers, times within years
 * 0000–9999) — the API server does, and rejects it with 422.
 *
 * @internal
 */
import type * as Record_ from "@leasekit/core/LeaseRecord"
import type * as Result from "effect/Result"
import * as Wire from "./wire.ts"

type LeaseKey = Record_.LeaseKey
type LeaseMetadata = Record_.LeaseMetadata
type LeaseRecord = Record_.LeaseRecord
type LeaseSpec = Record_.LeaseSpec

/**
 * The JSON of a Lease as it is sent to the API server: the fields leasekit writes, and — in an
 * update made from the object as read — every other field of that object.
 */
export type LeaseBody = Wire.LeaseJson

/** The spec fields the algorithm owns: an update sets them from the new spec (or removes them). */
const ownedSpecFields: ReadonlyArray<string> = [
  "holderIdentity",
  "leaseDurationSeconds",
  "acquireTime",
  "renewTime",
  "leaseTransitions",
  "preferredHolder"
]

/**
 * A record's version: the object's `resourceVersion`, followed by `/` and its `uid` when it has
 * one. The uid is what makes an update of a *deleted* lease fail: Leases allow create-on-update,
 * so a PUT carrying only a resourceVersion would silently re-create a lease someone deleted; a
 * PUT carrying the uid fails instead (the server checks it as a precondition). The version is
 * opaque to everyone else. `""` when the object has no resourceVersion (such a record never
 * matches a stored one, so a write made from it fails with `Conflict`).
 */
export const versionOf = (lease: Wire.Lease): string => {
  const { resourceVersion, uid } = lease.metadata
  if (resourceVersion === undefined || resourceVersion === "") return ""
  return uid === undefined || uid === "" ? resourceVersion : `${resourceVersion}/${uid}`
}

/** The preconditions a version stands for. */
export const preconditionsOf = (version: string): { readonly resourceVersion: string; readonly uid?: string } => {
  const slash = version.indexOf("/")
  return slash < 0
    ? { resourceVersion: version }
    : { resourceVersion: version.slice(0, slash), uid: version.slice(slash + 1) }
}

/** The record of a decoded Lease. */
export const toRecord = (lease: Wire.Lease): LeaseRecord => {
  const { annotations, labels, name, namespace } = lease.metadata
  const spec = lease.spec ?? {}
  const holder = spec.holderIdentity
  const durationSeconds = spec.leaseDurationSeconds
  const acquireTime = spec.acquireTime
  const renewTime = spec.renewTime
  const transitions = spec.leaseTransitions
  const { preferredHolder, strategy } = spec
  return {
    key: { namespace, name },
    version: versionOf(lease),
    ...(lease.metadata.uid === undefined || lease.metadata.uid === null || lease.metadata.uid === "" ? {} : { uid: lease.metadata.uid }),
    metadata: {
      ...(labels === undefined ? {} : { labels }),
      ...(annotations === undefined ? {} : { annotations })
    },
    ...(holder === undefined ? {} : { holder }),
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
    ...(acquireTime === undefined ? {} : { acquireTime }),
    ...(renewTime === undefined ? {} : { renewTime }),
    ...(transitions === undefined ? {} : { transitions }),
    ...(strategy === undefined ? {} : { strategy }),
    ...(preferredHolder === undefined ? {} : { preferredHolder })
  }
}

/** The Lease leasekit writes for `spec` under `key`, before encoding. */
const ownLease = (key: LeaseKey, spec: LeaseSpec, metadata: LeaseMetadata, version?: string): Wire.Lease => {
  const preconditions = version === undefined ? undefined : preconditionsOf(version)
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name: key.name,
      namespace: key.namespace,
      ...(preconditions === undefined ? {} : { resourceVersion: preconditions.resourceVersion }),
      ...(preconditions?.uid === undefined ? {} : { uid: preconditions.uid }),
      ...(metadata.labels === undefined ? {} : { labels: { ...metadata.labels } }),
      ...(metadata.annotations === undefined ? {} : { annotations: { ...metadata.annotations } })
    },
    spec: {
      ...(spec.holder === undefined ? {} : { holderIdentity: spec.holder }),
      ...(spec.durationSeconds === undefined ? {} : { leaseDurationSeconds: spec.durationSeconds }),
      ...(spec.acquireTime === undefined ? {} : { acquireTime: spec.acquireTime }),
      ...(spec.renewTime === undefined ? {} : { renewTime: spec.renewTime }),
      ...(spec.transitions === undefined ? {} : { leaseTransitions: spec.transitions }),
      ...(spec.strategy === undefined ? {} : { strategy: spec.strategy }),
      ...(spec.preferredHolder === undefined ? {} : { preferredHolder: spec.preferredHolder })
    }
  }
}

/**
 * The Lease JSON to send for `spec` under `key`; `version` makes a PUT conditional. Fails only for
 * a spec no API server accepts (a time outside years 0000–9999, a duration or transition count
 * that is not a 32-bit integer), naming the field.
 */
export const toBody = (
  key: LeaseKey,
  spec: LeaseSpec,
  metadata: LeaseMetadata,
  version?: string
): Result.Result<LeaseBody, Wire.WireError> => Wire.encodeLease(ownLease(key, spec, metadata, version))

/**
 * What of a Lease as read is kept beside its record for a later `toUpdateBody`: all of it but
 * `metadata.managedFields`, which an update leaves out anyway (dropping it early saves memory while
 * the record lives).
 */
export const retained = (lease: Wire.Lease): Wire.Lease => {
  if (!("managedFields" in lease.metadata)) return lease
  const { managedFields: _managedFields, ...kept } = lease.metadata
  return { ...lease, metadata: kept }
}

/**
 * The Lease JSON to PUT for `spec` over `record`. With `read` — the Lease `record` was made from —
 * the body is that Lease with the owned spec fields (`preferredHolder` among them),
 * `resourceVersion` and `uid` replaced, and its labels and annotations set to `metadata`'s
 * (default: the record's, which are the Lease's; a map `metadata` leaves out is removed); every
 * other field — `spec.strategy` included — is sent as it was read, none is added. Without it (a
 * record this store did not hand out), the body is built from the record alone, as `toBody` does.
 * Fails as `toBody` does.
 */
export const toUpdateBody = (
  record: LeaseRecord,
  spec: LeaseSpec,
  read?: Wire.Lease,
  metadata: LeaseMetadata = record.metadata
): Result.Result<LeaseBody, Wire.WireError> => {
  const own = ownLease(record.key, spec, metadata, record.version)
  if (read === undefined) return Wire.encodeLease(own)
  const { apiVersion: _apiVersion, kind: _kind, metadata: readMetadata, spec: readSpec, ...rest } = read
  const { annotations: _annotations, labels: _labels, managedFields: _managedFields, ...keptMetadata } = readMetadata
  const keptSpec: Record<string, unknown> = { ...readSpec }
  for (const field of ownedSpecFields) delete keptSpec[field]
  // `strategy` as read, never as the new spec says (see the module comment).
  const { strategy: _strategy, ...ownSpec } = own.spec ?? {}
  return Wire.encodeLease({
    ...rest,
    apiVersion: own.apiVersion,
    kind: own.kind,
    metadata: { ...keptMetadata, ...own.metadata },
    spec: { ...keptSpec, ...ownSpec }
  })
}
