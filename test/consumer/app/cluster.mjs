// Plain ESM, plain node, a real API server: KUBECONFIG and LEASE_NAMESPACE from the environment.
import { Lease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Effect, Layer, Option } from "effect"

const key = { namespace: process.env.LEASE_NAMESPACE, name: process.argv[2] }
const program = Effect.gen(function* () {
  const first = yield* Effect.scoped(Effect.gen(function* () {
    const lease = yield* Lease.acquire({ ...key, timeout: "30 seconds" })
    yield* lease.guard(Effect.sync(() => console.log(`held as ${lease.holder} with token ${lease.token}`)))
    return lease.token
  }))
  // released: another identity takes it at once, with a higher token
  const second = yield* Effect.scoped(Lease.tryAcquire(key).pipe(Effect.map(Option.map((lease) => lease.token))))
  if (Option.isNone(second) || second.value <= first) throw new Error(`not released: second attempt ${JSON.stringify(second)}`)
  console.log(`released; next token ${second.value}`)
})
const Live = KubernetesLeaseStore.layer().pipe(Layer.provide(KubeClient.layerDefault()))
await Effect.runPromise(program.pipe(Effect.provide(Live)))
console.log(`done on node ${process.version}`)
