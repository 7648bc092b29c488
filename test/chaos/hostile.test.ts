/**
 * Hostile and malformed Lease records on a real API server, one behaviour per test — the decisions
 * tabled in `hostile.ts`. Records the API server accepts are written through it as admin; those it
 * refuses (duration ≤ 0, negative transitions, an unparseable time) are first shown to be refused,
 * then written straight into etcd, as a broken tool or a restored backup could leave them.
 *
 * The contender here uses duration 4 s. "Takes over after D" is asserted as a lower bound from
 * the moment the record was written (a contender may never take over sooner); the upper bound is
 * the wait's timeout. No mock anywhere.
 */
import { assert, layer } from "@effect/vitest"
import { Lease, LeaseAcquisitionError, LeaseLostError, LeaseStore } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Option, Schedule } from "effect"
import * as Hostile from "./hostile.ts"

const namespace = "leasekit-hostile"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const elapsedSince = (start: number) => performance.now() - start

const timing = {
  duration: "4 seconds",
  renewInterval: "1 second",
  renewDeadline: "2500 millis",
  retryPeriod: "500 millis",
  requestTimeout: "1500 millis"
} as const

/** A fresh store (its own client and its own observation memory), closed with the test's scope. */
const store = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  const client = yield* KubeClient.makeFromFile(cp.users.admin.kubeconfig)
  return KubernetesLeaseStore.make(client)
})

const withStore = <A, E, R>(s: LeaseStore.LeaseStoreService, self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provideServiceEffect(Lease.Lease, Lease.make), Effect.provideService(LeaseStore.LeaseStore, s))

const leasePath = (name = "") => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name === "" ? "" : `/${name}`}`

/** A lease held by "seed" with transitions 7 (so tokens that keep counting are 8 and up). */
const seed = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  const name = `hostile-${suffix()}`
  const res = yield* cp.request({
    method: "POST",
    path: leasePath(),
    body: {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name },
      spec: { holderIdentity: "seed", leaseDurationSeconds: 1, leaseTransitions: 7 }
    }
  })
  assert.strictEqual(res.status, 201, res.body)
  return name
})

const variant = (name: string): Hostile.Variant => {
  const found = Hostile.variants.find((v) => v.name === name)
  assert.isDefined(found, name)
  return found!
}

/** Writes the variant (with transitions 7) and returns the instant it was written. */
const writeVariant = (lease: string, name: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    yield* Hostile.write(cp, namespace, lease, variant(name), 7)
    return performance.now()
  })

/** The API server refuses to store it: status 422 or 400, with the API's own reason. */
const assertApiRefuses = (lease: string, spec: Record<string, unknown>, status: number, reason: RegExp) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const current = yield* Hostile.readRaw(cp, namespace, lease)
    const res = yield* cp.request({
      method: "PUT",
      path: leasePath(lease),
      body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: current!.metadata, spec }
    })
    assert.strictEqual(res.status, status, res.body)
    assert.match(res.body, reason)
  })

const acquireIn = (s: LeaseStore.LeaseStoreService, lease: string, extra: Partial<Lease.AcquireOptions> = {}) =>
  withStore(s, Lease.acquire({ namespace, name: lease, ...timing, timeout: "30 seconds", ...extra }))

const tryAcquireIn = (s: LeaseStore.LeaseStoreService, lease: string) =>
  withStore(s, Lease.tryAcquire({ namespace, name: lease, ...timing }))

const inspectIn = (s: LeaseStore.LeaseStoreService, lease: string, extra: Partial<Lease.AcquireOptions> = {}) =>
  withStore(s, Lease.inspect({ namespace, name: lease }, { ...timing, ...extra }))

/** Takes over a record that names a foreign holder: not before `atLeast` ms after it was written. */
const takesOverAfter = (lease: string, writtenAt: number, atLeast: number, extra: Partial<Lease.AcquireOptions> = {}) =>
  Effect.gen(function*() {
    const s = yield* store
    assert.isTrue(Option.isNone(yield* tryAcquireIn(s, lease)), "held right after the write")
    const held = yield* acquireIn(s, lease, extra)
    const waited = elapsedSince(writtenAt)
    assert.isAtLeast(waited, atLeast - 50, `taken ${waited.toFixed(0)} ms after the write`)
    return held
  })

const awaitLoss = (held: HeldLease) =>
  Effect.flip(held.lost).pipe(
    Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.die(new Error("the holder never found out")) })
  )

layer(ControlPlane.layer({ namespace, audit: false }), { excludeTestServices: true, timeout: "3 minutes" })(
  "hostile lease records",
  (it) => {
    it.effect("no spec: the lease is free at once, and the fencing token restarts at 1", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        yield* writeVariant(lease, "no spec")
        const s = yield* store
        const held = yield* tryAcquireIn(s, lease)
        assert.isTrue(Option.isSome(held))
        assert.strictEqual(Option.getOrThrow(held).token, 1)
      }))

    it.effect("a holder without renewTime is held for its leaseDurationSeconds, as observed", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        const at = yield* writeVariant(lease, "missing renewTime")
        const inspection = yield* inspectIn(yield* store, lease)
        assert.deepStrictEqual(inspection.holder, Option.some("admin-intruder"))
        assert.strictEqual(Duration.toMillis(inspection.honouredDuration), 3000)
        const held = yield* takesOverAfter(lease, at, 3000)
        assert.strictEqual(held.token, 8)
      }))

    it.effect("leaseDurationSeconds 0 or -30 (refused by the API, present in etcd): the contender's own duration", () =>
      Effect.gen(function*() {
        for (const name of ["leaseDurationSeconds 0", "leaseDurationSeconds -30"]) {
          const lease = yield* seed
          yield* assertApiRefuses(lease, variant(name).spec(7)!, 422, /leaseDurationSeconds: Invalid value/)
          const at = yield* writeVariant(lease, name)
          const inspection = yield* inspectIn(yield* store, lease)
          assert.strictEqual(Duration.toMillis(inspection.honouredDuration), 4000, name)
          const held = yield* takesOverAfter(lease, at, 4000)
          assert.strictEqual(held.token, 8)
        }
      }))

    it.effect("leaseDurationSeconds 1e9: capped at maxHonouredDuration (1 hour by default), so it cannot pin the lease", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        const at = yield* writeVariant(lease, "leaseDurationSeconds 1e9")
        const byDefault = yield* inspectIn(yield* store, lease)
        assert.strictEqual(Duration.toMillis(byDefault.honouredDuration), 3_600_000)
        assert.isTrue(Option.isNone(yield* tryAcquireIn(yield* store, lease)), `held right after the write at ${at}`)
        // The takeover at the cap is pinned on the virtual clock (core's Lease.test.ts): a cap below
        // an hour is no longer a valid option — a leasekit holder may declare up to an hour, and a
        // contender honouring less would take over from it too early.
        const refused = yield* Effect.flip(inspectIn(yield* store, lease, { maxHonouredDuration: "5 seconds" }))
        assert.strictEqual(refused._tag, "InvalidLeaseOptions")
      }))

    it.effect("renewTime in year 9999 is ignored: expiry is observed, even with maxClockSkew", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        const at = yield* writeVariant(lease, "renewTime in year 9999")
        const record = Option.getOrThrow((yield* inspectIn(yield* store, lease)).record)
        assert.isAbove(record.renewTime!, Date.UTC(9999, 0, 1))
        const held = yield* takesOverAfter(lease, at, 3000, { maxClockSkew: "1 second" })
        assert.strictEqual(held.token, 8)
      }))

    it.effect("empty holderIdentity: released, free at once; the token keeps counting", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        yield* writeVariant(lease, "empty holderIdentity")
        const held = yield* tryAcquireIn(yield* store, lease)
        assert.strictEqual(Option.getOrThrow(held).token, 8)
      }))

    it.effect("garbage holderIdentity: a foreign holder like any other, taken after its duration", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        const at = yield* writeVariant(lease, "garbage holderIdentity")
        const inspection = yield* inspectIn(yield* store, lease)
        assert.deepStrictEqual(inspection.holder, Option.some(Hostile.garbageHolder))
        const held = yield* takesOverAfter(lease, at, 3000)
        assert.strictEqual(held.token, 8)
      }))

    // Messages quote a foreign holder escaped (JSON) and cut to 160 characters, so a holderIdentity
    // with a newline cannot forge log lines nor send control characters to terminals.
    it.effect("garbage holderIdentity: error messages quote it escaped, on one line", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        yield* writeVariant(lease, "garbage holderIdentity")
        const error = yield* Effect.flip(acquireIn(yield* store, lease, { timeout: "500 millis" }))
        assert.instanceOf(error, LeaseAcquisitionError)
        assert.notMatch(error.message, /[\u0000-\u001f]/, "control characters in the message")
      }))

    it.effect("leaseTransitions -5 (refused by the API, present in etcd): counted as 0, the token restarts at 1", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        yield* assertApiRefuses(lease, { holderIdentity: "x", leaseTransitions: -5 }, 422, /leaseTransitions: Invalid value/)
        const at = yield* writeVariant(lease, "leaseTransitions -5")
        const held = yield* takesOverAfter(lease, at, 3000)
        assert.strictEqual(held.token, 1)
      }))

    // A counter at the int32 maximum would pin the lease if a takeover wrote 2147483648 (the API
    // server refuses it): the contender wraps it to 0 instead, and tokens restart.
    it.effect("leaseTransitions at the int32 maximum cannot pin the lease: the counter wraps and tokens restart", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const lease = yield* seed
        yield* Hostile.writeApi(cp, namespace, lease, {
          holderIdentity: "admin-intruder",
          leaseDurationSeconds: 2,
          leaseTransitions: 2147483647
        })
        const held = yield* acquireIn(yield* store, lease, { timeout: "10 seconds" })
        assert.strictEqual(held.token, 0)
      }))

    it.effect("unparseable renewTime (refused by the API, present in etcd): nobody can use the lease until an admin repairs it", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const lease = yield* seed
        yield* assertApiRefuses(lease, { holderIdentity: "x", renewTime: "garbage" }, 400, /RenewTime/)
        const holderStore = yield* store
        const held = yield* acquireIn(holderStore, lease)
        yield* writeVariant(lease, "unparseable renewTime")
        // The holder cannot renew (the API server answers 500): it declares loss at its deadline.
        const loss = yield* awaitLoss(held)
        assert.instanceOf(loss, LeaseLostError)
        assert.strictEqual(loss.reason._tag, "DeadlineExceeded")
        assert.include(loss.message, "500")
        // A contender gets a typed, transient store error naming the server's failure.
        const error = yield* Effect.flip(tryAcquireIn(yield* store, lease))
        assert.instanceOf(error, LeaseAcquisitionError)
        assert.strictEqual(error.reason._tag, "Store")
        assert.strictEqual(error.cause?.reason, "Unavailable")
        assert.include(error.message, "500")
        // Not even an admin's DELETE gets through the API server: the repair is in etcd.
        const deleted = yield* cp.request({ method: "DELETE", path: leasePath(lease) })
        assert.strictEqual(deleted.status, 500, deleted.body)
        yield* Hostile.repair(cp, namespace, lease, 9)
        const after = yield* tryAcquireIn(yield* store, lease)
        assert.strictEqual(Option.getOrThrow(after).token, 10)
      }))

    it.effect("a holder whose record an admin overwrites finds out at its next renewal: Taken, or Released", () =>
      Effect.gen(function*() {
        const lease = yield* seed
        const s = yield* store
        const first = yield* acquireIn(s, lease)
        yield* writeVariant(lease, "leaseDurationSeconds 0")
        const taken = yield* awaitLoss(first)
        assert.deepStrictEqual(taken.reason, { _tag: "Taken", by: "admin-intruder" })

        const other = `hostile-${suffix()}`
        const cp = yield* ControlPlane.ControlPlane
        yield* Hostile.writeApi(cp, namespace, other, { holderIdentity: "", leaseTransitions: 3 })
        const second = yield* acquireIn(s, other)
        yield* writeVariant(other, "no spec")
        const released = yield* awaitLoss(second)
        assert.strictEqual(released.reason._tag, "Released")
      }))

    it.effect("an admin's rewrite that still names the holder (duration 0, in etcd) is adopted, not a loss", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const lease = yield* seed
        const held = yield* acquireIn(yield* store, lease)
        const metadata = yield* Hostile.etcdMetadata(cp, namespace, lease)
        yield* Hostile.writeEtcd(cp, namespace, lease, {
          holderIdentity: held.holder,
          leaseDurationSeconds: 0,
          leaseTransitions: held.token
        }, metadata!)
        // Renewals go on (adopting the new version) and rewrite a sane duration.
        const restored = yield* Hostile.readRaw(cp, namespace, lease).pipe(
          Effect.flatMap((raw) =>
            raw?.spec?.["leaseDurationSeconds"] === 4 ? Effect.succeed(raw) : Effect.fail("not yet" as const)
          ),
          Effect.retry({ times: 50, schedule: Schedule.spaced("200 millis") }),
          Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("never renewed")) })
        )
        assert.strictEqual(restored.spec?.["holderIdentity"], held.holder)
        assert.isTrue(yield* held.isHeld)
      }))
  }
)
