/**
 * `Semaphore` over the core's in-memory store, on the real clock with short durations: the Promise
 * surface of `LeaseSemaphore` — at most N holders, first come first served, `tryAcquire` does not
 * overtake a waiter, timeouts leave nothing held, `run`'s signal on loss, dispose.
 */
import { LeaseStore } from "@leasekit/core"
import { Effect, Option } from "effect"
import { afterEach, assert, beforeEach, describe, it } from "vitest"
import { InvalidLeaseOptionsError, LeaseAcquisitionError, LeaseLostError, LeaseRuntime, Semaphore, type SemaphoreOptions } from "../src/index.ts"
import { namespace, rejection } from "./fixtures.ts"

let runtime: LeaseRuntime.LeaseRuntime
const made: Array<Semaphore> = []
let counter = 0
const uniqueName = () => `slots-${++counter}`

beforeEach(() => {
  runtime = LeaseRuntime.fromLayer(LeaseStore.layerMemory())
})
afterEach(async () => {
  await Promise.all(made.map((s) => s.close()))
  made.length = 0
  await runtime.dispose()
})

/** A semaphore instance on the test's runtime (duration 3 s unless given); closed after the test. */
const make = (options: Partial<SemaphoreOptions> & { readonly name: string }) => {
  const semaphore = new Semaphore({ namespace, durationSeconds: 3, runtime, ...options })
  made.push(semaphore)
  return semaphore
}

/** Polls `condition` every 20 ms until it holds, failing after `timeoutMs`. */
const eventually = async (condition: () => boolean, timeoutMs = 5_000, what = "condition") => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`${what} not reached within ${timeoutMs}ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe("Semaphore", () => {
  it("checks its options in the constructor", () => {
    assert.throws(() => new Semaphore({ namespace, name: "s", permits: 0, runtime }), InvalidLeaseOptionsError)
    assert.throws(() => new Semaphore({ namespace, name: "s", permits: 1.5, runtime }), InvalidLeaseOptionsError)
    assert.throws(() => new Semaphore({ namespace, name: "s", durationSeconds: 0, runtime }), InvalidLeaseOptionsError)
    const s = new Semaphore({ namespace, name: "s", permits: 2, holder: "me", runtime })
    assert.strictEqual(s.holder, "me")
    assert.strictEqual(s.name, "s")
    assert.isFalse(s.isHeld)
    assert.isUndefined(s.permit)
    assert.isUndefined(s.token)
  })

  it("at most N hold a permit; tryAcquire answers false when full; a release lets the next in", async () => {
    const name = uniqueName()
    const [a, b, c] = [make({ name, permits: 2 }), make({ name }), make({ name })]
    const first = await a.acquire()
    const second = await b.acquire()
    assert.notStrictEqual(first.permit, second.permit)
    assert.deepStrictEqual([a.permit, b.permit].sort(), [0, 1])
    assert.strictEqual(a.token, first.token)
    assert.isTrue(a.isHeld && b.isHeld)
    assert.isFalse(await c.tryAcquire())
    assert.isFalse(c.isHeld)
    await a.release()
    assert.isFalse(a.isHeld)
    assert.isUndefined(a.permit)
    assert.isTrue(await c.tryAcquire())
    assert.strictEqual(c.permit, first.permit)
    assert.isAbove(Number(c.token), Number(first.token)) // per permit, tokens increase
  })

  it("waiters are served first come, first served, and tryAcquire does not overtake them", async () => {
    const name = uniqueName()
    const holder = make({ name, permits: 1 })
    await holder.acquire()
    const order: Array<string> = []
    const w1 = make({ name })
    const w2 = make({ name })
    const one = w1.acquire().then(() => order.push("w1"))
    await new Promise((resolve) => setTimeout(resolve, 100)) // w1 enqueued first
    const two = w2.acquire().then(() => order.push("w2"))
    await new Promise((resolve) => setTimeout(resolve, 100))
    await holder.release()
    assert.isFalse(await make({ name }).tryAcquire(), "a barging tryAcquire while w1 waits")
    await one
    assert.deepStrictEqual(order, ["w1"])
    await w1.release()
    await two
    assert.deepStrictEqual(order, ["w1", "w2"])
  })

  it("acquire with timeoutMs rejects Timeout, holding nothing and leaving the queue", async () => {
    const name = uniqueName()
    const holder = make({ name, permits: 1 })
    await holder.acquire()
    const waiter = make({ name })
    const error = await rejection(waiter.acquire({ timeoutMs: 200 }))
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).reason, "Timeout")
    assert.isFalse(waiter.isHeld)
    await holder.release()
    assert.isTrue(await make({ name }).tryAcquire(), "the timed-out waiter left the queue")
  })

  it("run: fn gets the permit and its token, and the permit is released afterwards", async () => {
    const name = uniqueName()
    const s = make({ name, permits: 1 })
    const seen = await s.run((signal, permit) => {
      assert.isFalse(signal.aborted)
      assert.isTrue(s.isHeld)
      return permit
    })
    assert.strictEqual(seen.permit, 0)
    assert.isFalse(s.isHeld)
    assert.isTrue(await make({ name }).tryAcquire())
  })

  it("run: the signal aborts with LeaseLostError when the permit is taken, and onLost fires once", async () => {
    const name = uniqueName()
    const s = make({ name, permits: 1 })
    const losses: Array<LeaseLostError> = []
    s.onLost((e) => losses.push(e))
    let reason: unknown
    const running = s.run((signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => {
          reason = signal.reason
          resolve()
        })
        // An admin overwrites the permit's holder.
        void runtime.runPromise(Effect.gen(function*() {
          const store = yield* LeaseStore.LeaseStore
          const current = Option.getOrThrow(yield* store.get({ namespace, name: `${name}-0` }))
          yield* store.update(current, { ...current, holder: "intruder", transitions: (current.transitions ?? 0) + 1 })
        }))
      })
    )
    const error = await rejection(running)
    assert.instanceOf(error, LeaseLostError)
    assert.instanceOf(reason, LeaseLostError)
    assert.strictEqual((reason as LeaseLostError).leaseName, `${name}-0`)
    await eventually(() => losses.length === 1, 5_000, "onLost")
  })

  it("async dispose releases the permit; acquiring afterwards rejects Closed", async () => {
    const name = uniqueName()
    const other = make({ name, permits: 1 })
    {
      await using s = new Semaphore({ namespace, name, permits: 1, durationSeconds: 3, runtime })
      await s.acquire()
      assert.isFalse(await other.tryAcquire())
      await s[Symbol.asyncDispose]()
      const closed = await rejection(s.acquire())
      assert.strictEqual((closed as LeaseAcquisitionError).reason, "Closed")
    }
    assert.isTrue(await other.tryAcquire())
  })

  it("a plain lease is not a semaphore", async () => {
    const name = uniqueName()
    await runtime.runPromise(Effect.gen(function*() {
      const store = yield* LeaseStore.LeaseStore
      yield* store.create({ namespace, name }, { holder: "someone", durationSeconds: 3, renewTime: Date.now(), acquireTime: Date.now(), transitions: 1 })
    }))
    const error = await rejection(make({ name, permits: 2 }).acquire())
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).reason, "Semaphore")
  })
})
