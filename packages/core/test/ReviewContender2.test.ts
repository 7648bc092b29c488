/**
 * Second independent review of the contender after the fixes of 777d165 (permit over decisions
 * only, `finish` outside it, tenures `current` until their scope closed, `ensureOpen`, bounded
 * renewal in `tryAcquire`, `acquire(timeout)`), LeaderElection over one contender.
 *
 * Tests named for a property and failing at aa69ded are findings; those marked `// holds:` are
 * attacks that did not break it (controls).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as LeaderElection from "../src/LeaderElection.ts"
import { Probe, read } from "./FaultyStore.ts"
import { contenderIn, elapsed, fine, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"


describe("review 2: contender", () => {
  // ---------------------------------------------------------------------------------------------
  // Finding: calls are not run "in the order they were made". A tryAcquire (the Promise facade's
  // `renew()`, typically on an interval) that is renewing the live tenure when a release is called
  // sees the tenure end (the release began), finishes it — joining the release — and then *starts
  // a new tenure* on the lease the release just freed. The release resolves, then the lease is
  // held again by the same contender (token + 1), renewed for as long as the contender lives.
  //   0.0 s  T1 held; a's updates take 1 s to answer
  //   0.0 s  A: tryAcquire → decide → renewing T1 (under the permit, 1 s)
  //   0.1 s  R: release → current Some(T1) → phase Stopping; the write waits for the renewal
  //   1.0 s  renewal done; A: isHeld false → Finish → joins R's release
  //   ~1 s   R's write lands (holder ""), R resolves
  //   ~1 s   A: decide → None → start → record free → new tenure T2 (token 2), lands at ~2 s
  // ---------------------------------------------------------------------------------------------
  it.effect("a release called while tryAcquire renews the live tenure leaves nothing held: tryAcquire does not start a new tenure after it", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      const t1 = yield* c.acquire()
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { delay: "1 second" } : undefined)
      const a = yield* c.tryAcquire.pipe(Effect.exit, Effect.forkDetach)
      yield* fine(0.1)
      const r = yield* c.release.pipe(Effect.exit, Effect.forkDetach)
      yield* fine(10)
      const released = yield* Fiber.join(r)
      const tried = yield* Fiber.join(a)
      const current = yield* c.current
      const record = yield* read(key)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.isSuccess(released), "release failed")
      const answer = Exit.isSuccess(tried) && tried.value._tag === "Acquired" ? tried.value.lease.token : undefined
      assert.isTrue(
        Option.isNone(current) && record.holder !== "a",
        `release resolved, then tryAcquire (called first, T1 token ${t1.token}) answered token ${answer}; ` +
          `the contender now holds ${Option.map(current, (h) => h.token)} and the record names ${JSON.stringify(record.holder)} ` +
          `(transitions ${record.transitions})`
      )
    })))

  // The same with acquire (no timeout; the renewal is not bounded at all).
  it.effect("a release called while acquire renews the live tenure leaves nothing held: acquire does not start a new tenure after it", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      yield* c.acquire()
      yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "a" ? { delay: "1 second" } : undefined)
      const a = yield* c.acquire().pipe(Effect.exit, Effect.forkDetach)
      yield* fine(0.1)
      const r = yield* c.release.pipe(Effect.exit, Effect.forkDetach)
      yield* fine(10)
      const released = yield* Fiber.join(r)
      yield* Fiber.join(a)
      const current = yield* c.current
      const record = yield* read(key)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.isSuccess(released), "release failed")
      assert.isTrue(
        Option.isNone(current) && record.holder !== "a",
        `release resolved, yet the contender holds token ${Option.map(current, (h) => h.token)}; record ${JSON.stringify(record)}`
      )
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding: one contender, two tenures at once — through guarded work of ANOTHER lease. A caller
  // inside any guarded work never waits for a release (`inside` in tenure.ts's releaseTenure), and
  // `finish` then closes the old tenure's scope at once: its last finalizer forgets it, and the
  // acquisition goes on to take the lease ("Ours": the record still names us, the release write
  // still waits for T1's guarded work) — T2 is handed out while T1's guarded work still runs, and
  // T1's release then finds "a newer tenure of this holder" and writes nothing: the release
  // resolves, the lease stays held. Realistic: a leader (whileLeading is guarded work) using a
  // job-lease contender shared with other fibers.
  //   0 s    T1 (lease L, holder a) held; W1 = T1.guard(work whose interruption takes 3 s)
  //   0 s    U (lease L2, holder x) held
  //   0 s    R: c.release → stops W1, waits for it (until 3 s), then writes
  //   0 s    G = U.guard(c.acquire()) → Finish(T1) → held.release answers Pending (inside U's
  //          guard) → dispose closes T1's scope → current None → attempt: record names a → T2
  //   0…3 s  W1 (T1's guarded work) still runs while T2 is held
  // ---------------------------------------------------------------------------------------------
  it.effect("a contender holds one tenure at a time: acquire from inside another lease's guarded work waits for the release of the previous tenure", () =>
    withStore(Effect.gen(function*() {
      const timeline = yield* makeTimeline
      const { contender: c, scope } = yield* contenderIn("a")
      const { contender: d, scope: scopeD } = yield* contenderIn("x", { name: "other-lease" })
      const t1 = yield* c.acquire()
      const u = yield* d.acquire()
      const started = yield* Deferred.make<void>()
      yield* t1.guard(
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          // a flush that must finish before the lease is given up
          Effect.onInterrupt(() => Effect.sleep("3 seconds").pipe(Effect.andThen(timeline.mark("w1 stopped"))))
        )
      ).pipe(Effect.exit, Effect.forkDetach)
      yield* Deferred.await(started)
      const r = yield* c.release.pipe(
        Effect.tap(() => timeline.mark("release resolved")),
        Effect.exit,
        Effect.forkDetach
      )
      yield* settle
      const g = yield* u.guard(
        c.acquire().pipe(Effect.tap((t2) => timeline.mark(`t2 acquired (token ${t2.token})`)))
      ).pipe(Effect.exit, Effect.forkDetach)
      yield* fine(10)
      yield* Fiber.join(r)
      const t2 = yield* Fiber.join(g)
      const all = yield* timeline.all
      const current = yield* c.current
      const record = yield* read(key)
      yield* Scope.close(scope, Exit.void)
      yield* Scope.close(scopeD, Exit.void)
      const stoppedAt = all.find(([e]) => e === "w1 stopped")?.[1]
      const acquiredAt = all.find(([e]) => e.startsWith("t2 acquired"))?.[1]
      assert.isTrue(
        acquiredAt === undefined || (stoppedAt !== undefined && acquiredAt >= stoppedAt),
        `T2 handed out while T1's guarded work still ran: ${JSON.stringify(all)}; after the release resolved the contender ` +
          `holds ${Option.map(current, (h) => h.token)} and the record names ${JSON.stringify(record.holder)}; g: ${
            Exit.isSuccess(t2) ? `token ${t2.value.token}` : "failed"
          }`
      )
    })))

  // ---------------------------------------------------------------------------------------------
  // Finding (low): the contender's scope closes while an acquisition's write is on the wire. The
  // tenure scope is closed first (its `closed` finalizer runs: current stays None), the write lands,
  // `Tenure.start` adds its finalizer to a closed scope — which runs it at once (the lease is
  // released) — and only then `attemptIn` sets `current` to that tenure. Nothing ever clears it:
  // `current` answers a released tenure for ever. (Also: `Scope.close` of the contender returned
  // before the lease it was taking was written and released.)
  // ---------------------------------------------------------------------------------------------
  it.effect("closing the contender's scope while an acquisition write is in flight leaves current empty", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      yield* probe.setFaults((op, spec) => op === "create" && spec?.holder === "a" ? { delay: "1 second" } : undefined)
      const a = yield* c.acquire().pipe(Effect.exit, Effect.forkDetach)
      yield* fine(0.5)
      yield* Scope.close(scope, Exit.void)
      const closedAt = yield* elapsed
      yield* fine(5)
      const exit = yield* Fiber.join(a)
      const current = yield* c.current
      const record = yield* read(key)
      assert.isTrue(Exit.isFailure(exit), "acquire succeeded on a closed contender")
      assert.notStrictEqual(record.holder, "a", "the lease is held by a closed contender")
      assert.isTrue(
        Option.isNone(current),
        `scope closed at ${closedAt} ms; current answers token ${Option.map(current, (h) => h.token)} (isHeld ${
          Option.isSome(current) ? yield* current.value.isHeld : "-"
        }) for ever`
      )
    })))

  // holds: a dead store does not make acquire loop hot over a tenure whose release fails — finish
  // retries within the release's own schedule, then waits like any waiter.
  it.effect("acquire after a release that failed on a dead store makes a bounded number of store calls", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      yield* c.acquire()
      yield* probe.setFaults(() => ({ reason: "Unavailable" }))
      const released = yield* c.release.pipe(Effect.exit, Effect.forkDetach)
      yield* fine(25)
      assert.isTrue(Exit.isFailure(yield* Fiber.join(released)))
      yield* probe.resetCalls
      const a = yield* c.acquire().pipe(Effect.exit, Effect.forkDetach)
      yield* fine(20)
      const calls = yield* probe.calls()
      yield* Fiber.interrupt(a)
      yield* Scope.close(scope, Exit.void)
      // retryPeriod is 2 s: about one call per retry period, plus the release attempts.
      assert.isAtMost(calls, 40, `${calls} store calls in 20 s`)
    })))

  // holds: an acquire that races the contender's scope closing hands nothing out and writes
  // nothing when the close comes first.
  it.effect("acquire started on a contender whose scope is closing is interrupted and writes nothing", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const { contender: c, scope } = yield* contenderIn("a")
      const closing = yield* Scope.close(scope, Exit.void).pipe(Effect.forkDetach)
      const a = yield* c.acquire().pipe(Effect.exit, Effect.forkDetach)
      yield* fine(2)
      yield* Fiber.join(closing)
      const exit = yield* Fiber.join(a)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      assert.strictEqual((yield* probe.calls("create")) + (yield* probe.calls("update")), 0)
    })))
})

describe("review 2: LeaderElection", () => {
  // ---------------------------------------------------------------------------------------------
  // Finding (low/medium): a release of the election's lease that is not the election's scope
  // closing — whileLeading stepping down from a fiber it forked (a health check) — fails the
  // guard with `Relinquished`, which `terms` turns into `Effect.interrupt`: the election stops
  // with an interrupt-only cause while its scope lives on. `layer` ignores interrupt-only causes
  // (nothing is logged): the replica silently leaves the election for good, and `await` fails
  // with an interruption nobody asked for.
  // ---------------------------------------------------------------------------------------------
  it.effect("LeaderElection.make: whileLeading stepping down from a forked fiber does not end the election as an interruption", () =>
    withStore(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const terms = { n: 0 }
      const election = yield* LeaderElection.make(opts("a"), (lease) =>
        Effect.gen(function*() {
          terms.n++
          if (terms.n === 1) {
            yield* Effect.forkChild(Effect.sleep("1 second").pipe(Effect.andThen(Effect.ignore(lease.release))))
          }
          return yield* Effect.never
        })).pipe(Scope.provide(scope))
      yield* fine(10)
      const status = yield* election.status
      yield* Scope.close(scope, Exit.void)
      assert.isFalse(
        status._tag === "Stopped" && Cause.hasInterruptsOnly(status.cause),
        `after a step-down the election is ${status._tag} with an interrupt-only cause (terms led: ${terms.n}); ` +
          `the scope is still open`
      )
    })))
})
