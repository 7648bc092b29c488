/**
 * IntervalLease over the core's in-memory store: the semantics of every method without a control
 * plane. Most tests run on the real clock with short durations; those about releasing while
 * `run`'s callback runs put the lease's runtime on `TestClock`, so every duration of the core
 * (renewals, the deadline, retries, the wait for the callback) passes only when the test says.
 * The same behaviours run against a real kube-apiserver in test/integration/promise.test.ts.
 */
import { LeaseStore, LeaseStoreError } from "@leasekit/core"
import { Duration, Effect, Layer, Logger, Option } from "effect"
import { TestClock } from "effect/testing"
import { assert, describe, it } from "vitest"
import {
  IntervalLease,
  type IntervalLeaseOptions,
  InvalidLeaseOptionsError,
  LeaseAcquisitionError,
  LeaseError,
  LeaseLostError,
  LeaseRelinquishmentError,
  LeaseRuntime
} from "../src/index.ts"
import { memoryLeases, namespace, rejection } from "./fixtures.ts"

const memory = memoryLeases("lease")
const { leftBy, make, record, uniqueName } = memory

/** Overwrites the holder, as an admin would (a CAS write from the current record), renewed now. */
const overwrite = (leaseName: string, holder: string) => memory.overwrite(leaseName, holder, { renewTime: Date.now() })

/** Polls `condition` every 20 ms until it holds, failing after `timeoutMs`. */
const eventually = async (condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = "condition") => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what} not reached within ${timeoutMs}ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Waits `ms` of real time. */
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The messages logged through the runtime of `onVirtualClock`. */
let logged: Array<string> = []

/**
 * Puts the leases of this test on a runtime with `TestClock` (and a logger that records into
 * `logged`) over `store`.
 */
const onVirtualClock = (store: Layer.Layer<LeaseStore.LeaseStore> = LeaseStore.layerMemory()) => {
  logged = []
  const capture = Logger.make((options) => {
    const message = options.message
    logged.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })
  return memory.onVirtualClock(store, Logger.layer([capture], { mergeWithExisting: true }))
}

/** Moves the virtual clock of `onVirtualClock` on. */
const adjust = (duration: Duration.Input) => memory.runtime.runPromise(TestClock.adjust(duration))

/**
 * The memory store with its release writes (updates that clear the holder) under the test's
 * control: `hold` keeps them from being applied until it resolves; `loseAnswer` applies the next
 * one and then answers `Timeout`, as a request whose answer was lost would. `sent` counts them.
 */
const releaseWrites = () => {
  const control: { hold: Promise<void> | undefined; loseAnswer: boolean; sent: number } = {
    hold: undefined,
    loseAnswer: false,
    sent: 0
  }
  const layer = Layer.effect(
    LeaseStore.LeaseStore,
    Effect.map(LeaseStore.makeMemory(), (store): LeaseStore.LeaseStoreService => ({
      ...store,
      withRequestTimeout: undefined,
      update: (record, spec, metadata) =>
        spec.holder !== ""
          ? store.update(record, spec, metadata)
          : Effect.gen(function*() {
            control.sent++
            const hold = control.hold
            if (hold !== undefined) yield* Effect.promise(() => hold)
            const written = yield* store.update(record, spec, metadata)
            if (!control.loseAnswer) return written
            control.loseAnswer = false
            return yield* Effect.fail(
              new LeaseStoreError({ operation: "update", key: record.key, reason: "Timeout", detail: "the answer was lost (the write landed)" })
            )
          })
    }))
  )
  return { control, layer }
}

/** A callback for `run` that records its signal and settles only when the test says. */
const controlledCallback = <T>() => {
  let finish: (value: T) => void = () => undefined
  let started: (signal: AbortSignal) => void = () => undefined
  const signal = new Promise<AbortSignal>((resolve) => (started = resolve))
  const fn = (s: AbortSignal) =>
    new Promise<T>((resolve) => {
      finish = resolve
      started(s)
    })
  return { fn, signal, finish: (value: T) => finish(value) }
}

const holderOf = async (leaseName: string) => Option.getOrUndefined(await record(leaseName))?.holder

describe("IntervalLease options", () => {
  it("defaults the lease name to the namespace and the duration to 20 seconds", () => {
    const lease = new IntervalLease({ namespace, runtime: memory.runtime })
    assert.strictEqual(IntervalLease.DEFAULT_LEASE_DURATION, 20)
    assert.strictEqual(lease.durationSeconds, 20)
    assert.strictEqual(lease.leaseName, namespace)
    assert.strictEqual(lease.namespace, namespace)
    assert.include(lease.holder, `_${process.pid}_`, "a fresh core identity: <host>_<pid>_<random>")
    assert.notStrictEqual(new IntervalLease({ namespace, runtime: memory.runtime }).holder, lease.holder)
  })

  it("rejects bad options in the constructor, naming the field", () => {
    const cases: Array<[IntervalLeaseOptions, string]> = [
      [{ namespace: "Jobs" }, "namespace"],
      [{ namespace, leaseName: "no_underscores" }, "leaseName"],
      [{ namespace, durationSeconds: 2.5 }, "durationSeconds"],
      [{ namespace, durationSeconds: 0 }, "durationSeconds"],
      [{ namespace, durationSeconds: 3, renewDeadline: "5 seconds" }, "renewDeadline"],
      [{ namespace, holder: "" }, "holder"]
    ]
    for (const [options, field] of cases) {
      let thrown: unknown
      try {
        new IntervalLease({ ...options, runtime: memory.runtime })
      } catch (error) {
        thrown = error
      }
      assert.instanceOf(thrown, InvalidLeaseOptionsError, field)
      assert.isTrue(thrown instanceof LeaseError)
      assert.strictEqual((thrown as InvalidLeaseOptionsError).field, field)
      assert.include((thrown as Error).message, field)
    }
  })

  it("a kubeconfig that cannot be loaded rejects the first call with InvalidLeaseOptionsError", async () => {
    const lease = new IntervalLease({ namespace, kubeconfig: "/nonexistent/kubeconfig" })
    try {
      const error = await rejection(lease.acquire())
      assert.instanceOf(error, InvalidLeaseOptionsError)
      assert.strictEqual((error as InvalidLeaseOptionsError).field, "kubeconfig")
      assert.include((error as Error).message, "/nonexistent/kubeconfig")
      assert.isDefined((error as Error).cause)
      assert.instanceOf(await rejection(lease.tryAcquire()), InvalidLeaseOptionsError)
    } finally {
      await lease.close()
    }
  })
})

describe("IntervalLease acquire / renew / release", () => {
  it("acquires a free lease, renews its own, and rejects another holder naming it", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    assert.isFalse(a.checkAlive())
    await a.acquire()
    assert.isTrue(a.checkAlive())
    assert.isTrue(await a.isAcquired())
    const first = Option.getOrThrow(await record(name))
    assert.strictEqual(first.holder, "a")
    assert.strictEqual(first.durationSeconds, 3)

    await a.acquire() // already ours: renewed
    const renewed = Option.getOrThrow(await record(name))
    assert.notStrictEqual(renewed.version, first.version)
    assert.strictEqual(renewed.transitions, first.transitions)
    await a.renew()
    assert.isTrue(await a.tryRenew())

    const error = await rejection(b.acquire())
    assert.instanceOf(error, LeaseAcquisitionError)
    const acquisition = error as LeaseAcquisitionError
    assert.strictEqual(acquisition.reason, "HeldByOther")
    assert.strictEqual(acquisition.holder, "a")
    assert.strictEqual(acquisition.namespace, namespace)
    assert.strictEqual(acquisition.leaseName, name)
    assert.include(acquisition.message, "\"a\"")
    assert.isAbove(acquisition.expiresInMs ?? 0, 0)
    assert.strictEqual((acquisition.cause as { _tag: string })._tag, "LeaseAcquisitionError")
    assert.isFalse(await b.tryAcquire())
    assert.isNull(await b.acquireWithToken())
    assert.instanceOf(await rejection(b.renew()), LeaseAcquisitionError)
    assert.isFalse(await b.tryRenew())
    assert.isFalse(await b.isAcquired())
    assert.isFalse(b.checkAlive())
  })

  it("release hands the lease over; tokens strictly increase with each holder", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    const first = await a.acquireWithToken()
    assert.deepStrictEqual(first, { token: "0" })
    assert.deepStrictEqual(await a.acquireWithToken(), { token: "0" }) // renewing keeps the token
    await a.release()
    assert.isFalse(a.checkAlive())
    assert.isFalse(await a.isAcquired())
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
    const second = await b.acquireWithToken()
    assert.deepStrictEqual(second, { token: "1" })
    assert.isTrue(await b.tryRelease())
    const third = await a.acquireWithToken()
    assert.deepStrictEqual(third, { token: "2" })
  })

  it("release by an instance that never held the lease writes nothing: a no-op when absent or free, HeldByOther while another holds it", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await b.release() // absent
    assert.isTrue(await b.tryRelease())
    await b.unlockWithRetry()
    assert.isTrue(Option.isNone(await record(name)))

    await a.acquire()
    const held = Option.getOrThrow(await record(name))
    const error = await rejection(b.release())
    assert.instanceOf(error, LeaseRelinquishmentError)
    assert.strictEqual((error as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((error as LeaseRelinquishmentError).holder, "a")
    assert.isFalse(await b.tryRelease())
    const retried = await rejection(b.unlockWithRetry())
    assert.strictEqual((retried as LeaseRelinquishmentError).reason, "HeldByOther", "not retried")
    assert.strictEqual(Option.getOrThrow(await record(name)).version, held.version, "nothing written")

    await a.release() // free
    await b.release()
    assert.isTrue(await b.tryRelease())
    await b.unlockWithRetry()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
  })

  it("releaseMode delete removes the object", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", releaseMode: "delete" })
    await a.acquire()
    await a.release()
    assert.isTrue(Option.isNone(await record(name)))
  })
})

describe("IntervalLease expiry", () => {
  it("isExpired: absent, held, released", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    assert.isTrue(await b.isExpired())
    await a.acquire()
    assert.isFalse(await b.isExpired())
    assert.isFalse(await a.isExpired())
    await a.release()
    assert.isTrue(await b.isExpired())
  })

  it("a lease left by a dead holder expires its duration after this process first saw it", async () => {
    const name = uniqueName()
    const b = make({ leaseName: name, holder: "b", durationSeconds: 1 })
    await leftBy(name, "dead", 1)
    const seen = Date.now()
    assert.isFalse(await b.isExpired())
    assert.isFalse(await b.tryAcquire())
    await eventually(() => b.isExpired(), 3_000, "expiry")
    assert.isAtLeast(Date.now() - seen, 900)
    assert.deepStrictEqual(await b.acquireWithToken(), { token: "5" })
  })

  it("check resolves while nothing is held and while renewals succeed", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.check(0)
    await a.acquire()
    await a.check(0)
    const error = await rejection(a.check(-1))
    assert.instanceOf(error, InvalidLeaseOptionsError)
  })
})

describe("IntervalLease loss", () => {
  it("onLost fires once when someone overwrites the holder; release then rejects", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const seen: Array<LeaseLostError> = []
    const other: Array<LeaseLostError> = []
    a.onLost((error) => seen.push(error))
    const unsubscribe = a.onLost((error) => other.push(error))
    a.onLost(() => {
      throw new Error("a handler that throws does not stop the others")
    })
    unsubscribe()
    await a.acquire()
    await overwrite(name, "intruder")
    await eventually(() => seen.length > 0, 3_000, "onLost")
    assert.lengthOf(seen, 1)
    assert.lengthOf(other, 0)
    const lost = seen[0]!
    assert.instanceOf(lost, LeaseLostError)
    assert.strictEqual(lost.reason, "Taken")
    assert.strictEqual(lost.takenBy, "intruder")
    assert.strictEqual(lost.holder, "a")
    assert.strictEqual(lost.leaseName, name)
    assert.isFalse(a.checkAlive())
    assert.isFalse(await a.isAcquired())
    const error = await rejection(a.release())
    assert.instanceOf(error, LeaseRelinquishmentError)
    assert.strictEqual((error as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((error as LeaseRelinquishmentError).holder, "intruder")
    assert.lengthOf(seen, 1)
  })

  it("isAcquired notices an overwrite before the next renewal and fires onLost", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", durationSeconds: 30 })
    const seen: Array<LeaseLostError> = []
    a.onLost((error) => seen.push(error))
    await a.acquire()
    await overwrite(name, "intruder")
    assert.isFalse(await a.isAcquired())
    assert.lengthOf(seen, 1)
    assert.isFalse(await a.tryRelease())
    // after a loss, acquire reports the new holder
    const error = await rejection(a.acquire())
    assert.strictEqual((error as LeaseAcquisitionError).holder, "intruder")
  })
})

describe("IntervalLease release failures", () => {
  /** A memory store whose updates fail with Forbidden while `refuse.updates` is set. */
  const refuse = { updates: false }
  const refusing = Layer.effect(
    LeaseStore.LeaseStore,
    Effect.map(LeaseStore.makeMemory(), (store): LeaseStore.LeaseStoreService => ({
      ...store,
      update: (record, spec, metadata) =>
        refuse.updates
          ? Effect.fail(new LeaseStoreError({ operation: "update", key: record.key, reason: "Forbidden", detail: "refused by the test" }))
          : store.update(record, spec, metadata)
    }))
  )

  it("a failed release stops renewal and rejects with Store; unlockWithRetry retries until it succeeds or is aborted", async () => {
    refuse.updates = false
    await memory.runtime.dispose()
    memory.runtime = LeaseRuntime.fromLayer(refusing)
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", retryPeriod: "100 millis" })
    try {
      await a.acquire()
      refuse.updates = true
      const error = await rejection(a.release())
      assert.instanceOf(error, LeaseRelinquishmentError)
      assert.strictEqual((error as LeaseRelinquishmentError).reason, "Store")
      assert.strictEqual(((error as LeaseRelinquishmentError).cause as { _tag: string })._tag, "LeaseRelinquishmentError")
      assert.isFalse(a.checkAlive(), "renewal has stopped")

      setTimeout(() => (refuse.updates = false), 300)
      await a.unlockWithRetry()
      assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")

      await a.acquire()
      refuse.updates = true
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 300)
      const aborted = await rejection(a.unlockWithRetry({ signal: controller.signal }))
      assert.instanceOf(aborted, LeaseRelinquishmentError)
      assert.strictEqual((aborted as LeaseRelinquishmentError).reason, "Aborted")
      refuse.updates = false
      await a.release() // the failed release is retried by the next one
      assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
      assert.isTrue(await a.tryAcquire(), "and the instance can acquire again")
    } finally {
      refuse.updates = false
    }
  })
})

describe("IntervalLease lock and run", () => {
  it("lock waits for a release and takes over at once", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", durationSeconds: 30 })
    const b = make({ leaseName: name, holder: "b", durationSeconds: 30 })
    await a.acquire()
    let locked = false
    const waiting = b.lock({ timeoutMs: 5_000 }).then(() => (locked = true))
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.isFalse(locked)
    const released = Date.now()
    await a.release()
    await waiting
    assert.isBelow(Date.now() - released, 1_000)
    assert.isTrue(b.checkAlive())
    await b.lock() // already held: resolves at once
  })

  it("lock rejects on timeout and on abort, and close stops a waiting lock", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", durationSeconds: 30 })
    const b = make({ leaseName: name, holder: "b", durationSeconds: 30 })
    await a.acquire()

    const timedOut = await rejection(b.lock({ timeoutMs: 200 }))
    assert.instanceOf(timedOut, LeaseAcquisitionError)
    assert.strictEqual((timedOut as LeaseAcquisitionError).reason, "Timeout")
    assert.strictEqual((timedOut as LeaseAcquisitionError).holder, "a")

    const controller = new AbortController()
    const waiting = rejection(b.lock({ signal: controller.signal }))
    setTimeout(() => controller.abort(new Error("stop")), 100)
    const aborted = await waiting
    assert.instanceOf(aborted, LeaseAcquisitionError)
    assert.strictEqual((aborted as LeaseAcquisitionError).reason, "Aborted")
    assert.strictEqual(((aborted as LeaseAcquisitionError).cause as Error).message, "stop")

    const already = await rejection(b.lock({ signal: AbortSignal.abort() }))
    assert.strictEqual((already as LeaseAcquisitionError).reason, "Aborted")
    assert.instanceOf(await rejection(b.lock({ timeoutMs: -1 })), InvalidLeaseOptionsError)

    const pending = rejection(b.lock())
    setTimeout(() => void b.close(), 100)
    const closed = await pending
    assert.strictEqual((closed as LeaseAcquisitionError).reason, "Closed")
    assert.strictEqual((await rejection(b.acquire()) as LeaseAcquisitionError).reason, "Closed")
    assert.isFalse(await b.isAcquired())
    await b.release()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
  })

  it("run holds the lease while fn runs, passes the token, and releases afterwards", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const result = await a.run(async (signal, token) => {
      assert.isFalse(signal.aborted)
      assert.strictEqual(token, "0")
      assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
      return 42
    })
    assert.strictEqual(result, 42)
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
    const failure = await rejection(a.run(() => Promise.reject(new Error("boom"))))
    assert.strictEqual((failure as Error).message, "boom")
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
    assert.isFalse(a.checkAlive())
  })

  it("run aborts fn's signal when the lease is lost and rejects with LeaseLostError", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const outcome = rejection(a.run((signal) =>
      new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason))
      })
    ))
    await eventually(() => a.checkAlive(), 2_000, "acquired")
    await overwrite(name, "intruder")
    const error = await outcome
    assert.instanceOf(error, LeaseLostError)
    assert.strictEqual((error as LeaseLostError).takenBy, "intruder")
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "intruder")
  })

  it("close releases what is held and is idempotent", async () => {
    const name = uniqueName()
    const a = new IntervalLease({ namespace, leaseName: name, holder: "a", durationSeconds: 3, runtime: memory.runtime })
    await a.acquire()
    await Promise.all([a.close(), a.close()])
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
    assert.isFalse(a.checkAlive())
    await a[Symbol.asyncDispose]()
  })
})

describe("IntervalLease releasing, also while run's callback runs (virtual clock)", () => {
  it("release() aborts the callback's signal (Relinquished), waits for it before writing, and run rejects", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = controlledCallback<string>()
    const running = a.run(work.fn)
    running.catch(() => undefined) // awaited below; not unhandled if an assertion fails first
    const signal = await work.signal
    try {
      assert.isTrue(a.checkAlive())
      let released = false
      const releasing = a.release().then(() => (released = true))
      assert.isFalse(a.checkAlive(), "not alive from the moment release() is called")
      await eventually(() => signal.aborted, 1_000, "the callback's signal aborted by release()")
      assert.instanceOf(signal.reason, LeaseLostError)
      assert.strictEqual((signal.reason as LeaseLostError).reason, "Relinquished")
      assert.strictEqual((signal.reason as LeaseLostError).holder, "a")
      assert.isFalse(a.checkAlive())
      assert.isFalse(await a.isAcquired(), "not acquired while the release waits for the callback")
      await pause(50)
      assert.isFalse(released, "the release waits for the callback")
      assert.strictEqual(await holderOf(name), "a", "nothing is written while the callback runs")

      work.finish("finished anyway")
      await releasing
      assert.strictEqual(await holderOf(name), "")
      const error = await rejection(running)
      assert.strictEqual(error, signal.reason, "run rejects with the signal's reason: its work was cut short")
      assert.lengthOf(losses, 0, "onLost does not fire for the instance's own release")
      assert.isFalse(a.checkAlive())
    } finally {
      work.finish("cleanup")
    }
  })

  it("close() aborts the callback's signal (Closed), waits for it before writing, and run rejects with Closed", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = controlledCallback<string>()
    const running = a.run(work.fn)
    running.catch(() => undefined) // awaited below; not unhandled if an assertion fails first
    const signal = await work.signal
    try {
      let closed = false
      const closing = a.close().then(() => (closed = true))
      assert.isFalse(a.checkAlive())
      await eventually(() => signal.aborted, 1_000, "the callback's signal aborted by close()")
      assert.instanceOf(signal.reason, LeaseAcquisitionError)
      assert.strictEqual((signal.reason as LeaseAcquisitionError).reason, "Closed")
      await pause(50)
      assert.isFalse(closed, "close waits for the callback")
      assert.strictEqual(await holderOf(name), "a", "nothing is written while the callback runs")

      work.finish("finished anyway")
      await closing
      assert.strictEqual(await holderOf(name), "")
      const error = await rejection(running)
      assert.instanceOf(error, LeaseAcquisitionError)
      assert.strictEqual((error as LeaseAcquisitionError).reason, "Closed")
      assert.lengthOf(losses, 0, "onLost does not fire for the instance's own close")
    } finally {
      work.finish("cleanup")
    }
  })

  it("a callback that ignores its signal holds the release back for at most renewDeadline; the overrun is logged", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" }) // duration 3 s: renewDeadline 2 s, renewInterval 1 s
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = controlledCallback<string>()
    let settled = false
    const running = rejection(a.run(work.fn)).finally(() => (settled = true))
    running.catch(() => undefined)
    const signal = await work.signal
    try {
      let released = false
      const releasing = a.release().then(() => (released = true))
      await eventually(() => signal.aborted, 1_000, "the callback's signal aborted by release()")

      await adjust("1500 millis") // the lease is renewed meanwhile (every second)
      await pause(20)
      assert.isFalse(released, "still waiting for the callback")
      assert.strictEqual(await holderOf(name), "a")
      assert.lengthOf(losses, 0, "renewed while waiting: not lost")

      await adjust("500 millis") // renewDeadline after the abort: the release goes ahead
      await eventually(() => released, 1_000, "the release after the bound")
      await releasing
      assert.strictEqual(await holderOf(name), "")
      assert.isTrue(logged.some((line) => line.includes("did not stop")), logged.join("\n"))
      assert.isFalse(settled, "run settles only once its callback has")

      work.finish("late")
      const error = await running
      assert.instanceOf(error, LeaseLostError)
      assert.strictEqual((error as LeaseLostError).reason, "Relinquished")
      assert.lengthOf(losses, 0)
    } finally {
      work.finish("cleanup")
    }
  })

  it("a release whose answer was lost while a waiter took over: run resolves, onLost stays silent", async () => {
    const { control, layer } = releaseWrites()
    await onVirtualClock(layer)
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = controlledCallback<number>()
    const running = a.run(work.fn)
    running.catch(() => undefined)
    await work.signal
    try {
      const waiting = b.lock()
      await pause(20) // b reads the lease (held by a) and watches it
      control.loseAnswer = true
      work.finish(7)
      await waiting // the clearing write landed: b takes the lease at once
      assert.strictEqual(await holderOf(name), "b")
      await adjust("1 second") // a's release retries (retryPeriod), reads back b: its own write let b in
      assert.strictEqual(await running, 7, "fn finished under the lease: run settles as fn did")
      assert.lengthOf(losses, 0, "not a loss: the release landed")
      assert.isFalse(a.checkAlive())
      assert.isTrue(b.checkAlive())
      assert.strictEqual(await holderOf(name), "b")
    } finally {
      work.finish(0)
    }
  })

  it("checkAlive() and isAcquired() say false from the moment release() is called, while its write is in flight", async () => {
    const { control, layer } = releaseWrites()
    await onVirtualClock(layer)
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    await a.acquire()
    assert.isTrue(a.checkAlive())
    let open: () => void = () => undefined
    control.hold = new Promise<void>((resolve) => (open = resolve))
    try {
      const releasing = a.release()
      assert.isFalse(a.checkAlive(), "false at once")
      await eventually(() => control.sent > 0, 1_000, "the release write sent")
      assert.isFalse(a.checkAlive())
      assert.isFalse(await a.isAcquired())
      assert.strictEqual(await holderOf(name), "a", "the write has not been applied yet")
      open()
      await releasing
      assert.strictEqual(await holderOf(name), "")
      assert.isFalse(a.checkAlive())
      assert.lengthOf(losses, 0)
    } finally {
      open()
    }
  })
})

describe("IntervalLease run: the callback's own release, and losses found by the renewer", () => {
  /** Settles with `promise`, or with "still pending" after `ms` of real time. */
  const within = <T>(promise: Promise<T>, ms: number) =>
    Promise.race([promise, pause(ms).then(() => "still pending" as const)])

  it("a callback may release its own lease: it is neither aborted nor waited for, and run settles as it did", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const running = a.run(async (signal) => {
      await a.release()
      return signal.aborted ? "aborted" : "released early"
    })
    running.catch(() => undefined)
    assert.strictEqual(await within(running, 1_000), "released early")
    assert.strictEqual(await holderOf(name), "")
    assert.isFalse(a.checkAlive())
    assert.lengthOf(losses, 0)
  })

  it("a callback may close its own instance: close does not wait for it, and run rejects with Closed", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const running = a.run(async () => {
      await a.close()
      return "closed"
    })
    const outcome = await within(rejection(running), 1_000)
    assert.instanceOf(outcome, LeaseAcquisitionError)
    assert.strictEqual((outcome as LeaseAcquisitionError).reason, "Closed")
    assert.strictEqual(await holderOf(name), "")
  })

  it("the callback is stopped when a renewal finds the lease taken, also when the store answers from timers (as HTTP does)", async () => {
    const hop = Effect.promise(() => pause(5))
    await memory.runtime.dispose()
    memory.runtime = LeaseRuntime.fromLayer(Layer.effect(
      LeaseStore.LeaseStore,
      Effect.map(LeaseStore.makeMemory(), (store): LeaseStore.LeaseStoreService => ({
        ...store,
        withRequestTimeout: undefined,
        get: (key) => Effect.andThen(hop, store.get(key)),
        update: (current, spec, metadata) => Effect.andThen(hop, store.update(current, spec, metadata))
      }))
    ))
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    let signal: AbortSignal | undefined
    const running = rejection(a.run((s) =>
      new Promise((_, reject) => {
        signal = s
        s.addEventListener("abort", () => reject(s.reason))
      })
    ))
    await eventually(() => signal !== undefined, 2_000, "run started")
    await overwrite(name, "intruder")
    const error = await within(running, 3_000)
    assert.instanceOf(error, LeaseLostError)
    assert.strictEqual((error as LeaseLostError).reason, "Taken")
    assert.strictEqual(signal?.reason, error)
  })
})
