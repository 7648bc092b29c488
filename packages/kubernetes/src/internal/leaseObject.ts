/**
 * Conversion between a `coordination.k8s.io/v1` Lease object and leasekit's `LeaseRecord`.
 *
 * Field for field as client-go's `LeaseLock` does it (`resourcelock/leaselock.go`):
 * `holderIdentity` ↔ `holder`, `leaseDurationSeconds` ↔ `durationSeconds`, `acquireTime` /
 * `renewTime` (MicroTime, six fractional digits) ↔ epoch milliseconds, `leaseTransitions` ↔
 * `transitions`; labels and annotations travel in the record's metadata.
 *
 * Writing back: `toUpdateBody` starts from the object as it was read and replaces only the spec
 * fields the algorithm owns (the five above), the resourceVersion and the uid, so whatever leasekit
 * does not model survives a renewal or a release — `metadata.ownerReferences`, `finalizers`, labels,
 * annotations, and spec fields of newer API servers such as `strategy` / `preferredHolder`
 * (coordinated leader election, Kubernetes 1.31+). `metadata.managedFields` is left out of the body:
 * the API server then keeps the stored one (server-side apply bookkeeping, not ours to rewrite).
 *
 * Guarantees: reading never throws. An object that is not what the API promises (no spec, a
 * field of the wrong type, an unreadable time — e.g. written by hand with `kubectl edit`) maps to a
 * record with that field absent; numbers are taken as they are (a negative duration stays
 * negative: judging it is the algorithm's job). Does not: validate what it writes — the API server
 * does, and rejects it with 422.
 *
 * @internal
 */
import type { LeaseRecord as Record_ } from "@leasekit/core"
import * as MicroTime from "./microTime.ts"

type LeaseKey = Record_.LeaseKey
type LeaseMetadata = Record_.LeaseMetadata
type LeaseRecord = Record_.LeaseRecord
type LeaseSpec = Record_.LeaseSpec

/**
 * The JSON shape of a Lease as it is sent to the API server: the fields leasekit writes, and —
 * in an update made from the object as read — every other field of that object.
 */
export interface LeaseBody {
  readonly [field: string]: unknown
  readonly apiVersion: "coordination.k8s.io/v1"
  readonly kind: "Lease"
  readonly metadata: {
    readonly [field: string]: unknown
    readonly name: string
    readonly namespace: string
    readonly resourceVersion?: string
    readonly uid?: string
    readonly labels?: Record<string, string>
    readonly annotations?: Record<string, string>
  }
  readonly spec: {
    readonly [field: string]: unknown
    readonly holderIdentity?: string
    readonly leaseDurationSeconds?: number
    readonly acquireTime?: string
    readonly renewTime?: string
    readonly leaseTransitions?: number
  }
}

/** The spec fields the algorithm owns: an update sets them from the new spec (or removes them). */
const ownedSpecFields: ReadonlyArray<string> = [
  "holderIdentity",
  "leaseDurationSeconds",
  "acquireTime",
  "renewTime",
  "leaseTransitions"
]

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const stringMap = (value: unknown): Record<string, string> | undefined => {
  if (!isObject(value)) return undefined
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string") out[k] = v
  }
  return out
}

const finiteNumber = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) ? value : undefined

const metadataString = (object: unknown, field: string): string => {
  const metadata = isObject(object) ? object["metadata"] : undefined
  const value = isObject(metadata) ? metadata[field] : undefined
  return typeof value === "string" ? value : ""
}

/** The `metadata.resourceVersion` of an object, `""` when it has none. */
export const resourceVersionOf = (object: unknown): string => metadataString(object, "resourceVersion")

/** The `metadata.name` of an object, `""` when it has none. */
export const nameOf = (object: unknown): string => metadataString(object, "name")

/** The `items` of a `LeaseList` (none when the answer has no list of items). */
export const itemsOf = (list: unknown): ReadonlyArray<unknown> => {
  const items = isObject(list) ? list["items"] : undefined
  return Array.isArray(items) ? items : []
}

/** The `metadata.continue` token of a list page, `""` on the last page. */
export const continueOf = (list: unknown): string => metadataString(list, "continue")

/**
 * A record's version: the object's `resourceVersion`, followed by `/` and its `uid` when it has
 * one. The uid is what makes an update of a *deleted* lease fail: Leases allow create-on-update,
 * so a PUT carrying only a resourceVersion would silently re-create a lease someone deleted; a
 * PUT carrying the uid fails instead (the server checks it as a precondition). The version is
 * opaque to everyone else. `""` when the object has no resourceVersion (such a record never
 * matches a stored one, so a write made from it fails with `Conflict`).
 */
export const versionOf = (object: unknown): string => {
  const resourceVersion = resourceVersionOf(object)
  if (resourceVersion === "") return ""
  const uid = metadataString(object, "uid")
  return uid === "" ? resourceVersion : `${resourceVersion}/${uid}`
}

/** The preconditions a version stands for. */
export const preconditionsOf = (version: string): { readonly resourceVersion: string; readonly uid?: string } => {
  const slash = version.indexOf("/")
  return slash < 0
    ? { resourceVersion: version }
    : { resourceVersion: version.slice(0, slash), uid: version.slice(slash + 1) }
}

/** Reads any value as a lease record; `fallbackKey` fills a missing name or namespace. */
export const toRecord = (object: unknown, fallbackKey: LeaseKey): LeaseRecord => {
  const root = isObject(object) ? object : {}
  const metadata = isObject(root["metadata"]) ? root["metadata"] : {}
  const spec = isObject(root["spec"]) ? root["spec"] : {}
  const name = typeof metadata["name"] === "string" ? metadata["name"] : fallbackKey.name
  const namespace = typeof metadata["namespace"] === "string" ? metadata["namespace"] : fallbackKey.namespace

  const labels = stringMap(metadata["labels"])
  const annotations = stringMap(metadata["annotations"])
  const recordMetadata: LeaseMetadata = {
    ...(labels === undefined ? {} : { labels }),
    ...(annotations === undefined ? {} : { annotations })
  }

  const holder = typeof spec["holderIdentity"] === "string" ? spec["holderIdentity"] : undefined
  const durationSeconds = finiteNumber(spec["leaseDurationSeconds"])
  const acquireTime = MicroTime.parse(spec["acquireTime"])
  const renewTime = MicroTime.parse(spec["renewTime"])
  const transitions = finiteNumber(spec["leaseTransitions"])

  return {
    key: { namespace, name },
    version: versionOf(root),
    metadata: recordMetadata,
    ...(holder === undefined ? {} : { holder }),
    ...(durationSeconds === undefined ? {} : { durationSeconds }),
    ...(acquireTime === undefined ? {} : { acquireTime }),
    ...(renewTime === undefined ? {} : { renewTime }),
    ...(transitions === undefined ? {} : { transitions })
  }
}

/** The Lease object to send for `spec` under `key`; `version` makes a PUT conditional. */
export const toBody = (
  key: LeaseKey,
  spec: LeaseSpec,
  metadata: LeaseMetadata,
  version?: string
): LeaseBody => {
  const acquireTime = spec.acquireTime === undefined ? undefined : MicroTime.format(spec.acquireTime)
  const renewTime = spec.renewTime === undefined ? undefined : MicroTime.format(spec.renewTime)
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
      ...(acquireTime === undefined ? {} : { acquireTime }),
      ...(renewTime === undefined ? {} : { renewTime }),
      ...(spec.transitions === undefined ? {} : { leaseTransitions: spec.transitions })
    }
  }
}

/**
 * What of an object as read is kept beside its record for a later `toUpdateBody`: all of it but
 * `metadata.managedFields`, which an update leaves out anyway (dropping it early saves memory while
 * the record lives). `undefined` when the value is not an object.
 */
export const retained = (object: unknown): Record<string, unknown> | undefined => {
  if (!isObject(object)) return undefined
  const metadata = object["metadata"]
  if (!isObject(metadata) || !("managedFields" in metadata)) return object
  const { managedFields: _managedFields, ...kept } = metadata
  return { ...object, metadata: kept }
}

/**
 * The Lease object to PUT for `spec` over `record`. With `read` — the object `record` was made
 * from — the body is that object with the owned spec fields, `resourceVersion` and `uid` replaced
 * (and the record's labels and annotations, which are the object's); every other field is sent as
 * it was read, none is added. Without it (a record this store did not hand out), the body is
 * built from the record alone, as `toBody` does.
 */
export const toUpdateBody = (record: LeaseRecord, spec: LeaseSpec, read?: unknown): LeaseBody => {
  const own = toBody(record.key, spec, record.metadata, record.version)
  if (!isObject(read)) return own
  const { apiVersion: _apiVersion, kind: _kind, metadata: readMetadata, spec: readSpec, ...rest } = read
  const { managedFields: _managedFields, ...keptMetadata } = isObject(readMetadata) ? readMetadata : {}
  const keptSpec: Record<string, unknown> = { ...(isObject(readSpec) ? readSpec : {}) }
  for (const field of ownedSpecFields) delete keptSpec[field]
  return {
    apiVersion: own.apiVersion,
    kind: own.kind,
    ...rest,
    metadata: { ...keptMetadata, ...own.metadata },
    spec: { ...keptSpec, ...own.spec }
  }
}
