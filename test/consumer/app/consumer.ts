// A TypeScript consumer: every public entry point, types used the way users use them.
import { LeaderElection, Lease, LeaseError, LeaseOptions, LeaseStore, type HeldLease, type LeaseKey } from "@leasekit/core"
import { suite } from "@leasekit/core/testing"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { IntervalLease, LeaseLostError, type IntervalLeaseOptions, type Permit, Semaphore } from "@leasekit/promise"
import { Effect, Layer, Option } from "effect"

const key: LeaseKey = { namespace: "jobs", name: "nightly-report" }

export const report = (lease: HeldLease): Effect.Effect<number, LeaseError.LeaseLostError> =>
  lease.guard(Effect.succeed(lease.token))

export const once: Effect.Effect<Option.Option<number>, unknown, LeaseStore.LeaseStore> = Effect.scoped(
  Lease.tryAcquire(key).pipe(Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: (l) => Effect.asSome(report(l)) })))
)

export const onMemory = once.pipe(Effect.provide(LeaseStore.layerMemory()))
export const Live: Layer.Layer<LeaseStore.LeaseStore | KubeClient.KubeClient, unknown> = KubernetesLeaseStore.layer().pipe(
  Layer.provideMerge(KubeClient.layerDefault())
)
export const onCluster = once.pipe(Effect.provide(Live))
export const leader = LeaderElection.layer({ ...key, duration: "15 seconds" }, (lease) => Effect.log(lease.token))
export const resolved = LeaseOptions.resolve({ ...key })

const options: IntervalLeaseOptions = { namespace: "jobs", leaseName: "nightly-report" }
export const run = async (): Promise<number> => {
  const lease = new IntervalLease(options)
  try {
    return await lease.run(async (_signal: AbortSignal, token: string) => Number(token))
  } catch (error) {
    if (error instanceof LeaseLostError) return -1
    throw error
  } finally {
    await lease.close()
  }
}
export const slot = async (): Promise<Permit> => {
  const slots = new Semaphore({ namespace: "jobs", name: "slots", permits: 3 })
  try {
    return await slots.run((_signal: AbortSignal, permit: Permit) => permit)
  } finally {
    await slots[Symbol.asyncDispose]()
  }
}
export const conformance: typeof suite = suite

// The types are real, not `any` (an unresolved declaration would make them `any`, and then each
// of these expected errors would be missing, which tsc reports).
declare const held: HeldLease
// @ts-expect-error a fencing token is a number
export const notAString: string = held.token
// @ts-expect-error acquire needs a namespace and a name
export const missingName = Lease.acquire({ namespace: "jobs" })
// @ts-expect-error the Promise API's options need a namespace
export const missingNamespace = new IntervalLease({ leaseName: "x" })
// @ts-expect-error a semaphore needs a name
export const missingSemaphoreName = new Semaphore({ namespace: "jobs" })
// @ts-expect-error a permit's token is a string, its index a number
export const permitIndex: string = (null as unknown as Permit).permit
// @ts-expect-error the store layer needs a KubeClient
export const unprovided: Layer.Layer<LeaseStore.LeaseStore> = KubernetesLeaseStore.layer()
