/**
 * A sixth independent review, of 0fa7765 (a tenure renews, adopts and clears only records carrying
 * its own holder *and* token — `isThisTenure`; the scope's finalizer tells every guard to stop).
 *
 * Every test that failed on the reviewed commit (a finding) was fixed after it; those marked
 * `// holds:` were attacks that did not break it. All stay as regression tests.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as Lease from "../src/Lease.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { Probe, read } from "./FaultyStore.ts"
import { contend, elapsed, key, makeTimeline, opts, settle, withStore } from "./Scene.ts"

/** Advances the virtual clock 100 ms at a time. */
const fine = (seconds: number) => Effect.repeat(TestClock.adjust("100 millis"), { times: seconds * 10 - 1 })

/** The outcome of a deferred if it is done, without waiting. */
const pollExit = <A, E>(deferred: Deferred.Deferred<A, E>) =>
  Effect.flatMap(Deferred.poll(deferred), (polled) =>
    Option.isSome(polled) ? Effect.map(Effect.exit(polled.value), Option.some) : Effect.succeed(Option.none<Exit.Exit<A, E>>()))

const acquiredAt = <E>(d: Deferred.Deferred<{ readonly at: number; readonly token: number }, E>) =>
  Effect.map(pollExit(d), Option.flatMap((e) => Exit.isSuccess(e) ? Option.some(e.value) : Option.none()))

describe("review 6", () => {
  describe("releaseMode delete: a token repeats after a delete, so isThisTenure can mistake a newer tenure for an older one", () => {
    // A tight tryAcquire/release loop of one identity, inside another lease's guarded work (so
    // every release answers Pending at once), with delete mode and one slow delete on the wire.
    // Tenure 0 is created (token 0); its delete (from v1) takes 1.5 s. Tenure 1 takes the record
    // that still names us (token 1) and deletes it at once. Tenure 2 finds the lease absent and
    // creates it: token 0 again, holder "a" — exactly tenure 0's (holder, token). Tenure 0's slow
    // delete arrives: Conflict → read back → isThisTenure (a, 0) → adopts tenure 2's record →
    // deletes it. A watching contender c creates it at once, while tenure 2 believes (and runs
    // guarded steps) until its next renewal finds the object gone (~6.7 s).
    //   0 s     t0 create v1 token 0; release → remove(v1) in flight 1.5 s
    //   0 s     t1 update v1→v2 token 1; release → remove(v2) lands
    //   0.1 s   t2 create v3 token 0; c starts waiting (watch)
    //   1.5 s   t0's remove(v1): Conflict → get v3 (a, 0) → adopt → remove(v3) → gone; c creates
    //   ~6.8 s  t2's renewal: NotFound → lost (Deleted); its guarded steps ran alongside c
    it.effect("a slow delete of an earlier tenure does not delete a later tenure of the same identity (tryAcquire loop)", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const probe = yield* Probe
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        let removes = 0
        yield* probe.setFaults((op) => op === "remove" && removes++ === 0 ? { delay: "1500 millis" } : undefined)
        const lastHeld = yield* Deferred.make<void>()
        yield* outer.guard(Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            yield* Effect.scoped(Effect.gen(function*() {
              const lease = Option.getOrThrow(yield* Lease.tryAcquire(opts("a", { releaseMode: "delete" })))
              yield* timeline.mark(`t${i} acquired token ${lease.token}`)
              if (i < 2) {
                yield* lease.release
                yield* Effect.sleep("50 millis")
                return
              }
              yield* lease.lost.pipe(Effect.exit, Effect.andThen(timeline.mark("t2 lost")), Effect.forkDetach)
              yield* Deferred.succeed(lastHeld, undefined)
              yield* lease.guard(Effect.gen(function*() {
                for (let s = 0; s < 15; s++) {
                  yield* Effect.sleep("1 second")
                  yield* timeline.mark("t2 step")
                }
              }))
            }))
          }
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* fine(0.1)
        yield* Deferred.await(lastHeld)
        const c = yield* contend("c", { releaseMode: "delete" })
        yield* fine(20)
        const cAcq = yield* acquiredAt(c.acquired)
        const lostAt = yield* timeline.at("t2 lost")
        const all = yield* timeline.all
        yield* probe.setFaults(undefined)
        yield* Fiber.interrupt(c.fiber)
        const stepsAfter = all.filter(([e, t]) => e === "t2 step" && Option.isSome(cAcq) && t > cAcq.value.at)
        assert.isTrue(
          // (c may also get the lease after t2 released it normally: no step of t2 after c's start)
          Option.isNone(cAcq) || (stepsAfter.length === 0 && (lostAt === undefined || lostAt <= cAcq.value.at)),
          `${JSON.stringify(all)}; c acquired ${JSON.stringify(Option.getOrUndefined(cAcq))}; t2 lost at ${lostAt}; ` +
            `t2 guarded steps after c acquired: ${stepsAfter.length}`
        )
      }), { watch: true }))

    // The same with consecutive withLease of one identity (a pod name) inside a region lock, and
    // a perfectly ordinary network hiccup: the first delete lands but its answer is lost
    // (Timeout). The release retries after retryPeriod (2 s) — by then the next job has
    // recreated the lease with token 0, so the retry's Conflict → read back → (a, 0) adopts the
    // new job's record and deletes it.
    it.effect("an ambiguous delete retried after the same identity recreated the lease does not delete the new tenure (withLease)", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const probe = yield* Probe
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        let removes = 0
        yield* probe.setFaults((op) => op === "remove" && removes++ === 0 ? { reason: "Timeout", applied: true } : undefined)
        const job2 = yield* Deferred.make<void>()
        yield* outer.guard(Effect.gen(function*() {
          yield* Lease.withLease(opts("a", { releaseMode: "delete" }))((lease) => timeline.mark(`job 1 token ${lease.token}`))
          yield* Effect.sleep("100 millis") // jobs a moment apart: job 1's release write goes out first
          yield* Lease.withLease(opts("a", { releaseMode: "delete" }))((lease) =>
            Effect.gen(function*() {
              yield* timeline.mark(`job 2 starts, token ${lease.token}`)
              yield* lease.lost.pipe(Effect.exit, Effect.andThen(timeline.mark("job 2 lost")), Effect.forkDetach)
              yield* Deferred.succeed(job2, undefined)
              for (let s = 0; s < 15; s++) {
                yield* Effect.sleep("1 second")
                yield* timeline.mark("job 2 step")
              }
            })
          )
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* fine(0.2)
        yield* Deferred.await(job2)
        const c = yield* contend("c", { releaseMode: "delete" })
        yield* fine(20)
        const cAcq = yield* acquiredAt(c.acquired)
        const all = yield* timeline.all
        yield* probe.setFaults(undefined)
        yield* Fiber.interrupt(c.fiber)
        const stepsAfter = all.filter(([e, t]) => e === "job 2 step" && Option.isSome(cAcq) && t > cAcq.value.at)
        assert.deepStrictEqual(stepsAfter, [],
          `${JSON.stringify(all)}; c acquired ${JSON.stringify(Option.getOrUndefined(cAcq))}`)
      }), { watch: true }))
  })

  describe("clear mode: tight loops and re-entry of one identity", () => {
    // holds: the same tryAcquire/release loop in clear mode, every release write slow (0.5–1.5 s):
    // tokens strictly increase, no pending release clears a later tenure, and c gets the lease
    // only after the last tenure's release began.
    it.effect("holds: a tight tryAcquire/release loop with slow clearing writes keeps tokens increasing and c out", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const probe = yield* Probe
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        let clears = 0
        yield* probe.setFaults((op, spec) =>
          op === "update" && spec?.holder === "" ? { delay: `${500 + 250 * (clears++ % 5)} millis` } : undefined)
        const tokens: Array<number> = []
        const lastHeld = yield* Deferred.make<void>()
        yield* outer.guard(Effect.gen(function*() {
          for (let i = 0; i < 12; i++) {
            yield* Effect.scoped(Effect.gen(function*() {
              const got = yield* Lease.tryAcquire(opts("a"))
              if (Option.isNone(got)) return yield* timeline.mark(`t${i} busy`)
              const lease = got.value
              tokens.push(lease.token)
              if (i < 11) {
                yield* lease.release
                yield* Effect.sleep("100 millis")
                return
              }
              yield* lease.lost.pipe(Effect.exit, Effect.andThen(timeline.mark("last lost")), Effect.forkDetach)
              yield* Deferred.succeed(lastHeld, undefined)
              yield* lease.guard(Effect.gen(function*() {
                for (let s = 0; s < 15; s++) {
                  yield* Effect.sleep("1 second")
                  yield* timeline.mark("last step")
                }
              })).pipe(Effect.ignore)
              yield* timeline.mark("last release begins")
            }))
          }
        })).pipe(Effect.ignore, Effect.forkDetach)
        yield* fine(0.1)
        const c = yield* contend("c")
        yield* fine(40)
        const cAcq = yield* acquiredAt(c.acquired)
        const all = yield* timeline.all
        yield* probe.setFaults(undefined)
        yield* Fiber.interrupt(c.fiber)
        for (let i = 1; i < tokens.length; i++) assert.isAbove(tokens[i]!, tokens[i - 1]!, `tokens ${tokens}`)
        const end = (yield* timeline.at("last release begins")) ?? (yield* timeline.at("last lost"))
        assert.isTrue(Option.isNone(cAcq) || (end !== undefined && cAcq.value.at >= end),
          `${JSON.stringify(all)}; tokens ${tokens}; c ${JSON.stringify(Option.getOrUndefined(cAcq))}`)
      }), { watch: true }))

    // An old tenure whose release is pending (a guard winding down slowly, 10 s uninterruptible)
    // while a newer tenure of the same identity is held: the old renewer's CAS conflicts, the read
    // back finds (a, token 1) ≠ (a, 0) and declares "Taken by a" on the old tenure — `lost` fires
    // after the old tenure's own release began ("never on our own release" says HeldLease.lost).
    // The new tenure must not be touched (checked separately below).
    it.effect("an old tenure whose release is pending does not report a loss when the same identity takes the lease again", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        const s1 = yield* Scope.make()
        const old = yield* Lease.acquire(opts("a")).pipe(Scope.provide(s1))
        yield* old.lost.pipe(Effect.flip, Effect.flatMap((e) => timeline.mark(`old lost ${e.reason._tag}`)), Effect.forkDetach)
        yield* old.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("10 seconds")))).pipe(
          Effect.ignore,
          Effect.forkDetach
        )
        yield* settle
        yield* outer.guard(Scope.close(s1, Exit.void)).pipe(Effect.forkDetach)
        yield* settle
        const fresh = yield* Lease.acquire(opts("a"))
        yield* timeline.mark(`new token ${fresh.token}`)
        yield* fine(15)
        const all = yield* timeline.all
        assert.isUndefined(all.find(([e]) => e.startsWith("old lost")), JSON.stringify(all))
      })))

    // holds: in the same scene the new tenure is untouched: it stays held, renewed, named in the
    // record with its token, and a contender c does not get in.
    it.effect("holds: an old tenure's pending release and renewer never touch the same identity's new tenure", () =>
      withStore(Effect.gen(function*() {
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        const s1 = yield* Scope.make()
        const old = yield* Lease.acquire(opts("a")).pipe(Scope.provide(s1))
        yield* old.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sleep("10 seconds")))).pipe(
          Effect.ignore,
          Effect.forkDetach
        )
        yield* settle
        yield* outer.guard(Scope.close(s1, Exit.void)).pipe(Effect.forkDetach)
        yield* settle
        const fresh = yield* Lease.acquire(opts("a"))
        const c = yield* contend("c")
        yield* fine(40)
        assert.isTrue(yield* fresh.isHeld)
        assert.isTrue(Option.isNone(yield* Deferred.poll(c.acquired)))
        const r = yield* read(key)
        assert.strictEqual(r.holder, "a")
        assert.strictEqual(r.transitions, fresh.token)
        yield* Fiber.interrupt(c.fiber)
      }), { watch: true }))

    // holds: LeaderElection nested in another lease's guarded work, same identity, re-entering
    // after a deadline loss (renewals unavailable for 14 s) whose release write is slow: the
    // re-entry takes the record that still names us at once; the old tenure's late clearing write
    // conflicts and finds a newer tenure; c never overlaps; tokens increase.
    it.effect("holds: nested LeaderElection re-entering after a deadline loss with a slow release write", () =>
      withStore(Effect.gen(function*() {
        const probe = yield* Probe
        const terms = yield* Ref.make<Array<{ token: number; from: number; to?: number }>>([])
        const outer = yield* Lease.acquire(opts("o", { name: "region" }))
        yield* outer.guard(LeaderElection.run(opts("a"), (lease) =>
          Effect.gen(function*() {
            const from = yield* elapsed
            yield* Ref.update(terms, (t) => [...t, { token: lease.token, from }])
            yield* Effect.never
          }).pipe(Effect.onExit(() =>
            Effect.flatMap(elapsed, (to) => Ref.update(terms, (t) => t.map((x, i) => i === t.length - 1 ? { ...x, to } : x)))
          )))).pipe(Effect.ignore, Effect.forkDetach)
        yield* settle
        const c = yield* contend("c")
        yield* fine(1)
        yield* probe.setFaults((op, spec) =>
          op === "update" && spec?.holder === "a" ? { reason: "Unavailable" }
          : op === "update" && spec?.holder === "" ? { delay: "1500 millis" }
          : undefined)
        yield* fine(13)
        yield* probe.setFaults((op, spec) => op === "update" && spec?.holder === "" ? { delay: "1500 millis" } : undefined)
        yield* fine(40)
        const seen = yield* Ref.get(terms)
        const cAcq = yield* acquiredAt(c.acquired)
        yield* probe.setFaults(undefined)
        yield* Fiber.interrupt(c.fiber)
        for (let i = 1; i < seen.length; i++) assert.isAbove(seen[i]!.token, seen[i - 1]!.token, JSON.stringify(seen))
        if (Option.isSome(cAcq)) {
          for (const t of seen) {
            assert.isTrue(t.from > cAcq.value.at ? false : t.to !== undefined && t.to <= cAcq.value.at,
              `${JSON.stringify(seen)}; c ${JSON.stringify(cAcq.value)}`)
          }
        }
      }), { watch: true }))
  })

  describe("an admin rewriting transitions while keeping the holder", () => {
    // holds: (safety) the tenure's next renewal conflicts, the read back names us with another
    // token: "Taken by a". lost fires, guarded work stops, and c (who honours a full duration of
    // the admin's version) takes over only afterwards.
    it.effect("holds: an admin's transitions rewrite ends the tenure before anyone else can take it", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.lost.pipe(Effect.flip, Effect.flatMap((e) => timeline.mark(`lost ${e.reason._tag}`)), Effect.forkDetach)
        const c = yield* contend("c")
        yield* fine(1)
        const r = yield* read(key)
        yield* probe.admin.update(r, { ...specOf(r), transitions: 41 })
        yield* fine(40)
        const cAcq = yield* acquiredAt(c.acquired)
        const all = yield* timeline.all
        yield* Fiber.interrupt(c.fiber)
        const lostAt = all.find(([e]) => e.startsWith("lost"))?.[1]
        assert.isTrue(Option.isNone(cAcq) || (lostAt !== undefined && lostAt <= cAcq.value.at),
          `${JSON.stringify(all)}; c ${JSON.stringify(Option.getOrUndefined(cAcq))}`)
      }), { watch: true }))

    // Before 0fa7765 a record that still named us was adopted (the doc still says: "a record that
    // still names us (someone added a label) is adopted"); now any transitions edit — e.g. an
    // admin or a migration normalising counters — is a loss "Taken by <ourselves>", and since a
    // Taken loss is not released, the lease then sits unrenewed under our name for a duration.
    // Decided: a tenure is its holder *and* its token; an admin rewriting the token (out of
    // protocol) ends the tenure as a loss — conservative, and the record then expires by itself.
    it.effect("an admin's transitions rewrite keeping the holder ends the tenure as a loss", () =>
      withStore(Effect.gen(function*() {
        const timeline = yield* makeTimeline
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.lost.pipe(Effect.flip, Effect.flatMap((e) => timeline.mark(`lost ${JSON.stringify(e.reason)}`)), Effect.forkDetach)
        yield* fine(1)
        const r = yield* read(key)
        yield* probe.admin.update(r, { ...specOf(r), transitions: 41 })
        yield* fine(20)
        const all = yield* timeline.all
        assert.deepStrictEqual(all.map(([e]) => e), [`lost ${JSON.stringify({ _tag: "Taken", by: "a" })}`])
      })))
  })
})
