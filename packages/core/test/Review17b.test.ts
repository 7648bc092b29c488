/**
 * Second adversarial review of `LeaseSemaphore` (issue 17), aimed at the rewritten waiting path:
 * one list, then a view (`known`) kept up to date by the watches of the head and the permits
 * (at most 32), lists again every retryPeriod and after a lost race, served waiters cleaning up
 * in the background, a waiter that cannot read giving its ticket up, lost races judged again.
 *
 * Each `it.effect` named "FINDING" fails on the code as reviewed, for the reason its name states;
 * those named "HOLDS" are attacks that held. On the memory store, under TestClock; nothing waits
 * on a signal that correct code would leave pending (state is polled).
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseStore, LeaseStoreError } from "../src/LeaseStore.ts"
import type { LeaseStoreService } from "../src/LeaseStore.ts"
import * as LeaseSemaphore from "../src/LeaseSemaphore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, elapsed, settle, withStore } from "./Scene.ts"

import { holdersNow, member, sem, sopts } from "./SemaphoreScene.ts"

const holderOf = (index: number) =>
  Effect.map(Effect.flatMap(Probe, (p) => p.admin.get({ ...sem, name: `workers-${index}` })), (r) => Option.isSome(r) ? r.value.holder : undefined)

/** A permit held by a holder that is not part of the test (renewTime now, declared for an hour). */
const ghostPermit = (index: number) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    const now = yield* Clock.currentTimeMillis
    yield* probe.admin.create({ ...sem, name: `workers-${index}` }, {
      holder: `ghost-${index}`,
      durationSeconds: 3600,
      renewTime: now,
      acquireTime: now,
      transitions: 1
    }, { annotations: { [LeaseSemaphore.Annotations.permitOf]: sem.name } })
  })

describe("Review 17b: LeaseSemaphore's waiting path", () => {
  it.effect("FINDING busy loop: a waiter whose re-read of the head after taking a permit fails at once (Unavailable) takes, releases and lists again and again without time passing", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      // Process W: its own Lease service on the same store. Once armed, its reads of the head fail
      // at once (a 503 from an overloaded server) while its lists and permit writes go through.
      let headFails = false
      let lists = 0
      const wStore: LeaseStoreService = {
        ...probe.admin,
        get: (key) =>
          Effect.suspend(() =>
            headFails && key.name === sem.name
              ? Effect.fail(new LeaseStoreError({ operation: "get", key, reason: "Unavailable", detail: "injected: W's head reads fail" }))
              : probe.admin.get(key)
          ),
        list: (namespace) => Effect.suspend(() => Effect.andThen(Effect.sync(() => lists++), probe.admin.list(namespace)))
      }
      const wService = yield* Lease.make.pipe(Effect.provideService(LeaseStore, wStore))
      const w = yield* member("w", {}, wService)
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder), ["w"])
      headFails = true
      lists = 0
      const before = yield* elapsed
      yield* a.c.release
      // No virtual time passes: a waiter that spaces its retries by retryPeriod (2 s) lists at
      // most once or twice here.
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      const hot = lists
      headFails = false
      assert.strictEqual(yield* elapsed, before)
      assert.isAtMost(hot, 3, `W listed the namespace ${hot} times (and took and released permit 0 as often) with no time passing`)
      yield* advance(3)
      assert.isTrue(yield* w.done(), "W is served once its head reads work")
      yield* w.close
    })))

  it.effect("FINDING fairness (N > 32): a waiter's view of an unwatched permit (index ≥ 32) stays free after the waiter ahead took it, so it takes the permit freed next, overtaking the waiter that enqueued before it", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      // N = 33: permit 0 held by b, 1..31 by holders outside the test, 32 by a.
      const b = yield* member("b", { permits: 33 })
      yield* settle
      assert.strictEqual((yield* Deferred.await(b.got)).permit.permit, 0)
      for (let i = 1; i < 32; i++) yield* ghostPermit(i)
      const a = yield* member("a")
      yield* settle
      assert.strictEqual((yield* Deferred.await(a.got)).permit.permit, 32)
      // t = 0: s, then x enqueue; x's watches do not answer (x learns only from its lists, every 2 s).
      const s = yield* member("s")
      yield* settle
      yield* probe.setWatch("mute")
      const x = yield* member("x")
      yield* settle
      yield* probe.setWatch("normal")
      // t = 0.5: a releases permit 32 (nobody watches it). t = 1: w enqueues, lists: 32 is free.
      yield* TestClock.adjust("500 millis")
      yield* a.c.release
      yield* TestClock.adjust("500 millis")
      const w = yield* member("w")
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder), ["s", "x", "w"])
      // t = 2: s lists, takes permit 32 and leaves the queue (w's head watch shows it gone).
      yield* TestClock.adjust("1 second")
      yield* settle
      assert.isTrue(yield* s.done(), "s, first in line, took the free permit")
      assert.strictEqual((yield* Deferred.await(s.got)).permit.permit, 32)
      assert.isFalse(yield* x.done())
      assert.isFalse(yield* w.done())
      // t = 2.5: b releases permit 0: one permit is free, x is first in line, w second.
      yield* TestClock.adjust("500 millis")
      yield* b.c.release
      yield* TestClock.adjust("100 millis")
      yield* settle
      const taken = yield* holderOf(0)
      assert.isFalse(yield* w.done(), `w, behind x, took permit ${taken === "w" ? 0 : "?"} while x waited (one free permit, x first in line): w's view still showed permit 32 free`)
      yield* advance(3)
      assert.isTrue(yield* x.done(), "x is served")
      assert.strictEqual((yield* Deferred.await(x.got)).permit.permit, 0)
    })))
  it.effect("FINDING fairness (lagging watch): a permit watch that delivers an older state after a list overwrites the list's fresher view — a waiter sees a taken permit free again and takes the permit freed next, overtaking the waiter ahead of it", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      // N = 2: permit 0 held by b, permit 1 by a.
      const b = yield* member("b", { permits: 2 })
      yield* settle
      yield* Deferred.await(b.got)
      const a = yield* member("a")
      yield* settle
      assert.strictEqual((yield* Deferred.await(a.got)).permit.permit, 1)
      const t0 = yield* elapsed
      const at = (ms: number) => Effect.flatMap(elapsed, (now) => TestClock.adjust(t0 + ms - now))
      // t = 0: s enqueues. t = 0.1: x enqueues; its watches never answer (it lists every 2 s).
      // t = 0.2: w enqueues; every event of its watches arrives 2.5 s after the one before (an
      // API server's watch cache falling behind while lists are served fresh).
      const s = yield* member("s")
      yield* settle
      yield* at(100)
      yield* probe.setWatch("mute")
      const x = yield* member("x")
      yield* settle
      yield* at(200)
      yield* probe.setWatch({ lag: "2500 millis" })
      const w = yield* member("w")
      yield* settle
      yield* probe.setWatch("normal")
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder), ["s", "x", "w"])
      // t = 0.5: a releases permit 1; s, first in line, takes it at its list (t = 2) and leaves.
      yield* at(500)
      yield* a.c.release
      yield* at(2_300)
      assert.isTrue(yield* s.done(), "s took permit 1")
      assert.strictEqual(yield* holderOf(1), "s")
      // t = 4.15: b releases permit 0 — after x's list at 4.1, before w's at 4.2 (which shows
      // permit 0 free, permit 1 held by s, x ahead of w: w is not eligible).
      yield* at(4_150)
      yield* b.c.release
      yield* at(4_300)
      assert.isFalse(yield* w.done(), "w, second in line for one free permit, waits")
      // t = 5.2: w's permit-1 watch delivers a's release (t = 0.5), older than w's list at 4.2.
      yield* at(5_400)
      const taken = yield* holderOf(0)
      assert.isFalse(yield* w.done(), `w took permit 0 (holder now ${taken}) while x, ahead of it, waited for the one free permit: w's lagging watch showed permit 1 free again`)
      yield* advance(3)
      assert.isTrue(yield* x.done(), "x is served")
    })))

  it.effect("FINDING liveness: a waiter whose enqueue answer was lost (applied, Timeout) and whose reads then fail keeps a live entry and a renewed ticket forever — the waiter behind starves while a permit is free", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      // Process Z: its own Lease service on the same store. Its append to the head lands but is
      // answered Timeout; from then on its reads (get, list) time out while its small writes (the
      // ticket's renewals) go through — the model of Review17's liveness finding.
      let readsFail = false
      const zStore: LeaseStoreService = {
        ...probe.admin,
        get: (key) =>
          Effect.suspend(() =>
            readsFail ? Effect.fail(new LeaseStoreError({ operation: "get", key, reason: "Timeout", detail: "injected: Z's reads time out" })) : probe.admin.get(key)
          ),
        list: (namespace) =>
          Effect.suspend(() =>
            readsFail ? Effect.fail(new LeaseStoreError({ operation: "list", reason: "Timeout", detail: "injected: Z's reads time out" })) : probe.admin.list(namespace)
          ),
        update: (record, spec, metadata) =>
          Effect.suspend(() => {
            if (record.key.name !== sem.name || readsFail) return probe.admin.update(record, spec, metadata)
            readsFail = true
            return Effect.andThen(
              probe.admin.update(record, spec, metadata),
              Effect.fail(new LeaseStoreError({ operation: "update", key: record.key, reason: "Timeout", detail: "injected: the answer was lost" }))
            )
          })
      }
      const zService = yield* Lease.make.pipe(Effect.provideService(LeaseStore, zStore))
      yield* member("z", {}, zService)
      yield* settle
      const b = yield* member("b")
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => [e.holder, e.live]), [["z", true], ["b", true]])
      yield* a.c.release
      yield* advance(120)
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.isTrue(
        yield* b.done(),
        `after 120 s (6 durations) with permit 0 free, b still waits behind z (queue ${JSON.stringify(state.waiting.map((e) => [e.holder, e.live]))}, holders ${state.holders.length}): z cannot read, yet keeps its ticket`
      )
    })))
  it.effect("HOLDS no missed wakeup with N > 32: a waiter is served within retryPeriod of the release of an unwatched permit (39 of 40)", () =>
    withStore(Effect.gen(function*() {
      const b = yield* member("b", { permits: 40 })
      yield* settle
      yield* Deferred.await(b.got)
      for (let i = 1; i < 39; i++) yield* ghostPermit(i)
      const a = yield* member("a")
      yield* settle
      assert.strictEqual((yield* Deferred.await(a.got)).permit.permit, 39)
      const w = yield* member("w")
      yield* advance(5)
      assert.isFalse(yield* w.done())
      const released = yield* elapsed
      yield* a.c.release
      yield* advance(3)
      assert.isTrue(yield* w.done(), "w is served")
      const got = yield* Deferred.await(w.got)
      assert.strictEqual(got.permit.permit, 39)
      assert.isAtMost(got.at - released, 2_000, "within retryPeriod (2 s): the waiter's list found the unwatched permit free")
      assert.strictEqual((yield* holdersNow).length, 40)
    })))

  it.effect("HOLDS head deleted and re-created while waiting: the waiter never holds a permit beyond N, leaves no live entry and no renewed ticket behind, and the new semaphore serves its waiters", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      const b = yield* member("b")
      yield* advance(3)
      assert.isFalse(yield* b.done())
      // An administrator deletes the head and someone re-creates it at once (empty queue).
      yield* probe.admin.remove(yield* read(sem))
      const c = yield* member("c", { permits: 1 })
      yield* settle
      yield* advance(3)
      const bExit = (yield* b.done()) ? yield* Effect.exit(Deferred.await(b.got)) : undefined
      assert.isAtMost((yield* holdersNow).length, 1, "at most N = 1 holder")
      yield* advance(30)
      const records = yield* probe.admin.list(sem.namespace)
      const state = yield* LeaseSemaphore.inspect(sem)
      const waiting = new Set(state.waiting.filter((e) => e.live).map((e) => e.holder))
      const bWaiting = bExit === undefined && !(yield* b.done())
      if (!bWaiting) assert.isFalse(waiting.has("b"), "b is not waiting: no live entry of b")
      const tickets = records.filter((r) => r.key.name.startsWith("workers-w-") && r.holder !== undefined && r.holder !== "")
      for (const t of tickets) assert.isTrue(waiting.has(t.holder!), `ticket ${t.key.name} of ${t.holder} is held only by a waiter in the queue`)
      yield* a.c.release
      yield* advance(3)
      assert.isTrue((yield* c.done()) || (yield* b.done()), "the re-created semaphore serves a waiter once permit 0 is free")
      assert.isAtMost((yield* holdersNow).length, 1)
    })))

  it.effect("HOLDS safety and progress under lagging and mute watches: N = 2, six contenders acquiring and releasing, resize 2 → 1 → 3 — never more holders than N (M during a drain), every contender served", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const served = new Map<string, number>()
      let inside = 0
      let worst = 0
      let n = 2
      let drainUntil = 0
      const modes: ReadonlyArray<Parameters<typeof probe.setWatch>[0]> = [{ lag: "3 seconds" }, "mute", "normal", { lag: "700 millis" }, "silent", { lag: "5 seconds" }]
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      for (const [i, name] of ["a", "b", "c", "d", "e", "f"].entries()) {
        yield* probe.setWatch(modes[i]!)
        const scope = yield* Scope.make()
        const c = yield* LeaseSemaphore.contender(sopts(name, { permits: 2 })).pipe(Scope.provide(scope))
        fibers.push(yield* Effect.forkChild(Effect.forever(
          c.acquire().pipe(
            Effect.flatMap((p) =>
              p.guard(Effect.gen(function*() {
                inside++
                const now = yield* elapsed
                if (now >= drainUntil) worst = Math.max(worst, inside - n)
                served.set(name, (served.get(name) ?? 0) + 1)
                yield* Effect.sleep("1300 millis")
              }).pipe(Effect.ensuring(Effect.sync(() => inside--))))
            ),
            Effect.ignore,
            Effect.andThen(Effect.ignore(c.release)),
            Effect.andThen(Effect.sleep("200 millis"))
          )
        )))
        yield* settle
      }
      yield* probe.setWatch("normal")
      yield* advance(30)
      n = 1
      yield* LeaseSemaphore.resize(sem, 1)
      // the drain: a withdrawn permit's holder keeps it until its 1.3 s of work ends
      drainUntil = (yield* elapsed) + 2_000
      yield* advance(30)
      yield* LeaseSemaphore.resize(sem, 3)
      n = 3
      yield* advance(30)
      assert.strictEqual(worst, 0, "never more holders in guarded work than N")
      assert.deepStrictEqual([...served.keys()].sort(), ["a", "b", "c", "d", "e", "f"], `every contender was served: ${JSON.stringify([...served])}`)
      const stopping = yield* Effect.forkChild(Effect.forEach(fibers, Fiber.interrupt))
      yield* advance(3)
      yield* Fiber.join(stopping)
    })))
  it.effect("FINDING queue order: a waiter that re-enqueued after another's last list is pruned by that waiter's leave — its ticket name was in the list (from its old, dead entry), so the new, live entry is judged by the stale ticket state — and is overtaken by a waiter that enqueued after it", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      // Process W (its own Lease service): its reads fail from t = 1 to t = 17.5; its writes work.
      let readsFail = false
      const failing = (operation: "get" | "list") => new LeaseStoreError({ operation, reason: "Unavailable", detail: "injected: W's reads fail" })
      const wStore: LeaseStoreService = {
        ...probe.admin,
        get: (key) => Effect.suspend(() => readsFail ? Effect.fail(failing("get")) : probe.admin.get(key)),
        list: (namespace) => Effect.suspend(() => readsFail ? Effect.fail(failing("list")) : probe.admin.list(namespace))
      }
      const wService = yield* Lease.make.pipe(Effect.provideService(LeaseStore, wStore))
      const t0 = yield* elapsed
      const at = (ms: number) => Effect.flatMap(elapsed, (now) => TestClock.adjust(t0 + ms - now))
      // t = 0: w enqueues (lists every 2 s from 0); v at 0.25; u at 0.5.
      const w = yield* member("w", {}, wService)
      yield* settle
      yield* at(250)
      const v = yield* member("v")
      yield* settle
      yield* at(500)
      const u = yield* member("u")
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder), ["w", "v", "u"])
      // w's lists fail from t = 2; after renewDeadline (13.3 s) of failures, at t = 16, it gives
      // its ticket up. v lists at 16.25 and u at 16.5: w's entry is dead to both (documented).
      yield* at(1_000)
      readsFail = true
      // t = 17: a releases; v, first live, takes the permit and its leave prunes w's dead entry
      // (documented: w will queue again, at the end).
      yield* at(17_000)
      yield* a.c.release
      yield* at(17_100)
      assert.isTrue(yield* v.done(), "v took the permit")
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder), ["u"])
      // t = 17.5: w's reads work again; at its retry (t = 18) it takes its ticket again and, its
      // entry gone, queues again at the end: [u, w] — after u's last list (16.5).
      yield* at(17_500)
      readsFail = false
      yield* at(18_050)
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => [e.holder, e.live]), [["u", true], ["w", true]], "w is queued again, live")
      // t = 18.1: t enqueues, behind w. t = 18.2: v releases; u takes the permit and leaves.
      yield* at(18_100)
      const t = yield* member("t")
      yield* settle
      yield* at(18_200)
      yield* v.c.release
      yield* at(18_300)
      assert.isTrue(yield* u.done(), "u took the permit")
      const queue = (yield* LeaseSemaphore.inspect(sem)).waiting.map((e) => e.holder)
      assert.deepStrictEqual(queue, ["w", "t"], `w (queued again at 18.0, after u's last list at 16.5, its ticket live) keeps its place ahead of t (18.1); the queue is ${JSON.stringify(queue)}`)
      yield* u.c.release
      yield* at(19_300)
      assert.isTrue(yield* w.done(), "w, queued before t, is served next")
      assert.isFalse(yield* t.done())
    })))
})
