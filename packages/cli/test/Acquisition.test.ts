/**
 * `run`'s acquisition (Acquisition.ts), its watch of the tenure (TenureWatch.ts) and the unique
 * --holder (RunOptions.uniqueHolder), on the memory store with the TestClock — written by an
 * adversarial review of issue 20. The tests marked "(found)" failed on the first version of the
 * change and pin its fixes; "(control)" runs the core alone under the same faults; the others pin
 * what held.
 */
import { assert, describe, it } from "@effect/vitest"
import { Lease, LeaseRecord, LeaseStore } from "@leasekit/core"
import type { LeaseSpec } from "@leasekit/core/LeaseRecord"
import { Effect, Exit, Fiber, Option, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Acquisition from "../src/internal/Acquisition.ts"
import * as ExitCode from "../src/internal/ExitCode.ts"
import * as RunOptions from "../src/internal/RunOptions.ts"
import * as TenureWatch from "../src/internal/TenureWatch.ts"
import { runFlags } from "./fixtures.ts"

const key = { namespace: "jobs", name: "nightly" }
const start = Date.parse("2026-11-21T10:00:00.000Z")

const flags = (extra: Partial<RunOptions.RunFlags> = {}) => runFlags({ name: key.name, holder: Option.some("runner"), ...extra })

/** `run`'s settings for these flags: one contender made from the resolved options (in the scope
 * of the test, with the `Lease` service in context). */
const settingsFor = (f: RunOptions.RunFlags) =>
  Effect.gen(function*() {
    const options = yield* RunOptions.resolve(f, key.namespace)
    const contender = yield* Lease.contender(options.lease)
    return {
      contender,
      try: f.try,
      timeout: options.timeout,
      conflictExitCode: f.conflictExitCode,
      quiet: true
    } satisfies Acquisition.Settings
  })

/** Runs `self` as a process of its own would: its own `Lease` service over `store`. */
const inProcess = (store: LeaseStore.LeaseStoreService) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provideServiceEffect(Lease.Lease, Lease.make), Effect.provideService(LeaseStore.LeaseStore, store))

/** `run`'s acquisition with these flags, as a process of its own over `store` (the lease stays
 * held until the test's scope closes). */
const acquireIn = (store: LeaseStore.LeaseStoreService, f: RunOptions.RunFlags) =>
  settingsFor(f).pipe(Effect.flatMap(Acquisition.acquire), inProcess(store))

/** Advances the virtual clock one second at a time. */
const advance = (seconds: number) => Effect.repeat(TestClock.adjust("1 second"), { times: seconds - 1 })

/** Runs `run`'s acquisition in a fiber while the clock advances `seconds`; its exit. */
const acquireWhileAdvancing = (store: LeaseStore.LeaseStoreService, f: RunOptions.RunFlags, seconds: number) =>
  Effect.gen(function*() {
    const fiber = yield* acquireIn(store, f).pipe(Effect.forkChild)
    yield* advance(seconds)
    return yield* Fiber.await(fiber)
  })

/** `store`, counting the calls made to it. */
const counting = (base: LeaseStore.LeaseStoreService) => {
  const calls = { get: 0, create: 0, update: 0, watch: 0 }
  const store: LeaseStore.LeaseStoreService = {
    ...base,
    get: (k) => Effect.suspend(() => (calls.get++, base.get(k))),
    create: (k, spec, metadata) => Effect.suspend(() => (calls.create++, base.create(k, spec, metadata))),
    update: (record, spec, metadata) => Effect.suspend(() => (calls.update++, base.update(record, spec, metadata))),
    watch: (k) => Stream.suspend(() => (calls.watch++, base.watch(k)))
  }
  return { store, calls }
}

const describeExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "acquired"
  const error = Option.getOrUndefined(Exit.findErrorOption(exit))
  const cli = ExitCode.fromError(error)
  return `exit ${cli.code}: ${cli.problem ?? ""}`
}

const deadRecord = (spec: Partial<LeaseSpec> = {}): LeaseSpec => ({
  holder: "crashed-run_abcde",
  durationSeconds: 20,
  acquireTime: start - 3_600_000,
  renewTime: start - 3_600_000,
  transitions: 3,
  ...spec
})

/** A free record (released): no holder, renewed at `start`. */
const freeRecord = (transitions: number): LeaseSpec => ({ holder: "", durationSeconds: 1, acquireTime: start, renewTime: start, transitions })

/** The dead record, released: a free lease at `start`. */
const releasedLease = Effect.gen(function*() {
  const base = yield* LeaseStore.makeMemory()
  const created = yield* base.create(key, deadRecord())
  yield* base.update(created, freeRecord(3))
  return base
})

/** High churn: `times` times, another run takes the free lease and releases it again between
 * `holder`'s read and its compare-and-swap (short commands, many waiters). */
const churning = (base: LeaseStore.LeaseStoreService, holder: string, times: number): LeaseStore.LeaseStoreService => {
  // `run` makes --holder ID unique: ID_ and five random characters
  let churns = times
  return {
    ...base,
    update: (record, spec, metadata) =>
      Effect.gen(function*() {
        if (spec.holder?.startsWith(`${holder}_`) && churns > 0) {
          churns--
          const current = Option.getOrThrow(yield* base.get(key))
          const taken = yield* base.update(current, { ...deadRecord({ holder: "other-run", transitions: (current.transitions ?? 0) + 1 }), renewTime: start })
          yield* base.update(taken, freeRecord(taken.transitions!))
        }
        return yield* base.update(record, spec, metadata)
      })
  }
}

/** An API server blip at the start: the create lands but its answer is lost, and the read-back
 * fails too; a second later everything answers again. */
const blipping = (base: LeaseStore.LeaseStoreService): LeaseStore.LeaseStoreService => {
  let blip = true
  return {
    ...base,
    create: (k, spec, metadata) =>
      blip
        ? base.create(k, spec, metadata).pipe(
          Effect.andThen(Effect.fail(new LeaseStore.LeaseStoreError({ operation: "create", key: k, reason: "Timeout", detail: "injected" })))
        )
        : base.create(k, spec, metadata),
    get: (k) =>
      Effect.suspend(() => {
        if (blip && Option.isSome(Effect.runSync(base.get(k)))) {
          blip = false
          return Effect.fail(new LeaseStore.LeaseStoreError({ operation: "get", key: k, reason: "Unavailable", detail: "injected" }))
        }
        return base.get(k)
      })
  }
}

describe("Acquisition", () => {
  it.effect(
    "(found) --wait: a lease that other runs take and release between our read and our write is waited for, not a 70 'internal error'",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const base = yield* releasedLease
        // high churn: three times, between this run's read and its compare-and-swap
        const store = churning(base, "runner", 3)
        const exit = yield* acquireWhileAdvancing(store, flags(), 10)
        assert.strictEqual(describeExit(exit), "acquired", "the core's Lease.acquire waits out lost races; run --wait must too")
      }).pipe(Effect.scoped)
  )

  it.effect("(control) the core's Lease.acquire under the same churn acquires", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const base = yield* releasedLease
      const options = yield* RunOptions.resolve(flags(), key.namespace)
      const store = churning(base, "runner", 3)
      const fiber = yield* Lease.acquire(options.lease).pipe(inProcess(store), Effect.forkChild)
      yield* advance(10)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
    }).pipe(Effect.scoped))

  it.effect(
    "(found) --wait: a first write that timed out (and may have landed) during an API blip is retried, not exit 69 with the lease left naming us",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const base = yield* LeaseStore.makeMemory()
        // an API server blip at the start
        const store = blipping(base)
        const exit = yield* acquireWhileAdvancing(store, flags(), 10)
        const left = Option.getOrThrow(yield* base.get(key))
        assert.strictEqual(
          describeExit(exit),
          "acquired",
          `--wait gave up on a transient error of its first write; the lease is left naming ${left.holder} (this run), so every other run waits out its duration`
        )
      }).pipe(Effect.scoped)
  )

  it.effect("(control) the flow before the change (Lease.inspect, then Lease.acquire) acquires through the same blip", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const base = yield* LeaseStore.makeMemory()
      const options = yield* RunOptions.resolve(flags(), key.namespace)
      const store = blipping(base)
      const fiber = yield* Lease.inspect(key).pipe(
        Effect.andThen(Lease.acquire(options.lease)),
        inProcess(store),
        Effect.forkChild
      )
      yield* advance(10)
      assert.isTrue(Exit.isSuccess(yield* Fiber.await(fiber)))
    }).pipe(Effect.scoped))

  it.effect(
    "(found) --try: a dead holder's record without leaseDurationSeconds is taken over once silent for the duration this run honours (--duration 60s)",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const store = yield* LeaseStore.makeMemory()
        // leaseDurationSeconds is optional in the Lease API; the core honours the contender's own --duration then
        const { durationSeconds: _omit, ...noDuration } = deadRecord()
        yield* store.create(key, noDuration)
        const exit = yield* acquireWhileAdvancing(store, flags({ try: true, duration: "60s" }), 120)
        assert.strictEqual(describeExit(exit), "acquired", "a fresh --try process can never take it over: every run observes 26 s, the core needs 60 s")
      }).pipe(Effect.scoped)
  )

  it.effect(
    "(found) --try: a label edit on a dead holder's record is not reported as 'the holder is alive'",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const store = yield* LeaseStore.makeMemory()
        const dead = yield* store.create(key, deadRecord())
        const fiber = yield* acquireIn(store, flags({ try: true })).pipe(Effect.forkChild)
        yield* advance(3)
        // `kubectl label lease nightly team=reports`: metadata only, holder and renewTime unchanged
        yield* store.update({ ...dead, metadata: { labels: { team: "reports" } } }, LeaseRecord.specOf(dead))
        yield* advance(60)
        const exit = yield* Fiber.await(fiber)
        // without the poller, the core's acquire takes it over 20 s after the edit, inside the 26 s window
        assert.strictEqual(describeExit(exit), "acquired")
      }).pipe(Effect.scoped)
  )

  it.effect(
    "--try answers from its one read: a lease released right after that read is answered held, naming the holder it read (never 'is free')",
    () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const base = yield* LeaseStore.makeMemory()
        const live = yield* base.create(key, deadRecord({ renewTime: start - 1000, acquireTime: start - 1000 }))
        // the live holder's command ends right after our first read: it releases (as every run does)
        let released = false
        const { calls, store } = counting({
          ...base,
          get: (k) => Effect.tap(base.get(k), () => released ? Effect.void : (released = true, base.update(live, freeRecord(3))))
        })
        const exit = yield* acquireWhileAdvancing(store, flags({ try: true }), 1)
        assert.match(describeExit(exit), /^exit 75: lease jobs\/nightly is held by "crashed-run_abcde" \(last renewed 1\.00s ago\)$/)
        assert.deepStrictEqual(calls, { get: 1, create: 0, update: 0, watch: 0 })
      }).pipe(Effect.scoped)
  )

  it.effect("(held) --try: a live holder that looked overdue (clock skew) is answered held within a renew interval, nothing written", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* LeaseStore.makeMemory()
      let record = yield* store.create(key, deadRecord())
      const fiber = yield* acquireIn(store, flags({ try: true })).pipe(Effect.forkChild)
      for (let i = 0; i < 30; i++) {
        yield* advance(1)
        // the holder renews every 6 s, with a clock an hour behind
        if (i % 6 === 5) record = yield* store.update(record, { ...LeaseRecord.specOf(record), renewTime: record.renewTime! + 6000 })
      }
      const exit = yield* Fiber.await(fiber)
      assert.match(describeExit(exit), /^exit 75: .*holder is alive/)
      assert.strictEqual(Option.getOrThrow(yield* store.get(key)).holder, "crashed-run_abcde")
    }).pipe(Effect.scoped))

  it.effect("(held) --try: two observers of one dead record: exactly one takes it, the other answers held", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* LeaseStore.makeMemory()
      yield* store.create(key, deadRecord())
      const fa = yield* acquireIn(store, flags({ try: true, holder: Option.some("a") })).pipe(Effect.forkChild)
      const fb = yield* acquireIn(store, flags({ try: true, holder: Option.some("b") })).pipe(Effect.forkChild)
      yield* advance(40)
      const outcomes = [describeExit(yield* Fiber.await(fa)), describeExit(yield* Fiber.await(fb))]
      assert.strictEqual(outcomes.filter((o) => o === "acquired").length, 1, outcomes.join(" | "))
    }).pipe(Effect.scoped))
})

describe("Acquisition: one contender, one read", () => {
  /** A live holder's record, renewed a second before `start`. */
  const liveRecord = deadRecord({ holder: "live-run_abcde", renewTime: start - 1000, acquireTime: start - 1000 })

  it.effect("--try on a held lease that is not overdue costs exactly one read and no write", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const base = yield* LeaseStore.makeMemory()
      yield* base.create(key, liveRecord)
      const { calls, store } = counting(base)
      const exit = yield* acquireWhileAdvancing(store, flags({ try: true }), 1)
      assert.strictEqual(describeExit(exit), "exit 75: lease jobs/nightly is held by \"live-run_abcde\" (last renewed 1.00s ago)")
      assert.deepStrictEqual(calls, { get: 1, create: 0, update: 0, watch: 0 })
    }).pipe(Effect.scoped))

  it.effect("a free lease costs one read and one write (--try and --wait alike)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      for (const f of [flags({ try: true }), flags()]) {
        const { calls, store } = counting(yield* releasedLease)
        const exit = yield* acquireWhileAdvancing(store, f, 1)
        assert.strictEqual(describeExit(exit), "acquired")
        assert.deepStrictEqual(calls, { get: 1, create: 0, update: 1, watch: 0 })
      }
    }).pipe(Effect.scoped))

  it.effect("--wait on a held lease: its line comes from the first read, the wait is the same contender's", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const base = yield* LeaseStore.makeMemory()
      const live = yield* base.create(key, liveRecord)
      const { calls, store } = counting(base)
      const fiber = yield* acquireIn(store, flags({ timeout: Option.some("1m") })).pipe(Effect.forkChild)
      yield* TestClock.adjust(0)
      // the first attempt's read, then the wait's own (it watches from then on)
      assert.deepStrictEqual(calls, { get: 2, create: 0, update: 0, watch: 1 })
      yield* base.update(live, freeRecord(3))
      yield* TestClock.adjust(0)
      assert.strictEqual(describeExit(yield* Fiber.await(fiber)), "acquired", "a release hands over through the watch")
      assert.deepStrictEqual(calls, { get: 2, create: 0, update: 1, watch: 1 })
    }).pipe(Effect.scoped))

  it.effect("--wait: a first read that gets no answer (API server unreachable) exits 69 at once, not waited out", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { calls, store } = counting({
        ...(yield* LeaseStore.makeMemory()),
        get: (k) => Effect.fail(new LeaseStore.LeaseStoreError({ operation: "get", key: k, reason: "Unavailable", detail: "connect ECONNREFUSED" }))
      })
      const fiber = yield* acquireIn(store, flags()).pipe(Effect.forkChild)
      yield* TestClock.adjust(0)
      assert.match(describeExit(yield* Fiber.await(fiber)), /^exit 69: /)
      assert.deepStrictEqual(calls, { get: 1, create: 0, update: 0, watch: 0 })
    }).pipe(Effect.scoped))

  it.effect("--try when every attempt loses its race: held at once, without reading the lease again", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const { calls, store } = counting(churning(yield* releasedLease, "runner", 10))
      const exit = yield* acquireWhileAdvancing(store, flags({ try: true }), 1)
      assert.match(describeExit(exit), /^exit 75: lease jobs\/nightly changes hands quickly \(lost the race to other contenders 3 times in a row\)$/)
      assert.strictEqual(calls.get, 3, "one read for each of the contender's three attempts")
    }).pipe(Effect.scoped))
})

describe("TenureWatch", () => {
  const held = (store: LeaseStore.LeaseStoreService) =>
    Effect.gen(function*() {
      const lease = yield* acquireIn(store, flags())
      const watch = yield* TenureWatch.takenOver(lease).pipe(inProcess(store), Effect.forkChild)
      yield* TestClock.adjust(0)
      return { lease, watch }
    })

  it.effect("(held) renewals, a label edit, a duration edit and a dropped transitions field (token 0) do not stop CMD", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* LeaseStore.makeMemory()
      const { lease, watch } = yield* held(store)
      assert.strictEqual(lease.token, 0)
      yield* advance(20) // three renewals
      let current = Option.getOrThrow(yield* store.get(key))
      current = yield* store.update({ ...current, metadata: { labels: { a: "b" } } }, LeaseRecord.specOf(current))
      current = yield* store.update(current, { ...LeaseRecord.specOf(current), durationSeconds: 99 })
      const { transitions: _t, ...noTransitions } = LeaseRecord.specOf(current)
      yield* store.update(current, noTransitions)
      yield* advance(20)
      assert.isUndefined(watch.pollUnsafe(), "the watch reported a loss")
      assert.isTrue(yield* lease.isHeld)
    }).pipe(Effect.scoped))

  it.effect("(held) a force release is reported as Released", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* LeaseStore.makeMemory()
      const { watch } = yield* held(store)
      const current = Option.getOrThrow(yield* store.get(key))
      yield* store.update(current, freeRecord(current.transitions!))
      yield* TestClock.adjust(0)
      const error = yield* Fiber.join(watch)
      assert.strictEqual(error.reason._tag, "Released")
    }).pipe(Effect.scoped))

  it.effect("(held) without watch permission the watch reports nothing and does not end", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(start)
      const store = yield* LeaseStore.makeMemory({ watch: false })
      const { watch } = yield* held(store)
      yield* advance(30)
      assert.isUndefined(watch.pollUnsafe())
    }).pipe(Effect.scoped))
})

describe("uniqueHolder", () => {
  it.effect("(found) a 123–128 character --holder is refused, but a 129-character one is told 'at most 128'", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(RunOptions.resolve(flags({ holder: Option.some("a".repeat(129)) }), key.namespace))
      assert.include(`${error.problem} ${error.fix}`, "122", `${error.problem} / fix: ${error.fix}`)
    }))
})

