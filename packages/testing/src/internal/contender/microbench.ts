/**
 * The renewal microbenchmarks of figure 6: the cost of one renewal, measured inside the contender
 * (`memory`: `HeldLease.renew` on the in-memory store; `kubernetes`: on the Kubernetes store and
 * the real API server; `raw`: the same PUT through `KubeClient.http` alone — the store's transport
 * without the algorithm or the store's policy; `https` / `http2`: the bare clients of
 * `bareClients.ts`, the floor for one renewal over HTTP from Node).
 *
 * Each iteration is timed (CPU and wall, µs); allocations are measured over up to 200 further
 * iterations between two full GCs, and reported only when no GC ran in between (the process
 * runs with a 128 MB young generation so that none needs to). Long lease timings keep background
 * renewals out of the measurement. With `timed: false` it only runs the iterations (under a
 * profiler).
 *
 * @internal
 */
import type { HeldLease } from "@leasekit/core"
import { Lease, type LeaseStore } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import { Duration, Effect, type ManagedRuntime } from "effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as V8 from "node:v8"
import type { MicrobenchCommand, MicrobenchEvent } from "../../ContenderProtocol.ts"
import { nowMicros } from "../../ContenderProtocol.ts"
import * as BareClients from "./bareClients.ts"
import type { State } from "./state.ts"
import { gc } from "./usage.ts"

export interface Runtimes {
  readonly kubeconfig: string
  readonly kubernetes: ManagedRuntime.ManagedRuntime<Lease.Lease | LeaseStore.LeaseStore | KubeClient.KubeClient, unknown>
  readonly memory: ManagedRuntime.ManagedRuntime<Lease.Lease | LeaseStore.LeaseStore, unknown>
}

type Samples = Omit<MicrobenchEvent, "ev" | "target">

/** Runs `step` `iterations` times twice: once timing each call, once counting allocated bytes. */
const measure = (state: State, iterations: number, step: Effect.Effect<void, unknown>, timed = true) =>
  Effect.gen(function*() {
    const cpuMicros: Array<number> = []
    const wallMicros: Array<number> = []
    if (!timed) {
      for (let i = 0; i < iterations; i++) yield* step
      return { cpuMicros, wallMicros, bytesPerIteration: undefined, gcDuringMeasurement: 0 } satisfies Samples
    }
    for (let i = 0; i < iterations; i++) {
      const cpu0 = process.cpuUsage()
      const t0 = nowMicros()
      yield* step
      const t1 = nowMicros()
      const cpu1 = process.cpuUsage(cpu0)
      cpuMicros.push(cpu1.user + cpu1.system)
      wallMicros.push(t1 - t0)
    }
    // Allocations: a full GC, then the heap's growth over up to 200 iterations during which no GC
    // ran (the process runs with a 128 MB young generation so that none needs to).
    const allocationIterations = Math.min(iterations, 200)
    const pause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    if (gc !== undefined) gc()
    yield* pause
    const gcBefore = state.usage.gcCount()
    const heapBefore = V8.getHeapStatistics().used_heap_size
    for (let i = 0; i < allocationIterations; i++) yield* step
    const heapAfter = V8.getHeapStatistics().used_heap_size
    yield* pause
    const gcs = state.usage.gcCount() - gcBefore
    return {
      cpuMicros,
      wallMicros,
      bytesPerIteration: gcs === 0 ? (heapAfter - heapBefore) / allocationIterations : undefined,
      gcDuringMeasurement: gcs
    } satisfies Samples
  })

const microTimeNow = () => new Date().toISOString().replace("Z", "000Z")

const leaseBody = (key: { readonly namespace: string; readonly name: string }, holder: string) => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name: key.name, namespace: key.namespace },
  spec: { holderIdentity: holder, leaseDurationSeconds: 3600, leaseTransitions: 0 }
})

export const microbench = async (command: MicrobenchCommand, state: State, runtimes: Runtimes): Promise<void> => {
  const key = { namespace: command.namespace, name: command.name }
  const holder = state.holder
  // Long timings: no background renewal runs during the measurement.
  const options = { ...key, holder, duration: Duration.hours(1) }
  const renewals = (held: HeldLease) =>
    Effect.gen(function*() {
      for (let i = 0; i < command.warmup; i++) yield* held.renew
      return yield* measure(state, command.iterations, held.renew, command.timed)
    })
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${key.namespace}/leases`
  const path = `${collection}/${key.name}`
  const result = command.target === "memory"
    ? await runtimes.memory.runPromise(Effect.scoped(Effect.flatMap(Lease.acquire(options), renewals)))
    : command.target === "kubernetes"
    ? await runtimes.kubernetes.runPromise(Effect.scoped(Effect.flatMap(Lease.acquire(options), renewals)))
    : command.target === "raw"
    ? await runtimes.kubernetes.runPromise(Effect.gen(function*() {
      // The same PUT as a renewal, through the store's HttpClient (`KubeClient.http`), without the
      // algorithm or the store's policy.
      const http = (yield* KubeClient.KubeClient).http
      const send = (method: "POST" | "PUT", path: string, body: unknown) =>
        HttpClientRequest.make(method)(path, { acceptJson: true }).pipe(
          HttpClientRequest.bodyJsonUnsafe(body),
          http.execute,
          Effect.flatMap((response) => response.json),
          Effect.scoped,
          Effect.provideService(HttpClient.TracerDisabledWhen, () => true),
          Effect.orDie
        )
      let lease = (yield* send("POST", collection, leaseBody(key, holder))) as Record<string, unknown>
      const step = Effect.map(
        Effect.suspend(() => send("PUT", path, { ...lease, spec: { ...lease["spec"] as object, renewTime: microTimeNow() } })),
        (next) => {
          lease = next as Record<string, unknown>
        }
      )
      for (let i = 0; i < command.warmup; i++) yield* step
      return yield* measure(state, command.iterations, step, command.timed)
    }))
    : await runtimes.kubernetes.runPromise(Effect.gen(function*() {
      const put = command.target === "http2" ? BareClients.http2(runtimes.kubeconfig) : BareClients.https(runtimes.kubeconfig)
      let lease = yield* Effect.promise(() => put("POST", collection, leaseBody(key, holder)))
      const step = Effect.promise(async () => {
        lease = await put("PUT", path, { ...lease, spec: { ...lease["spec"] as object, renewTime: microTimeNow() } })
      })
      for (let i = 0; i < command.warmup; i++) yield* step
      return yield* measure(state, command.iterations, step, command.timed)
    }))
  state.emit({ ev: "microbench", target: command.target, ...result })
}
