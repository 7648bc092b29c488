// A user's own library that re-exports values whose types it never names: with `declaration: true`
// tsc must be able to name every leasekit type it meets (each module is an entry point of its own,
// as in effect), or it fails with TS2742 / TS2883 ("cannot be named without a reference to …").
import { Lease, LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Effect, Option } from "effect"

export const acquire = Lease.acquire({ namespace: "jobs", name: "nightly-report" })
export const record = Effect.flatMap(LeaseStore.LeaseStore, (store) => store.get({ namespace: "jobs", name: "x" })).pipe(
  Effect.map(Option.getOrUndefined)
)
export const inspect = Lease.inspect({ namespace: "jobs", name: "x" })
export const storeLayer = KubernetesLeaseStore.layer()
export const client = KubeClient.layerDefault()
export const http = Effect.map(KubeClient.KubeClient, (c) => c.http)
