/**
 * The Lease object → record → PUT body round trip: an update keeps everything leasekit does not
 * model and replaces only the spec fields the algorithm owns; records carry exactly the fields
 * client-go's LeaseLock writes.
 *
 * `spec.strategy` / `spec.preferredHolder` (coordinated leader election, Kubernetes 1.31+ behind a
 * feature gate) are pinned here only: the kube-apiserver 1.20 of the local control plane does not
 * know them and drops them on write, so the integration suite (test/integration/kubernetes-store.test.ts)
 * checks ownerReferences, finalizers, labels and annotations on a real API server instead. The
 * algorithm's side of them (carried over by every write, cleared only when leasekit set them) is
 * pinned on the in-memory store by the core's tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as LeaseObject from "../src/internal/leaseObject.ts"
import * as Wire from "../src/internal/wire.ts"
import { stored } from "./StoredLease.ts"

const key = { namespace: "jobs", name: "nightly" }

const ok = <A>(result: Result.Result<A, Wire.WireError>): A => {
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return result.success
}

/** A JSON object as the store decodes it. */
const decoded = (object: unknown): Wire.Lease => ok(Wire.decodeLease(object))

const recordOf = (object: unknown) => LeaseObject.toRecord(decoded(object))

const updateBody = (object: unknown, spec: Parameters<typeof LeaseObject.toUpdateBody>[1], read: "read" | "none" = "read") =>
  ok(LeaseObject.toUpdateBody(recordOf(object), spec, read === "read" ? decoded(object) : undefined))


const renewal = {
  holder: "new-holder",
  durationSeconds: 20,
  acquireTime: 1_700_000_000_000,
  renewTime: 1_700_000_010_000,
  transitions: 4
}

/** What the algorithm carries over from the record it writes from: the coordinated-election fields. */
const carried = { strategy: "OldestEmulationVersion", preferredHolder: "candidate-2" }

describe("LeaseObject", () => {
  it("an update keeps unknown spec fields and metadata (ownerReferences, finalizers) and replaces only the owned fields", () => {
    const body = updateBody(stored, { ...renewal, ...carried })
    assert.deepStrictEqual(body.spec, {
      strategy: "OldestEmulationVersion",
      preferredHolder: "candidate-2",
      someFutureField: { nested: [1, 2] },
      holderIdentity: "new-holder",
      leaseDurationSeconds: 20,
      acquireTime: "2023-11-14T22:13:20.000000Z",
      renewTime: "2023-11-14T22:13:30.000000Z",
      leaseTransitions: 4
    })
    const { managedFields: _managedFields, ...metadataWithoutManagedFields } = stored.metadata
    assert.deepStrictEqual(body.metadata, metadataWithoutManagedFields)
    assert.strictEqual(body["someFutureTopLevelField"], "kept")
    assert.strictEqual(body.apiVersion, "coordination.k8s.io/v1")
    assert.strictEqual(body.kind, "Lease")
  })

  it("the body carries the record's resourceVersion and uid as preconditions, not managedFields", () => {
    const body = updateBody(stored, renewal)
    assert.strictEqual(body.metadata.resourceVersion, "41")
    assert.strictEqual(body.metadata.uid, "u-1")
    assert.notProperty(body.metadata, "managedFields")
  })

  it("a release keeps the same fields and removes owned fields the new spec leaves out", () => {
    const body = updateBody(stored, { holder: "", durationSeconds: 1, ...carried })
    assert.deepStrictEqual(body.spec, {
      strategy: "OldestEmulationVersion",
      preferredHolder: "candidate-2",
      someFutureField: { nested: [1, 2] },
      holderIdentity: "",
      leaseDurationSeconds: 1
    })
    assert.deepStrictEqual(body.metadata.ownerReferences, stored.metadata.ownerReferences)
    assert.deepStrictEqual(body.metadata.finalizers, ["example.com/keep"])
    assert.deepStrictEqual(body.metadata.labels, { app: "report" })
    assert.deepStrictEqual(body.metadata.annotations, { "example.com/note": "kept" })
  })

  it("fields the object as read does not have are not invented", () => {
    const sparse = {
      metadata: { name: "nightly", namespace: "jobs", uid: "u-2", resourceVersion: "7" },
      spec: { holderIdentity: "a" }
    }
    const body = updateBody(sparse, { holder: "b" })
    assert.deepStrictEqual(body, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "nightly", namespace: "jobs", uid: "u-2", resourceVersion: "7" },
      spec: { holderIdentity: "b" }
    })
    // A list item has neither kind nor apiVersion, an object written by hand may have no spec.
    const bare = { metadata: { name: "nightly", namespace: "jobs", resourceVersion: "8" } }
    assert.deepStrictEqual(updateBody(bare, {}), {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "nightly", namespace: "jobs", resourceVersion: "8" },
      spec: {}
    })
  })

  it("the object as read is not modified by building the body", () => {
    const copy = structuredClone(stored)
    const lease = decoded(copy)
    const before = structuredClone(lease)
    ok(LeaseObject.toUpdateBody(LeaseObject.toRecord(lease), renewal, lease))
    assert.deepStrictEqual(lease, before)
    assert.deepStrictEqual(copy, stored)
  })

  it("what is kept beside a record is the object without managedFields, and updates the same way", () => {
    const lease = decoded(stored)
    const kept = LeaseObject.retained(lease)
    assert.notProperty(kept.metadata, "managedFields")
    assert.property(lease.metadata, "managedFields", "the object as read is not modified")
    assert.strictEqual(LeaseObject.retained(kept), kept, "nothing to drop: the same object")
    const record = LeaseObject.toRecord(lease)
    assert.deepStrictEqual(
      ok(LeaseObject.toUpdateBody(record, renewal, kept)),
      ok(LeaseObject.toUpdateBody(record, renewal, lease))
    )
  })

  it("a top-level unknown field, ownerReferences, finalizers, spec.strategy and spec.preferredHolder survive a renewal unchanged", () => {
    // A renewal made from the record carries the record's strategy and preferredHolder.
    const record = recordOf(stored)
    const body = updateBody(stored, { ...renewal, strategy: record.strategy!, preferredHolder: record.preferredHolder! })
    assert.strictEqual(body["someFutureTopLevelField"], "kept")
    assert.deepStrictEqual(body.metadata["ownerReferences"], stored.metadata.ownerReferences)
    assert.deepStrictEqual(body.metadata["finalizers"], stored.metadata.finalizers)
    assert.deepStrictEqual(body.metadata["creationTimestamp"], stored.metadata.creationTimestamp)
    assert.strictEqual(body.spec?.["strategy"], "OldestEmulationVersion")
    assert.strictEqual(body.spec?.["preferredHolder"], "candidate-2")
    assert.deepStrictEqual(body.spec?.["someFutureField"], { nested: [1, 2] })
  })

  it("spec.preferredHolder is written from the new spec: set, replaced, or removed when the spec leaves it out", () => {
    assert.strictEqual(updateBody(stored, { ...renewal, preferredHolder: "successor" }).spec?.["preferredHolder"], "successor")
    assert.notProperty(updateBody(stored, renewal).spec, "preferredHolder", "cleared (the successor's acquisition)")
    const sparse = { metadata: { name: "nightly", namespace: "jobs", uid: "u-2", resourceVersion: "7" }, spec: { holderIdentity: "a" } }
    assert.deepStrictEqual(updateBody(sparse, { holder: "", durationSeconds: 1, preferredHolder: "b" }).spec, {
      holderIdentity: "",
      leaseDurationSeconds: 1,
      preferredHolder: "b"
    }, "a handoff sets it on a lease that had none")
  })

  it("an update given metadata sets labels and annotations to it: a map it leaves out is removed, other metadata kept", () => {
    const record = recordOf(stored)
    const body = ok(LeaseObject.toUpdateBody(record, renewal, decoded(stored), { labels: { app: "report", owner: "me" } }))
    assert.deepStrictEqual(body.metadata.labels, { app: "report", owner: "me" })
    assert.notProperty(body.metadata, "annotations", "the annotations the metadata leaves out are removed")
    assert.deepStrictEqual(body.metadata.ownerReferences, stored.metadata.ownerReferences)
    assert.deepStrictEqual(body.metadata.finalizers, stored.metadata.finalizers)
    assert.strictEqual(body.metadata.resourceVersion, "41")
    const same = ok(LeaseObject.toUpdateBody(record, renewal, decoded(stored), record.metadata))
    assert.deepStrictEqual(same, ok(LeaseObject.toUpdateBody(record, renewal, decoded(stored))), "the record's own metadata: as without")
  })

  it("spec.strategy is sent as it was read, whatever the new spec says: an update never sets or clears it", () => {
    assert.strictEqual(updateBody(stored, renewal).spec?.["strategy"], "OldestEmulationVersion", "kept when the spec leaves it out")
    assert.strictEqual(
      updateBody(stored, { ...renewal, strategy: "SomethingElse" }).spec?.["strategy"],
      "OldestEmulationVersion",
      "not replaced"
    )
    const sparse = { metadata: { name: "nightly", namespace: "jobs", uid: "u-2", resourceVersion: "7" }, spec: { holderIdentity: "a" } }
    assert.notProperty(updateBody(sparse, { holder: "b", strategy: "OldestEmulationVersion" }).spec, "strategy", "not added")
  })

  it("without the object as read, an update is built from the record alone (labels and annotations kept)", () => {
    const record = recordOf(stored)
    const body = ok(LeaseObject.toUpdateBody(record, { holder: "b" }, undefined))
    assert.deepStrictEqual(body, ok(LeaseObject.toBody(key, { holder: "b" }, record.metadata, record.version)))
    assert.deepStrictEqual(body.metadata, {
      name: "nightly",
      namespace: "jobs",
      resourceVersion: "41",
      uid: "u-1",
      labels: { app: "report" },
      annotations: { "example.com/note": "kept" }
    })
  })

  it("an update no API server would accept is refused before sending, naming the field", () => {
    const fraction = LeaseObject.toUpdateBody(recordOf(stored), { ...renewal, durationSeconds: 1.5 }, decoded(stored))
    assert.isTrue(Result.isFailure(fraction))
    if (Result.isFailure(fraction)) assert.strictEqual(fraction.failure.path, "spec.leaseDurationSeconds")
    const never = LeaseObject.toBody(key, { renewTime: Number.NaN }, {})
    assert.isTrue(Result.isFailure(never))
    if (Result.isFailure(never)) assert.strictEqual(never.failure.path, "spec.renewTime")
  })
})

describe("Lease records", () => {
  const key = { namespace: "ns", name: "lock" }

  it("read exactly the fields client-go's LeaseLock writes", () => {
    const record = recordOf({
      metadata: { name: "lock", namespace: "ns", resourceVersion: "42", labels: { a: "1" }, annotations: { b: "2" } },
      spec: {
        holderIdentity: "pod-1_abc",
        leaseDurationSeconds: 15,
        acquireTime: "2023-11-14T22:13:20.123000Z",
        renewTime: "2023-11-14T22:13:25.000000Z",
        leaseTransitions: 4
      }
    })
    assert.deepStrictEqual(record, {
      key,
      version: "42",
      metadata: { labels: { a: "1" }, annotations: { b: "2" } },
      holder: "pod-1_abc",
      durationSeconds: 15,
      acquireTime: 1_700_000_000_123,
      renewTime: 1_700_000_005_000,
      transitions: 4
    })
  })

  it("take the key from the object, and leave absent what it does not have", () => {
    assert.deepStrictEqual(recordOf({ metadata: { name: "other", namespace: "elsewhere" } }), {
      key: { namespace: "elsewhere", name: "other" },
      version: "",
      metadata: {}
    })
    assert.deepStrictEqual(recordOf({ metadata: { name: "lock", namespace: "ns", uid: "u-1" }, spec: { holderIdentity: "" } }), {
      key,
      version: "",
      uid: "u-1",
      metadata: {},
      holder: ""
    }, "a uid without a resourceVersion is no version (the uid is still the record's uid)")
  })

  it("carry spec.strategy and spec.preferredHolder (coordinated leader election) as they are", () => {
    const record = recordOf(stored)
    assert.strictEqual(record.strategy, "OldestEmulationVersion")
    assert.strictEqual(record.preferredHolder, "candidate-2")
    const plain = recordOf({ metadata: { name: "lock", namespace: "ns" }, spec: { holderIdentity: "a" } })
    assert.notProperty(plain, "strategy")
    assert.notProperty(plain, "preferredHolder")
  })

  it("take well-typed odd values as they are (judging them is the algorithm's job)", () => {
    const record = recordOf({
      metadata: { name: "lock", namespace: "ns", resourceVersion: "1" },
      spec: { leaseDurationSeconds: -5, leaseTransitions: -1, renewTime: "9999-12-31T23:59:59Z" }
    })
    assert.strictEqual(record.durationSeconds, -5)
    assert.strictEqual(record.transitions, -1)
    assert.strictEqual(record.renewTime, 253_402_300_799_000)
  })

  it("carry the uid in the version, so a write made from the record is conditioned on both", () => {
    const record = recordOf({ metadata: { name: "lock", namespace: "ns", resourceVersion: "42", uid: "u-1" } })
    assert.strictEqual(record.version, "42/u-1")
    assert.deepStrictEqual(LeaseObject.preconditionsOf(record.version), { resourceVersion: "42", uid: "u-1" })
    assert.deepStrictEqual(LeaseObject.preconditionsOf("42"), { resourceVersion: "42" })
    assert.deepStrictEqual(ok(LeaseObject.toBody(key, {}, {}, record.version)).metadata, {
      name: "lock",
      namespace: "ns",
      resourceVersion: "42",
      uid: "u-1"
    })
  })

  it("write the client-go shape, with six-digit MicroTimes and the version for compare-and-swap", () => {
    const body = ok(LeaseObject.toBody(key, {
      holder: "",
      durationSeconds: 1,
      acquireTime: 1_700_000_000_123,
      renewTime: 1_700_000_000_456.789,
      transitions: 2
    }, { labels: { a: "1" } }, "77"))
    assert.deepStrictEqual(body, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "lock", namespace: "ns", resourceVersion: "77", labels: { a: "1" } },
      spec: {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: "2023-11-14T22:13:20.123000Z",
        renewTime: "2023-11-14T22:13:20.456789Z",
        leaseTransitions: 2
      }
    })
    assert.deepStrictEqual(ok(LeaseObject.toBody(key, {}, {})).spec, {})
  })

  it("read back what they wrote", () => {
    const spec = {
      holder: "h",
      durationSeconds: 15,
      acquireTime: 1_700_000_000_123,
      renewTime: 1_700_000_000_456,
      transitions: 9,
      strategy: "OldestEmulationVersion",
      preferredHolder: "p"
    }
    const body = ok(LeaseObject.toBody(key, spec, { annotations: { n: "v" } }, "5/u"))
    assert.deepStrictEqual(recordOf(body), { key, version: "5/u", uid: "u", metadata: { annotations: { n: "v" } }, ...spec })
  })
})
