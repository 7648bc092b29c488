/**
 * What `leasekit control-plane start` does: starts the local control plane (`EmbeddedControlPlane.ts`),
 * prints the kubeconfigs, and runs until interrupted.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Command from "effect/cli/Command"
import type * as ControlPlaneCommand from "../commands/ControlPlaneCommand.ts"
import * as EmbeddedControlPlane from "../demo/EmbeddedControlPlane.ts"
import * as GlobalOptions from "./GlobalOptions.ts"

type Config = Command.Command.Config.Infer<typeof ControlPlaneCommand.startConfig>

/**
 * What `leasekit control-plane start` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
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
  )
