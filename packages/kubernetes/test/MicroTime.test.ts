/**
 * The MicroTime text format (`internal/microTime.ts`), which `Wire.MicroTime` encodes and decodes
 * with: six fractional digits on write, any RFC 3339 time on read.
 */
import { assert, describe, it } from "@effect/vitest"
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
