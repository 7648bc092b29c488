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
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Config, Effect, Layer, Schedule } from "effect"

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
    yield* Effect.logInfo(`joining the election for lease ${namespace}/example-singleton`)
    return LeaderElection.layer({ namespace, name: "example-singleton", duration: "15 seconds" }, whileLeading)
  })
)

const App = Election.pipe(
  Layer.provide(KubernetesLeaseStore.layer()),
  Layer.provideMerge(KubeClient.layerConfig())
)

NodeRuntime.runMain(Layer.launch(App))
// #endregion
