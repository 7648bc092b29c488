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
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as EmbeddedControlPlane from "./EmbeddedControlPlane.ts"
import * as GlobalOptions from "./GlobalOptions.ts"

const start = Command.make("start", {
  kubeconfig: Flag.String("kubeconfig").pipe(
    Flag.withMetavar("PATH"),
    Flag.withDescription("also write the admin kubeconfig to PATH (default: only into the control plane's temporary folder)"),
    Flag.optional
  ),
  context: GlobalOptions.flags.context.pipe(
    Flag.withDescription("accepted for symmetry and ignored: the written kubeconfig has one context, admin@leasekit")
  ),
  verbose: GlobalOptions.flags.verbose,
  namespace: Flag.String("namespace").pipe(
    Flag.withAlias("n"),
    Flag.withMetavar("NS"),
    Flag.withDescription("namespace to create, where the restricted user may use leases (default: leasekit-test)"),
    Flag.withDefault("leasekit-test")
  )
}, (c) =>
  Effect.gen(function*() {
    const cp = yield* EmbeddedControlPlane.start({ namespace: c.namespace })
    // Finalizers run in reverse: this line comes after the control plane is gone.
    yield* Effect.addFinalizer(() => Effect.sync(() => process.stderr.write("control plane stopped and removed\n")))
    const admin = Option.isSome(c.kubeconfig)
      ? yield* EmbeddedControlPlane.writeKubeconfig(cp, { user: "admin", path: c.kubeconfig.value })
      : cp.users.admin.kubeconfig
    yield* Effect.sync(() => {
      process.stdout.write(`export KUBECONFIG=${admin}\n`)
      process.stderr.write(
        [
          `  admin (everything; namespace ${cp.namespace}): ${admin}`,
          `  restricted (get/create/update leases in ${cp.namespace} only): ${cp.users.restricted.kubeconfig}`,
          `  nobody (no rights): ${cp.users.nobody.kubeconfig}`,
          `try: leasekit run --kubeconfig ${admin} my-lock -- sh -c 'echo token $LEASEKIT_TOKEN; sleep 5'`,
          "running until interrupted (Ctrl-C) …",
          ""
        ].join("\n")
      )
    })
    return yield* Effect.never
  }).pipe(
    Effect.scoped,
    Effect.provide(GlobalOptions.loggerLayer(c.verbose))
  )).pipe(
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
