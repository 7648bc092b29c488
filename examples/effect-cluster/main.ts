/**
 * leasekit on a cluster, from an Effect program: takes the lease `nightly-report`, runs guarded
 * work while holding it, and releases it.
 *
 * Where: the kubeconfig in `LEASEKIT_KUBECONFIG`, else `KUBECONFIG`, else `~/.kube/config`, else the
 * pod's service account; the namespace in `LEASEKIT_NAMESPACE`, else the context's
 * (`KubeClient.layerConfig`). The identity needs get, create and update on Leases there (see
 * `rbac/lease-role.yaml` in @leasekit/kubernetes).
 *
 * Run: `npm install && node main.ts` — against any cluster, or a local one: `leasekit
 * control-plane start` prints a KUBECONFIG to export.
 */
// #region readme
import { Lease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Effect, Layer } from "effect"

const program = Effect.gen(function*() {
  const { namespace } = yield* KubeClient.KubeClient
  const lease = yield* Lease.acquire({ namespace, name: "nightly-report", timeout: "1 minute" })
  yield* Effect.log(`holding ${namespace}/nightly-report as ${lease.holder}, fencing token ${lease.token}`)
  // interrupted with LeaseLostError if the lease is lost before the work ends
  yield* lease.guard(Effect.sleep("2 seconds"))
}).pipe(Effect.scoped) // the lease is released here

const Live = KubernetesLeaseStore.layer().pipe(Layer.provideMerge(KubeClient.layerConfig()))

Effect.runPromise(program.pipe(Effect.provide(Live)))
// #endregion
