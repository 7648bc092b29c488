/**
 * The promises of `LeaseSemaphore` (see `src/LeaseSemaphore.ts`): at most N holders, FIFO by
 * enqueue order, dead waiters and holders expire as leases do, resize with withdrawn permits,
 * tryAcquire does not barge, a timed-out acquire leaves nothing behind, guard/lost and tokens per
 * permit, and kinds are not mixed. On the memory store, under TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { LeaseAcquisitionError } from "../src/LeaseError.ts"
import * as LeaseSemaphore from "../src/LeaseSemaphore.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, elapsed, settle, start, withStore } from "./Scene.ts"

const sem = { namespace: "jobs", name: "workers" }
const sopts = (holder: string, extra: Partial<LeaseSemaphore.SemaphoreAcquireOptions> = {}): LeaseSemaphore.SemaphoreAcquireOptions => ({
  ...sem,
  holder,
  duration: "20 seconds",
  ...extra
})
const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() !== undefined

/** Forks a contender that acquires a permit, records when and which, and holds it until `release`
 * is called on the handle (or the fiber is interrupted). */
const member = (holder: string, extra: Partial<LeaseSemaphore.SemaphoreAcquireOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const c = yield* LeaseSemaphore.contender(sopts(holder, extra)).pipe(Scope.provide(scope))
    const got = yield* Deferred.make<{ readonly at: number; readonly permit: LeaseSemaphore.HeldPermit }, LeaseAcquisitionError>()
    const fiber = yield* c.acquire().pipe(
      Effect.tap((permit) => Effect.flatMap(elapsed, (at) => Deferred.succeed(got, { at, permit }))),
      Effect.tapError((e) => Deferred.fail(got, e)),
      Effect.forkChild
    )
    return { c, got, fiber, scope, done: () => Deferred.isDone(got), close: Scope.close(scope, Exit.void) }
  })

/** Holders of permits right now, as the store says (a permit lease naming a holder). */
const holdersNow = Effect.map(
  Effect.flatMap(Probe, (p) => p.admin.list(sem.namespace)),
  (records) => records.filter((r) => /^workers-[0-9]+$/.test(r.key.name) && r.holder !== undefined && r.holder !== "")
)

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
})
