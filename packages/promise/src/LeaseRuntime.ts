/**
 * The runtime an `IntervalLease` runs on: an Effect `ManagedRuntime` providing a `LeaseStore`.
 *
 * By default every `IntervalLease` makes its own from its `kubeconfig` option (one Kubernetes
 * client, one connection pool) and disposes it on `close()`. Pass one runtime to several leases to
 * share the client — and, which matters more, the store's *observation memory*: expiry is judged
 * from when this store first saw the current version of a lease, so leases sharing a runtime share
 * what the process has seen. A shared runtime is not disposed by the leases; dispose it yourself
 * (`await runtime.dispose()`) after closing them.
 *
 * Guarantees: building the runtime does no I/O; the kubeconfig is loaded on the first call that
 * needs it, and a kubeconfig that cannot work fails that call with `InvalidLeaseOptionsError`
 * (`field: "kubeconfig"`). Does not: check that the API server is reachable.
 *
 * @since 0.1.0
 */
import * as Lease from "@leasekit/core/Lease"
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"

/**
 * A runtime that provides the lease store.
 *
 * @since 0.1.0
 * @category models
 */
export type LeaseRuntime = ManagedRuntime.ManagedRuntime<LeaseStore.LeaseStore | Lease.Lease, unknown>

/**
 * Where the Kubernetes client comes from.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubernetesOptions {
  /** A kubeconfig file (or several, separated by `:`). Default: `$KUBECONFIG`, then
   * `~/.kube/config`, then the pod's service account. */
  readonly kubeconfig?: string | undefined
  /** The kubeconfig context to use instead of its `current-context`. */
  readonly context?: string | undefined
}

/**
 * The store layer for Kubernetes options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKubernetes = (
  options: KubernetesOptions = {}
): Layer.Layer<LeaseStore.LeaseStore | Lease.Lease, KubeClient.KubeConfigError> => {
  const select = { context: options.context }
  const client = options.kubeconfig === undefined || options.kubeconfig === ""
    ? KubeClient.layerDefault(select)
    : KubeClient.layerFromFile(options.kubeconfig, select)
  return KubernetesLeaseStore.layer().pipe(Layer.provide(client))
}

/**
 * A runtime over Kubernetes Leases, to share between several `IntervalLease`s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: KubernetesOptions = {}): LeaseRuntime => ManagedRuntime.make(layerKubernetes(options))

/**
 * A runtime over any store layer — `LeaseStore.layerMemory()` from `@leasekit/core` for tests, or
 * a store of your own — with a `Lease` service of its own over that store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromLayer = <E>(layer: Layer.Layer<LeaseStore.LeaseStore, E>): LeaseRuntime =>
  ManagedRuntime.make(Layer.provideMerge(Lease.layer, layer))
