/**
 * A second independent review, of the fixes for the first one (02f08df … 0ca09dc): attacks on
 * the new mechanisms — the fiber-local `CallingGuards`, the explicit release closing the tenure's
 * scope, `clearStale`, the read-back's renewTime, declaring a loss uninterruptibly, the renewer's
 * schedule — on the virtual clock and the fault-injecting memory store.
 *
 * Every test that failed on the reviewed commit (a finding) was fixed after it; those marked
 * `// holds:` were attacks that did not break it. All stay as regression tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as Lease from "../src/Lease.ts"
import { LeaseStore } from "../src/LeaseStore.ts"
import { specOf } from "../src/LeaseRecord.ts"
import * as MicroTime from "../../kubernetes/src/internal/microTime.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, contend, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"

const otherKey = { namespace: "jobs", name: "other-report" }

describe("review 2", () => {
  describe("CallingGuards", () => {
    // A fiber forked inside the guarded work inherits CallingGuards (a fiber-local Context
    // reference), so a release it calls exempts the guard it was forked from — although that
    // guard's work is not the caller and goes on running. Typical shape: a server runs under the
    // guard and forks a handler per request; an admin "step down" handler calls lease.release.
    // The release writes at once, a waiter takes the lease, and the old holder's guarded work
    // (the server) keeps running under the new holder's tenure, never interrupted.
    //   0 s  a holds; guard(server) starts; b waits (watching)
    //   1 s  handler (forked in the guard) calls release: stopGuards skips the server's guard,
    //        the clearing write lands, b takes the lease
    //   1 s … the server's guarded work still runs; guard never returns
    it.effect("a release called from a fiber forked inside the guarded work stops that work before the handover", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        const b = yield* contend("b")
        yield* settle
        const server = Effect.gen(function*() {
          yield* Effect.sleep("1 second").pipe(Effect.andThen(lease.release), Effect.ignore, Effect.forkChild)
          return yield* Effect.never
        })
        const guarded = yield* lease.guard(server).pipe(
          Effect.onExit(() => timeline.mark("work stopped")),
          Effect.result,
          Effect.forkChild
        )
        yield* advance(10)
        const polled = yield* Deferred.poll(b.acquired)
        const bAt = Option.isSome(polled) ? (yield* Effect.orDie(polled.value)).at : undefined
        const stopped = yield* timeline.at("work stopped")
        yield* Fiber.interrupt(guarded)
        yield* Fiber.interrupt(b.fiber)
        assert.isDefined(bAt, "b never got the released lease")
        assert.isTrue(stopped !== undefined && stopped <= 1_000,
          `b took the lease at ${bAt} ms; a's guarded work ${stopped === undefined ? "was still running 9 s later" : `stopped at ${stopped} ms`}`)
      })))

    // holds: a guard of lease A whose work releases lease B: B's guards (running elsewhere) are
    // stopped before B's write; A's guard is not touched.
    it.effect("holds: guarded work of lease A releasing lease B stops B's guards, not A's", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const a = yield* Lease.acquire(opts("a"))
        const bLease = yield* Lease.acquire({ ...otherKey, holder: "a-other", duration: "20 seconds" })
        yield* bLease.guard(Effect.never).pipe(Effect.onExit(() => timeline.mark("B work stopped")), Effect.ignore, Effect.forkChild)
        yield* settle
        const result = yield* a.guard(Effect.sleep("1 second").pipe(
          Effect.andThen(bLease.release),
          Effect.andThen(timeline.mark("B released")),
          Effect.andThen(Effect.sleep("1 second")),
          Effect.as("A done")
        )).pipe(Effect.forkChild)
        yield* advance(3)
        assert.strictEqual(yield* Fiber.join(result), "A done")
        assert.strictEqual(yield* timeline.at("B work stopped"), 1_000)
        assert.strictEqual((yield* read(otherKey)).holder, "")
        assert.isTrue(yield* a.isHeld)
      })))

    // holds: nested guards of the same lease, release called from the innermost: both are the
    // caller's, neither is waited for, the write happens, no deadlock.
    it.effect("holds: release from inside two nested guards of the same lease completes", () =>
      withStore(Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a"))
        const result = yield* lease.guard(lease.guard(lease.release.pipe(Effect.as(7)))).pipe(Effect.forkChild)
        yield* advance(2)
        assert.strictEqual(yield* Fiber.join(result), 7)
        assert.strictEqual((yield* read(key)).holder, "")
      })))

    // holds: a fiber forked inside a guard that outlives it and calls release later, while a NEW
    // guard runs: the new guard is not in its inherited set, so it is stopped before the write.
    it.effect("holds: a release from a fiber that outlived its guard stops the guards running now", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        const b = yield* contend("b")
        yield* settle
        yield* lease.guard(
          Effect.sleep("3 seconds").pipe(Effect.andThen(lease.release), Effect.ignore, Effect.forkDetach, Effect.asVoid)
        )
        yield* lease.guard(Effect.never.pipe(
          Effect.onInterrupt(() => Effect.sleep("1 second").pipe(Effect.andThen(timeline.mark("second work stopped"))))
        )).pipe(Effect.ignore, Effect.forkChild)
        yield* advance(10)
        const stopped = yield* timeline.at("second work stopped")
        assert.strictEqual(stopped, 4_000)
        assert.isAtLeast((yield* Deferred.await(b.acquired)).at, stopped!)
        yield* Fiber.interrupt(b.fiber)
      })))

    // holds: children forked (forkChild) by the guarded work are interrupted and awaited when
    // the guard stops, before the release writes.
    it.effect("holds: a child fiber of the guarded work with a slow wind-down stops before the handover", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        const b = yield* contend("b")
        yield* settle
        yield* lease.guard(Effect.gen(function*() {
          yield* Effect.never.pipe(
            Effect.onInterrupt(() => Effect.sleep("2 seconds").pipe(Effect.andThen(timeline.mark("child stopped")))),
            Effect.forkChild
          )
          return yield* Effect.never
        })).pipe(Effect.ignore, Effect.forkChild)
        yield* settle
        yield* lease.release.pipe(Effect.forkChild)
        yield* advance(5)
        const stopped = yield* timeline.at("child stopped")
        assert.strictEqual(stopped, 2_000)
        assert.isAtLeast((yield* Deferred.await(b.acquired)).at, stopped!)
        yield* Fiber.interrupt(b.fiber)
      })))

    // holds: a tenure acquired and guarded (in another fiber) inside another lease's guarded work;
    // releasing it from that work stops its guard (not the caller's) before writing.
    it.effect("holds: a tenure released from another lease's guarded work stops its own guard first; the call returns at once", () =>
      withStore(Effect.gen(function*() {
        // (Was: two tenures of one key, the first released early from its own guarded work. Since a
        // release from inside guarded work leaves that work — and the lease — until it returns, the
        // nesting is made with another lease's guarded work.)
        const timeline = yield* makeTimeline
        const first = yield* Lease.acquire({ ...otherKey, holder: "a", duration: "20 seconds" })
        const result = yield* first.guard(Effect.gen(function*() {
          const second = yield* Lease.acquire(opts("a2"))
          const started = yield* Deferred.make<void>()
          yield* second.guard(Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Effect.sleep("1 second").pipe(Effect.andThen(timeline.mark("inner stopped"))))
          )).pipe(Effect.ignore, Effect.forkChild)
          // (waits until the inner work runs: a guard whose work has not started when the release
          // begins never starts it, and then has nothing to wind down)
          yield* Deferred.await(started)
          yield* Effect.sleep("1 second")
          yield* timeline.mark("releasing inner")
          yield* second.release
          yield* timeline.mark("inner release returned")
          yield* Effect.sleep("3 seconds")
          return (yield* read(key)).holder
        }).pipe(Effect.scoped)).pipe(Effect.forkChild)
        yield* advance(7)
        assert.strictEqual(yield* Fiber.join(result), "", "written free once the inner work stopped")
        const releasing = (yield* timeline.at("releasing inner"))!
        assert.strictEqual(yield* timeline.at("inner stopped"), releasing + 1_000, "the inner work wound down first")
        assert.strictEqual(yield* timeline.at("inner release returned"), releasing, "inside guarded work, release does not wait")
      })))
  })

  describe("release and the tenure's scope", () => {
    // The natural "always release when the work ends" — ensuring(lease.release) around the guarded
    // work — deadlocks as soon as a release starts from anywhere else: that release holds the
    // `releases` permit and, in stopGuards, waits for the guard to stop; the guard's work, being
    // interrupted, runs its finalizer, whose lease.release waits for the same permit. Neither
    // returns, the write is never made, the lease stays renewed (phase Stopping renews) and a
    // waiter never gets it.
    it.effect("an outside release while the guarded work releases in its finalizer completes", () =>
      withStore(Effect.gen(function*() {
        const scope = yield* Scope.make() // never closed: its finalizer would hang the test
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* lease.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(lease.release)))).pipe(
          Effect.ignore,
          Effect.forkDetach
        )
        const b = yield* contend("b")
        yield* settle
        const releasing = yield* lease.release.pipe(Effect.result, Effect.forkDetach)
        yield* advance(60)
        const done = yield* Fiber.await(releasing).pipe(Effect.timeoutOption(0))
        const holder = (yield* read(key)).holder
        const bAcquired = Option.isSome(yield* Deferred.poll(b.acquired))
        yield* Fiber.interrupt(b.fiber)
        assert.isTrue(Option.isSome(done) && bAcquired,
          `release returned: ${Option.isSome(done)}; record holder ${JSON.stringify(holder)} and b acquired: ${bAcquired}, 60 s after the release began`)
      })))

    // The same deadlock through the scope: closing the lease's scope while a guard (in another
    // fiber) whose work releases in its finalizer runs. The scope never finishes closing.
    it.effect("closing the scope while the guarded work releases in its finalizer completes", () =>
      withStore(Effect.gen(function*() {
        const scope = yield* Scope.make()
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* lease.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(lease.release)))).pipe(
          Effect.ignore,
          Effect.forkDetach
        )
        yield* settle
        const closing = yield* Scope.close(scope, Exit.void).pipe(Effect.forkDetach)
        yield* advance(60)
        const done = yield* Fiber.await(closing).pipe(Effect.timeoutOption(0))
        assert.isTrue(Option.isSome(done),
          `the scope did not close within 60 s; record holder ${JSON.stringify((yield* read(key)).holder)}`)
      })))

    // holds: the guarded work releasing in its finalizer, stopped by a LOSS (no release holding
    // the permit): the release goes through.
    it.effect("holds: guarded work releasing in its finalizer after a loss does not deadlock", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        const guarded = yield* lease.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(lease.release)))).pipe(
          Effect.result,
          Effect.forkChild
        )
        yield* settle
        const r = yield* read(key)
        yield* probe.admin.update(r, { ...specOf(r), holder: "intruder", transitions: (r.transitions ?? 0) + 1 })
        yield* advance(8)
        const exit = yield* Fiber.await(guarded).pipe(Effect.timeoutOption(0))
        assert.isTrue(Option.isSome(exit))
        assert.strictEqual((yield* read(key)).holder, "intruder")
      })))

    // A release interrupted while it waits for guarded work to wind down (e.g. the caller bounds
    // it with a timeout) leaves the tenure in phase Stopping for good: guard refuses, isHeld is
    // false, lost never fires — and the renewer keeps renewing, so nobody else can ever take the
    // lease while the (long-lived) scope stays open.
    it.effect("a release interrupted while the work winds down does not leave the lease renewed by nobody's tenure", () =>
      withStore(Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("5 seconds")))).pipe(
          Effect.ignore,
          Effect.forkChild
        )
        yield* settle
        const releasing = yield* lease.release.pipe(Effect.timeoutOption("1 second"), Effect.forkChild)
        yield* advance(2)
        assert.isTrue(Option.isNone(yield* Fiber.join(releasing)), "the bounded release gave up")
        const b = yield* contend("b")
        yield* advance(60)
        const bAcquired = Option.isSome(yield* Deferred.poll(b.acquired))
        const usable = yield* lease.guard(Effect.succeed(true)).pipe(Effect.orElseSucceed(() => false))
        const lostFired = Option.isSome(yield* lease.lost.pipe(Effect.flip, Effect.timeoutOption(0)))
        const holder = (yield* read(key)).holder
        yield* Fiber.interrupt(b.fiber)
        assert.isTrue(bAcquired || usable,
          `60 s later: record holder ${JSON.stringify(holder)}, b acquired ${bAcquired}, a's guard usable ${usable}, isHeld ${yield* lease.isHeld}, lost fired ${lostFired}`)
      })))

    // holds: a release that failed (store unreachable until after the loss) and a second release
    // once the store is back: the second writes, succeeds and closes the tenure's scope.
    it.effect("holds: a release after a failed release writes and closes the tenure's scope", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const scope = yield* Scope.make()
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* lease.lost.pipe(Effect.catch((e) => timeline.mark(`lost ${e.reason._tag}`)), Effect.forkChild)
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder !== "b" ? { reason: "Unavailable" } : undefined)
        const first = yield* lease.release.pipe(Effect.result, Effect.forkChild)
        yield* advance(16)
        assert.strictEqual((yield* Fiber.join(first))._tag, "Failure")
        assert.strictEqual(yield* timeline.at("lost DeadlineExceeded"), 13_333)
        yield* probe.setFaults(undefined)
        const second = yield* lease.release.pipe(Effect.result)
        assert.strictEqual(second._tag, "Success")
        assert.strictEqual((yield* read(key)).holder, "")
        const state = (scope as unknown as { state: { _tag: string; finalizers?: Map<unknown, unknown> } }).state
        assert.strictEqual(state._tag === "Open" ? state.finalizers?.size ?? 0 : 0, 0)
        yield* Scope.close(scope, Exit.void)
      })))

    // holds: a finalizer the caller added after acquiring (it runs before the tenure's scope
    // closes) releases explicitly while a guard forked into the same scope still runs.
    it.effect("holds: an explicit release in the caller's finalizer with a scoped guard still running", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const scope = yield* Scope.make()
        const b = yield* contend("b", {})
        const lease = yield* Effect.gen(function*() {
          const lease = yield* Lease.acquire(opts("a"))
          yield* lease.guard(Effect.never.pipe(
            Effect.onInterrupt(() => Effect.sleep("1 second").pipe(Effect.andThen(timeline.mark("work stopped"))))
          )).pipe(Effect.ignore, Effect.forkScoped)
          yield* Effect.addFinalizer(() => Effect.ignore(lease.release))
          return lease
        }).pipe(Scope.provide(scope))
        yield* settle
        const closing = yield* Scope.close(scope, Exit.void).pipe(Effect.forkChild)
        yield* advance(3)
        yield* Fiber.join(closing)
        assert.strictEqual(yield* timeline.at("work stopped"), 1_000)
        assert.isFalse(yield* lease.isHeld)
        assert.isAtLeast((yield* Deferred.await(b.acquired)).at, 1_000)
        yield* Fiber.interrupt(b.fiber)
      })))
  })

  describe("LeaderElection", () => {
    // run takes ANY LeaseLostError from whileLeading for the loss of its own lease: work that is
    // guarded by a second lease (lead A while holding B) and fails with B's loss makes run step
    // down from A, release A and re-enter at once — forever, without virtual time passing, each
    // round a release and an acquisition (two writes, a new token).
    it.effect("whileLeading failing with another lease's loss does not make run re-enter forever", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const other = yield* Lease.acquire({ ...otherKey, holder: "me-other", duration: "20 seconds" })
        yield* probe.admin.remove(yield* read(otherKey))
        yield* advance(7)
        assert.strictEqual((yield* Effect.flip(other.lost)).reason._tag, "Deleted")
        const terms = yield* Ref.make(0)
        const leader = yield* LeaderElection.run(opts("me"), (_lease) =>
          Ref.update(terms, (n) => n + 1).pipe(Effect.andThen(other.guard(Effect.never)))).pipe(Effect.forkChild)
        yield* advance(1)
        const n = yield* Ref.get(terms)
        const token = (yield* read(key)).transitions
        yield* Fiber.interrupt(leader)
        assert.isAtMost(n, 2, `whileLeading ran ${n} times in 1 s; the lease's token is now ${token}`)
      })))
  })

  describe("stale acquisitions and read-backs", () => {
    // holds: clearStale is a CAS from the record this acquisition wrote: when a contender took the
    // lease over before the late answer arrived (possible: the write's timeout plus a slow read-back
    // may exceed duration), the clear fails and the new holder keeps the lease.
    //   duration 20 s, renewInterval 1 s, renewDeadline 19 s, requestTimeout 18 s
    //   0 s  a: create (applied, answer lost after 18 s)
    //   0 s  c (another process, watching) observes a's record
    //  18 s  a: read-back executes now (record names a), answered 5 s later
    //  20 s  c takes over
    //  23 s  a: read-back answered: acquired but stale → clearStale from a's version → Conflict
    it.effect("holds: clearing a stale acquisition never clears a contender's newer record", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timing = { renewInterval: "1 second", renewDeadline: "19 seconds", requestTimeout: "18 seconds" } as const
        let gets = 0
        let clears = 0
        yield* probe.setFaults((op, spec) =>
          op === "update" && spec?.holder === ""
            ? (clears++, undefined)
            : op === "create" && spec?.holder === "a"
            ? { reason: "Timeout", applied: true, delay: "18 seconds" }
            : op === "get" && gets++ === 1
            ? { answerAfter: "5 seconds" }
            : undefined
        )
        const a = yield* Lease.tryAcquire(opts("a", timing)).pipe(Effect.result, Effect.forkChild)
        yield* settle
        // c: another process, on a path without faults (the rule counts a's calls only).
        const c = yield* contend("c", timing).pipe(Effect.provideServiceEffect(Lease.Lease, Lease.make), Effect.provideService(LeaseStore, { ...probe.admin }))
        yield* advance(30)
        const aResult = yield* Fiber.join(a)
        assert.isTrue(aResult._tag === "Success" && Option.isNone(aResult.success), "the stale acquisition was not handed out")
        assert.isAtLeast(clears, 1, "a tried to clear its stale acquisition")
        const cAt = (yield* Deferred.await(c.acquired)).at
        assert.strictEqual(cAt, 20_000)
        assert.strictEqual((yield* read(key)).holder, "c")
        yield* advance(10)
        assert.strictEqual((yield* read(key)).holder, "c")
        yield* Fiber.interrupt(c.fiber)
      })))

    // holds: the read-back compares renewTime by value; the Kubernetes store round-trips
    // MicroTime (six fractional digits) to the same integer milliseconds, so a genuine read-back
    // is recognised over a real API server.
    it.effect("holds: MicroTime round-trips every integer millisecond the read-back compares", () =>
      Effect.sync(() => {
        for (let i = 0; i < 20_000; i++) {
          const ms = Date.parse("2026-11-21T10:00:00.000Z") + i * 7_919 + (i % 1000)
          const text = MicroTime.format(ms)!
          assert.strictEqual(MicroTime.parse(text), ms, text)
          // The API server answers with the same six digits; a client may hand back a Date.
          assert.strictEqual(MicroTime.parse(new Date(ms)), ms)
        }
      }))
  })

  describe("loss and renewal", () => {
    // holds: the watchdog fires while a release waits for slow-stopping guarded work and the
    // store is unreachable: lost fires DeadlineExceeded at the deadline, the release does not
    // retry the write afterwards, and a contender takes over only after the loss.
    it.effect("holds: a deadline passing while a release waits for guarded work declares the loss in time", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.lost.pipe(Effect.catch((e) => timeline.mark(`lost ${e.reason._tag}`)), Effect.forkChild)
        yield* lease.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("15 seconds")))).pipe(
          Effect.ignore,
          Effect.forkChild
        )
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder !== "b" ? { reason: "Unavailable" } : undefined)
        yield* settle
        const releasing = yield* lease.release.pipe(Effect.result, Effect.forkChild)
        const b = yield* contend("b")
        yield* advance(40)
        const lostAt = yield* timeline.at("lost DeadlineExceeded")
        assert.strictEqual(lostAt, 13_333)
        assert.isAbove((yield* Deferred.await(b.acquired)).at, lostAt!)
        assert.strictEqual((yield* Fiber.join(releasing))._tag, "Failure")
        yield* probe.setFaults(undefined)
        yield* Fiber.interrupt(b.fiber)
      })))

    // holds: explicit renewals every 100 ms from the guarded work beside the renewer: no stale
    // deadline, no burst of writes, still held after a minute.
    it.effect("holds: frequent explicit renewals keep the renewer on its schedule", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* probe.resetCalls
        const renewing = yield* lease.guard(Effect.forever(lease.renew.pipe(Effect.andThen(Effect.sleep("100 millis"))))).pipe(
          Effect.forkChild
        )
        yield* Effect.repeat(TestClock.adjust("100 millis"), { times: 599 })
        assert.isTrue(yield* lease.isHeld)
        const writes = yield* probe.calls("update")
        assert.isAtMost(writes, 610, `${writes} writes in 60 s`)
        yield* Fiber.interrupt(renewing)
      })))

    // holds: a renewal answered after more than renewInterval (answerAfter; allowed, as
    // requestTimeout may exceed renewInterval) makes the renewer renew again at once, not spin.
    it.effect("holds: slow renewal answers do not make the renewer spin", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const timing = { renewInterval: "2 seconds", renewDeadline: "15 seconds", requestTimeout: "13 seconds" } as const
        const lease = yield* Lease.acquire(opts("a", timing))
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { answerAfter: "5 seconds" } : undefined)
        yield* probe.resetCalls
        yield* advance(60)
        assert.isTrue(yield* lease.isHeld)
        const writes = yield* probe.calls("update")
        assert.isAtMost(writes, 13, `${writes} renewals in 60 s with 5 s answers`)
        yield* probe.setFaults(undefined)
        yield* advance(6) // let the renewal in flight answer: the release at scope close waits for it
      })))

    // holds: a fractional renewInterval (sub-nanosecond remainder) does not make the renewer spin.
    it.effect("holds: a fractional renewInterval does not make the renewer spin", () =>
      withStore(Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a", { renewInterval: Duration.millis(6_666.0000001) }))
        yield* advance(30)
        assert.isTrue(yield* lease.isHeld)
      })), 10_000)
  })
})
