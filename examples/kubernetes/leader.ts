/**
 * A singleton inside a replicated Deployment, with `LeaderElection.layer` from @leasekit/core.
 *
 * Every replica runs this program; at any moment at most one of them — the leader — runs
 * `whileLeading`. When the leader's pod stops gracefully, SIGTERM interrupts the program, the
 * layer's scope closes and the lease is released: another replica leads within milliseconds. When
 * the leader vanishes (node failure), another replica leads once the lease stayed unrenewed for
 * its duration. A replica that loses the lease (network partition) has `whileLeading` interrupted
 * before anyone else can lead, and rejoins the election.
 *
 * In a pod (POD_NAME set through the Downward API) the leader also labels its own pod
 * `leasekit.io/leader=true` (LeaderLabel), so that the Service in 30-leader-deployment.yaml routes
 * to the leader only; leadership is recorded as Events on the Lease (LeaseEvents: `kubectl describe
 * lease example-singleton`); with HEALTH_PORT set, /healthz, /readyz and /metrics are served for
 * the probes (HealthServer).
 *
 * Guarantees (those of @leasekit/core, under its clock-rate assumption): never two leaders at
 * once in their guarded work. Does not guarantee: that writes already in flight to other
 * systems stop — pass `lease.token` along and have those systems reject lower tokens.
 *
 * Run it locally against any cluster (or `leasekit control-plane start`):
 *   npm install && KUBECONFIG=… LEASE_NAMESPACE=leasekit-test node leader.ts
 */
// #region readme
import { NodeRuntime } from "@effect/platform-node"
import { LeaderElection } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore, LeaderLabel, LeaseEvents } from "@leasekit/kubernetes"
import * as HealthServer from "@leasekit/kubernetes/HealthServer"
import { Config, Effect, Layer, Option, Schedule } from "effect"

/** The work only the leader does: here, a log line every 5 seconds carrying the fencing token. */
const whileLeading = (lease: HeldLease) =>
  Effect.logInfo(`leading as ${lease.holder} with fencing token ${lease.token}`).pipe(
    Effect.andThen(
      Effect.logInfo(`reconciling (token ${lease.token})`).pipe(Effect.repeat(Schedule.spaced("5 seconds")))
    )
  )

const Election = Layer.unwrap(
  Effect.gen(function*() {
    const client = yield* KubeClient.KubeClient
    const namespace = yield* Config.String("LEASE_NAMESPACE").pipe(Config.withDefault(client.namespace))
    const inPod = Option.isSome(yield* Config.option(Config.String("POD_NAME")))
    yield* Effect.logInfo(`joining the election for lease ${namespace}/example-singleton`)
    const options = { namespace, name: "example-singleton", duration: "15 seconds" } as const
    // In a pod, the leader labels it leasekit.io/leader=true for the leader-only Service; building
    // LeaderLabel.layer fails at start when the pod may not be patched (RBAC) or does not exist.
    return inPod
      ? LeaderElection.layer(options, LeaderLabel.wrap(whileLeading)).pipe(Layer.provide(LeaderLabel.layer()))
      : LeaderElection.layer(options, whileLeading)
  })
)

/** Leadership Events on the Lease; /healthz, /readyz and /metrics when HEALTH_PORT is set. */
const Operability = Layer.unwrap(
  Effect.gen(function*() {
    const port = yield* Config.option(Config.Int("HEALTH_PORT"))
    return Option.isSome(port)
      ? Layer.merge(LeaseEvents.layer(), HealthServer.layer({ port: port.value, host: "0.0.0.0" }))
      : LeaseEvents.layer()
  })
)

const App = Operability.pipe(
  Layer.provideMerge(Election),
  Layer.provide(KubernetesLeaseStore.layer()),
  Layer.provideMerge(KubeClient.layerConfig())
)

// SIGTERM (pod deletion, rollout) interrupts the program: the layers close, the label is removed
// and the lease released — the next replica leads at once.
NodeRuntime.runMain(Layer.launch(App))
// #endregion
