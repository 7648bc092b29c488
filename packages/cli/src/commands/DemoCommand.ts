/**
 * `leasekit demo`'s command line: its flags, arguments, help and examples. What it does is
 * `demo/Demo.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.1.0
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Durations from "../internal/Durations.ts"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `demo`.
 *
 * @since 0.1.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  kubeconfig: GlobalFlags.flags.kubeconfig.pipe(
    Flag.withDescription("run on this cluster (default: a local control plane started for the demo; $KUBECONFIG alone is not used)")
  ),
  namespace: GlobalFlags.namespace.pipe(
    Flag.withDescription("namespace of the demo's lease (default: with --kubeconfig the context's namespace, else leasekit-test)")
  ),
  duration: Durations.flag("duration", { description: "lease duration (whole seconds): the failover time (default: 4s)", default: "4s" }),
  workers: Flag.Int("workers").pipe(Flag.withMetavar("N"), Flag.withDescription("worker processes contending, 2 to 10 (default: 3)"), Flag.withDefault(3))
}

/**
 * The `demo` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("demo", config, Lazy.handler(() => import("../demo/Demo.ts"))).pipe(
  Command.withDescription(
    "Three worker processes contend for one lease on a real API server (a local control plane, built on first use, " +
      "or --kubeconfig): a live view of who holds it, graceful handovers (milliseconds), SIGKILLed holders (failover " +
      "after the lease duration), and a summary of measured times and fencing tokens, judged by the chaos suite's " +
      "checker. About 30 seconds plus the control plane's start. Needs @leasekit/testing (an optional peer of the " +
      "CLI), also with --kubeconfig: the workers are its contender processes."
  ),
  Command.withShortDescription("watch processes share a lease: handover, failover, fencing tokens"),
  Command.withExamples([
    { command: "leasekit demo", description: "on a local control plane (built on first use)" },
    { command: "leasekit demo --duration 6s --workers 4", description: "longer failover, more contenders" },
    { command: "leasekit demo --kubeconfig ~/.kube/config -n default", description: "on a real cluster (the lease is deleted afterwards)" }
  ])
)

