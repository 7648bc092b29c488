/**
 * The contender's lease store: the Kubernetes store (or the in-memory one, for microbenchmarks)
 * wrapped so that every call is counted and every renewal is timed against its schedule — the
 * previous successful write of that lease + `renewInterval` (`Schedule.spaced` starts the next
 * renewal that long after the previous one completed). Successful writes also feed the semaphore
 * trace.
 *
 * It guarantees that the algorithm (`Lease.layer`) sees only the wrapped store, including its
 * self-bounded view (`withRequestTimeout`). It measures on the client only: a write the server
 * applied but whose answer was lost counts as a failure.
 *
 * @internal
 */
import { Lease, type LeaseRecord, LeaseStore } from "@leasekit/core"
import type { LeaseStoreError } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Effect, Layer, Logger } from "effect"
import { nowMicros } from "../../ContenderProtocol.ts"
import * as SemaphoreTrace from "./semaphoreTrace.ts"
import type { State } from "./state.ts"

/** What the instrumented store measured; `usage` reads and resets `lateness`. */
export interface Stats {
  readonly counters: { gets: number; creates: number; updates: number; failures: number }
  /** Per lease (`namespace/name`), when its last write succeeded (µs). */
  readonly lastSuccess: Map<string, number>
  /** Renewal lateness samples (µs) since the last `usage`. */
  lateness: Array<number>
  renewIntervalMicros: number
  /** Whether renewals are timed (from a join until its release begins). */
  tracking: boolean
}

export const makeStats = (): Stats => ({
  counters: { gets: 0, creates: 0, updates: 0, failures: 0 },
  lastSuccess: new Map(),
  lateness: [],
  renewIntervalMicros: 0,
  tracking: false
})

/** Starts timing the renewals of a join (every `renewIntervalMicros`), forgetting earlier ones. */
export const track = (stats: Stats, renewIntervalMicros: number): void => {
  stats.renewIntervalMicros = renewIntervalMicros
  stats.lateness = []
  stats.lastSuccess.clear()
  stats.tracking = true
}

const keyId = (key: { readonly namespace: string; readonly name: string }) => `${key.namespace}/${key.name}`

type Update = LeaseStore.LeaseStoreService["update"]

/** Wraps a store: counts calls, and for each update of a lease held here, how late it was sent. */
export const instrumented = (
  inner: LeaseStore.LeaseStoreService,
  state: Pick<State, "store" | "semaphoreTrace" | "holder" | "emit">
): LeaseStore.LeaseStoreService => {
  const stats = state.store
  const failed = <A>(self: Effect.Effect<A, LeaseStoreError>) =>
    Effect.tapError(self, () => Effect.sync(() => stats.counters.failures++))
  const succeeded = (id: string) => <A>(self: Effect.Effect<A, LeaseStoreError>) =>
    Effect.tap(self, () => Effect.sync(() => stats.lastSuccess.set(id, nowMicros())))
  const traced = (base?: LeaseRecord.LeaseRecord) => (self: Effect.Effect<LeaseRecord.LeaseRecord, LeaseStoreError>) =>
    Effect.tap(self, (written) =>
      Effect.sync(() => SemaphoreTrace.write(state.semaphoreTrace, state.holder, state.emit, written, base)))
  const send = (record: Parameters<Update>[0], spec: Parameters<Update>[1], metadata?: Parameters<Update>[2]) =>
    Effect.suspend(() => {
      stats.counters.updates++
      const id = keyId(record.key)
      const previous = stats.lastSuccess.get(id)
      if (stats.tracking && previous !== undefined && spec.holder !== "") {
        stats.lateness.push(nowMicros() - (previous + stats.renewIntervalMicros))
      }
      // The metadata too: an acquisition's labels, a handoff's annotations.
      return inner.update(record, spec, metadata).pipe(failed, succeeded(id), traced(record))
    })
  const { withRequestTimeout, ...calls } = inner
  return {
    ...calls,
    // The algorithm uses the self-bounded view when there is one: instrument it too, or the
    // renewals would bypass the counting.
    ...(withRequestTimeout === undefined
      ? {}
      : { withRequestTimeout: (timeout) => instrumented(withRequestTimeout(timeout), state) }),
    get: (key) =>
      Effect.suspend(() => {
        stats.counters.gets++
        return failed(inner.get(key))
      }),
    create: (key, spec, metadata) =>
      Effect.suspend(() => {
        stats.counters.creates++
        return inner.create(key, spec, metadata).pipe(failed, succeeded(keyId(key)), traced())
      }),
    update: send
  }
}

const logToStderr = Logger.layer([Logger.withConsoleError(Logger.formatSimple)])

/** `Lease` over the instrumented Kubernetes store, the store, and the `KubeClient` of `kubeconfig` (and `context`);
 * logs go to stderr (stdout is the protocol's). */
export const kubernetesLayer = (
  kubeconfig: string,
  state: Pick<State, "store" | "semaphoreTrace" | "holder" | "emit">,
  context?: string | undefined
) => {
  const store = Layer.effect(
    LeaseStore.LeaseStore,
    Effect.gen(function*() {
      return instrumented(yield* LeaseStore.LeaseStore, state)
    })
  ).pipe(
    Layer.provide(KubernetesLeaseStore.layer()),
    // Fresh: `KubernetesLeaseStore.layer()` provides `Lease.layer` too (over the bare store), and layers
    // are memoized by reference — without `fresh` that service would be reused, and every call of the
    // algorithm would bypass the instrumented store (no counts, no lateness, no semaphore trace).
    (store) => Layer.provideMerge(Layer.fresh(Lease.layer), store)
  )
  return Layer.mergeAll(store, logToStderr).pipe(Layer.provideMerge(KubeClient.layerFromFile(kubeconfig, { context })))
}

/** `Lease` over the in-memory store (not instrumented: the microbenchmark's baseline). */
export const memoryLayer = Layer.mergeAll(LeaseStore.layerMemory(), logToStderr)
