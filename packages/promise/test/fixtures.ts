/**
 * What the Promise facade's tests share: leases on the core's in-memory store, one fresh runtime a
 * test (`memoryLeases`), and `rejection`. Importing this module registers nothing; `memoryLeases`
 * registers its hooks in the file (or `describe`) that calls it.
 */
import { LeaseRecord, LeaseStore } from "@leasekit/core"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { afterEach, assert, beforeEach } from "vitest"
import { IntervalLease, type IntervalLeaseOptions, LeaseRuntime } from "../src/index.ts"

/** The namespace of every lease `memoryLeases` makes. */
export const namespace = "jobs"

/** What `promise` rejects with; fails the test when it resolves. */
export const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  return assert.fail("expected a rejection")
}

/**
 * Registers, for the tests of the caller, a fresh runtime over a memory store before each test and,
 * after it, closes every lease `make` made and disposes of the runtime then current. `runtime` is a
 * mutable field: a test may replace it (`onVirtualClock` does, disposing of the one it replaces);
 * the leases made afterwards, `record`, `overwrite` and `leftBy` use the replacement, and the
 * replacement is the one disposed of after the test. `prefix` starts the names `uniqueName` gives.
 */
export const memoryLeases = (prefix: string) => {
  const leases: Array<IntervalLease> = []
  const fixture = {
    runtime: undefined as unknown as LeaseRuntime.LeaseRuntime,

    /** A name no other test of the file uses. */
    uniqueName: (() => {
      let counter = 0
      return () => `${prefix}-${++counter}`
    })(),

    /** A lease on the test's runtime (duration 3 s unless given); closed after the test. */
    make: (options: Partial<IntervalLeaseOptions> & { readonly leaseName?: string | undefined }) => {
      const lease = new IntervalLease({ namespace, durationSeconds: 3, runtime: fixture.runtime, ...options })
      leases.push(lease)
      return lease
    },

    /** Reads the record straight from the store. */
    record: (leaseName: string) =>
      fixture.runtime.runPromise(Effect.gen(function*() {
        const store = yield* LeaseStore.LeaseStore
        return yield* store.get({ namespace, name: leaseName })
      })),

    /**
     * Overwrites the holder, as an admin would (a CAS write from the current record, counting a
     * transition); `changes` are written too.
     */
    overwrite: (leaseName: string, holder: string, changes: Partial<LeaseRecord.LeaseSpec> = {}) =>
      fixture.runtime.runPromise(Effect.gen(function*() {
        const store = yield* LeaseStore.LeaseStore
        const current = Option.getOrThrow(yield* store.get({ namespace, name: leaseName }))
        yield* store.update(current, { ...current, holder, ...changes, transitions: (current.transitions ?? 0) + 1 })
      })),

    /** Writes a record naming `holder` that nobody renews (a holder that died, or another process). */
    leftBy: (leaseName: string, holder: string, durationSeconds = 3) =>
      fixture.runtime.runPromise(Effect.gen(function*() {
        const store = yield* LeaseStore.LeaseStore
        yield* store.create({ namespace, name: leaseName }, { holder, durationSeconds, renewTime: 0, acquireTime: 0, transitions: 4 })
      })),

    /**
     * Disposes of the test's runtime and puts the leases made afterwards on one with `TestClock`
     * over `store` (a fresh memory store unless given), with `services` besides.
     */
    onVirtualClock: async (
      store: Layer.Layer<LeaseStore.LeaseStore> = LeaseStore.layerMemory(),
      services: Layer.Layer<never> = Layer.empty
    ) => {
      await fixture.runtime.dispose()
      fixture.runtime = LeaseRuntime.fromLayer(Layer.mergeAll(store, TestClock.layer(), services))
    }
  }

  beforeEach(() => {
    fixture.runtime = LeaseRuntime.fromLayer(LeaseStore.layerMemory())
  })

  afterEach(async () => {
    await Promise.all(leases.map((lease) => lease.close()))
    leases.length = 0
    await fixture.runtime.dispose()
  })

  return fixture
}
