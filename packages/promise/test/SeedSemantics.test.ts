/**
 * The seed's documented behaviours, pinned on the core's in-memory store. `IntervalLease` keeps the
 * surface of Hedera Solo's `IntervalLease` (hashgraph/solo, now hiero-ledger/solo:
 * `src/core/lease/interval_lease.ts`, `lease.ts`, `lease_errors.ts`); each test names the seed
 * method and the line of its documentation (or code) it pins. Where the facade deliberately
 * differs — expiry judged by this process's observation rather than by comparing clocks, a
 * release that clears the holder instead of deleting the object, a non-holding instance that never
 * writes — the test says so and pins the facade's side.
 *
 * Tests about time put the lease's runtime on `TestClock`, so a lease duration passes only when the
 * test says; the others run on the real clock and never wait for a duration.
 */
import { Duration, Option } from "effect"
import { TestClock } from "effect/testing"
import { assert, describe, it } from "vitest"
import { IntervalLease, LeaseAcquisitionError, LeaseRelinquishmentError } from "../src/index.ts"
import { memoryLeases, namespace, rejection } from "./fixtures.ts"

const memory = memoryLeases("seed")
const { leftBy, make, onVirtualClock, overwrite, record, uniqueName } = memory

const versionOf = async (leaseName: string) => Option.getOrUndefined(await record(leaseName))?.version

/** Moves the virtual clock of `onVirtualClock` on, a second at a time, letting each renewal land. */
const advance = async (seconds: number) => {
  let left = seconds * 1_000
  while (left > 0) {
    const step = Math.min(left, 1_000)
    await memory.runtime.runPromise(TestClock.adjust(Duration.millis(step)))
    await new Promise((resolve) => setImmediate(resolve))
    left -= step
  }
}

describe("seed: IntervalLease constructor and properties", () => {
  it("DEFAULT_LEASE_DURATION is 20 and durationSeconds defaults to it (seed: `DEFAULT_LEASE_DURATION = 20`; 'if not provided, the default value is used')", () => {
    assert.strictEqual(IntervalLease.DEFAULT_LEASE_DURATION, 20)
    assert.strictEqual(new IntervalLease({ namespace, runtime: memory.runtime }).durationSeconds, 20)
    assert.strictEqual(new IntervalLease({ namespace, runtime: memory.runtime, durationSeconds: 7 }).durationSeconds, 7)
  })

  it("the lease name defaults to the namespace, and a given name is used (seed constructor: 'if not provided, the namespace is used')", async () => {
    const byNamespace = make({ holder: "a" })
    assert.strictEqual(byNamespace.leaseName, namespace)
    assert.strictEqual(byNamespace.namespace, namespace)
    await byNamespace.acquire()
    assert.strictEqual(Option.getOrThrow(await record(namespace)).holder, "a", "the Lease object is named after the namespace")

    const named = make({ leaseName: "named", holder: "b" })
    assert.strictEqual(named.leaseName, "named")
    await named.acquire()
    assert.strictEqual(Option.getOrThrow(await record("named")).holder, "b")
  })
})

describe("seed: acquire / tryAcquire", () => {
  it("acquire creates an absent lease naming this holder with its durationSeconds (seed acquire: no lease → createOrRenewLease(holder, durationSeconds))", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", durationSeconds: 5 })
    assert.isTrue(Option.isNone(await record(name)))
    await a.acquire()
    const created = Option.getOrThrow(await record(name))
    assert.strictEqual(created.holder, "a")
    assert.strictEqual(created.durationSeconds, 5)
  })

  it("acquire renews a lease this instance already holds (seed acquire: 'If the lease is held by the same process, it renews the lease')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.acquire()
    const first = Option.getOrThrow(await record(name))
    await a.acquire()
    const renewed = Option.getOrThrow(await record(name))
    assert.notStrictEqual(renewed.version, first.version, "written again")
    assert.strictEqual(renewed.holder, "a")
    assert.strictEqual(renewed.transitions, first.transitions, "a renewal, not a new tenure")
  })

  it("acquire rejects with LeaseAcquisitionError naming the holder while another process holds the lease, writing nothing (seed acquire: '@throws LeaseAcquisitionError - If the lease is already acquired by another process')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    const before = await versionOf(name)
    const error = await rejection(b.acquire())
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).reason, "HeldByOther")
    assert.strictEqual((error as LeaseAcquisitionError).holder, "a")
    assert.strictEqual(await versionOf(name), before)
  })

  it("tryAcquire resolves true when it takes the lease and false while another process holds it (seed tryAcquire: 'true if the lease is successfully acquired; otherwise, false')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    assert.isTrue(await a.tryAcquire())
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
    assert.isFalse(await b.tryAcquire())
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
  })

  it("acquire takes over a lease whose holder stopped renewing once it expired (seed acquire: 'If the lease is expired, it creates a new lease'; expiry judged from this process's first sight of the record)", async () => {
    await onVirtualClock()
    const name = uniqueName()
    await leftBy(name, "dead")
    const b = make({ leaseName: name, holder: "b" })
    assert.isFalse(await b.tryAcquire(), "not expired yet: first seen now")
    await advance(2)
    assert.instanceOf(await rejection(b.acquire()), LeaseAcquisitionError, "still within its 3 s")
    await advance(1)
    await b.acquire()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "b")
  })

  it("a lease acquired is renewed in the background, so it does not expire while held (seed: 'The lease is automatically renewed in the background to prevent expiration')", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    const acquired = await versionOf(name)
    assert.isFalse(await b.isExpired())
    await advance(10) // more than three durations
    assert.notStrictEqual(await versionOf(name), acquired, "renewed without being asked")
    assert.isFalse(await b.isExpired())
    assert.isFalse(await b.tryAcquire())
    assert.isTrue(await a.isAcquired())
  })
})

describe("seed: renew / tryRenew", () => {
  it("renew renews a lease this instance holds and tryRenew resolves true (seed renew: held by the same process → createOrRenewLease)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.acquire()
    const first = await versionOf(name)
    await a.renew()
    const second = await versionOf(name)
    assert.notStrictEqual(second, first)
    assert.isTrue(await a.tryRenew())
    assert.notStrictEqual(await versionOf(name), second)
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
  })

  it("renew creates the lease when it is absent (seed renew: no lease → createOrRenewLease)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.renew()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "a")
    assert.isTrue(await a.isAcquired())
  })

  it("renew rejects with LeaseAcquisitionError and tryRenew resolves false while another process holds the lease (seed renew: '@throws LeaseAcquisitionError - If the lease is already acquired by another process')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    const before = await versionOf(name)
    const error = await rejection(b.renew())
    assert.instanceOf(error, LeaseAcquisitionError)
    assert.strictEqual((error as LeaseAcquisitionError).holder, "a")
    assert.isFalse(await b.tryRenew())
    assert.strictEqual(await versionOf(name), before, "nothing written")
  })

  it("renew takes a lease whose holder let it expire (seed renew doc: 'If the lease is expired or held by the same process, it creates or renews the lease')", async () => {
    await onVirtualClock()
    const name = uniqueName()
    await leftBy(name, "dead")
    const b = make({ leaseName: name, holder: "b" })
    assert.isFalse(await b.tryRenew(), "not expired yet: first seen now")
    await advance(3)
    await b.renew()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "b")
  })
})

describe("seed: release / tryRelease", () => {
  it("release frees a lease this instance holds and tryRelease resolves true (seed release: held by the same process → deleteLease; the facade clears the holder, or deletes with releaseMode delete)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    await a.release()
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")
    assert.isTrue(await b.tryAcquire(), "the next contender takes it at once")
    assert.isTrue(await b.tryRelease())
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "")

    const deleting = make({ leaseName: uniqueName(), holder: "c", releaseMode: "delete" })
    await deleting.acquire()
    await deleting.release()
    assert.isTrue(Option.isNone(await record(deleting.leaseName)), "deleted, as the seed does")
  })

  it("release stops the background renewal (seed release: renewalService.cancel(scheduleId) before the lease is deleted)", async () => {
    await onVirtualClock()
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.acquire()
    await a.release()
    const released = Option.getOrThrow(await record(name))
    await advance(5)
    const later = Option.getOrThrow(await record(name))
    assert.strictEqual(later.version, released.version, "no renewal after release")
    assert.strictEqual(later.holder, "")
  })

  it("release resolves and writes nothing when the lease does not exist (seed release: `if (!lease) return`)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    await a.release()
    assert.isTrue(await a.tryRelease())
    assert.isTrue(Option.isNone(await record(name)))
  })

  it("release by an instance that never held the lease rejects with LeaseRelinquishmentError naming the holder while another process holds it, and writes nothing (seed release: '@throws LeaseRelinquishmentError - If the lease is already acquired by another process')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    const before = await versionOf(name)
    const error = await rejection(b.release())
    assert.instanceOf(error, LeaseRelinquishmentError)
    const refused = error as LeaseRelinquishmentError
    assert.strictEqual(refused.reason, "HeldByOther")
    assert.strictEqual(refused.holder, "a")
    assert.strictEqual(refused.leaseName, name)
    assert.include(refused.message, "\"a\"")
    assert.strictEqual(await versionOf(name), before, "nothing written")
    assert.isTrue(await a.isAcquired(), "the holder keeps it")
  })

  it("tryRelease resolves false while another process holds the lease, also after this instance released its own tenure (seed tryRelease: release threw → false)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    assert.isFalse(await b.tryRelease(), "never held")
    await a.release()
    await b.acquire()
    const before = await versionOf(name)
    assert.isFalse(await a.tryRelease(), "released already, now held by b")
    const error = await rejection(a.release())
    assert.strictEqual((error as LeaseRelinquishmentError).reason, "HeldByOther")
    assert.strictEqual((error as LeaseRelinquishmentError).holder, "b")
    assert.strictEqual(await versionOf(name), before, "nothing written")
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "b")
  })

  it("release by an instance holding nothing resolves when the lease is free or names its own holder, writing nothing (seed release throws only for another process's lease)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    await a.release()
    const free = await versionOf(name)
    await b.release()
    assert.isTrue(await b.tryRelease())
    assert.strictEqual(await versionOf(name), free)

    await overwrite(name, "b") // names b, but this instance b holds nothing
    const named = await versionOf(name)
    await b.release()
    assert.isTrue(await b.tryRelease())
    assert.strictEqual(await versionOf(name), named, "nothing written")
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "b")
  })

  it("release of a lease another process let expire does not reject (seed release: 'If the lease is expired ... it deletes the lease'; the facade, holding nothing, writes nothing)", async () => {
    await onVirtualClock()
    const name = uniqueName()
    await leftBy(name, "dead")
    const b = make({ leaseName: name, holder: "b" })
    assert.isFalse(await b.tryRelease(), "not expired yet: first seen now")
    await advance(3)
    await b.release()
    assert.isTrue(await b.tryRelease())
    assert.strictEqual(Option.getOrThrow(await record(name)).holder, "dead", "left for a contender to take over")
  })

  it("close() of an instance that holds nothing stays quiet while another process holds the lease, and writes nothing", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    const before = await versionOf(name)
    await b.close()
    await b.release() // closed: nothing to release
    assert.isTrue(await b.tryRelease())
    assert.strictEqual(await versionOf(name), before)
    assert.isTrue(await a.isAcquired())
  })
})

describe("seed: isAcquired / isExpired", () => {
  it("isAcquired is true only while this instance holds the lease (seed isAcquired: lease exists, not expired, held by the same process)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    assert.isFalse(await a.isAcquired(), "absent")
    await a.acquire()
    assert.isTrue(await a.isAcquired())
    assert.isFalse(await b.isAcquired(), "held by another process")
    await a.release()
    assert.isFalse(await a.isAcquired(), "released")
  })

  it("isAcquired is false once another process has taken the lease (seed isAcquired: heldBySameProcess)", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a", durationSeconds: 30 })
    await a.acquire()
    assert.isTrue(await a.isAcquired())
    await overwrite(name, "intruder")
    assert.isFalse(await a.isAcquired())
  })

  it("isExpired is false for a held, renewed lease whoever asks (seed isExpired: 'does not verify if the lease is acquired by the current process')", async () => {
    const name = uniqueName()
    const a = make({ leaseName: name, holder: "a" })
    const b = make({ leaseName: name, holder: "b" })
    await a.acquire()
    assert.isFalse(await a.isExpired())
    assert.isFalse(await b.isExpired())
  })

  it("isExpired turns true once the holder has not renewed for its duration, for any instance (seed checkExpiration: time since the last renewal > leaseDurationSeconds; judged from this process's first sight)", async () => {
    await onVirtualClock()
    const name = uniqueName()
    await leftBy(name, "dead", 4)
    const b = make({ leaseName: name, holder: "b" })
    const c = make({ leaseName: name, holder: "c" })
    assert.isFalse(await b.isExpired())
    await advance(3)
    assert.isFalse(await b.isExpired(), "within its own 4 s")
    assert.isFalse(await c.isExpired())
    await advance(1)
    assert.isTrue(await b.isExpired())
    assert.isTrue(await c.isExpired())
  })
})
