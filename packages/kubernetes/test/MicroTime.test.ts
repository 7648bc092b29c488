import { assert, describe, it } from "@effect/vitest"
import * as LeaseObject from "../src/internal/leaseObject.ts"
import * as MicroTime from "../src/internal/microTime.ts"

describe("MicroTime", () => {
  it("writes RFC 3339 with exactly six fractional digits, as the API server requires", () => {
    assert.strictEqual(MicroTime.format(1_700_000_000_123), "2023-11-14T22:13:20.123000Z")
    assert.strictEqual(MicroTime.format(0), "1970-01-01T00:00:00.000000Z")
    assert.strictEqual(MicroTime.format(1_700_000_000_123.456), "2023-11-14T22:13:20.123456Z")
    for (const ms of [1, 999, 86_400_000 - 1, 1_234_567_890_123, 253_402_300_799_999]) {
      assert.match(MicroTime.format(ms)!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
    }
  })

  it("cannot write what it cannot represent", () => {
    assert.isUndefined(MicroTime.format(Number.NaN))
    assert.isUndefined(MicroTime.format(Number.POSITIVE_INFINITY))
    assert.isUndefined(MicroTime.format(-62_200_000_000_000))
    assert.isUndefined(MicroTime.format(253_402_300_800_000))
  })

  it("reads micro, milli and second precision, offsets, and Dates", () => {
    assert.strictEqual(MicroTime.parse("2023-11-14T22:13:20.123000Z"), 1_700_000_000_123)
    assert.strictEqual(MicroTime.parse("2023-11-14T22:13:20.123Z"), 1_700_000_000_123)
    assert.strictEqual(MicroTime.parse("2023-11-14T22:13:20Z"), 1_700_000_000_000)
    assert.strictEqual(MicroTime.parse("2023-11-14T23:13:20.5+01:00"), 1_700_000_000_500)
    assert.strictEqual(MicroTime.parse("2023-11-14T21:13:20.000000-01:00"), 1_700_000_000_000)
    assert.strictEqual(MicroTime.parse(new Date(1_700_000_000_123)), 1_700_000_000_123)
    assert.closeTo(MicroTime.parse("2023-11-14T22:13:20.123456Z")!, 1_700_000_000_123.456, 1e-3)
  })

  it("round-trips to the microsecond", () => {
    for (const ms of [0, 1, 1_700_000_000_123, 1_700_000_000_123.456, 1_700_000_000_999.999]) {
      assert.strictEqual(MicroTime.format(MicroTime.parse(MicroTime.format(ms))!), MicroTime.format(ms))
    }
  })

  it("maps anything unreadable to undefined, never throws", () => {
    for (
      const bad of [
        undefined,
        null,
        42,
        "",
        "yesterday",
        "2023-11-14",
        "2023-13-14T22:13:20Z",
        "2023-02-30T22:13:20Z",
        "2023-11-14T25:13:20Z",
        "2023-11-14T22:13:20.Z",
        {},
        new Date(Number.NaN)
      ]
    ) {
      assert.isUndefined(MicroTime.parse(bad), String(bad))
    }
  })
})

describe("Lease objects", () => {
  const key = { namespace: "ns", name: "lock" }

  it("read exactly the fields client-go's LeaseLock writes", () => {
    const record = LeaseObject.toRecord({
      metadata: { name: "lock", namespace: "ns", resourceVersion: "42", labels: { a: "1" }, annotations: { b: "2" } },
      spec: {
        holderIdentity: "pod-1_abc",
        leaseDurationSeconds: 15,
        acquireTime: "2023-11-14T22:13:20.123000Z",
        renewTime: "2023-11-14T22:13:25.000000Z",
        leaseTransitions: 4
      }
    }, key)
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

  it("carry the uid in the version, so a write made from the record is conditioned on both", () => {
    const record = LeaseObject.toRecord({ metadata: { resourceVersion: "42", uid: "u-1" } }, key)
    assert.strictEqual(record.version, "42/u-1")
    assert.deepStrictEqual(LeaseObject.preconditionsOf(record.version), { resourceVersion: "42", uid: "u-1" })
    assert.deepStrictEqual(LeaseObject.preconditionsOf("42"), { resourceVersion: "42" })
    assert.deepStrictEqual(LeaseObject.toBody(key, {}, {}, record.version).metadata, {
      name: "lock",
      namespace: "ns",
      resourceVersion: "42",
      uid: "u-1"
    })
    assert.strictEqual(LeaseObject.resourceVersionOf({ metadata: { resourceVersion: "42", uid: "u-1" } }), "42")
  })

  it("map hostile objects to records with the odd fields absent or as they are", () => {
    for (const hostile of [null, undefined, 7, "lease", [], {}, { spec: null }, { metadata: [], spec: [] }]) {
      assert.deepStrictEqual(LeaseObject.toRecord(hostile, key), { key, version: "", metadata: {} })
    }
    const odd = LeaseObject.toRecord({
      metadata: { name: 5, resourceVersion: 9, labels: { ok: "yes", bad: 1 }, annotations: "x" },
      spec: {
        holderIdentity: 12,
        leaseDurationSeconds: -5,
        acquireTime: "not a time",
        renewTime: 1_700_000_000_000,
        leaseTransitions: Number.NaN
      }
    }, key)
    assert.deepStrictEqual(odd, { key, version: "", metadata: { labels: { ok: "yes" } }, durationSeconds: -5 })
  })

  it("write the client-go shape, with six-digit MicroTimes and the version for compare-and-swap", () => {
    const body = LeaseObject.toBody(key, {
      holder: "",
      durationSeconds: 1,
      acquireTime: 1_700_000_000_123,
      renewTime: 1_700_000_000_456,
      transitions: 2
    }, { labels: { a: "1" } }, "77")
    assert.deepStrictEqual(body, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "lock", namespace: "ns", resourceVersion: "77", labels: { a: "1" } },
      spec: {
        holderIdentity: "",
        leaseDurationSeconds: 1,
        acquireTime: "2023-11-14T22:13:20.123000Z",
        renewTime: "2023-11-14T22:13:20.456000Z",
        leaseTransitions: 2
      }
    })
    assert.deepStrictEqual(LeaseObject.toBody(key, {}, {}).spec, {})
  })
})
