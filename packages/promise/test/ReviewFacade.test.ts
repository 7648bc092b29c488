/**
 * Second review: the Promise facade over one contender. Short real durations, memory store, as
 * IntervalLease.test.ts does. A test named for a property and failing at aa69ded is a finding.
 */
import { LeaseStore } from "@leasekit/core"
import { Effect, Layer, Option } from "effect"
import { afterEach, assert, describe, it } from "vitest"
import { IntervalLease, LeaseRuntime } from "../src/index.ts"

const namespace = "jobs"
let slow = false
/** A memory store whose updates take 150 ms to answer while `slow` is set. */
const runtime = LeaseRuntime.fromLayer(Layer.effect(
  LeaseStore.LeaseStore,
  Effect.map(LeaseStore.makeMemory(), (store) => ({
    ...store,
    update: (record, spec, metadata) => Effect.suspend(() => slow ? Effect.delay(store.update(record, spec, metadata), "150 millis") : store.update(record, spec, metadata))
  }))
))
const leases: Array<IntervalLease> = []
afterEach(async () => {
  slow = false
  await Promise.all(leases.map((l) => l.close()))
})

describe("review 2: IntervalLease", () => {
  // Finding: Solo's pattern — `renew()` on an interval, `release()` on shutdown. A renew in flight
  // when release() is called finishes the tenure the release ended and then takes the lease
  // again (a new tenure, token + 1): release() resolved, yet the instance holds the lease,
  // renewed in the background, and other instances wait a full duration after the process exits.
  it("release() called while a renew() is in flight leaves the lease free", async () => {
    const lease = new IntervalLease({ namespace, leaseName: "renew-vs-release", durationSeconds: 3, runtime })
    leases.push(lease)
    const token = await lease.acquireWithToken()
    slow = true
    const renewing = lease.renew().catch((e: unknown) => e)
    await new Promise((resolve) => setTimeout(resolve, 30))
    await lease.release()
    await renewing
    slow = false
    const record = await runtime.runPromise(Effect.flatMap(LeaseStore.LeaseStore, (s) =>
      s.get({ namespace, name: "renew-vs-release" })))
    const holder = Option.getOrUndefined(record)?.holder
    assert.isFalse(
      lease.checkAlive() || holder === lease.holder,
      `release() resolved, yet checkAlive() ${lease.checkAlive()} and the record names ${JSON.stringify(holder)} ` +
        `(token ${token?.token} → ${Option.getOrUndefined(record)?.transitions})`
    )
  })
})
