/**
 * The `leasekit` command tree — `run`, `status`, `list`, `release`, `handoff`, `resize`, `control-plane start`, `demo`,
 * each in its own module — with the root's help, effect/cli's built-in flags, and the command-line
 * rules effect/cli does not have (`CommandLine.ts`): the global flags (`--kubeconfig`,
 * `--context`, `-n/--namespace`, `--verbose`) may also come before the subcommand, and `run`'s
 * CMD follows `--`.
 *
 * Guarantees: the rules are derived from the commands' own flag declarations, so a flag added to
 * `run` (or to the global ones) is known to them without being listed twice. Does not: run
 * anything (`main.ts` does).
 *
 * @since 0.1.0
 */
import * as Command from "effect/cli/Command"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import type * as CommandLine from "../internal/CommandLine.ts"
import * as ControlPlaneCommand from "./ControlPlaneCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as HandoffCommand from "./HandoffCommand.ts"
import * as ListCommand from "./ListCommand.ts"
import * as ReleaseCommand from "./ReleaseCommand.ts"
import * as ResizeCommand from "./ResizeCommand.ts"
import * as RunCommand from "./RunCommand.ts"
import * as StatusCommand from "./StatusCommand.ts"

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const leasekit = Command.make("leasekit").pipe(
  Command.withDescription(
    "Mutually exclusive, time-bounded locks on Kubernetes coordination.k8s.io/v1 Leases. " +
      "--kubeconfig, --context, -n/--namespace and --verbose may come before or after the subcommand. " +
      "Exit codes: 64 usage, 69 API unreachable (or not a Kubernetes API server), 75 lease held / wait timed out, " +
      "77 forbidden, 78 kubeconfig unusable, 79 lease lost while CMD ran; `run` otherwise exits with CMD's status " +
      "(127 CMD not found, 126 not executable)."
  ),
  Command.withSubcommands([
    RunCommand.command,
    StatusCommand.command,
    ListCommand.command,
    ReleaseCommand.command,
    HandoffCommand.command,
    ResizeCommand.command,
    ControlPlaneCommand.command,
    DemoCommand.command
  ]),
  Command.withExamples([
    { command: "leasekit demo", description: "watch three processes share a lease on a local control plane" },
    { command: "leasekit run nightly-report -- ./report.sh", description: "run a job under a lease" },
    { command: "leasekit status nightly-report", description: "who holds it" },
    { command: "leasekit handoff nightly-report --to worker-2_7f3a", description: "ask its holder to hand it over" },
    { command: "leasekit run crawler --permits 3 -- ./crawl.sh", description: "at most 3 at once (a semaphore)" },
    { command: "leasekit --context prod -n jobs list", description: "global flags before the subcommand" }
  ])
)

/**
 * effect/cli's built-in flags leasekit offers: `--help/-h`, `--version/-v`, `--completions`.
 *
 * @since 0.1.0
 * @category flags
 */
export const builtIns = [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions]

/**
 * The rules `CommandLine.prepare` applies to leasekit's arguments.
 *
 * @since 0.1.0
 * @category commands
 */
export const rules: CommandLine.Rules = {
  global: [...Object.values(GlobalFlags.flags), GlobalFlags.namespace],
  trailing: [{
    path: ["run"],
    flags: [...Object.values(RunCommand.config).filter((p) => p.kind === "flag"), ...builtIns.map((b) => b.flag)],
    operands: ["NAME"],
    trailing: "CMD [ARGS…]"
  }]
}
