/**
 * Adversarial review of `LeaseSemaphore` (issue 17). Each `it.effect` named "FINDING" fails on the
 * code as reviewed, for the reason its name states; those named "HOLDS" are claims that were
 * attacked and held. On the memory store, under TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseStore, LeaseStoreError } from "../src/LeaseStore.ts"
import type { LeaseStoreService } from "../src/LeaseStore.ts"
import * as LeaseSemaphore from "../src/LeaseSemaphore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, elapsed, fine, settle, start, withStore } from "./Scene.ts"

import { holdersNow, isDone, member, sem, sopts } from "./SemaphoreScene.ts"

describe("Review 17: LeaseSemaphore", () => {
  it.effect("FINDING deadlock: release while guarded work releases in its finalizer (ensuring(release)) never returns and the permit stays held", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const pa = (yield* Deferred.await(a.got)).permit
      // The idiom LeaseContender documents as supported: guarded work that releases on its way out.
      const guarded = yield* Effect.forkChild(Effect.exit(pa.guard(Effect.never.pipe(Effect.ensuring(Effect.ignore(a.c.release))))))
      yield* settle
      const releasing = yield* Effect.forkChild(a.c.release)
      yield* advance(30)
      assert.isTrue(isDone(guarded), "the guarded work stopped")
      assert.isTrue(isDone(releasing), "release returned")
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), [], "the permit was released")
    })))

  it.effect("FINDING kinds mixed: a plain Lease contender takes permit 1 of a semaphore with N = 2 that has not been created yet", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 2 })
      yield* settle
      assert.strictEqual((yield* Deferred.await(a.got)).permit.permit, 0)
      // The semaphore exists (N = 2); its permit 1 has never been taken, so no object exists yet.
      const plain = yield* Effect.exit(Effect.scoped(Lease.tryAcquire({ ...sem, name: "workers-1", holder: "plain" })))
      assert.isTrue(Exit.isFailure(plain), `a plain contender is refused permit 1 of semaphore workers, it answered ${Exit.isSuccess(plain) && Option.isSome(plain.value) ? `held by ${plain.value.value.holder}, token ${plain.value.value.token}` : ""}`)
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.notInclude(state.holders.map((h) => h.holder), "plain", "the semaphore counts the plain holder as the holder of permit 1")
    })))

  it.effect("FINDING lock: acquire(timeout) on a contender whose other acquire is waiting does not time out", () =>
    withStore(Effect.gen(function*() {
      const a = yield* member("a", { permits: 1 })
      yield* settle
      const scope = yield* Scope.make()
      const b = yield* LeaseSemaphore.contender(sopts("b")).pipe(Scope.provide(scope))
      const waiting = yield* Effect.forkChild(b.acquire())
      yield* settle
      const bounded = yield* Effect.forkChild(Effect.flip(b.acquire(Duration.seconds(5))))
      yield* advance(10)
      assert.isTrue(isDone(bounded), "acquire(5 s) answered within 10 s")
      const error = yield* Fiber.join(bounded)
      assert.strictEqual(error.reason._tag, "Timeout")
      yield* Fiber.interrupt(waiting)
      yield* a.c.release
    })))

  it.effect("FINDING name collision: a semaphore named workers-1 (its head) is judged free permit 1 of semaphore workers, and every waiter of workers fails", () =>
    withStore(Effect.gen(function*() {
      // Another semaphore, workers-1, exists in the namespace.
      const other = yield* member("o", { name: "workers-1", permits: 1 })
      yield* settle
      yield* Deferred.await(other.got)
      const a = yield* member("a", { permits: 2 })
      yield* settle
      assert.strictEqual((yield* Deferred.await(a.got)).permit.permit, 0)
      const b = yield* member("b", { permits: 2 })
      yield* advance(3)
      // b should either hold a permit or still be waiting; it must not fail because of another semaphore.
      // (Read without blocking: a b that correctly waits never completes `got`.)
      const exit = (yield* b.done()) ? yield* Effect.exit(Deferred.await(b.got)) : undefined
      const failed = exit !== undefined && Exit.isFailure(exit)
      assert.isFalse(failed, `b failed: ${failed ? String(exit.cause) : ""}`)
      yield* a.c.release
      yield* advance(1)
      assert.isTrue(yield* b.done(), "b takes permit 0 once a releases (permit 1 is the other semaphore's head)")
      assert.strictEqual((yield* Deferred.await(b.got)).permit.permit, 0)
    })))

  it.effect("FINDING rule 4: a tryAcquire interrupted (a caller's timeout) while its permit write is in flight leaves the permit held", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* Effect.scoped(LeaseSemaphore.tryAcquire(sopts("setup", { permits: 1 })))
      let armed = false
      // c's permit write is answered, then the head's re-read takes a second.
      yield* probe.setFaults((operation, spec) => {
        if (operation === "update" && spec?.holder === "c") armed = true
        return operation === "get" && armed ? { answerAfter: "1 second" } : undefined
      })
      // A long-lived scope (an application's); the caller gives the attempt half a second.
      const scope = yield* Scope.make()
      const result = yield* LeaseSemaphore.tryAcquire(sopts("c")).pipe(Scope.provide(scope), Effect.timeoutOption("500 millis"), Effect.forkChild)
      yield* fine(3)
      assert.isTrue(Option.isNone(yield* Fiber.join(result)), "the attempt timed out: the caller got nothing")
      yield* probe.setFaults(undefined)
      yield* advance(5)
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), [], "nobody holds a permit: the attempt that did not succeed left nothing held")
      yield* Scope.close(scope, Exit.void)
    })))

  it.effect("FINDING rule 3: acquire answers a permit whose deadline passed while the head was re-read (isHeld false on return)", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const timing = { duration: "3 seconds", renewInterval: "1 second", renewDeadline: "2 seconds", retryPeriod: "1 second", requestTimeout: "1 second" } as const
      yield* Effect.scoped(LeaseSemaphore.tryAcquire(sopts("setup", { permits: 1, ...timing })))
      let armed = false
      // b's permit write is ambiguous (applied, answered Timeout after 0.9 s); the read-back and the
      // head's re-read each answer after 0.9 s; b's renewals fail. Every call is within requestTimeout.
      yield* probe.setFaults((operation, spec) => {
        if (operation === "update" && spec?.holder === "b") {
          if (armed) return { reason: "Unavailable" }
          armed = true
          return { reason: "Timeout", applied: true, delay: "900 millis" }
        }
        return operation === "get" && armed ? { answerAfter: "900 millis" } : undefined
      })
      const scope = yield* Scope.make()
      const b = yield* LeaseSemaphore.contender(sopts("b", timing)).pipe(Scope.provide(scope))
      // What the caller sees the instant acquire answers.
      const fiber = yield* Effect.forkChild(Effect.flatMap(b.acquire(), (permit) => Effect.all([permit.isHeld, permit.remaining, elapsed, Effect.succeed(permit.permit)])))
      yield* fine(4)
      // Either still waiting (b's renewals all fail: it cannot hold a permit), or answered a permit
      // that is held. (Read without blocking: a b that correctly goes on waiting never answers.)
      const answered = fiber.pollUnsafe()
      if (answered !== undefined && Exit.isSuccess(answered)) {
        const [held, remaining, at, index] = answered.value
        assert.isTrue(held, `acquire answered permit ${index} at ${at} ms with isHeld false (remaining ${Duration.toMillis(remaining)} ms): its deadline passed before it was handed out`)
      }
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder).filter((h) => h === "b"), answered === undefined ? [] : ["b"], "a permit not handed out is not left held")
      // (Closed with time passing and the store healthy: a release in progress retries on the clock.)
      yield* probe.setFaults(undefined)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* advance(10)
      yield* Fiber.join(closing)
    })))

  it.effect("FINDING QueueFull: a queue of only dead entries (tickets gone) refuses a waiter", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      // Waiters that crashed: their tickets were deleted (or never renewed and removed), entries stayed.
      const dead = Array.from({ length: LeaseSemaphore.maxQueue }, (_, i) => ({ h: `ghost-${i}`, w: `workers-w-${i.toString(16).padStart(8, "0")}` }))
      const head = yield* read(sem)
      yield* probe.admin.update(head, {}, { annotations: { ...head.metadata.annotations, [LeaseSemaphore.Annotations.queue]: JSON.stringify(dead) } })
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.strictEqual(state.waiting.filter((w) => w.live).length, 0, "no live waiter")
      const b = yield* member("b", { permits: 1 })
      yield* advance(2)
      // (Read without blocking: under TestClock a timeout on the await never fires.)
      const exit = (yield* b.done()) ? yield* Effect.exit(Deferred.await(b.got)) : undefined
      const failed = exit !== undefined && Exit.isFailure(exit)
      assert.isFalse(failed, `b waits (nobody live is queued), it failed: ${failed ? String(exit.cause) : ""}`)
      yield* a.c.release
      // (Judging a thousand entries takes real time; the waiter's leaving runs over a few ticks.)
      yield* advance(3)
      assert.isTrue(yield* b.done())
      const got = yield* Effect.exit(Deferred.await(b.got))
      assert.isTrue(Exit.isSuccess(got), `b is served, not refused: ${Exit.isFailure(got) ? String(got.cause) : ""}`)
    })))

  it.effect("FINDING liveness: a waiter whose reads keep failing (transient) keeps the head of the queue forever, its ticket renewed; the waiter behind starves while the permit is free", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      // Process Z: its own Lease service on the same store; once queued, its lists time out (a
      // namespace too big for its link, say) while its small writes (ticket renewals) go through.
      let zQueued = false
      const zStore: LeaseStoreService = {
        ...probe.admin,
        update: (record, spec, metadata) =>
          Effect.tap(probe.admin.update(record, spec, metadata), () =>
            Effect.sync(() => {
              if (record.key.name === sem.name) zQueued = true
            })),
        list: (namespace) =>
          Effect.suspend(() =>
            zQueued
              ? Effect.fail(new LeaseStoreError({ operation: "list", reason: "Timeout", detail: "injected: Z's lists time out" }))
              : probe.admin.list(namespace)
          )
      }
      const zService = yield* Lease.make.pipe(Effect.provideService(LeaseStore, zStore))
      const zScope = yield* Scope.make()
      const z = yield* LeaseSemaphore.contender(sopts("z")).pipe(Scope.provide(zScope), Effect.provideService(Lease.Lease, zService))
      yield* Effect.forkChild(z.acquire())
      yield* settle
      const b = yield* member("b", { permits: 1 })
      yield* settle
      assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.map((w) => [w.holder, w.live]), [["z", true], ["b", true]])
      yield* a.c.release
      yield* advance(120)
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.isTrue(
        yield* b.done(),
        `after 120 s (6 durations) with permit 0 free, b is still waiting behind z (queue ${JSON.stringify(state.waiting.map((w) => [w.holder, w.live]))}, holders ${state.holders.length})`
      )
    })))

  it.effect("HOLDS safety: with slow answers and resizes 3 → 1 → 2, guarded work never runs on more permits than N (M during the drain)", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      // Every read is answered 400 ms late (stale head views), every write 300 ms late.
      yield* probe.setFaults((operation) =>
        operation === "get" || operation === "list" ? { answerAfter: "400 millis" } : operation === "create" || operation === "update" ? { answerAfter: "300 millis" } : undefined
      )
      const inside = yield* Ref.make(0)
      const log: Array<readonly [number, number]> = []
      const enter = Effect.flatMap(Ref.updateAndGet(inside, (n) => n + 1), (n) => Effect.flatMap(elapsed, (t) => Effect.sync(() => log.push([t, n]))))
      const leave = Ref.update(inside, (n) => n - 1)
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      for (const name of ["a", "b", "c", "d", "e", "f"]) {
        const scope = yield* Scope.make()
        const c = yield* LeaseSemaphore.contender(sopts(name, { permits: 3 })).pipe(Scope.provide(scope))
        fibers.push(yield* Effect.forkChild(Effect.forever(
          c.acquire().pipe(
            Effect.flatMap((p) => p.guard(Effect.andThen(enter, Effect.sleep("1500 millis")).pipe(Effect.ensuring(leave)))),
            Effect.ignore,
            Effect.andThen(Effect.ignore(c.release))
          )
        )))
      }
      yield* fine(12)
      yield* Effect.forkChild(LeaseSemaphore.resize(sem, 1))
      yield* fine(20)
      yield* Effect.forkChild(LeaseSemaphore.resize(sem, 2))
      yield* fine(20)
      yield* probe.setFaults(undefined)
      const stopping = yield* Effect.forkChild(Effect.forEach(fibers, Fiber.interrupt))
      yield* advance(3)
      yield* Fiber.join(stopping)
      const phase = (from: number, to: number) => log.filter(([t]) => t >= from && t < to).map(([, n]) => n)
      assert.isAtMost(Math.max(...phase(0, 12_000)), 3)
      assert.isAtLeast(Math.max(...phase(0, 12_000)), 2, "permits were used at once before the resize")
      // The resize lands by ~12.4 s; the drain ends within a tenure of 1.5 s (+ slow answers).
      assert.isAtMost(Math.max(...phase(12_000, 15_000)), 3)
      assert.isAtMost(Math.max(...phase(15_000, 32_000)), 1, "after the drain: one at a time")
      assert.isAtLeast(phase(15_000, 32_000).length, 3, "and the semaphore kept serving")
      assert.isAtMost(Math.max(...phase(32_000, 52_000)), 2)
      assert.isAtLeast(phase(33_000, 52_000).length, 3, "raised: still serving")
    })))

  it.effect("HOLDS rule 4: an acquire whose enqueue is ambiguous (applied, answered Timeout) and then times out leaves no live entry, no ticket, no permit", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      let first = true
      // b's append to the head lands, but b is told Timeout (and retries); b gives up after 3 s.
      yield* probe.setFaults((operation, spec) => {
        if (operation === "update" && spec !== undefined && spec.holder === undefined && first) {
          first = false
          return { reason: "Timeout", applied: true, delay: "1 second" }
        }
        return undefined
      })
      const fiber = yield* Effect.forkChild(Effect.flip(Effect.scoped(LeaseSemaphore.acquire(sopts("b", { timeout: "3 seconds" })))))
      yield* fine(5)
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "LeaseAcquisitionError" ? error.reason._tag : error._tag, "Timeout")
      assert.isFalse(first, "the ambiguous append happened")
      const state = yield* LeaseSemaphore.inspect(sem)
      assert.deepStrictEqual(state.waiting.filter((w) => w.live), [], "no live entry")
      const records = yield* probe.admin.list(sem.namespace)
      assert.deepStrictEqual(records.filter((r) => r.key.name.startsWith("workers-w-")).map((r) => r.key.name), [], "no ticket")
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["a"])
    })))

  it.effect("HOLDS hostile head: garbage queue annotations (bad JSON, non-array, entries without strings) are read as an empty queue and N still bounds the holders", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* member("a", { permits: 1 })
      yield* settle
      yield* Deferred.await(a.got)
      for (const garbage of ["{not json", "{\"h\":\"x\",\"w\":\"y\"}", "[1,null,{\"h\":3,\"w\":\"q\"},{\"h\":\"x\"}]", "null"]) {
        const head = yield* read(sem)
        yield* probe.admin.update(head, {}, { annotations: { ...head.metadata.annotations, [LeaseSemaphore.Annotations.queue]: garbage } })
        const tried = yield* Effect.scoped(LeaseSemaphore.tryAcquire(sopts("t")))
        assert.strictEqual(tried._tag, "Full", `with queue ${garbage}`)
        assert.deepStrictEqual((yield* LeaseSemaphore.inspect(sem)).waiting, [])
      }
      const b = yield* member("b", { permits: 1 })
      yield* advance(2)
      assert.isFalse(yield* b.done())
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["a"])
      yield* a.c.release
      yield* advance(2)
      assert.isTrue(yield* b.done())
      assert.deepStrictEqual((yield* holdersNow).map((r) => r.holder), ["b"])
    })))

  it.effect("FINDING fairness: tryAcquire barges past a waiter that enqueued between its read and its permit write", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* Effect.scoped(LeaseSemaphore.tryAcquire(sopts("setup", { permits: 1 })))
      // t's read of the semaphore is answered 1 s late: it sees a free permit and an empty queue.
      yield* probe.setFaults((operation) => operation === "list" ? { answerAfter: "1 second" } : undefined)
      const fiber = yield* Effect.forkChild(Effect.scoped(LeaseSemaphore.tryAcquire(sopts("t"))))
      yield* TestClock.adjust("500 millis")
      yield* probe.setFaults(undefined)
      // Meanwhile w queues (its ticket held, then its entry appended), as any waiter does.
      yield* probe.admin.create({ ...sem, name: "workers-w-0000abcd" }, { holder: "w", durationSeconds: 20, renewTime: start + 500, acquireTime: start + 500, transitions: 0 }, {
        annotations: { [LeaseSemaphore.Annotations.waiterOf]: "workers" }
      })
      const head = yield* read(sem)
      yield* probe.admin.update(head, {}, {
        annotations: { ...head.metadata.annotations, [LeaseSemaphore.Annotations.queue]: JSON.stringify([{ h: "w", w: "workers-w-0000abcd" }]) }
      })
      assert.strictEqual((yield* LeaseSemaphore.inspect(sem)).waiting.filter((e) => e.live).length, 1, "w is queued and live")
      yield* fine(2)
      const result = yield* Fiber.join(fiber)
      assert.strictEqual(result._tag, "Full", "t's permit write came after w's enqueue: t must not take the permit w is first in line for")
    })))
})
