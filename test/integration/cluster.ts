/**
 * "A cluster" for the integration suites: `Cluster` of `@leasekit/testing` with one target per
 * test file (an existing cluster when `LEASEKIT_TEST_KUBECONFIG` or `KUBECONFIG` names one, else
 * a local control plane; see `Cluster.ts`), so that `namespaceFor` — used while registering
 * tests — and the layers built later agree on the namespaces' names.
 */
import { Cluster as Clusters } from "@leasekit/testing"
import type { Layer } from "effect"

/** The choice for this test file. */
export const target: Clusters.Target = Clusters.target(process.env)

/** `true` when the suites run against an existing cluster. */
export const isExternal: boolean = target.source._tag === "External"

/** The namespace a suite uses for `base` (see `Cluster.Target.namespaceFor`). */
export const namespaceFor = target.namespaceFor

/** The service (`yield* Cluster.Cluster`). */
export const Cluster = Clusters.Cluster

/** "A cluster" as a layer, on this file's target. */
export const layer = (options: Omit<Clusters.ClusterOptions, "target">): Layer.Layer<Clusters.Cluster, unknown> =>
  Clusters.layer({ ...options, target })

/** An admin `KubeClient` for the cluster. */
export const adminClient = Clusters.adminClient
