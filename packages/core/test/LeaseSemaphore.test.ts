/**
 * The promises of `LeaseSemaphore` (see `src/LeaseSemaphore.ts`): at most N holders, FIFO by
 * enqueue order, dead waiters and holders expire as leases do, resize with withdrawn permits,
 * tryAcquire does not barge, a timed-out acquire leaves nothing behind, guard/lost and tokens per
 * permit, and kinds are not mixed. On the memory store, under TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseAcquisitionError } from "../src/LeaseError.ts"
import * as LeaseSemaphore from "../src/LeaseSemaphore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, settle, start, withStore } from "./Scene.ts"

import { holdersNow, isDone, member, type Member, sem, sopts } from "./SemaphoreScene.ts"


describe("LeaseSemaphore", () => {
  it.effect("N = 1: the second contender waits until the first releases", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const first = yield* Deferred.await(a.got)
      assert.strictEqual(first.permit.permit, 0)
      const b = yield* member("b", { permits: 1 })
      yield* advance(5)
      assert.isFalse(yield* b.done(), "b waits while a holds the only permit")
      assert.strictEqual((yield* holdersNow).length, 1)
      yield* a.c.release
      yield* advance(1)
      const second = yield* Deferred.await(b.got)
      assert.strictEqual(second.permit.permit, 0)
      assert.isAbove(second.permit.token, first.permit.token)
      yield* b.c.release
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.strictEqual(state.permits, 1)
      assert.deepStrictEqual(state.waiting, [], "the queue is clean")
    })))

  it.effect("N = 2: two contenders hold at once, a third waits", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 2 })
      const b = yield* member("b", { permits: 2 })
      yield* advance(1)
      const pa = yield* Deferred.await(a.got)
      const pb = yield* Deferred.await(b.got)
      assert.notStrictEqual(pa.permit.permit, pb.permit.permit)
      const c = yield* member("c", { permits: 2 })
      yield* advance(5)
      assert.isFalse(yield* c.done())
      assert.strictEqual((yield* holdersNow).length, 2)
      yield* b.c.release
      yield* advance(1)
      const pc = yield* Deferred.await(c.got)
      assert.strictEqual(pc.permit.permit, pb.permit.permit)
      assert.strictEqual((yield* holdersNow).length, 2)
    })))

  it.effect("never more than N holders while contenders come and go", () =>
    withStore(Effect.gen(function*() {
      const members: Array<Member> = []
      for (const name of ["a", "b", "c", "d", "e", "f", "g"]) members.push(yield* member(name, { permits: 3 }))
      let max = 0
      let served = 0
      for (let round = 0; round < 12; round++) {
        yield* advance(1)
        const holders = yield* holdersNow
        max = Math.max(max, holders.length)
        assert.isAtMost(holders.length, 3, `round ${round}: ${holders.map((h) => h.holder).join(",")}`)
        // one holder releases each round
        for (const m of members) {
          const current = yield* m.c.current
          if (Option.isSome(current) && (yield* current.value.isHeld)) {
            yield* m.c.release
            served++
            break
          }
        }
      }
      assert.strictEqual(max, 3, "the permits were all used")
      assert.strictEqual(served, 7, "every member was served")
    })))

  it.effect("FIFO: waiters are served in the order they enqueued", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const waiters: Array<Member> = []
      for (const name of ["b", "c", "d"]) {
        waiters.push(yield* member(name, { permits: 1 }))
        yield* settle
      }
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(state.waiting.map((w) => w.holder), ["b", "c", "d"])
      yield* a.c.release
      const order: Array<string> = []
      for (let i = 0; i < 3; i++) {
        yield* advance(1)
        let next: Member | undefined = undefined
        for (const w of waiters) {
          if (!order.includes(w.c.holder) && (yield* w.done())) {
            assert.isUndefined(next, "only one waiter is served at a time")
            next = w
          }
        }
        assert.isDefined(next, "someone was served")
        order.push(next!.c.holder)
        assert.strictEqual((yield* holdersNow).length, 1)
        yield* next!.c.release
      }
      assert.deepStrictEqual(order, ["b", "c", "d"])
    })))

  // Figure 9 (bench, real control plane) found waiters sent to the back of the queue: a served
  // waiter's leave prunes the entries it last judged dead, and it judges dead every entry whose
  // ticket it has not listed — a waiter that enqueued after its last list is alive.
  it.effect("a served waiter's leave never removes a live waiter that enqueued after its last list", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* settle
      const c = yield* member("c", { permits: 1 })
      yield* settle
      const d = yield* member("d", { permits: 1 })
      yield* settle
      const before = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(before.waiting.map((w) => [w.holder, w.live]), [["b", true], ["c", true], ["d", true]])
      // Every state of the head's queue from here on, as the store holds it.
      const states = yield* Ref.make<Array<ReadonlyArray<string>>>([])
      yield* probe.admin.watch(sem).pipe(
        Stream.runForEach((head) =>
          Ref.update(states, (all) => [
            ...all,
            Option.match(head, {
              onNone: () => [],
              onSome: (r) => (JSON.parse(r.metadata.annotations?.[LeaseSemaphore.Annotations.queue] ?? "[]") as Array<{ readonly h: string }>).map((e) => e.h)
            })
          ])
        ),
        Effect.forkChild
      )
      yield* settle
      yield* a.c.release
      yield* advance(1)
      assert.isTrue(yield* b.done(), "b is served")
      assert.isFalse(yield* c.done())
      assert.isFalse(yield* d.done())
      const seen = yield* Ref.get(states)
      for (const queue of seen) {
        assert.isTrue(queue.includes("c") && queue.includes("d") && queue.indexOf("c") < queue.indexOf("d"),
          `c and d wait, live and in enqueue order, in every state of the queue: ${JSON.stringify(seen)}`)
      }
      yield* b.c.release
      yield* advance(1)
      assert.isTrue(yield* c.done(), "c, enqueued before d, is served next")
      assert.isFalse(yield* d.done())
      yield* c.c.release
      yield* advance(1)
      assert.isTrue(yield* d.done())
      yield* d.c.release
    })))

  it.effect("a dead waiter ahead is skipped once its ticket expires, not before", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      // A waiter that crashed after enqueueing: its ticket is never renewed.
      yield* probe.admin.create({ ...sem, name: "workers-w-deadbeef" }, { holder: "ghost", durationSeconds: 20, renewTime: start, acquireTime: start, transitions: 0 }, {
        annotations: { [LeaseSemaphore.Annotations.waiterOf]: "workers" }
      })
      const head = yield* read(sem)
      yield* probe.admin.update(head, {}, {
        annotations: { ...head.metadata.annotations, [LeaseSemaphore.Annotations.queue]: JSON.stringify([{ h: "ghost", w: "workers-w-deadbeef" }]) }
      })
      const b = yield* member("b", { permits: 1 })
      yield* settle
      yield* a.c.release
      yield* advance(10)
      assert.isFalse(yield* b.done(), "the ghost is ahead and live for its duration")
      yield* advance(12)
      const got = yield* Deferred.await(b.got)
      assert.isAtLeast(got.at, 19_000)
      assert.isAtMost(got.at, 22_000)
    })))

  it.effect("a dead holder's permit is taken after it expires, not before", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* LeaseSemaphore.tryAcquire(sopts("setup", { permits: 1 })).pipe(Effect.scoped)
      yield* probe.admin.update(yield* read({ ...sem, name: "workers-0" }), { holder: "ghost", durationSeconds: 20, renewTime: start, acquireTime: start, transitions: 7 })
      const b = yield* member("b", { permits: 1 })
      yield* advance(15)
      assert.isFalse(yield* b.done())
      yield* advance(7)
      const got = yield* Deferred.await(b.got)
      assert.strictEqual(got.permit.token, 8, "the permit's token goes on from the dead holder's")
    })))

  it.effect("resize up: a waiter enters at once", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* advance(3)
      assert.isFalse(yield* b.done())
      assert.deepStrictEqual(yield* LeaseSemaphore.resize(sem, 2), { from: 1, to: 2 })
      yield* settle
      yield* TestClock.adjust("100 millis")
      const got = yield* Deferred.await(b.got)
      assert.strictEqual(got.permit.permit, 1)
      assert.isAtMost(got.at, 3_200)
      assert.isTrue(Option.isSome(yield* a.c.current))
    })))

  it.effect("resize down: the withdrawn permit's holder is told, keeps it, and nobody re-acquires it", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 2 })
      yield* settle
      const b = yield* member("b", { permits: 2 })
      yield* settle
      const pa = (yield* Deferred.await(a.got)).permit
      const pb = (yield* Deferred.await(b.got)).permit
      assert.deepStrictEqual([pa.permit, pb.permit], [0, 1])
      const withdrawn = yield* Effect.forkChild(pb.withdrawn)
      const notWithdrawn = yield* Effect.forkChild(pa.withdrawn)
      const c = yield* member("c", { permits: 2 })
      yield* advance(1)
      assert.isFalse(yield* c.done())
      yield* LeaseSemaphore.resize(sem, 1)
      yield* advance(1)
      assert.isTrue(isDone(withdrawn), "permit 1's holder is told")
      assert.isFalse(isDone(notWithdrawn), "permit 0 is not withdrawn")
      assert.isTrue(yield* pb.isHeld, "the drain: b keeps its permit until it releases")
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(state.holders.map((h) => [h.permit, h.withdrawn]), [[0, false], [1, true]])
      yield* b.c.release
      yield* advance(5)
      assert.isFalse(yield* c.done(), "the withdrawn permit is not handed out again")
      yield* a.c.release
      yield* advance(1)
      assert.strictEqual((yield* Deferred.await(c.got)).permit.permit, 0)
    })))

  it.effect("tryAcquire does not barge past a live waiter, and takes a free permit otherwise", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* Effect.scoped(Effect.gen(function*() {
        const first = yield* LeaseSemaphore.tryAcquire(sopts("x", { permits: 1 }))
        assert.strictEqual(first._tag, "Acquired")
      }))
      // A live waiter (its ticket held, just observed) is queued while the permit is free.
      yield* probe.admin.create({ ...sem, name: "workers-w-0000abcd" }, { holder: "w", durationSeconds: 20, renewTime: start, acquireTime: start, transitions: 0 }, {
        annotations: { [LeaseSemaphore.Annotations.waiterOf]: "workers" }
      })
      const head = yield* read(sem)
      yield* probe.admin.update(head, {}, {
        annotations: { ...head.metadata.annotations, [LeaseSemaphore.Annotations.queue]: JSON.stringify([{ h: "w", w: "workers-w-0000abcd" }]) }
      })
      const barging = yield* Effect.scoped(LeaseSemaphore.tryAcquire(sopts("y")))
      assert.strictEqual(barging._tag, "Full")
      if (barging._tag === "Full") {
        assert.strictEqual(barging.waiting, 1)
        assert.strictEqual(barging.permits, 1)
        assert.deepStrictEqual(barging.holders, [])
      }
      assert.strictEqual((yield* holdersNow).length, 0, "nothing taken")
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((w) => w.holder), ["w"], "nothing queued")
    })))

  it.effect("an acquire that times out leaves nothing held and its queue entry removed", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const fiber = yield* Effect.scoped(LeaseSemaphore.acquire(sopts("b", { timeout: "5 seconds" }))).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((w) => w.holder), ["b"])
      yield* advance(6)
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, LeaseAcquisitionError)
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting, [])
      const records = yield* probe.admin.list(sem.namespace)
      assert.deepStrictEqual(records.filter((r) => r.key.name.startsWith("workers-w-")), [], "the ticket was deleted")
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["a"])
      yield* a.c.release
    })))

  it.effect("guard and lost work per permit: a permit taken over interrupts its guarded work", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 2 })
      const b = yield* member("b", { permits: 2 })
      yield* settle
      const pa = (yield* Deferred.await(a.got)).permit
      const pb = (yield* Deferred.await(b.got)).permit
      const guardedA = yield* Effect.forkChild(Effect.flip(pa.guard(Effect.never)))
      const guardedB = yield* Effect.forkChild(pb.guard(Effect.never))
      const permitA = yield* read({ ...sem, name: `workers-${pa.permit}` })
      yield* probe.admin.update(permitA, { ...permitA, holder: "intruder", transitions: (permitA.transitions ?? 0) + 1 })
      yield* advance(8)
      const lost = yield* Fiber.join(guardedA)
      assert.strictEqual(lost._tag, "LeaseLostError")
      assert.isFalse(isDone(guardedB), "the other permit's guarded work goes on")
      assert.isTrue(yield* pb.isHeld)
    })))

  it.effect("tokens per permit strictly increase over tenures", () =>
    withStore(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const c = yield* LeaseSemaphore.contender(sopts("a", { permits: 1 })).pipe(Scope.provide(scope))
      const tokens: Array<number> = []
      for (let i = 0; i < 3; i++) {
        const p = yield* c.acquire()
        assert.strictEqual(p.permit, 0)
        tokens.push(p.token)
        yield* c.release
      }
      assert.isTrue(tokens[0]! < tokens[1]! && tokens[1]! < tokens[2]!, `tokens ${tokens.join(",")}`)
    })))

  it.effect("kinds are not mixed: a plain contender refuses head, permit and ticket; a semaphore refuses a plain lease", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* settle
      const ticket = (yield* LeaseSemaphore.inspect(sem)).waiting[0]!.ticket
      const refusals: Array<unknown> = []
      for (const name of ["workers", "workers-0", ticket]) {
        const error = yield* Effect.flip(Effect.scoped(Lease.tryAcquire({ ...sem, name, holder: "plain" })))
        assert.instanceOf(error, LeaseAcquisitionError)
        refusals.push(error.reason)
      }
      assert.deepStrictEqual(refusals, [
        { _tag: "Semaphore", semaphore: "workers", part: "head" },
        { _tag: "Semaphore", semaphore: "workers", part: "permit", permit: 0 },
        { _tag: "Semaphore", semaphore: "workers", part: "waiter" }
      ])
      // also a waiting acquire, and a released permit
      yield* a.c.release
      yield* b.c.release
      const waiting = yield* Effect.flip(Effect.scoped(Lease.acquire({ ...sem, name: "workers-0", holder: "plain", timeout: "5 seconds" })))
      assert.instanceOf(waiting, LeaseAcquisitionError)
      assert.strictEqual(waiting.reason._tag, "Semaphore")
      assert.include(waiting.message, "permit 0 of semaphore workers")
      assert.include(waiting.message, "leasekit run workers --permits N")
      // a semaphore on a plain lease
      yield* Effect.scoped(Lease.acquire({ namespace: "jobs", name: "plain", holder: "p" }))
      yield* Effect.scoped(Lease.acquire({ namespace: "jobs", name: "held", holder: "p" }).pipe(Effect.andThen(Effect.gen(function*() {
        const held = yield* Effect.flip(Effect.scoped(LeaseSemaphore.tryAcquire({ namespace: "jobs", name: "held", holder: "s", permits: 2 })))
        assert.instanceOf(held, LeaseAcquisitionError)
        assert.deepStrictEqual(held.reason, { _tag: "NotASemaphore", holder: "p" })
      }))))
      const released = yield* Effect.flip(Effect.scoped(LeaseSemaphore.acquire({ namespace: "jobs", name: "plain", holder: "s", permits: 2 })))
      assert.instanceOf(released, LeaseAcquisitionError)
      assert.deepStrictEqual(released.reason, { _tag: "NotASemaphore" })
      assert.include(released.message, "not a semaphore")
    })))

  it.effect("options: permits 1..1000 whole, names that fit, an absent semaphore needs permits", () =>
    withStore(Effect.gen(function*() {
      for (const permits of [0, 1.5, 1001, -1]) {
        const error = yield* Effect.flip(Effect.scoped(LeaseSemaphore.contender(sopts("a", { permits }))))
        assert.strictEqual(error.field, "permits")
      }
      const long = yield* Effect.flip(Effect.scoped(LeaseSemaphore.contender({ ...sopts("a", { permits: 1 }), name: "x".repeat(243) })))
      assert.strictEqual(long.field, "name")
      yield* Effect.scoped(LeaseSemaphore.contender({ ...sopts("a", { permits: 1 }), name: "x".repeat(242) }))
      const absent = yield* Effect.flip(Effect.scoped(LeaseSemaphore.tryAcquire(sopts("a"))))
      assert.instanceOf(absent, LeaseAcquisitionError)
      assert.strictEqual(absent.reason._tag, "NoSuchSemaphore")
      assert.include(absent.message, "pass `permits`")
      const resizeBad = yield* Effect.flip(LeaseSemaphore.resize(sem, 0))
      assert.strictEqual(resizeBad._tag, "InvalidLeaseOptions")
    })))

  it.effect("a permit withdrawn while it was being taken is released, never handed out", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 2 })
      yield* settle
      // c's write of permit 1 takes a second; the resize to 1 lands meanwhile.
      yield* probe.setFaults((operation, spec) => operation === "create" && spec?.holder === "c" ? { delay: "1 second" } : undefined)
      const fiber = yield* Effect.forkChild(Effect.scoped(LeaseSemaphore.tryAcquire(sopts("c"))))
      yield* settle
      yield* LeaseSemaphore.resize(sem, 1)
      yield* advance(2)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Full")
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["a"])
      yield* a.c.release
    })))

  it.effect("observe retries a transient store failure instead of ending, and goes on reporting", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 2 })
      yield* settle
      const seen = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>([])
      const fiber = yield* LeaseSemaphore.observe(sem, { duration: "20 seconds" }).pipe(
        Stream.runForEach((state) => Ref.update(seen, (all) => [...all, state.holders.map((h) => h.holder)])),
        Effect.forkChild
      )
      yield* settle
      yield* probe.setFaults((operation) => operation === "list" ? { reason: "Unavailable" } : undefined)
      yield* advance(5)
      assert.isFalse(isDone(fiber), "a transient failure does not end the stream")
      yield* probe.setFaults(undefined)
      const b = yield* member("b", { permits: 2 })
      yield* advance(3)
      yield* Deferred.await(b.got)
      assert.isFalse(isDone(fiber))
      assert.deepStrictEqual((yield* Ref.get(seen)).at(-1), ["a", "b"], "a holder that came after the outage is reported")
      yield* Fiber.interrupt(fiber)
      yield* a.c.release
      yield* b.c.release
    })))

  it.effect("a handoff request on a permit is refused: its holder keeps it, nobody gets it reserved", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const pa = yield* Deferred.await(a.got)
      const b = yield* member("b", { permits: 1 })
      yield* settle
      const asked = yield* Lease.requestHandoff({ ...sem, name: "workers-0" }, "x")
      assert.strictEqual(asked._tag, "Requested")
      yield* advance(15)
      assert.isTrue(yield* pa.permit.isHeld, "the holder keeps its permit")
      const record = yield* read({ ...sem, name: "workers-0" })
      assert.strictEqual(record.holder, "a")
      assert.isUndefined(record.metadata.annotations?.["leasekit.io/handoff-request"], "the refused request is removed")
      assert.isFalse(yield* b.done())
      yield* a.c.release
      yield* advance(1)
      assert.isTrue(yield* b.done(), "the next waiter gets the permit at once: it was not reserved for x")
      yield* b.c.release
    })))

  it.effect("a waiter whose ticket is lost takes it again and keeps its place in the queue", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const w = yield* member("w", { permits: 1 })
      yield* settle
      const x = yield* member("x", { permits: 1 })
      yield* settle
      const before = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(before.waiting.map((e) => e.holder), ["w", "x"])
      // An administrator deletes w's ticket: w's ticket tenure is lost at its next renewal.
      yield* probe.admin.remove(yield* read({ ...sem, name: before.waiting[0]!.ticket }))
      yield* advance(12)
      const after = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(after.waiting.map((e) => [e.holder, e.live]), [["w", true], ["x", true]], "w holds its ticket again, still first")
      yield* a.c.release
      yield* advance(1)
      assert.isTrue(yield* w.done(), "w is served first")
      assert.isFalse(yield* x.done())
      yield* w.c.release
      yield* advance(1)
      assert.isTrue(yield* x.done())
      yield* x.c.release
    })))

  it.effect("a waiting acquire rides out a transient store outage, and a permit taken is never left held by a failed read", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* settle
      yield* probe.setFaults((operation) => operation === "list" || operation === "get" ? { reason: "Unavailable" } : undefined)
      yield* advance(5)
      assert.isFalse(yield* b.done(), "b is still waiting, not failed")
      yield* probe.setFaults(undefined)
      yield* a.c.release
      yield* advance(3)
      const got = yield* Deferred.await(b.got)
      assert.strictEqual(got.permit.permit, 0)
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["b"])
      yield* b.c.release
    })))

  it.effect("a waiting acquire that loses the race for a permit again and again goes on waiting (no Contended failure)", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* settle
      let conflicts = 0
      yield* probe.setFaults((operation, spec) =>
        operation === "update" && spec?.holder === "b" && conflicts++ < 6 ? { reason: "Conflict" } : undefined)
      yield* a.c.release
      yield* advance(5)
      const exit = (yield* b.done()) ? yield* Effect.exit(Deferred.await(b.got)) : undefined
      assert.isTrue(exit === undefined || Exit.isSuccess(exit), `b failed: ${exit !== undefined && Exit.isFailure(exit) ? String(exit.cause) : ""}`)
      assert.isAtLeast(conflicts, 3, "b lost races")
      yield* advance(5)
      assert.isTrue(yield* b.done(), "b gets the permit once its writes go through")
      assert.strictEqual((yield* Deferred.await(b.got)).permit.permit, 0)
      yield* b.c.release
    })))

  it.effect("a one-shot acquire whose scope closes as soon as it answers leaves no ticket and no queue entry behind", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      // b waits, gets the permit, and its scope (the contender's) closes at once.
      const b = yield* Effect.forkChild(Effect.scoped(Effect.asVoid(LeaseSemaphore.acquire(sopts("b", { permits: 1 })))))
      yield* settle
      yield* a.c.release
      yield* advance(1)
      assert.isTrue(isDone(b))
      yield* advance(30)
      const left = (yield* probe.admin.list(sem.namespace)).filter((r) => r.key.name.startsWith("workers-w-"))
      assert.deepStrictEqual(left.map((r) => r.holder), [], "no ticket left (none renewed)")
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting, [], "no queue entry left")
      yield* a.close
    })))
})
