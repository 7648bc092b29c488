/**
 * @leasekit/promise (IntervalLease) against a real kube-apiserver with etcd, started once for the
 * file by @leasekit/testing. Every contender is its own IntervalLease with its own Kubernetes
 * client (as separate processes would be); admin interventions are plain HTTPS requests. No HTTP
 * is mocked; every wait is bounded and polls a condition.
 */
import { Effect, Exit, Scope } from "effect"
import { afterAll, afterEach, assert, beforeAll, describe, it } from "vitest"
import {
  IntervalLease,
  type IntervalLeaseOptions,
  LeaseAcquisitionError,
  LeaseLostError,
  LeaseRelinquishmentError
} from "../../packages/promise/src/index.ts"
import { rejection } from "../../packages/promise/test/fixtures.ts"
import { ControlPlane } from "../../packages/testing/src/index.ts"

const namespace = "leasekit-promise"
let scope: Scope.Closeable
let cp: ControlPlane.ControlPlaneService
/** The leases of the running test, closed after it (so one test's leases never outlive it). */
let open: Array<IntervalLease> = []

beforeAll(async () => {
  scope = await Effect.runPromise(Scope.make())
  cp = await Effect.runPromise(Scope.provide(scope)(ControlPlane.make({ namespace })))
}, 180_000)

afterEach(async () => {
  const closing = open
  open = []
  await Promise.all(closing.map((lease) => lease.close()))
}, 60_000)

afterAll(async () => {
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
}, 60_000)

const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const leasePath = (name = "") => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name === "" ? "" : `/${name}`}`

/** A contender with its own client, as `user` (default admin); closed after the test. */
const contender = (
  leaseName: string,
  holder: string,
  options: Partial<IntervalLeaseOptions> & { readonly user?: ControlPlane.UserName } = {}
) => {
  const { user = "admin", ...rest } = options
  const lease = new IntervalLease({
    namespace,
    leaseName,
    holder,
    durationSeconds: 3,
    kubeconfig: cp.users[user].kubeconfig,
    ...rest
  })
  open.push(lease)
  return lease
}

interface RawLease {
  readonly metadata: { readonly resourceVersion: string; readonly [k: string]: unknown }
  readonly spec: {
    readonly holderIdentity?: string
    readonly leaseDurationSeconds?: number
    readonly leaseTransitions?: number
    readonly [k: string]: unknown
  }
}

/** The Lease as the API server has it (admin GET); undefined when absent. */
const read = async (name: string): Promise<RawLease | undefined> => {
  const response = await Effect.runPromise(cp.request({ path: leasePath(name) }))
  if (response.status === 404) return undefined
  assert.strictEqual(response.status, 200, response.body)
  return response.json as RawLease
}

/** An admin overwrites the holder with a plain PUT, as `kubectl edit` would. */
const adminOverwrite = async (name: string, holder: string) => {
  const current = await read(name)
  assert.isDefined(current)
  const body = { ...current, spec: { ...current!.spec, holderIdentity: holder } }
  const response = await Effect.runPromise(cp.request({ method: "PUT", path: leasePath(name), body }))
  assert.strictEqual(response.status, 200, response.body)
}

const adminDelete = async (name: string) => {
  const response = await Effect.runPromise(cp.request({ method: "DELETE", path: leasePath(name) }))
  assert.strictEqual(response.status, 200, response.body)
}

const adminCreate = async (name: string, spec: Record<string, unknown>) => {
  const response = await Effect.runPromise(cp.request({
    method: "POST",
    path: leasePath(),
    body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name }, spec }
  }))
  assert.strictEqual(response.status, 201, response.body)
}

/** Polls `condition` every 50 ms until it holds; fails after `timeoutMs`. */
const eventually = async (what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`${what}: not reached within ${timeoutMs}ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe("IntervalLease on a real API server", () => {
  it("acquire, renew and their try variants: free → taken, ours → renewed, another's → rejected naming the holder", async () => {
    const name = `acquire-${suffix()}`
    const a = contender(name, "holder-a")
    const b = contender(name, "holder-b")
    assert.strictEqual(a.durationSeconds, 3)
    assert.isTrue(await a.isExpired(), "an absent lease counts as expired")

    await a.acquire()
    const created = await read(name)
    assert.strictEqual(created?.spec.holderIdentity, "holder-a")
    assert.strictEqual(created?.spec.leaseDurationSeconds, 3)
    assert.isTrue(a.checkAlive())
    assert.isTrue(await a.isAcquired())
    assert.isFalse(await a.isExpired())

    await a.acquire() // ours: renewed
    const renewed = await read(name)
    assert.notStrictEqual(renewed?.metadata.resourceVersion, created?.metadata.resourceVersion)
    assert.strictEqual(renewed?.spec.leaseTransitions, created?.spec.leaseTransitions)
    await a.renew()
    assert.isTrue(await a.tryRenew())
    assert.isTrue(await a.tryAcquire())

    const error = await rejection(b.acquire())
    assert.instanceOf(error, LeaseAcquisitionError)
    const acquisition = error as LeaseAcquisitionError
    assert.strictEqual(acquisition.reason, "HeldByOther")
    assert.strictEqual(acquisition.holder, "holder-a")
    assert.strictEqual(acquisition.namespace, namespace)
    assert.strictEqual(acquisition.leaseName, name)
    assert.include(acquisition.message, "holder-a")
    assert.isDefined(acquisition.cause)
    assert.isFalse(await b.tryAcquire())
    assert.instanceOf(await rejection(b.renew()), LeaseAcquisitionError)
    assert.isFalse(await b.tryRenew())
    assert.isNull(await b.acquireWithToken())
    assert.isFalse(await b.isAcquired())
    assert.isFalse(await b.isExpired())
    assert.isFalse(b.checkAlive())

    // background renewal keeps it: after more than a duration, a still holds it
    const before = (await read(name))?.metadata.resourceVersion
    await eventually("a renewal in the background", async () => (await read(name))?.metadata.resourceVersion !== before)
    assert.isTrue(await a.isAcquired())
  })

  it("release clears the holder and hands over; tokens strictly increase across holders", async () => {
    const name = `tokens-${suffix()}`
    const a = contender(name, "holder-a")
    const b = contender(name, "holder-b")
    const c = contender(name, "holder-c")
    const tokens: Array<number> = []
    for (const lease of [a, b, c, a, b]) {
      const granted = await lease.acquireWithToken()
      assert.isNotNull(granted)
      tokens.push(Number(granted!.token))
      assert.deepStrictEqual(await lease.acquireWithToken(), granted, "renewing keeps the token")
      await lease.release()
      assert.isFalse(lease.checkAlive())
      const released = await read(name)
      assert.strictEqual(released?.spec.holderIdentity, "", "release clears the holder (client-go's convention)")
      assert.strictEqual(released?.spec.leaseTransitions, tokens.at(-1), "the object and its counter are kept")
    }
    for (let i = 1; i < tokens.length; i++) assert.isAbove(tokens[i]!, tokens[i - 1]!, `tokens ${tokens.join(", ")}`)
    assert.isTrue(await a.isExpired(), "a released lease is expired")
  })

  it("release by an instance that never held the lease: HeldByOther while another holds it (tryRelease false), a no-op once it is free", async () => {
    const name = `noop-${suffix()}`
    const a = contender(name, "holder-a")
    const b = contender(name, "holder-b")
    await b.release()
    assert.isTrue(await b.tryRelease(), "absent: nothing to do")
    assert.isUndefined(await read(name), "nothing written")
    await a.acquire()
    const refused = await rejection(b.release())
    assert.instanceOf(refused, LeaseRelinquishmentError)
    assert.strictEqual((refused as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((refused as LeaseRelinquishmentError).holder, "holder-a")
    assert.isFalse(await b.tryRelease())
    assert.strictEqual((await rejection(b.unlockWithRetry()) as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-a")
    await a.unlockWithRetry()
    assert.strictEqual((await read(name))?.spec.holderIdentity, "")
    assert.isTrue(await a.tryRelease(), "released already: nothing to do")
    await b.release()
    assert.isTrue(await b.tryRelease(), "free: nothing to do")
  })

  it("onLost fires once after an admin overwrites the holder; release then rejects naming the new holder", async () => {
    const name = `overwrite-${suffix()}`
    const a = contender(name, "holder-a")
    const losses: Array<LeaseLostError> = []
    const unsubscribed: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const unsubscribe = a.onLost((error) => unsubscribed.push(error))
    unsubscribe()
    await a.acquire()
    await adminOverwrite(name, "admin-wrote-this")
    await eventually("onLost", () => losses.length > 0, 5_000)
    const lost = losses[0]!
    assert.instanceOf(lost, LeaseLostError)
    assert.strictEqual(lost.reason, "Taken")
    assert.strictEqual(lost.takenBy, "admin-wrote-this")
    assert.strictEqual(lost.holder, "holder-a")
    assert.strictEqual(lost.leaseName, name)
    assert.include(lost.message, "admin-wrote-this")
    assert.isFalse(a.checkAlive())
    assert.isFalse(await a.isAcquired())

    const released = await rejection(a.release())
    assert.instanceOf(released, LeaseRelinquishmentError)
    assert.strictEqual((released as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((released as LeaseRelinquishmentError).holder, "admin-wrote-this")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "admin-wrote-this", "nothing of the admin's was cleared")
    assert.lengthOf(losses, 1, "fired once")
    assert.lengthOf(unsubscribed, 0)
  })

  it("onLost fires when the Lease is deleted; tryRelease afterwards succeeds (nothing left to release)", async () => {
    const name = `deleted-${suffix()}`
    const a = contender(name, "holder-a")
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    await a.acquire()
    await adminDelete(name)
    await eventually("onLost", () => losses.length > 0, 5_000)
    assert.strictEqual(losses[0]!.reason, "Deleted")
    assert.isTrue(await a.tryRelease())
    assert.isUndefined(await read(name))
  })

  it("isAcquired notices an overwrite at once and fires onLost without waiting for the next renewal", async () => {
    const name = `notice-${suffix()}`
    const a = contender(name, "holder-a", { durationSeconds: 30 })
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    await a.acquire()
    await adminOverwrite(name, "intruder")
    assert.isFalse(await a.isAcquired())
    assert.lengthOf(losses, 1)
    assert.isFalse(await a.tryRelease())
  })

  it("lock waits for the holder's release and takes over within moments (watch-driven)", async () => {
    const name = `handover-${suffix()}`
    const a = contender(name, "holder-a", { durationSeconds: 30 })
    const b = contender(name, "holder-b", { durationSeconds: 30 })
    await a.acquire()
    let lockedAt = 0
    const waiting = b.lock({ timeoutMs: 20_000 }).then(() => (lockedAt = Date.now()))
    await eventually("b is waiting", async () => (await b.isExpired()) === false)
    assert.strictEqual(lockedAt, 0)
    const releasedAt = Date.now()
    await a.release()
    await waiting
    assert.isBelow(lockedAt - releasedAt, 1_500, "handed over without waiting a poll period or the duration")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-b")
    await b.lock() // already held: at once
  })

  it("lock without watch permission (restricted user) polls and still gets the lease", async () => {
    const name = `polling-${suffix()}`
    const a = contender(name, "holder-a", { user: "restricted" })
    const b = contender(name, "holder-b", { user: "restricted" })
    await a.acquire()
    const waiting = b.lock({ timeoutMs: 20_000 })
    await a.release()
    await waiting
    assert.isTrue(b.checkAlive())
    assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-b")
  })

  it("lock takes a dead holder's lease once this process has seen it unchanged for its duration", async () => {
    const name = `dead-${suffix()}`
    await adminCreate(name, { holderIdentity: "ghost", leaseDurationSeconds: 2, leaseTransitions: 6 })
    const b = contender(name, "holder-b")
    const started = Date.now()
    assert.isFalse(await b.isExpired(), "first seen now: not expired yet")
    await b.lock({ timeoutMs: 15_000 })
    assert.isAtLeast(Date.now() - started, 1_900)
    assert.strictEqual((await read(name))?.spec.leaseTransitions, 7)
    assert.deepStrictEqual(await b.acquireWithToken(), { token: "7" })
  })

  it("lock rejects on timeout (naming the holder), on abort, and when closed meanwhile", async () => {
    const name = `lock-fail-${suffix()}`
    const a = contender(name, "holder-a", { durationSeconds: 30 })
    const b = contender(name, "holder-b", { durationSeconds: 30 })
    await a.acquire()

    const started = Date.now()
    const timedOut = await rejection(b.lock({ timeoutMs: 800 }))
    assert.instanceOf(timedOut, LeaseAcquisitionError)
    assert.strictEqual((timedOut as LeaseAcquisitionError).reason, "Timeout")
    assert.strictEqual((timedOut as LeaseAcquisitionError).holder, "holder-a")
    assert.isBelow(Date.now() - started, 5_000)

    const controller = new AbortController()
    const waiting = rejection(b.lock({ signal: controller.signal }))
    setTimeout(() => controller.abort(new Error("caller gave up")), 300)
    const aborted = await waiting
    assert.instanceOf(aborted, LeaseAcquisitionError)
    assert.strictEqual((aborted as LeaseAcquisitionError).reason, "Aborted")
    assert.strictEqual(((aborted as LeaseAcquisitionError).cause as Error).message, "caller gave up")

    const pending = rejection(b.lock())
    setTimeout(() => void b.close(), 300)
    const closed = await pending
    assert.instanceOf(closed, LeaseAcquisitionError)
    assert.strictEqual((closed as LeaseAcquisitionError).reason, "Closed")
    assert.strictEqual(((await rejection(b.acquire())) as LeaseAcquisitionError).reason, "Closed")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-a")
  })

  it("run: waits, passes the token, releases afterwards — on success and on failure", async () => {
    const name = `run-${suffix()}`
    const a = contender(name, "holder-a")
    const result = await a.run(async (signal, token) => {
      assert.isFalse(signal.aborted)
      assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-a")
      assert.strictEqual(token, String((await read(name))?.spec.leaseTransitions ?? 0))
      return "done"
    })
    assert.strictEqual(result, "done")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "")
    assert.isFalse(a.checkAlive())

    const failure = await rejection(a.run(async () => {
      throw new Error("the work failed")
    }))
    assert.strictEqual((failure as Error).message, "the work failed")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "", "released after a failure too")
  })

  it("run aborts the callback's signal when the lease is lost and rejects with LeaseLostError", async () => {
    const name = `run-lost-${suffix()}`
    const a = contender(name, "holder-a")
    let reason: unknown
    let running = false
    const outcome = rejection(a.run((signal) =>
      new Promise((_, reject) => {
        running = true
        signal.addEventListener("abort", () => {
          reason = signal.reason
          reject(signal.reason)
        })
      })
    ))
    await eventually("run started", () => running)
    await adminOverwrite(name, "intruder")
    const error = await outcome
    assert.instanceOf(error, LeaseLostError)
    assert.strictEqual((error as LeaseLostError).takenBy, "intruder")
    assert.strictEqual(reason, error, "the signal's reason is the loss")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "intruder", "the new holder is left alone")
    assert.isFalse(a.checkAlive())
  })

  /**
   * A `run` callback that, once its signal aborts, reads the Lease (to see that nothing was
   * written yet), takes `stopMs` to stop and resolves.
   */
  const slowToStop = (name: string, stopMs: number) => {
    const seen: { signal?: AbortSignal; holderAtAbort?: string | undefined; finishedAt?: number } = {}
    const fn = (signal: AbortSignal) =>
      new Promise<string>((resolve) => {
        seen.signal = signal
        signal.addEventListener("abort", () => {
          void (async () => {
            seen.holderAtAbort = (await read(name))?.spec.holderIdentity
            await new Promise((wait) => setTimeout(wait, stopMs))
            seen.finishedAt = Date.now()
            resolve("stopped")
          })()
        })
      })
    return { seen, fn }
  }

  it("release() during run: the callback's signal aborts (Relinquished) and the waiter gets the lease only after the callback stopped", async () => {
    const name = `run-release-${suffix()}`
    const a = contender(name, "holder-a")
    const b = contender(name, "holder-b")
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = slowToStop(name, 500)
    const running = rejection(a.run(work.fn))
    await eventually("run started", () => work.seen.signal !== undefined)
    let lockedAt = 0
    const waiting = b.lock({ timeoutMs: 20_000 }).then(() => (lockedAt = Date.now()))
    await eventually("b is waiting", async () => (await b.isExpired()) === false)

    await a.release()
    assert.isFalse(a.checkAlive())
    const signal = work.seen.signal!
    assert.instanceOf(signal.reason, LeaseLostError)
    assert.strictEqual((signal.reason as LeaseLostError).reason, "Relinquished")
    assert.strictEqual(work.seen.holderAtAbort, "holder-a", "nothing was written when the signal aborted")
    assert.isDefined(work.seen.finishedAt, "release() resolved only after the callback stopped")
    await waiting
    assert.isAtLeast(lockedAt, work.seen.finishedAt!, "the next holder started after the callback stopped")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "holder-b")
    assert.strictEqual(await running, signal.reason, "run rejects with the signal's reason")
    assert.lengthOf(losses, 0, "onLost does not fire for the instance's own release")
  })

  it("close() during run: the callback's signal aborts (Closed) and the release is written only after it stopped", async () => {
    const name = `run-close-${suffix()}`
    const a = contender(name, "holder-a")
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    const work = slowToStop(name, 500)
    const running = rejection(a.run(work.fn))
    await eventually("run started", () => work.seen.signal !== undefined)

    await a.close()
    const signal = work.seen.signal!
    assert.instanceOf(signal.reason, LeaseAcquisitionError)
    assert.strictEqual((signal.reason as LeaseAcquisitionError).reason, "Closed")
    assert.strictEqual(work.seen.holderAtAbort, "holder-a", "nothing was written when the signal aborted")
    assert.isDefined(work.seen.finishedAt, "close() resolved only after the callback stopped")
    assert.strictEqual((await read(name))?.spec.holderIdentity, "")
    const error = await running
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).reason, "Closed")
    assert.lengthOf(losses, 0, "onLost does not fire for the instance's own close")
  })

  it("check resolves while renewals succeed; loses the lease and rejects when the API server stops answering", async () => {
    const name = `check-${suffix()}`
    const a = contender(name, "holder-a", { durationSeconds: 2 })
    await a.check(0) // nothing held
    await a.acquire()
    await a.check(0)
    const losses: Array<LeaseLostError> = []
    a.onLost((error) => losses.push(error))
    await Effect.runPromise(cp.pause("apiserver"))
    try {
      await eventually("loss by deadline", () => losses.length > 0, 5_000)
      assert.strictEqual(losses[0]!.reason, "DeadlineExceeded")
      assert.isFalse(a.checkAlive())
      await eventually("check rejects", () => a.check(200).then(() => false, () => true), 5_000)
      const error = await rejection(a.check(200))
      assert.instanceOf(error, LeaseLostError)
      assert.include((error as Error).message, "expired for")
    } finally {
      await Effect.runPromise(cp.resume("apiserver"))
    }
    await Effect.runPromise(cp.waitReady("30 seconds"))
    await a.release() // still names us: cleared
    assert.strictEqual((await read(name))?.spec.holderIdentity, "")
  })

  it("a user without rights gets a Store failure, which tryAcquire does not hide as contention", async () => {
    const name = `forbidden-${suffix()}`
    const n = contender(name, "holder-n", { user: "nobody" })
    const error = await rejection(n.acquire())
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).reason, "Store")
    assert.include((error as Error).message, "Forbidden")
    assert.instanceOf(await rejection(n.tryAcquire()), LeaseAcquisitionError)
  })

  it("close releases what is held and is idempotent; asyncDispose is close", async () => {
    const name = `close-${suffix()}`
    const a = contender(name, "holder-a")
    await a.acquire()
    await Promise.all([a.close(), a[Symbol.asyncDispose]()])
    assert.strictEqual((await read(name))?.spec.holderIdentity, "")
    assert.isFalse(a.checkAlive())
    assert.strictEqual(((await rejection(a.acquire())) as LeaseAcquisitionError).reason, "Closed")
  })
})
