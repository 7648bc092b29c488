/**
 * The `leasekit` binary: runs the command tree (`RootCommand.ts`), presents its output, and exits.
 *
 * A command ends with exit code 0 or fails with a `CliExit` (see `ExitCode.ts`); this
 * module prints the exit's message on stderr and leaves the process with its code. Command-line
 * mistakes are one line on stderr plus a pointer to `--help`, exit 64. Before effect/cli parses
 * the arguments, `CommandLine.ts` moves global flags written before the subcommand behind it and
 * checks that `run`'s CMD follows `--` (so CMD's own flags are never read as leasekit's).
 *
 * Guarantees: expected failures never print a stack trace; an unexpected defect prints one line
 * (the full cause with `--verbose`) and exits 70; SIGINT/SIGTERM while no CMD runs interrupt the
 * command, run its finalizers (release the lease, stop the control plane) and exit 130.
 * Does not: print anything on stdout except a command's results (CMD's own output under `run`).
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as CliConfig from "effect/cli/CliConfig"
import * as CliError from "effect/cli/CliError"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import manifest from "../package.json" with { type: "json" }
import * as CommandLine from "./internal/CommandLine.ts"
import * as ExitCode from "./internal/ExitCode.ts"
import { builtIns, leasekit, rules } from "./commands/RootCommand.ts"
import * as Stderr from "./internal/Stderr.ts"

const version = manifest.version

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

const cliLayer = Layer.mergeAll(NodeServices.layer, presenter, CliConfig.layer({ builtIns }))

// A closed stdout or stderr (`leasekit list | head`, a log reader gone) must not crash leasekit
// while it holds a lease: lines are lost, the process goes on (see Stderr.ts).
process.stdout.on("error", () => {})
process.stderr.on("error", () => {})
// SIGUSR1 would open Node's inspector on 127.0.0.1:9229 (shared by every container of a pod);
// with a listener it does nothing — `run` passes it on to CMD while CMD runs.
process.on("SIGUSR1", () => {})

/** The arguments; a leading `--` (as `pnpm run leasekit -- …` passes it) is dropped. */
const argv = process.argv.slice(2)
const args = CommandLine.prepare(argv[0] === "--" ? argv.slice(1) : argv, leasekit, rules)

/** Runs the CLI and succeeds with the exit code. */
const main = Effect.fromResult(args).pipe(
  Effect.flatMap((args) => Command.runWith(leasekit, { version })(args)),
  Effect.as(ExitCode.codes.ok as number),
  Effect.catch((error) => {
    if (CliError.isCliError(error)) return Effect.succeed(ExitCode.codes.usage as number)
    const exit = ExitCode.fromError(error)
    return Effect.sync(() => {
      Stderr.flush()
      process.stderr.write(ExitCode.render(exit))
      return exit.code
    })
  }),
  Effect.catchCause((cause) =>
    Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.sync(() => {
        // Only leasekit's own flag: a `--verbose` of CMD's (after `--`) does not count.
        const own = process.argv.slice(2)
        const verbose = own.slice(0, own.indexOf("--") === -1 ? own.length : own.indexOf("--")).includes("--verbose")
        const first = Cause.pretty(cause).split("\n")[0]
        const exit = ExitCode.fail(
          ExitCode.codes.software,
          `internal error: ${first}`,
          verbose ? "the full cause follows; please report it" : "run with --verbose for details and report it"
        )
        Stderr.flush()
        process.stderr.write(ExitCode.render(exit))
        if (verbose) process.stderr.write(`${Cause.pretty(cause)}\n`)
        return exit.code
      })
  ),
  Effect.provide(cliLayer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    Stderr.flush()
    onExit(
      Exit.isSuccess(exit)
        ? exit.value as number
        : Cause.hasInterruptsOnly(exit.cause)
        ? ExitCode.codes.interrupted
        : ExitCode.codes.software
    )
  }
})
