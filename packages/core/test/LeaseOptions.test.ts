import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import * as Os from "node:os"
import * as Lease from "../src/Lease.ts"
import { InvalidLeaseOptions } from "../src/LeaseError.ts"
import * as LeaseHolder from "../src/LeaseHolder.ts"
import * as LeaseOptions from "../src/LeaseOptions.ts"
import * as FaultyStore from "./FaultyStore.ts"
import { Probe } from "./FaultyStore.ts"

const valid = { namespace: "jobs", name: "nightly-report", holder: "a" }

const rejected: ReadonlyArray<[string, LeaseOptions.LeaseOptions, string, string]> = [
  ["an empty namespace", { ...valid, namespace: "" }, "namespace", "is required"],
  ["an upper-case namespace", { ...valid, namespace: "Jobs" }, "namespace", "DNS-1123 label"],
  ["a namespace of 64 characters", { ...valid, namespace: "a".repeat(64) }, "namespace", "at most 63"],
  ["a namespace with a dot", { ...valid, namespace: "a.b" }, "namespace", "DNS-1123 label"],
  ["an empty name", { ...valid, name: "" }, "name", "is required"],
  ["a name with an underscore", { ...valid, name: "nightly_report" }, "name", "DNS-1123 subdomain"],
  ["a name ending in '-'", { ...valid, name: "report-" }, "name", "DNS-1123 subdomain"],
  ["a name of 254 characters", { ...valid, name: "a".repeat(254) }, "name", "at most 253"],
  ["an empty holder", { ...valid, holder: "" }, "holder", "must not be empty"],
  ["a holder of 129 characters", { ...valid, holder: "h".repeat(129) }, "holder", "at most 128"],
  ["a holder with surrounding spaces", { ...valid, holder: " a " }, "holder", "whitespace"],
  ["a fractional duration", { ...valid, duration: "1500 millis" }, "duration", "whole number of seconds"],
  ["a zero duration", { ...valid, duration: 0 }, "duration", "at least 1 second"],
  ["a negative duration", { ...valid, duration: -5000 }, "duration", "must not be negative"],
  ["an infinite duration", { ...valid, duration: "Infinity" }, "duration", "must be finite"],
  ["a duration that is not one", { ...valid, duration: "soon" as Duration.Input }, "duration", "must be a duration"],
  ["renewDeadline equal to duration", { ...valid, duration: "10 seconds", renewDeadline: "10 seconds" }, "renewDeadline", "less than duration"],
  ["renewInterval above renewDeadline", { ...valid, renewInterval: "15 seconds", renewDeadline: "10 seconds" }, "renewDeadline", "greater than renewInterval"],
  ["a zero renewInterval", { ...valid, renewInterval: 0 }, "renewInterval", "greater than 0"],
  ["retryPeriod above renewDeadline", { ...valid, retryPeriod: "14 seconds" }, "retryPeriod", "at most renewDeadline"],
  ["a zero retryPeriod", { ...valid, retryPeriod: 0 }, "retryPeriod", "greater than 0"],
  ["requestTimeout above renewDeadline", { ...valid, requestTimeout: "14 seconds" }, "requestTimeout", "at most renewDeadline"],
  // Hole 5 of "The guarantee, closed": a holder declaring more than contenders honour was taken over
  // while it still believed it held the lease; now neither side may leave the hour.
  ["maxHonouredDuration below an hour", { ...valid, maxHonouredDuration: "59 minutes" }, "maxHonouredDuration", "at least 1h"],
  ["a duration above an hour", { ...valid, duration: "2 hours" }, "duration", "at most 1h"],
  // Hole 3: a renewal sent on schedule must be able to get its answer before the deadline.
  ["requestTimeout above renewDeadline − renewInterval", { ...valid, requestTimeout: "7 seconds" }, "requestTimeout", "renewDeadline − renewInterval"],
  ["a negative maxClockSkew", { ...valid, maxClockSkew: -1 }, "maxClockSkew", "must not be negative"],
  ["an unknown release mode", { ...valid, releaseMode: "drop" as "clear" }, "releaseMode", "\"clear\" or \"delete\""]
]

describe("LeaseOptions", () => {
  it.effect("defaults follow client-go's proportions with whole-millisecond timings", () =>
    Effect.gen(function*() {
      const resolved = yield* LeaseOptions.resolve(valid)
      assert.strictEqual(resolved.durationSeconds, 20)
      assert.strictEqual(Duration.toMillis(resolved.renewInterval), 6_666)
      assert.strictEqual(Duration.toMillis(resolved.renewDeadline), 13_333)
      assert.strictEqual(Duration.toMillis(resolved.retryPeriod), 2_000)
      assert.strictEqual(Duration.toMillis(resolved.requestTimeout), 2_000)
      assert.strictEqual(resolved.releaseMode, "clear")
    }))

  it.effect("the default requestTimeout keeps to its rule when the other timings are set by hand", () =>
    Effect.gen(function*() {
      const resolved = yield* LeaseOptions.resolve({
        ...valid,
        duration: "4 seconds",
        renewInterval: "1 second",
        renewDeadline: "3 seconds",
        retryPeriod: "2500 millis"
      })
      assert.strictEqual(Duration.toMillis(resolved.requestTimeout), 2_000, "renewDeadline − renewInterval")
    }))

  it.effect("short leases get a retry period no longer than the renew interval", () =>
    Effect.gen(function*() {
      const resolved = yield* LeaseOptions.resolve({ ...valid, duration: "3 seconds" })
      assert.strictEqual(Duration.toMillis(resolved.renewInterval), 1_000)
      assert.strictEqual(Duration.toMillis(resolved.retryPeriod), 1_000)
    }))

  for (const [what, options, field, rule] of rejected) {
    it.effect(`rejects ${what} before any store call, naming field, value and rule`, () =>
      Effect.gen(function*() {
        const probe = yield* Probe
        const error = yield* Effect.flip(Effect.scoped(Lease.acquire(options)))
        assert.instanceOf(error, InvalidLeaseOptions)
        assert.strictEqual((error as InvalidLeaseOptions).field, field)
        assert.include(error.message, field)
        assert.include(error.message, rule)
        assert.strictEqual(yield* probe.calls(), 0)
      }).pipe(Effect.provide(FaultyStore.layer())))
  }

  it.effect("an invalid acquire timeout is rejected", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Lease.acquire({ ...valid, timeout: -1 })))
      assert.instanceOf(error, InvalidLeaseOptions)
      assert.include(error.message, "timeout")
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("the message shows the offending value", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LeaseOptions.resolve({ ...valid, name: "Bad_Name" }))
      assert.include(error.message, "\"Bad_Name\"")
    }))
})

describe("LeaseHolder", () => {
  it.effect("default identities are distinct per contender and name the host and process", () =>
    Effect.gen(function*() {
      const a = yield* LeaseHolder.make
      const b = yield* LeaseHolder.make
      assert.notStrictEqual(a, b)
      assert.include(a, `_${process.pid}_`)
      assert.isAtMost(a.length, LeaseHolder.maxLength)
    }))

  it.effect("the identity starts with $POD_NAME (the Downward API) when the ConfigProvider has it, else the host name", () =>
    Effect.gen(function*() {
      const withPod = (env: Record<string, string>) =>
        LeaseHolder.make.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env })))
      const inPod = yield* withPod({ POD_NAME: "reports-7d9f-x2k" })
      assert.match(inPod, new RegExp(`^reports-7d9f-x2k_${process.pid}_[a-z0-9]{6}$`))
      const host = Os.hostname()
      assert.isTrue((yield* withPod({})).startsWith(`${host}_`))
      assert.isTrue((yield* withPod({ POD_NAME: "  " })).startsWith(`${host}_`), "a blank POD_NAME is not a name")
      assert.strictEqual(yield* LeaseHolder.base.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env: { POD_NAME: "p" } }))), "p")
    }))
})
