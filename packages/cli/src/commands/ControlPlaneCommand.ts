/**
 * `leasekit control-plane start`: a real local Kubernetes control plane (etcd + kube-apiserver)
 * to try leasekit against, running until interrupted.
 *
 * Prints, on stdout, the `export KUBECONFIG=…` line for the admin user (and, with `--kubeconfig
 * PATH`, also writes that kubeconfig to PATH, a stable place for scripts), then the kubeconfigs of
 * the `restricted` user (leases in the namespace only) and the `nobody` user (no rights) on
 * stderr. Ctrl-C (or SIGTERM) stops both processes and deletes their folder.
 *
 * Guarantees: those of `EmbeddedControlPlane.ts` — nothing is left running or on disk after it
 * exits, whatever the reason. Does not: persist anything between runs (each start is a fresh
 * etcd); a kubeconfig written with `--kubeconfig` stays, but points at a server that is gone.
 *
 * @since 0.1.0
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags of `control-plane start`.
 *
 * @since 0.1.0
 * @category flags
 */
export const startConfig = {
  kubeconfig: Flag.String("kubeconfig").pipe(
    Flag.withMetavar("PATH"),
    Flag.withDescription("also write the admin kubeconfig to PATH (default: only into the control plane's temporary folder)"),
    Flag.optional
  ),
  context: GlobalFlags.flags.context.pipe(
    Flag.withDescription("accepted for symmetry and ignored: the written kubeconfig has one context, admin@leasekit")
  ),
  verbose: GlobalFlags.flags.verbose,
  namespace: Flag.String("namespace").pipe(
    Flag.withAlias("n"),
    Flag.withMetavar("NS"),
    Flag.withDescription("namespace to create, where the restricted user may use leases (default: leasekit-test)"),
    Flag.withDefault("leasekit-test")
  )
}

const start = Command.make("start", startConfig, Lazy.handler(() => import("../internal/ControlPlaneStart.ts"))).pipe(
  Command.withDescription(
    "Start a real local Kubernetes control plane (etcd + kube-apiserver on loopback, RBAC on), building it on " +
      "first use. Prints the KUBECONFIG to export and runs until interrupted, then stops and removes everything."
  ),
  Command.withShortDescription("start a local control plane until interrupted"),
  Command.withExamples([
    { command: "leasekit control-plane start", description: "then, in another shell, export the printed KUBECONFIG" },
    { command: "leasekit control-plane start --kubeconfig /tmp/leasekit.kubeconfig", description: "a stable path for scripts" }
  ])
)

/**
 * The `control-plane` command group.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("control-plane").pipe(
  Command.withDescription("A local Kubernetes control plane to try leasekit against."),
  Command.withShortDescription("local control plane (start)"),
  Command.withSubcommands([start]),
  Command.withExamples([{ command: "leasekit control-plane start", description: "run one until Ctrl-C" }])
)
