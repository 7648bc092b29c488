/**
 * A fourth independent review, of 4006711 (spared guard chain; "Pending" for callers inside guarded
 * work; renewer and watchdog forkDetach'ed).
 *
 * Every test that failed on the reviewed commit (a finding) was fixed after it; those marked
 * `// holds:` were attacks that did not break it. All stay as regression tests.
 * Fibers that may deadlock are forked detached and their scopes never closed, so that a finding
 * fails its assertion instead of hanging the test.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as Lease from "../src/Lease.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, contend, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"

const done = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.await(fiber).pipe(Effect.timeoutOption(0)), Option.isSome)

const finalizerCount = (scope: Scope.Closeable) => {
  const s = scope.state
  if (s._tag !== "Open") return 0
  return (s.finalizer === undefined ? 0 : 1) + (s.finalizers?.size ?? 0)
}

describe("review 4", () => {
  describe("deadlocks", () => {
    // A guard nested inside a task the outer guarded work forked (Effect.all) releases in its
    // finalizer. Its caller is the inner guard's work fiber: spared (own = {inner}); the inner
    // guard has no parent (it was started in the forked task, not in the outer work fiber), so the
    // outer guard is told to stop and the detached release awaits it. The outer work (Effect.all)
    // interrupts the task, which interrupts the inner guard, whose work is in its finalizer
    // (uninterruptible) awaiting the write or its own stop — neither comes: a cycle.
    //   0 s  outer guard(all([inner guard(sleep 1 s, ensuring release), never]))
    //   1 s  inner work ends; finalizer: release → stop(outer) → await outer.stopped
    //   …    outer waits for all(); all() waits for the task; the task waits for the inner work;
    //        the inner work waits for the write
    it.effect("a nested guard in a task forked by guarded work, releasing in its finalizer, does not deadlock", () =>
      withStore(Effect.gen(function*() {
        const scope = yield* Scope.make() // never closed
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        const b = yield* contend("b")
        yield* settle
        const inner = lease.guard(Effect.sleep("1 second").pipe(Effect.ensuring(Effect.ignore(lease.release))))
        const outer = yield* lease.guard(Effect.all([inner, Effect.never], { concurrency: "unbounded" })).pipe(
          Effect.result,
          Effect.forkDetach
        )
        yield* advance(60)
        const probe = yield* Probe
        yield* probe.resetCalls
        yield* advance(60)
        const renewals = yield* probe.calls("update")
        const returned = yield* done(outer)
        const holder = (yield* read(key)).holder
        const bAcquired = Option.isSome(yield* Deferred.poll(b.acquired))
        yield* Fiber.interrupt(b.fiber)
        assert.isTrue(returned && bAcquired,
          `120 s later: outer guard returned ${returned}; record holder ${JSON.stringify(holder)}; b acquired ${bAcquired}; ` +
            `update calls in the last 60 s: ${renewals} (the detached renewer renews for ever)`)
      })))

    // Two leases, each guarded work releasing the other lease in its finalizer ("when this job
    // stops, give up the other role too"). CallingGuards only counts guards of the same tenure,
    // so each finalizer's release is an *outside* caller of the other lease and waits for its
    // write, uninterruptibly. Release A from outside:
    //   stop(GA) → GA's work finalizer: B.release → stop(GB), await B's write
    //   GB's work finalizer: A.release → joins A's release, awaits A's write
    //   A's write awaits GA.stopped → GA's work → B's write → GB.stopped → GB's work → A's write
    it.effect("two leases whose guarded work releases the other lease in its finalizer do not deadlock", () =>
      withStore(Effect.gen(function*() {
        const scopeA = yield* Scope.make()
        const scopeB = yield* Scope.make()
        const a = yield* Lease.acquire(opts("a", { name: "lease-a" })).pipe(Scope.provide(scopeA))
        const bl = yield* Lease.acquire(opts("a", { name: "lease-b" })).pipe(Scope.provide(scopeB))
        yield* a.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(bl.release)))).pipe(Effect.ignore, Effect.forkDetach)
        yield* bl.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(a.release)))).pipe(Effect.ignore, Effect.forkDetach)
        yield* settle
        const releasing = yield* a.release.pipe(Effect.exit, Effect.forkDetach)
        yield* advance(60)
        const returned = yield* done(releasing)
        const probe = yield* Probe
        const ha = Option.map(yield* probe.admin.get({ ...key, name: "lease-a" }), (r) => r.holder)
        const hb = Option.map(yield* probe.admin.get({ ...key, name: "lease-b" }), (r) => r.holder)
        assert.isTrue(returned, `60 s later: release of A returned ${returned}; holders A ${ha} / B ${hb}`)
      })))
  })

  describe("guarded steps after the handover", () => {
    // The guarded work forks a helper (a heartbeat that acts for the holder), then releases early
    // from its own fiber and goes on with unguarded bookkeeping. The caller is spared — and with it
    // every fiber its work forked, although stopGuards' contract says "Work that merely runs
    // inside a guard (a fiber it forked) is stopped". The helper goes on acting after the release
    // write, while b holds the lease: two actors.
    //   0 s  guard(fork(heartbeat every 1 s); sleep 2 s; release; sleep 30 s)
    //   2 s  write; b acquires at ~2–3 s; heartbeat goes on until 32 s
    it.effect("a helper forked by spared guarded work does not act after the handover", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        const b = yield* contend("b")
        yield* settle
        const heartbeat = Effect.forever(timeline.mark("beat").pipe(Effect.andThen(Effect.sleep("1 second"))))
        yield* lease.guard(Effect.gen(function*() {
          yield* Effect.forkChild(heartbeat)
          yield* Effect.sleep("2 seconds")
          yield* lease.release
          yield* timeline.mark("released")
          yield* Effect.sleep("30 seconds") // other, unguarded-in-spirit bookkeeping
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* advance(40)
        const bAt = (yield* Effect.orDie(Deferred.await(b.acquired))).at
        const beats = (yield* timeline.all).filter(([e]) => e === "beat").map(([, t]) => t)
        const after = beats.filter((t) => t > bAt)
        yield* Fiber.interrupt(b.fiber)
        assert.deepStrictEqual(after, [], `b acquired at ${bAt} ms; a's guarded helper acted at ${after.join(", ")} ms`)
      })))

    // Same through nesting: the release from a nested guard spares its nesting parent, and the
    // parent's forked helpers with it.
    it.effect("a helper forked by a spared nesting parent does not act after the handover", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        const b = yield* contend("b")
        yield* settle
        const heartbeat = Effect.forever(timeline.mark("beat").pipe(Effect.andThen(Effect.sleep("1 second"))))
        yield* lease.guard(Effect.gen(function*() {
          yield* Effect.forkChild(heartbeat)
          yield* lease.guard(Effect.sleep("2 seconds").pipe(Effect.andThen(lease.release)))
          yield* Effect.sleep("30 seconds")
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* advance(40)
        const bAt = (yield* Effect.orDie(Deferred.await(b.acquired))).at
        const after = (yield* timeline.all).filter(([e, t]) => e === "beat" && t > bAt).map(([, t]) => t)
        yield* Fiber.interrupt(b.fiber)
        assert.deepStrictEqual(after, [], `b acquired at ${bAt} ms; parent's helper acted at ${after.join(", ")} ms`)
      })))
  })

  describe("leftovers", () => {
    // A long-lived scope (an application's) in which leases are acquired and released from inside
    // guarded work by a forked fiber ("Pending"): the tenure's child scope is never closed, so
    // its finalizer stays registered in the long-lived scope for every tenure.
    it.effect("Pending releases leave nothing registered in a long-lived scope", () =>
      withStore(Effect.gen(function*() {
        const app = yield* Scope.make()
        const before = finalizerCount(app)
        for (let i = 0; i < 5; i++) {
          const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
          const r = yield* lease.guard(
            Effect.forkChild(lease.release).pipe(Effect.flatMap(Fiber.join), Effect.andThen(Effect.never))
          ).pipe(Effect.exit)
          assert.isTrue(Exit.isFailure(r))
          yield* advance(2)
          assert.strictEqual((yield* read(key)).holder, "")
        }
        const after = finalizerCount(app)
        yield* Scope.close(app, Exit.void)
        assert.strictEqual(after, before, `finalizers in the long-lived scope: ${before} before, ${after} after 5 tenures`)
      })))

    // holds (control for the test above): Confirmed releases leave nothing registered.
    it.effect("holds: Confirmed releases leave nothing registered in a long-lived scope", () =>
      withStore(Effect.gen(function*() {
        const app = yield* Scope.make()
        for (let i = 0; i < 5; i++) {
          const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
          assert.strictEqual(yield* lease.release.pipe(Effect.forkChild, Effect.flatMap(Fiber.join)), undefined)
        }
        assert.strictEqual(finalizerCount(app), 0)
      })))

    // holds: a scope closed from inside guarded work while a detached release waits (finalizer
    // answers Pending); the release then fails (release writes refused): the renewer and the
    // watchdog end — no renewals afterwards, and `lost` fires by the deadline.
    it.effect("holds: a Pending release whose scope closed and which then fails leaves no renewer running", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const scope = yield* Scope.make()
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "" ? { reason: "Unavailable" } : undefined)
        yield* lease.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("5 seconds"))))
          .pipe(Effect.ignore, Effect.forkDetach)
        yield* lease.guard(Effect.never.pipe(Effect.onInterrupt(() => Scope.close(scope, Exit.void))))
          .pipe(Effect.ignore, Effect.forkDetach)
        yield* settle
        const r = yield* lease.release.pipe(Effect.exit, Effect.forkDetach)
        yield* advance(100)
        assert.isTrue(yield* done(r))
        assert.strictEqual(scope.state._tag, "Closed")
        const lostDone = Option.isSome(yield* Effect.timeoutOption(Effect.exit(lease.lost), 0))
        yield* probe.resetCalls
        yield* advance(200)
        assert.strictEqual(yield* probe.calls(), 0)
        assert.isTrue(lostDone, "watchdog declared the loss")
      })))

    // holds: lost to the deadline (renewals refused), scope closed, its release write refused:
    // renewer and watchdog interrupted; nothing is written afterwards.
    it.effect("holds: a scope closed after a deadline loss whose release fails leaves nothing running", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const scope = yield* Scope.make()
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* probe.setFaults((op) => op === "update" ? { reason: "Unavailable" } : undefined)
        yield* advance(30)
        assert.isTrue(Option.isSome(yield* Effect.timeoutOption(Effect.exit(lease.lost), 0)))
        yield* Scope.close(scope, Exit.void)
        yield* probe.resetCalls
        yield* advance(200)
        assert.strictEqual(yield* probe.calls(), 0)
      })))

    // holds: an explicit outside release that fails (HeldByOther) after a silent takeover: the
    // tenure ends its fibers; no store calls afterwards; scope still open (long-lived).
    it.effect("holds: an explicit release that finds the lease taken leaves nothing running", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const app = yield* Scope.make()
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
        const rec = yield* read(key)
        yield* probe.admin.update(rec, { holder: "z", durationSeconds: 20, acquireTime: 0, renewTime: 0, transitions: 5 })
        const r = yield* lease.release.pipe(Effect.exit)
        assert.isTrue(Exit.isFailure(r))
        yield* probe.resetCalls
        yield* advance(200)
        assert.strictEqual(yield* probe.calls(), 0)
      })))
  })
})
