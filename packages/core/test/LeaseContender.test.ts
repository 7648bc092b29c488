/**
 * The promises of `Lease.contender` (see `src/LeaseContender.ts`) and of the `Lease` service:
 * options resolved once, one tenure at a time, what `tryAcquire`, `current` and `release` answer
 * and cost, the events of its tenures, serialization, and which memory of observations is used.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Option, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import type { LeaseEvent } from "../src/LeaseContender.ts"
import { InvalidLeaseOptions, LeaseRelinquishmentError } from "../src/LeaseError.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { LeaseStore, makeMemory } from "../src/LeaseStore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, key, opts, settle, start, withStore } from "./Scene.ts"

/** The admin writes a record naming `holder` (who then never renews it). */
const heldBy = (holder: string, transitions = 3) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    return yield* probe.admin.create(key, { holder, durationSeconds: 20, acquireTime: start, renewTime: start, transitions })
  })

/** The admin overwrites the current record with another holder (a takeover that ignores us). */
const overwrite = (holder: string) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    const record = yield* read(key)
    return yield* probe.admin.update(record, { ...specOf(record), holder, transitions: (record.transitions ?? 0) + 1 })
  })

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() !== undefined

describe("LeaseContender", () => {
  it.effect("invalid options fail Lease.contender itself, before any store call", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const error = yield* Effect.flip(Lease.contender(opts("a", { duration: "1500 millis" })))
      assert.instanceOf(error, InvalidLeaseOptions)
      assert.strictEqual(error.field, "duration")
      const empty = yield* Effect.flip(Lease.contender({ ...key, holder: "" }))
      assert.strictEqual(empty.field, "holder")
      assert.strictEqual(yield* probe.calls(), 0)
    })))

  it.effect("options are resolved once: a drawn identity and the defaults serve every tenure", () =>
    withStore(Effect.gen(function*() {
      const c = yield* Lease.contender({ ...key, duration: "30 seconds" })
      assert.isAbove(c.holder.length, 0, "an identity was drawn")
      assert.strictEqual(c.options.holder, c.holder)
      assert.strictEqual(Duration.toMillis(c.options.renewInterval), 10_000)
      const first = yield* c.acquire()
      assert.strictEqual(first.holder, c.holder)
      assert.strictEqual((yield* read(key)).holder, c.holder)
      assert.strictEqual(first.options, c.options, "the tenure runs on the contender's resolved options")
      yield* c.release
      const second = yield* c.acquire()
      assert.strictEqual(second.holder, c.holder, "the same identity for the next tenure")
      assert.strictEqual((yield* read(key)).holder, c.holder)
      assert.strictEqual(second.token, 1)
    })))

  it.effect("tryAcquire on a held lease: HeldByOther with holder, expiresIn and the record; one get, no write", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const record = yield* heldBy("other")
      const c = yield* Lease.contender(opts("a"))
      yield* probe.resetCalls
      const answer = yield* c.tryAcquire
      assert.strictEqual(answer._tag, "HeldByOther")
      if (answer._tag !== "HeldByOther") return
      assert.strictEqual(answer.holder, "other")
      assert.strictEqual(Duration.toMillis(answer.expiresIn), 20_000, "just observed: a whole duration to go")
      assert.deepStrictEqual(answer.record, record)
      assert.strictEqual(yield* probe.calls("get"), 1)
      assert.strictEqual(yield* probe.calls(), 1, "no write, no watch")

      yield* TestClock.adjust("5 seconds")
      const later = yield* c.tryAcquire
      assert.strictEqual(later._tag === "HeldByOther" ? Duration.toMillis(later.expiresIn) : -1, 15_000,
        "judged from when the record was first seen")
      assert.strictEqual(yield* probe.calls(), 2)
      assert.deepStrictEqual(yield* read(key), record, "nothing written")
      assert.isTrue(Option.isNone(yield* c.current))
    })))

  it.effect("tryAcquire while holding answers the same tenure, renewed with one update", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const c = yield* Lease.contender(opts("a"))
      const first = yield* c.tryAcquire
      assert.strictEqual(first._tag, "Acquired")
      if (first._tag !== "Acquired") return
      yield* TestClock.adjust("2 seconds")
      yield* probe.resetCalls
      const again = yield* c.tryAcquire
      assert.strictEqual(again._tag, "Acquired")
      if (again._tag !== "Acquired") return
      assert.strictEqual(again.lease, first.lease, "the tenure in progress")
      assert.strictEqual(again.lease.token, 0)
      assert.strictEqual(yield* probe.calls("update"), 1, "renewed")
      assert.strictEqual(yield* probe.calls(), 1, "and nothing else")
      const record = yield* read(key)
      assert.strictEqual(record.renewTime, start + 2_000)
      assert.strictEqual(record.transitions, 0, "not a new tenure")
    })))

  it.effect("acquire while holding answers the same tenure, renewed with one update", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const c = yield* Lease.contender(opts("a"))
      const first = yield* c.acquire()
      yield* TestClock.adjust("3 seconds")
      yield* probe.resetCalls
      const again = yield* c.acquire()
      assert.strictEqual(again, first)
      assert.strictEqual(again.token, 0)
      assert.strictEqual(yield* probe.calls("update"), 1)
      assert.strictEqual(yield* probe.calls(), 1)
      assert.strictEqual((yield* read(key)).renewTime, start + 3_000)
      assert.strictEqual((yield* read(key)).transitions, 0)
    })))

  it.effect("after a loss, acquire waits for the new holder's lease to expire and starts a tenure with a greater token", () =>
    withStore(Effect.gen(function*() {
      const c = yield* Lease.contender(opts("a"))
      const first = yield* c.acquire()
      assert.strictEqual(first.token, 0)
      yield* overwrite("usurper")
      yield* advance(7) // the renewal at 6.67 s finds the usurper
      const loss = yield* Effect.flip(first.lost)
      assert.deepStrictEqual(loss.reason, { _tag: "Taken", by: "usurper" })

      const next = yield* c.acquire().pipe(Effect.forkChild)
      yield* advance(19)
      assert.isFalse(isDone(next), "the usurper's record is first seen at 7 s; it expires at 27 s")
      yield* advance(1)
      const second = yield* Fiber.join(next)
      assert.strictEqual(second.token, 2, "greater than the usurper's 1")
      assert.notStrictEqual(second, first)
      assert.isTrue(yield* second.isHeld)
      assert.strictEqual((yield* read(key)).holder, "a")
    })))

  it.effect("current: None before, Some while held, the lost tenure after a loss until the next acquire, None after release", () =>
    withStore(Effect.gen(function*() {
      const c = yield* Lease.contender(opts("a"))
      assert.isTrue(Option.isNone(yield* c.current), "before any acquire")
      const first = yield* c.acquire()
      assert.strictEqual(Option.getOrUndefined(yield* c.current), first, "while held")

      yield* overwrite("usurper")
      yield* advance(7)
      const lost = Option.getOrUndefined(yield* c.current)
      assert.strictEqual(lost, first, "the lost tenure stays current")
      assert.isFalse(yield* first.isHeld)

      const next = yield* c.acquire().pipe(Effect.forkChild)
      yield* advance(20)
      const second = yield* Fiber.join(next)
      assert.strictEqual(Option.getOrUndefined(yield* c.current), second, "the next tenure replaces it")

      yield* c.release
      assert.isTrue(Option.isNone(yield* c.current), "after release")
    })))

  it.effect("release without a tenure: another holder fails HeldByOther; absent, free or ours does nothing and writes nothing", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const c = yield* Lease.contender(opts("a"))

      yield* c.release
      assert.strictEqual(yield* probe.calls("get"), 1)
      assert.strictEqual(yield* probe.calls(), 1, "absent: one read")
      assert.isTrue(Option.isNone(yield* probe.admin.get(key)), "nothing created")

      const free = yield* probe.admin.create(key, { holder: "", durationSeconds: 20, transitions: 4 })
      yield* probe.resetCalls
      yield* c.release
      assert.strictEqual(yield* probe.calls(), 1, "free: one read")
      assert.deepStrictEqual(yield* read(key), free)

      const other = yield* probe.admin.update(free, { ...specOf(free), holder: "other", renewTime: start })
      yield* probe.resetCalls
      const error = yield* Effect.flip(c.release)
      assert.instanceOf(error, LeaseRelinquishmentError)
      assert.deepStrictEqual(error.reason, { _tag: "HeldByOther", holder: "other" })
      assert.strictEqual(yield* probe.calls(), 1, "one read")
      assert.deepStrictEqual(yield* read(key), other, "left to its holder")

      // A record naming this identity that no tenure of this contender holds (a previous process).
      const ours = yield* probe.admin.update(other, { ...specOf(other), holder: "a" })
      yield* probe.resetCalls
      yield* c.release
      assert.strictEqual(yield* probe.calls(), 1)
      assert.deepStrictEqual(yield* read(key), ours)
    })))

  it.effect("release with a tenure clears the holder and ends the tenure", () =>
    withStore(Effect.gen(function*() {
      const c = yield* Lease.contender(opts("a"))
      const lease = yield* c.acquire()
      yield* c.release
      const record = yield* read(key)
      assert.strictEqual(record.holder, "")
      assert.strictEqual(record.transitions, 0, "the counter is kept")
      assert.isFalse(yield* lease.isHeld)
      assert.isTrue(Option.isNone(yield* c.current))
    })))

  it.effect("closing the contender's scope releases its tenure", () =>
    withStore(Effect.gen(function*() {
      const lease = yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* Lease.contender(opts("a"))
        const lease = yield* c.acquire()
        assert.strictEqual((yield* read(key)).holder, "a")
        return lease
      }))
      assert.strictEqual((yield* read(key)).holder, "")
      assert.isFalse(yield* lease.isHeld)
    })))

  it.effect("events: Acquired, Renewed, RenewalFailing, Lost with its reason, Released, in order; the stream ends with the contender's scope", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const scope = yield* Scope.make()
      const c = yield* Scope.provide(scope)(Lease.contender(opts("a")))
      const collected = yield* Stream.runCollect(c.events).pipe(Effect.forkChild)
      yield* settle

      yield* c.acquire()
      yield* advance(7) // renewed at 6.67 s
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { reason: "Unavailable" } : undefined)
      yield* advance(14) // renewals fail from 13.33 s; lost at the deadline, 20 s
      yield* probe.setFaults(undefined)
      const second = yield* c.acquire()
      yield* c.release
      yield* settle
      assert.isFalse(isDone(collected), "the stream lasts as long as the contender")

      yield* Scope.close(scope, Exit.void)
      yield* settle
      assert.isTrue(isDone(collected), "the stream ended when the contender's scope closed")
      const events: ReadonlyArray<LeaseEvent> = yield* Fiber.join(collected)
      const tags = events.map((e) => `${e._tag}:${e.token}`).filter((t, i, all) => t !== all[i - 1])
      assert.deepStrictEqual(tags, [
        "Acquired:0",
        "Renewed:0",
        "RenewalFailing:0",
        "Lost:0",
        // The next acquire disposes of the lost tenure, whose finalizer clears the record it
        // left behind (it lost to its deadline, so the record still names "a").
        "Released:0",
        `Acquired:${second.token}`,
        `Released:${second.token}`
      ])
      assert.strictEqual(second.token, 1)
      const lost = events.find((e) => e._tag === "Lost")
      assert.strictEqual(lost?._tag === "Lost" ? lost.error.reason._tag : undefined, "DeadlineExceeded")
      const failing = events.find((e) => e._tag === "RenewalFailing")
      assert.strictEqual(failing?._tag === "RenewalFailing" ? failing.error.reason : undefined, "Unavailable")
    })))

  it.effect("calls are serialized: a release made while acquire waits runs after the wait ends", () =>
    withStore(Effect.gen(function*() {
      yield* heldBy("other")
      const c = yield* Lease.contender(opts("a"))
      const acquiring = yield* c.acquire().pipe(Effect.forkChild)
      yield* settle
      const releasing = yield* c.release.pipe(Effect.exit, Effect.forkChild)
      const trying = yield* c.tryAcquire.pipe(Effect.forkChild)
      yield* settle
      assert.isFalse(isDone(releasing), "the release waits for the acquire")
      assert.isFalse(isDone(trying), "so does tryAcquire")

      yield* advance(20)
      const lease = yield* Fiber.join(acquiring)
      const released = yield* Fiber.join(releasing)
      assert.isTrue(Exit.isSuccess(released), "released the tenure the acquire got, not HeldByOther")
      assert.isFalse(yield* lease.isHeld)
      const tried = yield* Fiber.join(trying)
      assert.strictEqual(tried._tag, "Acquired", "tryAcquire ran after the release")
      assert.strictEqual(tried._tag === "Acquired" ? tried.lease.token : -1, 5)
    })))
})

describe("Lease service", () => {
  it.effect("two services over one store have separate memories", () =>
    withStore(Effect.gen(function*() {
      yield* heldBy("dead")
      const first = yield* Lease.make
      assert.strictEqual(Duration.toMillis((yield* first.inspect(key)).expiresIn), 20_000)
      yield* TestClock.adjust("20 seconds")
      assert.isTrue(Duration.isZero((yield* first.inspect(key)).expiresIn), "expired for the service that watched it")

      const fresh = yield* Lease.make
      assert.strictEqual(Duration.toMillis((yield* fresh.inspect(key)).expiresIn), 20_000, "just seen by a fresh one")
      const freshAnswer = yield* Effect.flatMap(fresh.contender(opts("b")), (c) => c.tryAcquire)
      assert.strictEqual(freshAnswer._tag, "HeldByOther")
      const firstAnswer = yield* Effect.flatMap(first.contender(opts("b")), (c) => c.tryAcquire)
      assert.strictEqual(firstAnswer._tag, "Acquired")
    })))

  it.effect("Lease.tryAcquire uses the provided service for the store in context: observation accumulates across calls", () =>
    withStore(Effect.gen(function*() {
      yield* heldBy("dead")
      assert.isTrue(Option.isNone(yield* Effect.scoped(Lease.tryAcquire(opts("b")))))
      yield* TestClock.adjust("19999 millis")
      assert.isTrue(Option.isNone(yield* Effect.scoped(Lease.tryAcquire(opts("b")))))
      yield* TestClock.adjust("1 millis")
      const got = yield* Lease.tryAcquire(opts("b"))
      assert.isTrue(Option.isSome(got), "20 s after the provided service first saw it")
      assert.strictEqual((yield* read(key)).holder, "b")
    })))

  it.effect("Lease.tryAcquire on a store other than the provided service's uses that store's own service, kept across calls", () =>
    withStore(Effect.gen(function*() {
      const other = yield* makeMemory()
      yield* other.create(key, { holder: "dead", durationSeconds: 20, renewTime: start })
      const onOther = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.provideService(self, LeaseStore, other)

      assert.isTrue(Option.isNone(yield* Effect.scoped(onOther(Lease.tryAcquire(opts("b"))))), "judged on the other store")
      assert.isTrue(Option.isNone(yield* (yield* Probe).admin.get(key)), "the provided service's store is untouched")
      yield* TestClock.adjust("19999 millis")
      assert.isTrue(Option.isNone(yield* Effect.scoped(onOther(Lease.tryAcquire(opts("b"))))), "not before 20 s")
      yield* TestClock.adjust("1 millis")
      assert.isTrue(
        Option.isSome(yield* Effect.scoped(onOther(Lease.tryAcquire(opts("b"))))),
        "the other store's service remembers what it saw: taken over 20 s after it first saw the record"
      )
      assert.isTrue(Option.isNone(yield* (yield* Probe).admin.get(key)), "the provided service's store is still untouched")
    })))

  it.effect("Lease.layer makes a service over the store in context", () =>
    Effect.gen(function*() {
      const service = yield* Lease.Lease
      const store = yield* LeaseStore
      assert.strictEqual(service.store, store)
    }).pipe(Effect.provide(Layer.provideMerge(Lease.layer, Layer.effect(LeaseStore, makeMemory())))))
})
