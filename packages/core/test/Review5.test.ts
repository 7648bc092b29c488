/**
 * A fifth independent review, of 20dab0f (spared guard chain awaited; "Pending" for a caller inside
 * any live guard; the detached release closes the tenure's scope).
 *
 * Every test that failed on the reviewed commit (a finding) was fixed after it; those marked
 * `// holds:` were attacks that did not break it. All stay as regression tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, contend, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"

/** Advances the virtual clock 100 ms at a time. */
const fine = (seconds: number) => Effect.repeat(TestClock.adjust("100 millis"), { times: seconds * 10 - 1 })

const done = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.await(fiber).pipe(Effect.timeoutOption(0)), Option.isSome)

/** Release writes (holder cleared) take `ms` before they reach the store: a slow network. */
const slowReleaseWrites = (ms: number) =>
  Effect.flatMap(Probe, (probe) =>
    probe.setFaults((op, spec) => op === "update" && spec?.holder === "" ? { delay: `${ms} millis` } : undefined))

/** The outcome of a deferred if it is done, without waiting. */
const pollExit = <A, E>(deferred: Deferred.Deferred<A, E>) =>
  Effect.flatMap(Deferred.poll(deferred), (polled) =>
    Option.isSome(polled) ? Effect.map(Effect.exit(polled.value), Option.some) : Effect.succeed(Option.none<Exit.Exit<A, E>>()))

describe("review 5", () => {
  describe("a Pending release's late write", () => {
    // The same identity takes its lease again after a release from inside guarded work returned
    // "Pending" and that guard returned (from the caller's view, tenure 1 is over). Tenure 1's
    // detached write is still on its way: its CAS conflicts with tenure 2's acquiring write, the
    // read-back finds a record that names us, *adopts it* and clears it — tenure 2's lease. A
    // watching contender b takes it at once, while tenure 2 goes on believing until its next
    // renewal (renewInterval, ~6.7 s) finds b: two believers.
    //   0 s    tenure 1; guard(release → Pending); guard returns; write sent (0.5 s in flight)
    //   0 s    tenure 2 (same holder): record names us → Ours → acquiring write
    //   0.5 s  tenure 1's write: Conflict → read back → names "a" → adopt → clears tenure 2's record
    //   ~1 s   b acquires; tenure 2's lost fires only at its next renewal
    it.effect("a Pending release's late write does not clear the same identity's next tenure", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const app = yield* Scope.make()
        const first = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
        const b = yield* contend("b")
        yield* settle
        yield* slowReleaseWrites(500)
        yield* Effect.gen(function*() {
          yield* first.guard(first.release)
          yield* timeline.mark("first guard returned")
          // Tenure 1 is over as far as this fiber can tell: take the lease again.
          const second = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
          yield* timeline.mark(`second acquired, token ${second.token}`)
          yield* second.lost.pipe(Effect.exit, Effect.andThen(timeline.mark("second lost")), Effect.forkDetach)
        }).pipe(Effect.forkDetach)
        yield* fine(20)
        const bAt = Option.map(yield* pollExit(b.acquired), (e) => Exit.isSuccess(e) ? e.value.at : -1)
        const bToken = Option.map(yield* pollExit(b.acquired), (e) => Exit.isSuccess(e) ? e.value.token : -1)
        const lostAt = yield* timeline.at("second lost")
        yield* (yield* Probe).setFaults(undefined)
        yield* Fiber.interrupt(b.fiber)
        assert.isTrue(
          Option.isNone(bAt) || (lostAt !== undefined && lostAt <= Option.getOrThrow(bAt)),
          `${JSON.stringify(yield* timeline.all)}; second tenure lost at ${lostAt} ms; ` +
            `b acquired at ${Option.getOrUndefined(bAt)} ms with token ${Option.getOrUndefined(bToken)}; record ${JSON.stringify((yield* read(key)).holder)}`
        )
      }), { watch: true }))

    // The same without calling release at all: jobs run one after the other with withLease and a
    // fixed identity (a pod name), inside the guarded work of an outer lease (a region lock). The
    // first withLease's scope closes from inside guarded work (the outer guard): its finalizer
    // answers "Pending" and the write follows in the background. The second withLease takes the
    // lease at once (the record names us), and the first tenure's late write clears it.
    it.effect("consecutive withLease of one identity inside another lease's guarded work never overlap another holder", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        const started = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        // No fault at all: a perfectly fast store shows it too (a 500 ms release write, as above,
        // fails the same way).
        yield* outer.guard(Effect.gen(function*() {
          yield* Lease.withLease(opts("a"))(
            timeline.mark("job 1").pipe(Effect.andThen(Deferred.succeed(started, undefined)), Effect.andThen(Deferred.await(go)))
          )
          yield* Lease.withLease(opts("a"))((lease) =>
            Effect.gen(function*() {
              yield* timeline.mark(`job 2 starts, token ${lease.token}`)
              for (let i = 0; i < 15; i++) {
                yield* Effect.sleep("1 second")
                yield* timeline.mark(`job 2 step`)
              }
            }).pipe(Effect.onExit((exit) => timeline.mark(`job 2 ended ${exit._tag}`)))
          )
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* Deferred.await(started)
        const b = yield* contend("b")
        yield* settle
        yield* Deferred.succeed(go, undefined)
        yield* fine(20)
        const bAcq = yield* pollExit(b.acquired)
        const bAt = Option.map(bAcq, (e) => Exit.isSuccess(e) ? e.value.at : -1)
        const steps = (yield* timeline.all).filter(([e, t]) => e === "job 2 step" && Option.isSome(bAt) && t > bAt.value)
        yield* (yield* Probe).setFaults(undefined)
        yield* Fiber.interrupt(b.fiber)
        assert.deepStrictEqual(steps, [],
          `${JSON.stringify(yield* timeline.all)}; b acquired at ${Option.getOrUndefined(bAt)} ms with token ` +
            `${Option.getOrUndefined(Option.map(bAcq, (e) => Exit.isSuccess(e) ? e.value.token : -1))}`)
      }), { watch: true }))
  })
  describe("a spared guard and the scope's close", () => {
    // An application scope: a worker fiber forked into it first (so it is interrupted last), then
    // the lease acquired in it. The worker's guarded work gives the lease up early ("release
    // returns at once; the work keeps the lease until it returns") and goes on serving until the
    // application shuts down. Shutdown closes the scope: the tenure's finalizer (registered last,
    // run first) joins the release in progress, which waits for the spared work — which only
    // shutdown would interrupt (its fork's finalizer comes after). The close never returns, and
    // the lease is renewed for ever; no other caller (a release from outside, the scope) can stop
    // a spared guard.
    it.effect("closing the application scope while a spared guard still serves does not hang", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const app = yield* Scope.make()
        const leaseD = yield* Deferred.make<Lease.HeldLease>()
        yield* Deferred.await(leaseD).pipe(
          Effect.flatMap((lease) =>
            lease.guard(Effect.gen(function*() {
              yield* lease.release
              yield* timeline.mark("released early; serving until shutdown")
              yield* Effect.never
            }))
          ),
          Effect.onExit(() => timeline.mark("worker stopped")),
          Effect.ignore,
          Effect.forkIn(app)
        )
        const lease = yield* Lease.acquire(opts("a")).pipe(Scope.provide(app))
        yield* Deferred.succeed(leaseD, lease)
        yield* settle
        const closing = yield* Scope.close(app, Exit.void).pipe(Effect.forkDetach)
        yield* advance(120)
        const probe = yield* Probe
        yield* probe.resetCalls
        yield* advance(60)
        const renewals = yield* probe.calls("update")
        const closed = yield* done(closing)
        assert.isTrue(closed,
          `${JSON.stringify(yield* timeline.all)}; 3 min after shutdown began: close returned ${closed}; ` +
            `holder ${JSON.stringify((yield* read(key)).holder)}; renewals in the last minute: ${renewals}`)
      })))

    // holds: the same with a plain outside release instead of the scope: it answers only when the
    // spared work returns — here it does, after 5 s, and the write follows then.
    it.effect("holds: an outside release after an inside one waits for the spared work and then writes", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.guard(lease.release.pipe(Effect.andThen(Effect.sleep("5 seconds")), Effect.andThen(timeline.mark("work done"))))
          .pipe(Effect.ignore, Effect.forkDetach)
        yield* settle
        const r = yield* lease.release.pipe(Effect.andThen(timeline.mark("outside release returned")), Effect.forkDetach)
        yield* advance(10)
        assert.isTrue(yield* done(r))
        assert.strictEqual((yield* read(key)).holder, "")
        assert.isAtLeast((yield* timeline.at("outside release returned"))!, (yield* timeline.at("work done"))!)
      })))
  })
})
