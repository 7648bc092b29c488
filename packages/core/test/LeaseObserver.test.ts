/**
 * The promises of `Lease.observe` (see `src/internal/observer.ts`): the current state first, then
 * every change the watch delivers, an expiry at the instant this observer computed it, polling
 * without a watch, a bounded lag behind a silent watch, and which store failures end the stream.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { LeaseStoreError } from "../src/LeaseStore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, elapsed, key, settle, start, withStore } from "./Scene.ts"

/** Defaults for a 20 s lease: renewInterval 6.666 s, retryPeriod 2 s, requestTimeout 2 s. */
const timing = { duration: "20 seconds" } as const
const renewIntervalMillis = 6_666
const requestTimeoutMillis = 2_000

interface Report {
  readonly at: number
  readonly holder: string | undefined
  readonly expired: boolean
  readonly version: string | undefined
}

/** Runs `Lease.observe` in the background, recording every report with its virtual time. */
const observing = Effect.gen(function*() {
  const reports = yield* Ref.make<ReadonlyArray<Report>>([])
  const fiber = yield* Lease.observe(key, timing).pipe(
    Stream.runForEach((inspection) =>
      Effect.flatMap(elapsed, (at) =>
        Ref.update(reports, (all) => [...all, {
          at,
          holder: Option.getOrUndefined(inspection.holder),
          expired: Duration.isZero(inspection.expiresIn),
          version: Option.getOrUndefined(Option.map(inspection.record, (r) => r.version))
        }]))
    ),
    Effect.forkChild
  )
  // Let the observer read and start its watch (several fiber hops) without moving the clock.
  for (let i = 0; i < 20 && (yield* Ref.get(reports)).length === 0; i++) yield* settle
  return { reports: Ref.get(reports), fiber }
})

/** Lets the observer's fibers run (watch delivery takes several hops) without moving the clock. */
const settleAll = Effect.repeat(settle, { times: 19 })

const createHeld = (holder: string) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    return yield* probe.admin.create(key, { holder, durationSeconds: 20, renewTime: start, transitions: 1 })
  })

const setHolder = (holder: string) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    const record = yield* read(key)
    return yield* probe.admin.update(record, { ...specOf(record), holder })
  })

describe("Lease.observe", () => {
  it.effect("emits the current state first", () =>
    withStore(Effect.gen(function*() {
      const absent = Option.getOrThrow(yield* Stream.runHead(Lease.observe(key, timing)))
      assert.isTrue(Option.isNone(absent.record))
      assert.isTrue(Option.isNone(absent.holder))

      const record = yield* createHeld("a")
      const first = Option.getOrThrow(yield* Stream.runHead(Lease.observe(key, timing)))
      assert.deepStrictEqual(first.record, Option.some(record))
      assert.deepStrictEqual(first.holder, Option.some("a"))
      assert.deepStrictEqual(first.token, Option.some(1))
      assert.strictEqual(Duration.toMillis(first.expiresIn), 20_000)
    })))

  it.effect("reports a new holder and a release as the watch delivers them", () =>
    withStore(Effect.gen(function*() {
      yield* createHeld("a")
      const { reports } = yield* observing
      yield* TestClock.adjust("1 second")
      yield* setHolder("b")
      yield* settleAll
      yield* TestClock.adjust("1 second")
      yield* setHolder("")
      yield* settleAll
      assert.deepStrictEqual((yield* reports).map(({ at, holder }) => [at, holder]), [
        [0, "a"],
        [1_000, "b"],
        [2_000, undefined]
      ])
    })))

  it.effect("reports a holder that stops renewing as expired at the instant it computed", () =>
    withStore(Effect.gen(function*() {
      yield* createHeld("a")
      yield* TestClock.adjust("3 seconds") // the record is older than the observer's first sight
      const { reports } = yield* observing
      yield* TestClock.adjust("19999 millis")
      assert.isFalse((yield* reports).some((r) => r.expired), "not before duration after it first saw the record")
      yield* TestClock.adjust("1 millis")
      const all = yield* reports
      assert.deepStrictEqual(all.map(({ at, expired, holder }) => [at, holder, expired]), [
        [3_000, "a", false],
        [23_000, "a", true]
      ])
      assert.strictEqual(all[0]!.version, all[1]!.version, "same record, judged expired")
    })))

  it.effect("without a watch it polls every retryPeriod", () =>
    withStore(
      Effect.gen(function*() {
        const probe = yield* Probe
        yield* createHeld("a")
        const { reports } = yield* observing
        yield* probe.resetCalls
        yield* TestClock.adjust("500 millis")
        yield* setHolder("b")
        yield* TestClock.adjust("1499 millis")
        assert.strictEqual((yield* reports).length, 1, "not seen before the next poll")
        assert.strictEqual(yield* probe.calls("get"), 0)
        yield* TestClock.adjust("1 millis")
        assert.deepStrictEqual((yield* reports).map(({ at, holder }) => [at, holder]), [[0, "a"], [2_000, "b"]])
        yield* advance(8)
        assert.strictEqual(yield* probe.calls("get"), 5, "one read every 2 s")
      }),
      { watch: false }
    ))

  it.effect("with a silent watch it still reports a change within renewInterval + requestTimeout", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.setWatch("silent")
      yield* createHeld("a")
      const { reports } = yield* observing
      yield* TestClock.adjust("1 second")
      yield* setHolder("b")
      yield* settleAll
      assert.strictEqual((yield* reports).length, 1, "the silent watch did not deliver it")
      yield* TestClock.adjust(Duration.millis(renewIntervalMillis + requestTimeoutMillis))
      const seen = (yield* reports).find((r) => r.holder === "b")
      assert.isDefined(seen, "reported by a read")
      assert.isAbove(seen!.at, 1_000)
      assert.isAtMost(seen!.at, renewIntervalMillis + requestTimeoutMillis)
    })))

  it.effect("retries a transient read failure", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* createHeld("a")
      let failures = 2
      yield* probe.setFaults((op) => op === "get" && failures-- > 0 ? { reason: "Unavailable" } : undefined)
      const { reports, fiber } = yield* observing
      assert.strictEqual((yield* reports).length, 0)
      yield* advance(4)
      assert.isUndefined(fiber.pollUnsafe(), "still running")
      assert.deepStrictEqual((yield* reports).map(({ at, holder }) => [at, holder]), [[4_000, "a"]])
      assert.strictEqual(yield* probe.calls("get"), 3)
    })))

  it.effect("a Forbidden read fails the stream, first or later", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* createHeld("a")
      yield* probe.setFaults((op) => op === "get" ? { reason: "Forbidden" } : undefined)
      const error = yield* Effect.flip(Stream.runDrain(Lease.observe(key, timing)))
      assert.instanceOf(error, LeaseStoreError)
      assert.strictEqual(error._tag === "LeaseStoreError" ? error.reason : undefined, "Forbidden")

      yield* probe.setFaults(undefined)
      const { reports, fiber } = yield* observing
      assert.strictEqual((yield* reports).length, 1)
      yield* probe.setFaults((op) => op === "get" ? { reason: "Forbidden" } : undefined)
      yield* advance(7) // the watch is trusted for renewInterval; then it reads
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit, "the stream ended")
      const later = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(later._tag === "LeaseStoreError" ? later.reason : undefined, "Forbidden")
    })))
})
