/**
 * The Lease object → record → PUT body round trip: an update keeps everything leasekit does not
 * model and replaces only the spec fields the algorithm owns.
 *
 * `spec.strategy` / `spec.preferredHolder` (coordinated leader election, Kubernetes 1.31+) are
 * pinned here only: the kube-apiserver 1.20 of the local control plane does not know them and drops
 * them on write, so the integration suite (test/integration/kubernetes-store.test.ts) checks
 * ownerReferences, finalizers, labels and annotations on a real API server instead.
 */
import { assert, describe, it } from "@effect/vitest"
import * as LeaseObject from "../src/internal/leaseObject.ts"

const key = { namespace: "jobs", name: "nightly" }

/** A Lease as a current API server returns it, with fields leasekit does not model. */
const stored = {
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: {
    name: "nightly",
    namespace: "jobs",
    uid: "u-1",
    resourceVersion: "41",
    creationTimestamp: "2025-01-01T00:00:00Z",
    labels: { app: "report" },
    annotations: { "example.com/note": "kept" },
    ownerReferences: [{
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "report",
      uid: "d-1",
      controller: true,
      blockOwnerDeletion: true
    }],
    finalizers: ["example.com/keep"],
    managedFields: [{ manager: "kubectl", operation: "Update", apiVersion: "coordination.k8s.io/v1" }]
  },
  spec: {
    holderIdentity: "old-holder",
    leaseDurationSeconds: 15,
    acquireTime: "2025-01-01T00:00:00.000000Z",
    renewTime: "2025-01-01T00:00:10.000000Z",
    leaseTransitions: 3,
    strategy: "OldestEmulationVersion",
    preferredHolder: "candidate-2",
    someFutureField: { nested: [1, 2] }
  },
  someFutureTopLevelField: "kept"
}

const renewal = {
  holder: "new-holder",
  durationSeconds: 20,
  acquireTime: 1_700_000_000_000,
  renewTime: 1_700_000_010_000,
  transitions: 4
}

describe("LeaseObject", () => {
  it("an update keeps unknown spec fields and metadata (ownerReferences, finalizers) and replaces only the owned fields", () => {
    const record = LeaseObject.toRecord(stored, key)
    const body = LeaseObject.toUpdateBody(record, renewal, stored)
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
    const record = LeaseObject.toRecord(stored, key)
    const body = LeaseObject.toUpdateBody(record, renewal, stored)
    assert.strictEqual(body.metadata.resourceVersion, "41")
    assert.strictEqual(body.metadata.uid, "u-1")
    assert.notProperty(body.metadata, "managedFields")
  })

  it("a release keeps the same fields and removes owned fields the new spec leaves out", () => {
    const record = LeaseObject.toRecord(stored, key)
    const body = LeaseObject.toUpdateBody(record, { holder: "", durationSeconds: 1 }, stored)
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
    const body = LeaseObject.toUpdateBody(LeaseObject.toRecord(sparse, key), { holder: "b" }, sparse)
    assert.deepStrictEqual(body, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "nightly", namespace: "jobs", uid: "u-2", resourceVersion: "7" },
      spec: { holderIdentity: "b" }
    })
    // A list item has neither kind nor apiVersion, an object written by hand may have no spec.
    const bare = { metadata: { name: "nightly", namespace: "jobs", resourceVersion: "8" } }
    assert.deepStrictEqual(LeaseObject.toUpdateBody(LeaseObject.toRecord(bare, key), {}, bare), {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "nightly", namespace: "jobs", resourceVersion: "8" },
      spec: {}
    })
  })

  it("the object as read is not modified by building the body", () => {
    const copy = structuredClone(stored)
    LeaseObject.toUpdateBody(LeaseObject.toRecord(copy, key), renewal, copy)
    assert.deepStrictEqual(copy, stored)
  })

  it("what is kept beside a record is the object without managedFields, and updates the same way", () => {
    const kept = LeaseObject.retained(stored)
    assert.isDefined(kept)
    assert.notProperty(kept["metadata"], "managedFields")
    assert.property(stored.metadata, "managedFields", "the object as read is not modified")
    const record = LeaseObject.toRecord(stored, key)
    assert.deepStrictEqual(LeaseObject.toUpdateBody(record, renewal, kept), LeaseObject.toUpdateBody(record, renewal, stored))
    assert.isUndefined(LeaseObject.retained("not an object"))
  })

  it("without the object as read, an update is built from the record alone (labels and annotations kept)", () => {
    const record = LeaseObject.toRecord(stored, key)
    const body = LeaseObject.toUpdateBody(record, { holder: "b" }, undefined)
    assert.deepStrictEqual(body, LeaseObject.toBody(key, { holder: "b" }, record.metadata, record.version))
    assert.deepStrictEqual(body.metadata, {
      name: "nightly",
      namespace: "jobs",
      resourceVersion: "41",
      uid: "u-1",
      labels: { app: "report" },
      annotations: { "example.com/note": "kept" }
    })
  })
})
