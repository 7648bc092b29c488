/**
 * The wire Schemas (`internal/wire.ts`): what decodes, what fails and how the failure reads, and
 * that a Lease survives decode → encode with every field leasekit does not model.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as Wire from "../src/internal/wire.ts"
import { stored } from "./StoredLease.ts"


const success = <A>(result: Result.Result<A, Wire.WireError>): A => {
  if (Result.isFailure(result)) assert.fail(`expected a success, got: ${result.failure.message}`)
  return result.success
}

const failure = <A>(result: Result.Result<A, Wire.WireError>): Wire.WireError => {
  if (Result.isSuccess(result)) assert.fail(`expected a failure, got: ${JSON.stringify(result.success)}`)
  return result.failure
}

const encodeMicroTime = Schema.encodeSync(Wire.MicroTime)
const decodeMicroTime = Schema.decodeUnknownResult(Wire.MicroTime)

describe("Wire.MicroTime", () => {
  it("encodes exactly six fractional digits, the only form the API server accepts", () => {
    assert.strictEqual(encodeMicroTime(1_700_000_000_123), "2023-11-14T22:13:20.123000Z")
    assert.strictEqual(encodeMicroTime(1_700_000_000_123.456), "2023-11-14T22:13:20.123456Z")
    assert.strictEqual(encodeMicroTime(0), "1970-01-01T00:00:00.000000Z")
  })

  it("decodes any RFC 3339 time: micro, milli or no fraction, nanoseconds, Z or an offset", () => {
    const cases: ReadonlyArray<readonly [string, number]> = [
      ["2023-11-14T22:13:20.123000Z", 1_700_000_000_123],
      ["2023-11-14T22:13:20.123Z", 1_700_000_000_123],
      ["2023-11-14T22:13:20Z", 1_700_000_000_000],
      ["2023-11-14T22:13:20.123456789Z", 1_700_000_000_123.456],
      ["2023-11-14T23:13:20.5+01:00", 1_700_000_000_500],
      ["2023-11-14T21:13:20.000000-01:00", 1_700_000_000_000]
    ]
    for (const [text, millis] of cases) {
      const decoded = decodeMicroTime(text)
      assert.isTrue(Result.isSuccess(decoded), text)
      if (Result.isSuccess(decoded)) assert.closeTo(decoded.success, millis, 1e-6, text)
    }
  })

  it("round-trips to the microsecond", () => {
    for (const millis of [0, 1, 1_700_000_000_123, 1_700_000_000_123.456, 1_700_000_000_999.999]) {
      const text = encodeMicroTime(millis)
      const back = decodeMicroTime(text)
      assert.isTrue(Result.isSuccess(back), text)
      if (Result.isSuccess(back)) assert.strictEqual(encodeMicroTime(back.success), text)
    }
  })

  it("fails on what is not a time, and cannot encode what it cannot represent", () => {
    for (const bad of ["", "yesterday", "2023-11-14", "2023-02-30T22:13:20Z", "2023-11-14T22:13:20.Z", 42, null]) {
      assert.isTrue(Result.isFailure(decodeMicroTime(bad)), String(bad))
    }
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 253_402_300_800_000]) {
      assert.isTrue(Result.isFailure(Schema.encodeResult(Wire.MicroTime)(bad)), String(bad))
    }
  })
})

describe("Wire.decodeLease", () => {
  it("reads the fields leasekit uses, times as epoch milliseconds", () => {
    const lease = success(Wire.decodeLease(stored))
    assert.strictEqual(lease.metadata.name, "nightly")
    assert.strictEqual(lease.metadata.namespace, "jobs")
    assert.strictEqual(lease.metadata.resourceVersion, "41")
    assert.strictEqual(lease.metadata.uid, "u-1")
    assert.deepStrictEqual(lease.metadata.labels, { app: "report" })
    assert.deepStrictEqual(lease.metadata.annotations, { "example.com/note": "kept" })
    assert.strictEqual(lease.spec?.holderIdentity, "old-holder")
    assert.strictEqual(lease.spec?.leaseDurationSeconds, 15)
    assert.strictEqual(lease.spec?.acquireTime, 1_700_000_000_123)
    assert.closeTo(lease.spec?.renewTime ?? 0, 1_700_000_010_123.456, 1e-6)
    assert.strictEqual(lease.spec?.leaseTransitions, 3)
  })

  it("reads spec.strategy and spec.preferredHolder (coordinated leader election) as strings", () => {
    const lease = success(Wire.decodeLease(stored))
    assert.strictEqual(lease.spec?.strategy, "OldestEmulationVersion")
    assert.strictEqual(lease.spec?.preferredHolder, "candidate-2")
  })

  it("keeps unknown fields at every level, and encodes back to the object as read", () => {
    const lease = success(Wire.decodeLease(stored))
    assert.deepStrictEqual(lease.metadata["ownerReferences"], stored.metadata.ownerReferences)
    assert.deepStrictEqual(lease.metadata["finalizers"], ["example.com/keep"])
    assert.strictEqual(lease.spec?.["strategy"], "OldestEmulationVersion")
    assert.strictEqual(lease.spec?.["preferredHolder"], "candidate-2")
    assert.strictEqual(lease["someFutureTopLevelField"], "kept")
    assert.deepStrictEqual(success(Wire.encodeLease(lease)), stored)
  })

  it("does not modify what it decodes", () => {
    const copy = structuredClone(stored)
    success(Wire.decodeLease(copy))
    assert.deepStrictEqual(copy, stored)
  })

  it("reads null as absent for every optional field", () => {
    const lease = success(Wire.decodeLease({
      metadata: { name: "n", namespace: "ns", resourceVersion: null, uid: null, labels: null, annotations: null },
      spec: {
        holderIdentity: null,
        leaseDurationSeconds: null,
        acquireTime: null,
        renewTime: null,
        leaseTransitions: null,
        strategy: null,
        preferredHolder: null
      }
    }))
    assert.deepStrictEqual(lease, { metadata: { name: "n", namespace: "ns" }, spec: {} })
    assert.deepStrictEqual(success(Wire.decodeLease({ metadata: { name: "n", namespace: "ns" }, spec: null })), {
      metadata: { name: "n", namespace: "ns" }
    })
    // A null the schema does not model is kept as it is (it is not ours to drop).
    const kept = success(Wire.decodeLease({ metadata: { name: "n", namespace: "ns", creationTimestamp: null } }))
    assert.deepStrictEqual(kept.metadata, { name: "n", namespace: "ns", creationTimestamp: null })
  })

  it("accepts odd but well-typed values as they are: judging them is the algorithm's job", () => {
    const lease = success(Wire.decodeLease({
      metadata: { name: "n", namespace: "ns" },
      spec: {
        holderIdentity: "",
        leaseDurationSeconds: -30,
        renewTime: "9999-12-31T23:59:59.999999Z",
        leaseTransitions: 2_147_483_647
      }
    }))
    assert.deepStrictEqual(lease.spec, {
      holderIdentity: "",
      leaseDurationSeconds: -30,
      renewTime: 253_402_300_799_999.999,
      leaseTransitions: 2_147_483_647
    })
  })

  const base = { metadata: { name: "n", namespace: "ns" }, spec: {} }
  const hostile: ReadonlyArray<readonly [string, unknown, string, string]> = [
    ["not an object", "lease", "", "expected an object, got \"lease\""],
    ["null", null, "", "expected an object, got null"],
    ["an array", [], "", "expected an object, got an array of 0"],
    ["no metadata", { spec: {} }, "metadata", "missing"],
    ["metadata not an object", { metadata: "x" }, "metadata", "expected an object, got \"x\""],
    ["metadata an array", { metadata: [1, 2, 3] }, "metadata", "expected an object, got an array of 3"],
    ["no name", { metadata: { namespace: "ns" } }, "metadata.name", "missing"],
    ["name a number", { metadata: { name: 5, namespace: "ns" } }, "metadata.name", "expected a string, got 5"],
    ["no namespace", { metadata: { name: "n" } }, "metadata.namespace", "missing"],
    ["resourceVersion a number", { metadata: { ...base.metadata, resourceVersion: 9 } }, "metadata.resourceVersion", "expected a string, got 9"],
    ["uid an object", { metadata: { ...base.metadata, uid: {} } }, "metadata.uid", "expected a string, got an object"],
    [
      "a label value not a string",
      { metadata: { ...base.metadata, labels: { ok: "yes", "example.com/bad": 1 } } },
      "metadata.labels[\"example.com/bad\"]",
      "expected a string, got 1"
    ],
    ["labels a string", { metadata: { ...base.metadata, labels: "x" } }, "metadata.labels", "expected an object of strings, got \"x\""],
    ["annotation value null", { metadata: { ...base.metadata, annotations: { a: null } } }, "metadata.annotations.a", "expected a string, got null"],
    ["spec an array", { ...base, spec: [] }, "spec", "expected an object, got an array of 0"],
    ["spec a string", { ...base, spec: "x" }, "spec", "expected an object, got \"x\""],
    ["holder a number", { ...base, spec: { holderIdentity: 12 } }, "spec.holderIdentity", "expected a string, got 12"],
    ["renewTime unreadable", { ...base, spec: { renewTime: "yesterday" } }, "spec.renewTime", "expected an RFC 3339 time, got \"yesterday\""],
    ["renewTime a number", { ...base, spec: { renewTime: 1_700_000_000_000 } }, "spec.renewTime", "expected an RFC 3339 time, got 1700000000000"],
    ["acquireTime a date only", { ...base, spec: { acquireTime: "2023-11-14" } }, "spec.acquireTime", "expected an RFC 3339 time, got \"2023-11-14\""],
    ["duration not an integer", { ...base, spec: { leaseDurationSeconds: 1.5 } }, "spec.leaseDurationSeconds", "expected an integer, got 1.5"],
    ["duration a string", { ...base, spec: { leaseDurationSeconds: "15" } }, "spec.leaseDurationSeconds", "expected a 32-bit integer, got \"15\""],
    [
      "duration beyond int32",
      { ...base, spec: { leaseDurationSeconds: 3_000_000_000 } },
      "spec.leaseDurationSeconds",
      "expected a value between -2147483648 and 2147483647, got 3000000000"
    ],
    ["transitions not an integer", { ...base, spec: { leaseTransitions: 0.5 } }, "spec.leaseTransitions", "expected an integer, got 0.5"],
    ["transitions a boolean", { ...base, spec: { leaseTransitions: true } }, "spec.leaseTransitions", "expected a 32-bit integer, got true"],
    ["strategy a number", { ...base, spec: { strategy: 1 } }, "spec.strategy", "expected a string, got 1"],
    ["preferredHolder an object", { ...base, spec: { preferredHolder: {} } }, "spec.preferredHolder", "expected a string, got an object"]
  ]

  for (const [name, input, path, detail] of hostile) {
    it(`fails on a hostile object, naming the field: ${name}`, () => {
      const error = failure(Wire.decodeLease(input))
      assert.instanceOf(error, Wire.WireError)
      assert.strictEqual(error._tag, "WireError")
      assert.strictEqual(error.what, "Lease")
      assert.strictEqual(error.path, path)
      assert.strictEqual(error.detail, detail)
    })
  }

  it("the message names the field and reads as a sentence part", () => {
    const error = failure(Wire.decodeLease({ ...base, spec: { renewTime: "yesterday" } }))
    assert.strictEqual(error.message, "a malformed Lease: spec.renewTime: expected an RFC 3339 time, got \"yesterday\"")
    assert.strictEqual(failure(Wire.decodeLease(7)).message, "a malformed Lease: expected an object, got 7")
  })

  it("quotes at most 60 characters of an offending value, escaped, and never dumps an object", () => {
    const long = failure(Wire.decodeLease({ ...base, spec: { renewTime: `${"x".repeat(500)}\nlevel=ERROR` } }))
    assert.strictEqual(long.detail, `expected an RFC 3339 time, got "${"x".repeat(60)}…"`)
    const huge = { ...base, metadata: Array.from({ length: 10_000 }, (_, i) => ({ i, secret: "s".repeat(100) })) }
    const error = failure(Wire.decodeLease(huge))
    assert.strictEqual(error.detail, "expected an object, got an array of 10000")
    assert.notInclude(error.message, "secret")
    const hostileKey = `k${"\n".repeat(3)}${"y".repeat(500)}`
    const keyed = failure(Wire.decodeLease({ metadata: { ...base.metadata, labels: { [hostileKey]: 1 } } }))
    assert.notInclude(keyed.path, "\n")
    assert.isBelow(keyed.message.length, 200)
  })
})

describe("Wire.encodeLease", () => {
  it("writes MicroTimes with six digits and fails, naming the field, on what no API server accepts", () => {
    const lease = success(Wire.decodeLease(stored))
    const json = success(Wire.encodeLease({ ...lease, spec: { renewTime: 1_700_000_000_000 } }))
    assert.strictEqual(json.spec?.renewTime, "2023-11-14T22:13:20.000000Z")
    const fraction = failure(Wire.encodeLease({ ...lease, spec: { leaseDurationSeconds: 1.5 } }))
    assert.strictEqual(fraction.path, "spec.leaseDurationSeconds")
    assert.strictEqual(fraction.detail, "expected an integer, got 1.5")
    const never = failure(Wire.encodeLease({ ...lease, spec: { renewTime: Number.NaN } }))
    assert.strictEqual(never.path, "spec.renewTime")
    assert.include(never.detail, "got NaN")
  })
})

describe("Wire.decodeLeaseList", () => {
  it("reads items, resourceVersion and the continue token", () => {
    const list = success(Wire.decodeLeaseList({
      kind: "LeaseList",
      apiVersion: "coordination.k8s.io/v1",
      metadata: { resourceVersion: "77", continue: "next-page" },
      items: [stored, { metadata: { name: "b", namespace: "jobs" } }]
    }))
    assert.deepStrictEqual(list.items.map((lease) => lease.metadata.name), ["nightly", "b"])
    assert.deepStrictEqual(list.metadata, { resourceVersion: "77", continue: "next-page" })
    assert.strictEqual(list.items[0]?.metadata["finalizers"] !== undefined, true, "items keep unknown fields")
  })

  it("reads null or absent items (Go's nil slice) as none", () => {
    assert.deepStrictEqual(success(Wire.decodeLeaseList({ items: null, metadata: {} })).items, [])
    assert.deepStrictEqual(success(Wire.decodeLeaseList({})).items, [])
  })

  it("fails on a malformed item, naming its index", () => {
    const error = failure(Wire.decodeLeaseList({ items: [stored, { ...stored, spec: { renewTime: "soon" } }] }))
    assert.strictEqual(error.what, "LeaseList")
    assert.strictEqual(error.path, "items[1].spec.renewTime")
    assert.strictEqual(error.message, "a malformed LeaseList: items[1].spec.renewTime: expected an RFC 3339 time, got \"soon\"")
    assert.strictEqual(failure(Wire.decodeLeaseList({ items: {} })).path, "items")
    assert.strictEqual(failure(Wire.decodeLeaseList({ items: [], metadata: { continue: 1 } })).path, "metadata.continue")
  })
})

describe("Wire.decodeWatchEvent", () => {
  it("ADDED, MODIFIED and DELETED carry a Lease", () => {
    for (const type of ["ADDED", "MODIFIED", "DELETED"] as const) {
      const event = success(Wire.decodeWatchEvent({ type, object: stored }))
      assert.strictEqual(event.type, type)
      if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
        assert.strictEqual(event.object.metadata.resourceVersion, "41")
        assert.strictEqual(event.object.spec?.acquireTime, 1_700_000_000_123)
      }
    }
  })

  it("a BOOKMARK decodes from its bare object (no name, an empty spec): only the resourceVersion is read", () => {
    const event = success(Wire.decodeWatchEvent({
      type: "BOOKMARK",
      object: {
        kind: "Lease",
        apiVersion: "coordination.k8s.io/v1",
        metadata: { resourceVersion: "12746", creationTimestamp: null, annotations: { "k8s.io/initial-events-end": "true" } },
        spec: {}
      }
    }))
    assert.deepStrictEqual(event, { type: "BOOKMARK", object: { metadata: { resourceVersion: "12746" } } })
    const bare = failure(Wire.decodeWatchEvent({ type: "BOOKMARK", object: { metadata: {} } }))
    assert.strictEqual(bare.path, "object.metadata.resourceVersion")
    assert.strictEqual(bare.detail, "missing")
  })

  it("an ERROR carries a Status", () => {
    const event = success(Wire.decodeWatchEvent({
      type: "ERROR",
      object: { kind: "Status", apiVersion: "v1", status: "Failure", message: "too old resource version", reason: "Expired", code: 410 }
    }))
    assert.deepStrictEqual(event, {
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version" }
    })
    const notStatus = failure(Wire.decodeWatchEvent({ type: "ERROR", object: { kind: "Lease" } }))
    assert.strictEqual(notStatus.path, "object.kind")
    assert.strictEqual(notStatus.detail, "expected \"Status\", got \"Lease\"")
  })

  it("fails on an unknown or missing type, naming the field", () => {
    const unknown = failure(Wire.decodeWatchEvent({ type: "RENAMED", object: stored }))
    assert.strictEqual(unknown.what, "WatchEvent")
    assert.strictEqual(unknown.path, "type")
    assert.strictEqual(unknown.detail, "expected one of ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, got \"RENAMED\"")
    assert.strictEqual(failure(Wire.decodeWatchEvent({ type: 3, object: stored })).detail.endsWith("got 3"), true)
    const missing = failure(Wire.decodeWatchEvent({ object: stored }))
    assert.strictEqual(missing.path, "type")
    assert.strictEqual(missing.detail, "missing")
    assert.strictEqual(failure(Wire.decodeWatchEvent("ADDED")).detail, "expected a watch event, got \"ADDED\"")
  })

  it("fails on a malformed Lease in an event, naming the field under object", () => {
    const error = failure(Wire.decodeWatchEvent({ type: "MODIFIED", object: { ...stored, spec: { leaseTransitions: "4" } } }))
    assert.strictEqual(error.path, "object.spec.leaseTransitions")
    assert.strictEqual(error.message, "a malformed WatchEvent: object.spec.leaseTransitions: expected a 32-bit integer, got \"4\"")
    assert.strictEqual(failure(Wire.decodeWatchEvent({ type: "DELETED" })).path, "object")
  })
})

describe("Wire.statusOf", () => {
  it("reads a Status, leaving out fields of the wrong type", () => {
    assert.deepStrictEqual(
      Wire.statusOf({
        kind: "Status",
        code: 404,
        reason: "NotFound",
        message: "leases.coordination.k8s.io \"x\" not found",
        details: { name: "x", kind: "leases", group: "coordination.k8s.io" }
      }),
      {
        kind: "Status",
        code: 404,
        reason: "NotFound",
        message: "leases.coordination.k8s.io \"x\" not found",
        details: { name: "x", kind: "leases" }
      }
    )
    assert.deepStrictEqual(
      Wire.statusOf({ kind: "Status", code: "404", reason: 7, message: null, details: { kind: 1, name: "x" } }),
      { kind: "Status", details: { name: "x" } }
    )
    assert.deepStrictEqual(Wire.statusOf({ kind: "Status", code: 409.5, details: "x" }), { kind: "Status" })
  })

  it("is undefined for anything that is not a Kubernetes Status object", () => {
    for (const value of [undefined, null, "Status", 404, [], {}, { kind: "status" }, { kind: "Lease", code: 404 }, { code: 404 }]) {
      assert.isUndefined(Wire.statusOf(value), JSON.stringify(value))
    }
  })
})
