import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "../src/LeaseError.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { Probe, read } from "./FaultyStore.ts"

import { advance, contend, elapsed, key, opts, settle, start, withStore } from "./Scene.ts"

describe("Lease", () => {
  it.effect("acquiring an absent lease creates it with the fields client-go writes", () =>
    withStore(Effect.gen(function*() {
      const lease = yield* Lease.acquire(opts("a"))
      const record = yield* read(key)
      assert.strictEqual(record.holder, "a")
      assert.strictEqual(record.durationSeconds, 20)
      assert.strictEqual(record.acquireTime, start)
      assert.strictEqual(record.renewTime, start)
      assert.strictEqual(record.transitions, 0)
      assert.strictEqual(lease.token, 0)
      assert.isTrue(yield* lease.isHeld)
    })))

  it.effect("a second contender: tryAcquire returns none, acquire with a timeout fails naming the holder", () =>
    withStore(Effect.gen(function*() {
      yield* Lease.acquire(opts("a"))
      assert.isTrue(Option.isNone(yield* Lease.tryAcquire(opts("b"))))

      const waiting = yield* Lease.acquire(opts("b", { timeout: "5 seconds" })).pipe(Effect.flip, Effect.forkChild)
      yield* advance(5)
      const error = yield* Fiber.join(waiting)
      assert.instanceOf(error, LeaseAcquisitionError)
      assert.deepStrictEqual(error.reason._tag, "Timeout")
      assert.strictEqual(error.reason._tag === "Timeout" ? error.reason.holder : undefined, "a")
      assert.include(error.message, "\"a\"")
    })))

  it.effect("a waiting acquire gets the lease as soon as the holder releases, with no poll delay", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      const b = yield* contend("b")
      yield* settle
      yield* a.release
      const got = yield* Deferred.await(b.acquired)
      assert.strictEqual(got.at, 0, "acquired at the same virtual instant as the release")
      assert.strictEqual(got.token, 1)
      assert.strictEqual((yield* read(key)).holder, "b")
    })))

  it.effect("a waiting acquire gets a dead holder's lease after durationSeconds of unchanged record", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "dead", durationSeconds: 20, renewTime: start, transitions: 3 })
      const b = yield* contend("b")
      yield* advance(19)
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* advance(1)
      const got = yield* Deferred.await(b.acquired)
      assert.strictEqual(got.at, 20_000)
      assert.strictEqual(got.token, 4)
    })))

  it.effect("expiry is judged from this contender's observation, not the record's renewTime", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const anHourAgo = start - 3_600_000
      yield* probe.admin.create(key, { holder: "old", durationSeconds: 20, acquireTime: anHourAgo, renewTime: anHourAgo })
      assert.isTrue(Option.isNone(yield* Lease.tryAcquire(opts("b"))), "just observed: not expired")
      const seen = yield* Lease.inspect(key)
      assert.strictEqual(Duration.toMillis(seen.expiresIn), 20_000)
      yield* TestClock.adjust("19999 millis")
      assert.isTrue(Option.isNone(yield* Lease.tryAcquire(opts("b"))), "observed unchanged for 19.999 s")
      yield* TestClock.adjust("1 millis")
      assert.isTrue(Option.isSome(yield* Lease.tryAcquire(opts("b"))), "observed unchanged for 20 s")
    })))

  it.effect("maxClockSkew opts into expiry by renewTime for fast takeover after restarts", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const anHourAgo = start - 3_600_000
      yield* probe.admin.create(key, { holder: "old", durationSeconds: 20, renewTime: anHourAgo })
      assert.isTrue(Option.isSome(yield* Lease.tryAcquire(opts("b", { maxClockSkew: "5 seconds" }))))
    })))

  it.effect("renewal happens every renewInterval and costs exactly one store call", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a", { duration: "30 seconds" }))
      yield* probe.resetCalls
      yield* advance(9)
      assert.strictEqual(yield* probe.calls(), 0, "nothing before the first interval")
      yield* advance(1)
      assert.strictEqual(yield* probe.calls("update"), 1)
      assert.strictEqual((yield* read(key)).renewTime, start + 10_000)
      yield* advance(20)
      assert.strictEqual(yield* probe.calls("update"), 3)
      assert.strictEqual(yield* probe.calls(), 3, "no reads on the fast path")
      assert.isTrue(yield* lease.isHeld)
    })))

  it.effect("when every renewal fails, loss and interruption both happen before a contender could take over", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const events = yield* Ref.make<Array<[string, number]>>([])
      const mark = (event: string) => Effect.flatMap(elapsed, (t) => Ref.update(events, (e): Array<[string, number]> => [...e, [event, t]]))

      const lease = yield* Lease.acquire(opts("a"))
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { reason: "Unavailable" } : undefined)
      yield* lease.guard(Effect.never.pipe(Effect.onInterrupt(() => mark("interrupted")))).pipe(Effect.forkChild)
      yield* lease.lost.pipe(Effect.catch(() => mark("lost")), Effect.forkChild)
      const b = yield* contend("b")
      yield* advance(25)

      const error = yield* Effect.flip(lease.lost)
      assert.instanceOf(error, LeaseLostError)
      assert.strictEqual(error.reason._tag, "DeadlineExceeded")
      const takeover = (yield* Deferred.await(b.acquired)).at
      const log = new Map(yield* Ref.get(events))
      const renewDeadline = 13_333
      assert.strictEqual(log.get("lost"), renewDeadline, "lost exactly at lastSuccessfulSend + renewDeadline")
      assert.isAtMost(log.get("interrupted")!, renewDeadline)
      assert.strictEqual(takeover, 20_000)
      assert.isBelow(log.get("lost")!, takeover)
      assert.isFalse(yield* lease.isHeld)
    })))

  it.effect("remaining counts down to the loss deadline, is moved by a renewal, and is zero once lost or released", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a"))
      assert.strictEqual(Duration.toMillis(yield* lease.remaining), 13_333, "renewDeadline after the acquiring write")
      yield* advance(5)
      assert.strictEqual(Duration.toMillis(yield* lease.remaining), 8_333)
      yield* advance(2) // renewed at 6.667 s
      assert.closeTo(Duration.toMillis(yield* lease.remaining), 13_333 - (7_000 - 6_667), 1)
      yield* probe.setFaults((op) => op === "update" ? { reason: "Unavailable" } : undefined)
      yield* advance(13)
      assert.isBelow(Duration.toMillis(yield* lease.remaining), 1_000, "renewals failing: the deadline does not move")
      yield* advance(1)
      assert.strictEqual(Duration.toMillis(yield* lease.remaining), 0, "lost")
      yield* probe.setFaults(undefined)
      const other = yield* Lease.acquire(opts("b", { name: "other" }))
      yield* other.release
      assert.strictEqual(Duration.toMillis(yield* other.remaining), 0, "released")
    })))

  it.effect("a write by someone else naming another holder is a loss: Taken", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a"))
      yield* probe.admin.update(yield* read(key), { ...specOf(yield* read(key)), holder: "intruder" })
      yield* advance(7)
      const error = yield* Effect.flip(lease.lost)
      assert.deepStrictEqual(error.reason, { _tag: "Taken", by: "intruder" })
      assert.include(error.message, "intruder")
    })))

  it.effect("a deleted record is a loss: Deleted", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a"))
      yield* probe.admin.remove(yield* read(key))
      yield* advance(7)
      assert.strictEqual((yield* Effect.flip(lease.lost)).reason._tag, "Deleted")
    })))

  it.effect("a write that leaves us the holder (a label added) is adopted, not a loss", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a"))
      const record = yield* read(key)
      yield* probe.admin.update({ ...record, metadata: { labels: { team: "reports" } } }, specOf(record))
      yield* advance(7)
      assert.isTrue(yield* lease.isHeld)
      const after = yield* read(key)
      assert.strictEqual(after.holder, "a")
      assert.strictEqual(after.renewTime, start + 6_666, "renewed after adopting the new version")
      assert.deepStrictEqual(after.metadata.labels, { team: "reports" })
      yield* advance(30)
      assert.isTrue(yield* lease.isHeld)
    })))

  it.effect("an ambiguous renewal (applied, reported as a timeout) is resolved by reading back", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const lease = yield* Lease.acquire(opts("a"))
      let faults = 1
      yield* probe.setFaults((op) => op === "update" && faults-- > 0 ? { reason: "Timeout", applied: true } : undefined)
      yield* advance(12)
      assert.isTrue(yield* lease.isHeld)
      assert.strictEqual((yield* read(key)).holder, "a")
      yield* advance(40)
      assert.isTrue(yield* lease.isHeld)
    })))

  it.effect("an ambiguous create (applied, reported as a timeout) is resolved by reading back", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.setFaults((op) => op === "create" ? { reason: "Timeout", applied: true } : undefined)
      const lease = yield* Lease.tryAcquire(opts("a"))
      assert.isTrue(Option.isSome(lease))
      assert.strictEqual((yield* read(key)).holder, "a")
    })))

  it.effect("release clears the holder and keeps transitions; the next token is strictly greater", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      yield* a.release
      const released = yield* read(key)
      assert.strictEqual(released.holder, "")
      assert.strictEqual(released.durationSeconds, 1)
      assert.strictEqual(released.transitions, 0)
      const b = yield* Lease.acquire(opts("b"))
      assert.isAbove(b.token, a.token)
      yield* b.release
      const c = yield* Lease.acquire(opts("c"))
      assert.isAbove(c.token, b.token)
    })))

  it.effect("releasing a lease someone else now holds fails with LeaseRelinquishmentError", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a"))
      yield* probe.admin.update(yield* read(key), { ...specOf(yield* read(key)), holder: "intruder" })
      const error = yield* Effect.flip(a.release)
      assert.instanceOf(error, LeaseRelinquishmentError)
      assert.deepStrictEqual(error.reason, { _tag: "HeldByOther", holder: "intruder" })
      assert.strictEqual((yield* read(key)).holder, "intruder")
      assert.deepStrictEqual((yield* Effect.flip(a.lost)).reason, { _tag: "Taken", by: "intruder" }, "the loss is signalled")
    })))

  it.effect("renewing after release does nothing and signals no loss", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a"))
      yield* a.release
      yield* probe.resetCalls
      yield* a.renew
      assert.strictEqual(yield* probe.calls(), 0)
      const lost = yield* Effect.forkChild(a.lost)
      yield* settle
      assert.isUndefined(lost.pollUnsafe(), "lost has not fired")
    })))

  it.effect("releasing an expired lease succeeds", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a"))
      yield* probe.setFaults((op) => op === "update" ? { reason: "Unavailable" } : undefined)
      yield* advance(25)
      assert.isFalse(yield* a.isHeld)
      yield* probe.setFaults(undefined)
      yield* a.release
      assert.strictEqual((yield* read(key)).holder, "")
    })))

  it.effect("release mode delete removes the object", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a", { releaseMode: "delete" }))
      yield* a.release
      assert.isTrue(Option.isNone(yield* probe.admin.get(key)))
    })))

  describe("withLease releases", () => {
    it.effect("on success", () =>
      withStore(Effect.gen(function*() {
        const result = yield* Lease.withLease(opts("a"))((lease) => Effect.succeed(lease.token))
        assert.strictEqual(result, 0)
        assert.strictEqual((yield* read(key)).holder, "")
      })))

    it.effect("on failure", () =>
      withStore(Effect.gen(function*() {
        const exit = yield* Effect.exit(Lease.withLease(opts("a"))(Effect.fail("boom")))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual((yield* read(key)).holder, "")
      })))

    it.effect("on interruption", () =>
      withStore(Effect.gen(function*() {
        const fiber = yield* Lease.withLease(opts("a"))(Effect.never).pipe(Effect.forkChild)
        yield* settle
        assert.strictEqual((yield* read(key)).holder, "a")
        yield* Fiber.interrupt(fiber)
        assert.strictEqual((yield* read(key)).holder, "")
      })))

    it.effect("and interrupts the guarded work when the lease is lost", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const fiber = yield* Lease.withLease(opts("a"))(Effect.never).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        yield* probe.admin.remove(yield* read(key))
        yield* advance(7)
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, LeaseLostError)
      })))
  })

  it.effect("a waiting acquire retries a refusal after the store has answered it (an API server restarting)", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a"))
      const b = yield* contend("b")
      yield* settle
      let refusals = 2
      yield* probe.setFaults((op) => op === "get" && refusals-- > 0 ? { reason: "Forbidden" } : undefined)
      yield* advance(20)
      yield* a.release
      yield* advance(4)
      assert.isTrue(yield* Deferred.isDone(b.acquired))
      assert.strictEqual((yield* read(key)).holder, "b")
    }), { watch: false }))

  it.effect("a waiting acquire whose very first request is refused fails at once", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.setFaults((op) => op === "get" ? { reason: "Forbidden" } : undefined)
      const error = yield* Effect.flip(Lease.acquire(opts("b")))
      assert.strictEqual(error._tag, "LeaseAcquisitionError")
      assert.strictEqual(error._tag === "LeaseAcquisitionError" ? error.reason._tag : undefined, "Store")
    })))

  it.effect("waits by polling every retryPeriod when the store cannot watch", () =>
    withStore(
      Effect.gen(function*() {
        const probe = yield* Probe
        const a = yield* Lease.acquire(opts("a"))
        yield* probe.resetCalls
        const b = yield* contend("b")
        yield* advance(1)
        yield* a.release
        yield* settle
        assert.isFalse(yield* Deferred.isDone(b.acquired), "no watch: the release is not seen at once")
        yield* advance(1)
        assert.strictEqual((yield* Deferred.await(b.acquired)).at, 2_000, "seen at the next poll, retryPeriod later")
        assert.isAtMost(yield* probe.calls("get"), 3)
      }),
      { watch: false }
    ))

  // maxHonouredDuration may no longer be set below an hour (a holder may declare up to an hour),
  // so the cap is exercised at its default: the squatter's 1e9 seconds count as one hour.
  it.effect("a hostile huge leaseDurationSeconds is capped at maxHonouredDuration", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "squatter", durationSeconds: 1e9 })
      const b = yield* contend("b", { maxHonouredDuration: "90 minutes" })
      yield* Effect.repeat(TestClock.adjust("1 minute"), { times: 88 }) // 89 minutes
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Deferred.await(b.acquired)).at, 90 * 60_000)
    })))

  it.effect("a transitions counter at the int32 maximum wraps to 0 instead of pinning the lease", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "", durationSeconds: 1, transitions: 2_147_483_647 })
      const lease = yield* Lease.acquire(opts("b"))
      assert.strictEqual(lease.token, 0)
    })))

  it.effect("a hand-written holder identity is quoted escaped in messages, on one line", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "evil\nlevel=INFO message=forged", durationSeconds: 20 })
      const error = yield* Effect.flip(Lease.acquire(opts("b", { timeout: "1 second" })).pipe(Effect.forkChild, Effect.tap(() => advance(1)), Effect.flatMap(Fiber.join)))
      assert.notMatch(error.message, /\n/)
      assert.include(error.message, "evil\\nlevel")
    })))

  it.effect("a contender's tryAcquire on a held lease answers from its one read: holder, expiry, honoured duration, record", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "squatter", durationSeconds: 1e9, renewTime: start, transitions: 4 })
      const b = yield* Lease.contender(opts("b"))
      const answer = yield* b.tryAcquire
      assert.strictEqual(answer._tag, "HeldByOther")
      if (answer._tag !== "HeldByOther") return
      assert.strictEqual(answer.holder, "squatter")
      assert.strictEqual(answer.record.transitions, 4)
      assert.strictEqual(answer.record.renewTime, start)
      // 1e9 seconds are capped at maxHonouredDuration (an hour); a fresh contender saw it just now
      assert.strictEqual(Duration.toMillis(answer.honouredDuration), 3_600_000)
      assert.strictEqual(Duration.toMillis(answer.expiresIn), 3_600_000)
      const { durationSeconds: _omit, ...undeclared } = specOf(yield* read(key))
      yield* probe.admin.update(yield* read(key), undeclared)
      const again = yield* b.tryAcquire
      // a record that declares no duration is honoured for the contender's own (20 s)
      assert.strictEqual(again._tag === "HeldByOther" ? Duration.toMillis(again.honouredDuration) : -1, 20_000)
    })))

  it.effect("a hostile zero or missing leaseDurationSeconds is replaced by the contender's own", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "squatter", durationSeconds: 0 })
      const b = yield* contend("b")
      yield* advance(19)
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* advance(1)
      assert.strictEqual((yield* Deferred.await(b.acquired)).at, 20_000)
    })))
})
