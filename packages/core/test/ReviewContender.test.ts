/**
 * Independent review of 61677e9 (Lease as a service, the long-lived contender, the waiting state
 * machine, the observer, LeaderElection over one contender, `swap` in the tenure).
 *
 * Tests named for a property and failing on 61677e9 are findings; those marked `// holds:` are
 * attacks that did not break it (controls).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Ref, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as Lease from "../src/Lease.ts"
import type { LeaseEvent } from "../src/LeaseContender.ts"
import { LeaseStore } from "../src/LeaseStore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { contend, contenderIn, elapsed, fine, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"


describe("review: contender", () => {
  // ---------------------------------------------------------------------------------------------
  // Finding: the permit is held while a release waits for guarded work to stop; guarded work whose
  // clean-up releases through the same contender (Effect.ensuring(contender.release) — "release
  // when done") waits for that permit in an uninterruptible finalizer. Neither ever finishes, the
  // tenure stays in phase Stopping, and renewals go on during Stopping: the lease is held for ever
  // by a process that is stuck.
  //   0 s   a acquires; W = guard(never ⋯ ensuring(contender.release)) runs
  //   1 s   X: contender.release → permit → held.release → stops W, awaits W.stopped
  //         W interrupted → its finalizer: contender.release → permit (held by X) → waits
  //   …     deadlock; the renewer keeps renewing (phase Stopping) — b never gets the lease
  // ---------------------------------------------------------------------------------------------
  it.effect("contender.release from another fiber does not deadlock with guarded work that releases through the contender when it ends", () =>
    withStore(Effect.gen(function*() {
      const { contender: c, scope } = yield* contenderIn("a")
      const lease = yield* c.acquire()
      const started = yield* Deferred.make<void>()
      yield* lease.guard(
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never), Effect.ensuring(Effect.ignore(c.release)))
      ).pipe(Effect.exit, Effect.forkDetach)
      yield* Deferred.await(started)
      yield* fine(1)
      const released = yield* Deferred.make<Exit.Exit<void, unknown>>()
      const x = yield* c.release.pipe(Effect.exit, Effect.flatMap((e) => Deferred.succeed(released, e)), Effect.forkDetach)
      const b = yield* contend("b")
      yield* fine(60)
      const releaseDone = yield* Deferred.isDone(released)
      const bAcquired = yield* Deferred.isDone(b.acquired)
      const holder = (yield* read(key)).holder
      // unblock and clean up
      yield* Fiber.interrupt(x).pipe(Effect.forkDetach)
      yield* Fiber.interrupt(b.fiber).pipe(Effect.forkDetach)
      yield* Scope.close(scope, Exit.void).pipe(Effect.forkDetach)
      assert.isTrue(
        releaseDone && bAcquired,
        `60 s after contender.release began: release finished ${releaseDone}, b acquired ${bAcquired}, record holder ${
          JSON.stringify(holder)
        }`
      )
    }), { watch: true }))

  // The same deadlock reached through a loss: the lease is lost, W's clean-up calls
  // contender.release while another fiber's acquire (holding the permit) disposes of the lost
  // tenure and waits for W to stop.
  it.effect("acquire disposing of a lost tenure does not deadlock with guarded work that releases through the contender when it ends", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      const lease = yield* c.acquire()
      const started = yield* Deferred.make<void>()
      // W's clean-up takes a moment (it logs, flushes…) before releasing through the contender.
      yield* lease.guard(
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Effect.sleep("500 millis").pipe(Effect.andThen(Effect.ignore(c.release))))
        )
      ).pipe(Effect.exit, Effect.forkDetach)
      yield* Deferred.await(started)
      // Every renewal of a fails: lost to the deadline (~13.3 s).
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { reason: "Unavailable" } : undefined)
      yield* fine(13.4) // the watchdog fires at 13.33 s: W is interrupted, its clean-up sleeps 500 ms
      // …meanwhile the application asks its contender for the lease again.
      yield* probe.setFaults(undefined)
      const again = yield* Deferred.make<Exit.Exit<Lease.HeldLease, unknown>>()
      const x = yield* c.acquire().pipe(Effect.exit, Effect.flatMap((e) => Deferred.succeed(again, e)), Effect.forkDetach)
      yield* fine(60)
      const done = yield* Deferred.isDone(again)
      // (x is stuck in an uninterruptible Scope.close: interrupting it would hang the test)
      yield* Fiber.interrupt(x).pipe(Effect.forkDetach)
      yield* Scope.close(scope, Exit.void).pipe(Effect.forkDetach)
      assert.isTrue(done, "60 s after the loss, contender.acquire has not answered (deadlocked with W's clean-up)")
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding: LeaderElection.make / layer: when whileLeading ends (completes or fails) the election
  // is Stopped, but its contender's tenure lives in the caller's scope and keeps being renewed —
  // the stopped replica holds the lease for as long as the layer lives, and no other replica can
  // ever lead. (Before 61677e9, `layer` ran `run`, which released the lease when a term ended.)
  // ---------------------------------------------------------------------------------------------
  it.effect("LeaderElection.layer: an election stopped by whileLeading failing releases the lease for the other replicas", () =>
    withStore(Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Layer.build(LeaderElection.layer(opts("a"), () => Effect.fail("boom"))).pipe(Scope.provide(scope))
      yield* fine(1)
      const b = yield* contend("b")
      yield* fine(60)
      const bAcquired = yield* Deferred.isDone(b.acquired)
      const holder = (yield* read(key)).holder
      yield* Fiber.interrupt(b.fiber)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(bAcquired, `60 s after a's election stopped, b has not led; the record names ${JSON.stringify(holder)}`)
    }), { watch: true }))

  it.effect("LeaderElection.make: an election Stopped because whileLeading completed does not keep the lease renewed", () =>
    withStore(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const election = yield* LeaderElection.make(opts("a"), () => Effect.succeed("done")).pipe(Scope.provide(scope))
      assert.strictEqual(yield* election.await, "done")
      const status = yield* election.status
      yield* fine(60)
      const record = yield* read(key)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(
        record.holder !== "a",
        `status ${status._tag}, yet 60 s later the lease is still held (renewed) by "a": ${JSON.stringify(record)}`
      )
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding: one contender, two tenures at once. Guarded work of tenure 1 calls
  // contender.release: it answers Pending (the work keeps the lease, still guarded, until it
  // returns) — and the contender forgets tenure 1 at once. The next contender.acquire (another
  // fiber of the same service) sees no tenure, judges the record "Ours", and starts tenure 2 while
  // tenure 1's guarded work still runs — until tenure 1's watchdog fires ~13 s later.
  //   0 s   t1 acquired; W1 = t1.guard(c.release (Pending); steps every second)
  //   0 s   c.acquire() → current None → record names a → t2 (token 1); W2 = t2.guard(steps)
  //   1…13 s W1 and W2 both run guarded steps
  // ---------------------------------------------------------------------------------------------
  it.effect("a contender holds one tenure at a time: acquire after a Pending release waits for the guarded work that keeps tenure 1", () =>
    withStore(Effect.gen(function*() {
      const timeline = yield* makeTimeline
      const { contender: c, scope } = yield* contenderIn("a")
      const t1 = yield* c.acquire()
      const releasedInside = yield* Deferred.make<void>()
      yield* t1.guard(Effect.gen(function*() {
        yield* c.release
        yield* Deferred.succeed(releasedInside, undefined)
        for (let s = 0; s < 20; s++) {
          yield* Effect.sleep("1 second")
          yield* timeline.mark("w1 step")
        }
      })).pipe(Effect.exit, Effect.forkDetach)
      yield* Deferred.await(releasedInside)
      const t2Fiber = yield* c.acquire().pipe(Effect.forkDetach)
      yield* settle
      const t2At = yield* Deferred.make<{ at: number; token: number }>()
      yield* Fiber.join(t2Fiber).pipe(
        Effect.tap((t2) => Effect.flatMap(elapsed, (at) => Deferred.succeed(t2At, { at, token: t2.token }))),
        Effect.flatMap((t2) =>
          t2.guard(Effect.forever(Effect.sleep("1 second").pipe(Effect.andThen(timeline.mark("w2 step")))))
        ),
        Effect.exit,
        Effect.forkDetach
      )
      yield* fine(25)
      const t2 = yield* Deferred.poll(t2At)
      const all = yield* timeline.all
      yield* Scope.close(scope, Exit.void)
      if (Option.isNone(t2)) return // acquire waited: holds
      const { at } = yield* t2.value
      const overlap = all.filter(([e, t]) => e === "w1 step" && t > at)
      assert.strictEqual(
        overlap.length,
        0,
        `t2 (token ${t1.token} → ${(yield* t2.value).token}) acquired at ${at} ms while tenure 1's guarded work ran: ${
          JSON.stringify(all.slice(0, 12))
        }`
      )
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding: the contender's scope closes while its acquire waits. The acquire is not stopped: it
  // keeps waiting (for ever, if the other holder lives), and when the lease frees it still writes
  // an acquisition (token bumped, the lease taken for a moment by a closed contender) before it
  // notices the closed scope, releases and interrupts itself.
  // ---------------------------------------------------------------------------------------------
  it.effect("an acquire of a contender whose scope closed ends at once and writes nothing", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const writesByA = yield* Ref.make(0)
      yield* probe.setFaults((op, spec) => {
        if ((op === "update" || op === "create") && spec?.holder === "a") Ref.update(writesByA, (n) => n + 1).pipe(Effect.runSync)
        return undefined
      })
      const b = yield* contend("b")
      yield* settle
      const { contender: c, scope } = yield* contenderIn("a")
      const ended = yield* Deferred.make<Exit.Exit<Lease.HeldLease, unknown>>()
      yield* c.acquire().pipe(Effect.exit, Effect.flatMap((e) => Deferred.succeed(ended, e)), Effect.forkDetach)
      yield* fine(1)
      yield* Scope.close(scope, Exit.void)
      yield* fine(5)
      const endedAfterClose = yield* Deferred.isDone(ended)
      // b goes away; the closed contender must not take the lease now.
      yield* Fiber.interrupt(b.fiber)
      yield* fine(5)
      const writes = yield* Ref.get(writesByA)
      const record = yield* read(key)
      assert.isTrue(
        endedAfterClose && writes === 0,
        `acquire ended within 5 s of the scope closing: ${endedAfterClose}; acquiring writes by the closed contender: ${writes}; record ${
          JSON.stringify({ holder: record.holder, transitions: record.transitions })
        }`
      )
    }), { watch: true }))

  // ---------------------------------------------------------------------------------------------
  // Finding (liveness regression): a store in context without its own `Lease` service — a custom
  // store, or a store wrapped for metrics/tracing over a layer that provides `Lease` for the inner
  // one — gets a fresh service, hence an empty observation memory, on every call of the old
  // functions. Repeated `Lease.tryAcquire` never accumulates observation time (before 61677e9 the
  // memory was kept per store): a dead holder's lease is never taken by polling.
  // ---------------------------------------------------------------------------------------------
  it.effect("repeated Lease.tryAcquire on a wrapped store takes over a dead holder's lease", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const store = yield* LeaseStore
      const wrapped = { ...store } // e.g. a store wrapped for metrics; the provided Lease runs on `store`
      yield* probe.admin.create(key, { holder: "dead", durationSeconds: 20, acquireTime: 0, renewTime: 0, transitions: 3 })
      let got: Option.Option<number> = Option.none()
      for (let i = 0; i < 12 && Option.isNone(got); i++) {
        got = yield* Effect.scoped(Effect.map(Lease.tryAcquire(opts("a")), Option.map((l) => l.token))).pipe(
          Effect.provideService(LeaseStore, wrapped)
        )
        if (Option.isNone(got)) yield* TestClock.adjust("5 seconds")
      }
      const inspection = yield* Lease.inspect(key, { duration: "20 seconds" }).pipe(Effect.provideService(LeaseStore, wrapped))
      assert.isTrue(
        Option.isSome(got),
        `60 s of tryAcquire every 5 s against a record unchanged since the start: never acquired; inspect says it expires in ${
          inspection.expiresIn
        }`
      )
    })))

  // holds (control for the finding above): with the store the provided service runs on, the same
  // polling takes over at 20 s.
  it.effect("repeated Lease.tryAcquire on the provided store takes over a dead holder's lease", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "dead", durationSeconds: 20, acquireTime: 0, renewTime: 0, transitions: 3 })
      let got: Option.Option<number> = Option.none()
      for (let i = 0; i < 12 && Option.isNone(got); i++) {
        got = yield* Effect.scoped(Effect.map(Lease.tryAcquire(opts("a")), Option.map((l) => l.token)))
        if (Option.isNone(got)) yield* TestClock.adjust("5 seconds")
      }
      assert.deepStrictEqual(got, Option.some(4))
      assert.strictEqual(yield* elapsed, 20_000)
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding (low): acquire answers with a tenure whose release has begun. renewCurrent checks
  // `isHeld`, then renews; a release (HeldLease.release, which does not go through the permit)
  // that begins while the renewal is on the wire sets phase Stopping — renewals go on during
  // Stopping, the renewal lands, and acquire answers with a lease that is being released.
  // ---------------------------------------------------------------------------------------------
  it.effect("acquire never answers with a tenure whose release has begun", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      const t1 = yield* c.acquire()
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { delay: "2 seconds" } : undefined)
      const again = yield* c.acquire().pipe(Effect.forkDetach)
      yield* fine(0.5)
      const rel = yield* t1.release.pipe(Effect.exit, Effect.forkDetach)
      // acquire now joins the release and takes a new tenure, whose write is delayed 2 s too.
      yield* fine(6)
      const lease = yield* Fiber.join(again)
      const held = yield* lease.isHeld
      yield* Fiber.join(rel)
      yield* probe.setFaults(undefined)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(held, `acquire answered token ${lease.token}, but isHeld is false (a release had begun)`)
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding (low): acquire's timeout does not bound the renewal of a live tenure (nor tryAcquire's
  // "never waiting"): with the store failing, renewCurrent retries until the renew deadline.
  // ---------------------------------------------------------------------------------------------
  it.effect("contender.acquire(timeout) answers within its timeout when the live tenure cannot be renewed", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      yield* c.acquire()
      yield* probe.setFaults((op) => op === "update" ? { reason: "Unavailable" } : undefined)
      const done = yield* Deferred.make<number>()
      const one = yield* c.acquire(Duration.seconds(1)).pipe(
        Effect.exit,
        Effect.andThen(Effect.flatMap(elapsed, (t) => Deferred.succeed(done, t))),
        Effect.forkDetach
      )
      const t0 = yield* elapsed
      yield* fine(20)
      const at = yield* Deferred.poll(done)
      yield* Fiber.interrupt(one)
      yield* probe.setFaults(undefined)
      yield* Scope.close(scope, Exit.void)
      const took = Option.isSome(at) ? (yield* at.value) - t0 : Infinity
      assert.isAtMost(took, 1500, `acquire with a 1 s timeout answered after ${took} ms`)
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding: LeaderElection.make, a later term, the scope closes. That term's tenure scope was
  // forked after the election fiber, so it closes first: its finalizer stops whileLeading with
  // `Relinquished` — taken for an own loss — and the still-running election re-enters. Before the
  // finalizer has moved the tenure to Stopping, `acquire` → renewCurrent finds it "held", renews it
  // (v5) and whileLeading STARTS AGAIN during shutdown (then is stopped). It re-enters once more:
  // the contender's scope is closed, yet the acquire writes a new acquisition (token 2 → 3, v6)
  // before it finds the closed scope and clears it (v7). Observed:
  //   35000 closing rec=a/2/v4 · interrupted token 2 · Campaigning · Leading rec=a/2/v5 ·
  //   start token 2 · interrupted token 2 · Campaigning · Stopped rec=/3/v7
  // ---------------------------------------------------------------------------------------------
  it.effect("closing a LeaderElection.make scope in a later term neither restarts whileLeading nor writes a new acquisition", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const scope = yield* Scope.make()
      const terms = yield* Ref.make<ReadonlyArray<number>>([])
      yield* LeaderElection.make(opts("a"), (lease) =>
        Ref.update(terms, (t) => [...t, lease.token]).pipe(Effect.andThen(Effect.never))).pipe(Scope.provide(scope))
      yield* settle
      // someone takes the lease over, then dies: a leads again (second term)
      const record = yield* read(key)
      yield* probe.admin.update(record, { holder: "usurper", durationSeconds: 20, acquireTime: 0, renewTime: 0, transitions: 1 })
      yield* fine(35)
      const before = yield* read(key)
      const closed = yield* Scope.close(scope, Exit.void).pipe(Effect.exit, Effect.forkDetach)
      yield* fine(2)
      const after = yield* read(key)
      const exit = yield* Fiber.join(closed)
      assert.deepStrictEqual(yield* Ref.get(terms), [0, 2], "whileLeading started again while the election's scope closed")
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(after.holder, "")
      assert.strictEqual(
        after.transitions,
        before.transitions,
        `closing the election bumped the token ${before.transitions} → ${after.transitions} (a new acquisition was written)`
      )
    })))

  // ---------------------------------------------------------------------------------------------
  // Controls (holds)
  // ---------------------------------------------------------------------------------------------

  // holds: tenure scopes are removed from the contender's scope when they close — no finalizer
  // accumulates per call in a long-lived scope (Scope.fork / close unregister the child).
  it.effect("many Lease.tryAcquire / acquire+release calls in one long-lived scope leave no finalizer behind", () =>
    withStore(Effect.gen(function*() {
      const b = yield* contend("b", { name: "other" })
      yield* settle
      const scope = yield* Scope.make()
      for (let i = 0; i < 50; i++) {
        yield* Lease.tryAcquire(opts("a", { name: "other" })).pipe(Scope.provide(scope))
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
        yield* lease.release
      }
      const state = scope.state as { _tag: string; finalizers?: Map<unknown, unknown>; finalizer?: unknown }
      const count = state._tag === "Open" ? (state.finalizers?.size ?? (state.finalizer ? 1 : 0)) : 0
      yield* Fiber.interrupt(b.fiber)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(count, 0, `finalizers left in the scope: ${count}`)
    })))

  // holds: events emitted after the contender's scope shut the PubSub down (a subscriber that
  // subscribed after the tenure started) do not interrupt the release: publish answers false.
  it.effect("closing a contender with a late subscriber releases the lease and exits successfully", () =>
    withStore(Effect.gen(function*() {
      const { contender: c, scope } = yield* contenderIn("a")
      yield* c.acquire()
      const seen = yield* Ref.make<ReadonlyArray<LeaseEvent["_tag"]>>([])
      yield* c.events.pipe(Stream.runForEach((e) => Ref.update(seen, (s) => [...s, e._tag])), Effect.forkDetach)
      yield* settle
      const exit = yield* Effect.exit(Scope.close(scope, Exit.void))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual((yield* read(key)).holder, "")
    })))

  // holds: the contender's release from inside its own guarded work answers at once and the write
  // follows when the work returns; the record is cleared, the guarded work ran to its end.
  it.effect("contender.release from inside guarded work does not deadlock", () =>
    withStore(Effect.gen(function*() {
      const { contender: c, scope } = yield* contenderIn("a")
      const lease = yield* c.acquire()
      const result = yield* lease.guard(Effect.gen(function*() {
        yield* c.release
        yield* Effect.sleep("1 second")
        return "finished"
      })).pipe(Effect.forkDetach)
      yield* fine(2)
      assert.strictEqual(yield* Fiber.join(result), "finished")
      assert.strictEqual((yield* read(key)).holder, "")
      yield* Scope.close(scope, Exit.void)
    })))

  // holds: the observer reports the holders in the order they held, at once on a graceful
  // release, and judges a silent holder expired only a full duration after it first saw it.
  it.effect("observe reports a, then free, then b, and a dead holder as expired after a full duration", () =>
    withStore(Effect.gen(function*() {
      const reports = yield* Ref.make<ReadonlyArray<string>>([])
      const scopeA = yield* Scope.make()
      yield* Lease.acquire(opts("a")).pipe(Scope.provide(scopeA))
      yield* Lease.observe(key).pipe(
        Stream.runForEach((r) =>
          Effect.flatMap(elapsed, (t) =>
            Ref.update(reports, (l) => [...l, `${t} ${Option.getOrElse(r.holder, () => "-")} ${Duration.toMillis(r.expiresIn)}`])
          )
        ),
        Effect.forkDetach
      )
      yield* settle
      yield* fine(1)
      yield* Scope.close(scopeA, Exit.void)
      yield* fine(1)
      const probe = yield* Probe
      const cur = yield* read(key)
      yield* probe.admin.update(cur, { holder: "b", durationSeconds: 20, acquireTime: 0, renewTime: 0, transitions: 5 })
      yield* fine(25)
      const all = yield* Ref.get(reports)
      assert.deepStrictEqual(all.map((r) => r.split(" ").slice(0, 2).join(" ")), ["0 a", "1000 -", "2000 b", "22000 b"])
      assert.isTrue(all[3]!.endsWith(" 0"), JSON.stringify(all))
    }), { watch: true }))

  // holds: two processes simulated with two stores over one backend: each gets its own service
  // (and memory); exclusion holds and the second takes over only after a full duration.
  it.effect("two stores over one backend: the second process waits a full duration of its own observation", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const store = yield* LeaseStore
      const processB = { ...store }
      // a acquires and then dies (its renewals never reach the store)
      const scopeA = yield* Scope.make()
      yield* Lease.acquire(opts("a")).pipe(Scope.provide(scopeA))
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { reason: "Unavailable" } : undefined)
      yield* fine(5)
      const b = yield* Effect.scoped(Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("b"))
        return { token: lease.token, at: yield* elapsed }
      })).pipe(Effect.provideService(LeaseStore, processB), Effect.forkDetach)
      yield* fine(30)
      const got = yield* Fiber.join(b)
      yield* probe.setFaults(undefined)
      yield* Scope.close(scopeA, Exit.void)
      // a's last write was at 0; b first saw it at 5 s: not before 25 s
      assert.isAtLeast(got.at, 25_000)
    })))
})
