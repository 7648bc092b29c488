/**
 * Regression tests for "The guarantee, closed": one interleaving per hole an independent review
 * found in exclusion and loss detection. Each failed on the code before its fix; each is driven
 * by the virtual clock and the fault-injecting memory store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Option } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseAcquisitionError, LeaseLostError } from "../src/LeaseError.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, contend, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"

describe("the guarantee", () => {
  describe("1. guard never runs work on a lease that is already lost", () => {
    it.effect("a synchronous effect guarded after the loss does not run", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* probe.admin.update(yield* read(key), { ...specOf(yield* read(key)), holder: "intruder" })
        yield* advance(7)
        assert.isTrue(Option.isSome(yield* Effect.option(Effect.flip(lease.lost))), "the renewal found the takeover")
        let ran = false
        const error = yield* Effect.flip(lease.guard(Effect.sync(() => (ran = true))))
        assert.isFalse(ran, "the guarded step ran after the loss")
        assert.instanceOf(error, LeaseLostError)
        assert.deepStrictEqual(error.reason, { _tag: "Taken", by: "intruder" })
      })))

    it.effect("the first synchronous step of guarded work does not run after the deadline", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { reason: "Unavailable" } : undefined)
        yield* advance(14)
        let sent = false
        const error = yield* Effect.flip(lease.guard(Effect.sync(() => (sent = true)).pipe(Effect.andThen(Effect.never))))
        assert.isFalse(sent, "the request was sent on a lease past its deadline")
        assert.strictEqual(error.reason._tag, "DeadlineExceeded")
      })))
  })

  it.effect("a loss found by a renewal over a store that answers later stops the guarded work", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const timeline = yield* makeTimeline
      const lease = yield* Lease.acquire(opts("a"))
      yield* lease.guard(Effect.never).pipe(Effect.catch(() => timeline.mark("work stopped")), Effect.forkChild)
      yield* probe.admin.update(yield* read(key), { ...specOf(yield* read(key)), holder: "intruder" })
      // Every call answers 5 ms later, as over a network.
      yield* probe.setFaults(() => ({ delay: "5 millis" }))
      yield* advance(8)
      assert.strictEqual((yield* Effect.flip(lease.lost)).reason._tag, "Taken")
      assert.isDefined(yield* timeline.at("work stopped"), "lost fired but the guarded work ran on")
    })))

  describe("2. release stops guarded work first, and loss detection stays armed until it lands", () => {
    it.effect("(a) a release that cannot reach the store stops the work at once and still declares the loss at the deadline", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.guard(Effect.never).pipe(
          Effect.catch((e) => timeline.mark(`work stopped: ${e._tag === "LeaseLostError" ? e.reason._tag : "?"}`)),
          Effect.forkChild
        )
        yield* lease.lost.pipe(Effect.catch((e) => timeline.mark(`lost: ${e.reason._tag}`)), Effect.forkChild)
        yield* advance(1)
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder !== "b" ? { reason: "Unavailable" } : undefined)
        const release = yield* lease.release.pipe(Effect.flip, Effect.forkChild)
        const b = yield* contend("b")
        yield* advance(40)
        assert.strictEqual(yield* timeline.at("work stopped: Relinquished"), 1_000, "work stopped when the release began")
        assert.strictEqual(yield* timeline.at("lost: DeadlineExceeded"), 13_333, "loss declared at the deadline")
        assert.strictEqual((yield* Fiber.join(release))._tag, "LeaseRelinquishmentError")
        const takeover = (yield* Deferred.await(b.acquired)).at
        assert.isAbove(takeover, 13_333)
        yield* probe.setFaults(undefined)
      })))

    it.effect("(b) a waiter gets a released lease only after the old holder's guarded work has stopped", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        // Work that needs a second of virtual time to wind down once told to stop.
        const work = Effect.never.pipe(
          Effect.onInterrupt(() => Effect.sleep("1 second").pipe(Effect.andThen(timeline.mark("work stopped"))))
        )
        yield* lease.guard(work).pipe(Effect.ignore, Effect.forkChild)
        const b = yield* contend("b")
        yield* settle
        yield* lease.release.pipe(Effect.forkChild)
        yield* advance(3)
        const stopped = yield* timeline.at("work stopped")
        assert.strictEqual(stopped, 1_000, "the release interrupted the guarded work")
        const takeover = (yield* Deferred.await(b.acquired)).at
        assert.isAtLeast(takeover, stopped!, "the waiter took over while the old holder's work still ran")
      })))
  })

  describe("3. acquire never hands out a lease whose deadline has passed", () => {
    it.effect("an ambiguous create resolved by a slow read-back after the deadline is taken again before it is returned", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        // renewDeadline 8 s; the create lands but its answer is lost (6 s), the read-back answers
        // after 5.9 s: the acquisition is confirmed at 11.9 s, past the deadline of its write.
        const timing = { renewInterval: "2 seconds", renewDeadline: "8 seconds", requestTimeout: "6 seconds" } as const
        let creates = 0
        let gets = 0
        yield* probe.setFaults((op) =>
          op === "create" && creates++ === 0
            ? { reason: "Timeout", applied: true, delay: "6 seconds" }
            : op === "get" && gets++ === 1 // the read-back (the first read found nothing)
            ? { delay: "5900 millis" }
            : undefined
        )
        const acquiring = yield* Lease.acquire(opts("a", timing)).pipe(
          Effect.flatMap((lease) => Effect.map(lease.isHeld, (held) => ({ lease, held }))),
          Effect.forkChild
        )
        yield* advance(20)
        const { held, lease } = yield* Fiber.join(acquiring)
        assert.isTrue(held, "acquire returned a lease whose renew deadline had passed")
        assert.strictEqual(lease.token, 1, "taken again as a new tenure")
      })))
  })

  describe("4. a failed acquire never leaves a lease held", () => {
    it.effect("an acquire whose timeout fires while its write is in flight releases what the write took", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const a = yield* Lease.acquire(opts("a"))
        // b's taking write lands at once but answers only after 2 s: across b's timeout at 5 s.
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "b" ? { delay: "2 seconds" } : undefined)
        const waiting = yield* Lease.acquire(opts("b", { timeout: "5 seconds" })).pipe(Effect.flip, Effect.forkChild)
        yield* advance(4)
        yield* a.release
        yield* advance(2)
        const error = yield* Fiber.join(waiting)
        assert.instanceOf(error, LeaseAcquisitionError)
        assert.strictEqual(error.reason._tag, "Timeout")
        yield* probe.setFaults(undefined)
        yield* advance(30)
        const record = yield* read(key)
        assert.notStrictEqual(record.holder, "b", "the lease stayed held by an acquire that failed")
      })))
  })

  describe("6. a release whose answer was lost is not a loss", () => {
    it.effect("the clearing write lands, its answer times out, a waiter takes over: release succeeds and lost never fires", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.lost.pipe(Effect.catch(() => timeline.mark("lost")), Effect.forkChild)
        const b = yield* contend("b")
        yield* settle
        let clears = 0
        yield* probe.setFaults((op, spec) =>
          op === "update" && spec?.holder === "" && clears++ === 0 ? { reason: "Timeout", applied: true } : undefined
        )
        const release = yield* lease.release.pipe(Effect.result, Effect.forkChild)
        yield* settle
        yield* advance(5)
        assert.strictEqual((yield* Deferred.await(b.acquired)).at, 0)
        const result = yield* Fiber.join(release)
        assert.strictEqual(result._tag, "Success", "the release was reported as failed")
        assert.isUndefined(yield* timeline.at("lost"), "our own release was reported as a loss")
      })))
  })

  describe("8. an explicit renew never reports a loss after our own release", () => {
    it.effect("a retrying renew finds the lease released by us and stops", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.lost.pipe(Effect.catch(() => timeline.mark("lost")), Effect.forkChild)
        let renewals = 0
        yield* probe.setFaults((op, spec) =>
          op === "update" && spec?.holder === "a" && renewals++ === 0 ? { reason: "Unavailable" } : undefined
        )
        const renew = yield* lease.renew.pipe(Effect.result, Effect.forkChild)
        yield* settle
        yield* lease.release
        yield* advance(5)
        assert.strictEqual((yield* Fiber.join(renew))._tag, "Success")
        assert.isUndefined(yield* timeline.at("lost"), "lost fired after our own release")
      })))

    it.effect("an explicit renew beside the background renewer does not make it declare a stale deadline", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a", { requestTimeout: "6500 millis" }))
        yield* lease.lost.pipe(Effect.catch((e) => timeline.mark(`lost: ${e.reason._tag}`)), Effect.forkChild)
        // Every renewal lands at once and answers 6 s later.
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { delay: "6 seconds" } : undefined)
        yield* advance(6)
        yield* TestClock.adjust("500 millis")
        yield* lease.renew.pipe(Effect.forkChild) // sent at 6.5 s, answered at 12.5 s
        yield* advance(20)
        assert.isUndefined(yield* timeline.at("lost: DeadlineExceeded"), "declared lost although renewed in time")
        assert.isTrue(yield* lease.isHeld)
        yield* probe.setFaults(undefined)
        yield* advance(7) // lets the renewal in flight finish, so the scope's release can write
      })))
  })

  describe("9. a waiter does not trust a watch that went silent", () => {
    it.effect("a watch that hangs after its first answer delays a handover by at most renewInterval", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* probe.setWatch("silent")
        const b = yield* contend("b")
        yield* advance(1)
        yield* lease.release
        yield* advance(19)
        const at = (yield* Deferred.await(b.acquired)).at
        assert.isAtMost(at, 1_000 + 6_666, `noticed the release only at ${at} ms`)
      })))

    it.effect("a watch that lags behind with a growing backlog delays a handover by at most renewInterval", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        // a renews every 500 ms; b's watch delivers one event a second: always stale, never silent.
        const timing = { duration: "4 seconds", renewInterval: "500 millis", renewDeadline: "2 seconds", retryPeriod: "500 millis" } as const
        const lease = yield* Lease.acquire(opts("a", timing))
        yield* probe.setWatch({ lag: "1 second" })
        const b = yield* contend("b", { duration: "4 seconds" }) // renewInterval 1.333 s
        yield* advance(10)
        yield* lease.release
        yield* advance(15)
        const at = (yield* Deferred.await(b.acquired)).at
        assert.isAtMost(at, 10_000 + 1_333 + 500, `noticed the release only at ${at} ms`)
      })))

    it.effect("a watch that never answers is not relied on: the waiter polls", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* probe.setWatch("mute")
        const b = yield* contend("b")
        yield* advance(5)
        yield* lease.release
        yield* advance(15)
        const at = (yield* Deferred.await(b.acquired)).at
        assert.isAtMost(at, 5_000 + 2_000, `noticed the release only at ${at} ms`)
      })))
  })

  describe("10. a missing namespace is an error, not a lost race", () => {
    it.effect("create answering NotFound fails a waiting acquire at once, naming the store's error", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        yield* probe.setFaults((op) => op === "create" ? { reason: "NotFound" } : undefined)
        const acquiring = yield* Lease.acquire(opts("a", { timeout: "30 seconds" })).pipe(Effect.flip, Effect.forkChild)
        yield* settle
        yield* advance(1)
        const error = yield* Fiber.join(acquiring)
        assert.instanceOf(error, LeaseAcquisitionError)
        assert.strictEqual(error.reason._tag, "Store")
        assert.strictEqual(error.reason._tag === "Store" ? error.reason.error.reason : undefined, "NotFound")
      })))
  })

  describe("fencing tokens", () => {
    it.effect("a lease re-taken by the same identity after a loss gets a greater token", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const lease = yield* Lease.acquire(opts("a"))
          yield* probe.setFaults((op) => op === "update" ? { reason: "Unavailable" } : undefined)
          yield* advance(14)
          assert.strictEqual((yield* Effect.flip(lease.lost)).reason._tag, "DeadlineExceeded")
          // Every write fails: the scope's release cannot clear the lease either.
          yield* probe.setFaults((op) => op === "update" ? { reason: "Forbidden" } : undefined)
          return lease.token
        }))
        yield* probe.setFaults(undefined)
        assert.strictEqual((yield* read(key)).holder, "a", "the lost lease still names us")
        const again = yield* Effect.scoped(Effect.map(Lease.acquire(opts("a")), (lease) => lease.token))
        assert.isAbove(again, first)
      })))
  })

  it.effect("the deadline is measured from the send of the last successful write, not from its answer", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const timeline = yield* makeTimeline
      const lease = yield* Lease.acquire(opts("a", { requestTimeout: "6 seconds" }))
      yield* lease.lost.pipe(Effect.catch((e) => timeline.mark(`lost: ${e.reason._tag}`)), Effect.forkChild)
      // The first renewal (sent at 6.666 s) answers after 5 s; every later one fails.
      let renewals = 0
      yield* probe.setFaults((op, spec) =>
        op === "update" && spec?.holder === "a"
          ? renewals++ === 0 ? { delay: "5 seconds" } : { reason: "Unavailable" }
          : undefined
      )
      yield* advance(30)
      assert.strictEqual(yield* timeline.at("lost: DeadlineExceeded"), 6_666 + 13_333)
      yield* probe.setFaults(undefined)
      assert.isTrue(Duration.isDuration(lease.options.renewDeadline))
    })))
})
