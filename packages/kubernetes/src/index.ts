/**
 * `@leasekit/kubernetes`: leases on Kubernetes `coordination.k8s.io/v1` Lease objects.
 *
 * - `KubeClient`: the configured Kubernetes client, with layers that load it (default rules,
 *   in-cluster, file, string, `Config`).
 * - `KubernetesLeaseStore`: the `LeaseStore` of `@leasekit/core` over Lease objects.
 * - `HealthServer`: a leader election's `/healthz`, `/readyz` and `/metrics` on Node's HTTP server.
 * - `LeaderLabel` (opt-in): the elected process labels its own Pod, for leader-only Services.
 * - `LeaseEvents` (opt-in): leadership recorded as Kubernetes Events on the Lease.
 *
 * ```ts
 * import { Lease } from "@leasekit/core"
 * import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
 * import { Effect } from "effect"
 *
 * const program = Lease.withLease({ namespace: "jobs", name: "nightly-report" })(
 *   Effect.log("holding jobs/nightly-report")
 * )
 *
 * program.pipe(
 *   Effect.provide(KubernetesLeaseStore.layer()),
 *   Effect.provide(KubeClient.layerDefault())
 * )
 * ```
 *
 * The RBAC a contender needs is in `rbac/lease-role.yaml` of this package.
 *
 * @module @leasekit/kubernetes
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as KubeClient from "./KubeClient.ts"

/**
 * @since 0.1.0
 */
export * as KubernetesLeaseStore from "./KubernetesLeaseStore.ts"

/**
 * @since 0.3.0
 */
export * as HealthServer from "./HealthServer.ts"

/**
 * @since 0.3.0
 */
export * as LeaderLabel from "./LeaderLabel.ts"

/**
 * @since 0.3.0
 */
export * as LeaseEvents from "./LeaseEvents.ts"
