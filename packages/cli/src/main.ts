/**
 * The `leasekit` binary: the command tree, how its output is presented, and how it exits.
 *
 * Commands: `run`, `status`, `list`, `release`, `control-plane start`, `demo` (each in its own
 * module). A command ends with exit code 0 or fails with a `CliExit` (see `ExitCode.ts`); this
 * module prints the exit's message on stderr and leaves the process with its code. Command-line
 * mistakes are one line on stderr plus a pointer to `--help`, exit 64.
 *
 * Guarantees: expected failures never print a stack trace; an unexpected defect prints one line
 * (the full cause with `--verbose`) and exits 70; SIGINT/SIGTERM while no CMD runs interrupt the
 * command, run its finalizers (release the lease, stop the control plane) and exit 130.
 * Does not: print anything on stdout except a command's results (CMD's own output under `run`).
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit, Layer } from "effect"
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import * as Fs from "node:fs"
import * as ControlPlaneCommand from "./ControlPlaneCommand.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as ExitCode from "./ExitCode.ts"
import * as ListCommand from "./ListCommand.ts"
import * as ReleaseCommand from "./ReleaseCommand.ts"
import * as RunCommand from "./RunCommand.ts"
import * as StatusCommand from "./StatusCommand.ts"

const version = (JSON.parse(Fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version

/**
 * The root command.
 *
 * @since 0.1.0
 * @category commands
 */
export const leasekit = Command.make("leasekit").pipe(
  Command.withDescription(
    "Mutually exclusive, time-bounded locks on Kubernetes coordination.k8s.io/v1 Leases. " +
      "Exit codes: 64 usage, 69 API unreachable, 75 lease held / wait timed out, 77 forbidden, " +
      "78 kubeconfig unusable, 79 lease lost while CMD ran; `run` otherwise exits with CMD's status."
  ),
  Command.withSubcommands([
    RunCommand.command,
    StatusCommand.command,
    ListCommand.command,
    ReleaseCommand.command,
    ControlPlaneCommand.command,
    DemoCommand.command
  ]),
  Command.withExamples([
    { command: "leasekit demo", description: "watch three processes share a lease on a local control plane" },
    { command: "leasekit run nightly-report -- ./report.sh", description: "run a job under a lease" },
    { command: "leasekit status nightly-report", description: "who holds it" }
  ])
)

/** Command-line mistakes: one line and a pointer to --help, on stderr. */
const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.sync(() => {
        const problems = event.errors.map((e) => e.message.replace(/\s+/g, " ").trim()).join("; ")
        process.stderr.write(ExitCode.render(ExitCode.usage(problems, `see \`${event.commandPath.join(" ")} --help\``)))
      })
      : CliOutput.defaultPresenter.present(event)
})

const cliLayer = Layer.mergeAll(
  NodeServices.layer,
  presenter,
  CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions] })
)

/** The arguments; a leading `--` (as `pnpm run leasekit -- …` passes it) is dropped. */
const argv = process.argv.slice(2)
const args = argv[0] === "--" ? argv.slice(1) : argv

/** Runs the CLI and succeeds with the exit code. */
const main = Command.runWith(leasekit, { version })(args).pipe(
  Effect.as(ExitCode.codes.ok as number),
  Effect.catch((error) => {
    if (CliError.isCliError(error)) return Effect.succeed(ExitCode.codes.usage as number)
    const exit = ExitCode.fromError(error)
    return Effect.sync(() => {
      process.stderr.write(ExitCode.render(exit))
      return exit.code
    })
  }),
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.sync(() => {
        const verbose = process.argv.includes("--verbose")
        const first = Cause.pretty(cause).split("\n")[0]
        const exit = ExitCode.fail(
          ExitCode.codes.software,
          `internal error: ${first}`,
          verbose ? "the full cause follows; please report it" : "run with --verbose for details and report it"
        )
        process.stderr.write(ExitCode.render(exit))
        if (verbose) process.stderr.write(`${Cause.pretty(cause)}\n`)
        return exit.code
      })
  ),
  Effect.provide(cliLayer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? exit.value as number
        : Cause.hasInterruptsOnly(exit.cause)
        ? ExitCode.codes.interrupted
        : ExitCode.codes.software
    )
})
