/**
 * `leasekit status`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/Status.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.1.0
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `status`.
 *
 * @since 0.1.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  output: GlobalFlags.output,
  watch: Flag.Boolean("watch").pipe(
    Flag.withAlias("w"),
    Flag.withDescription(
      "after the status, print a line each time the lease changes hands — a new holder, a release, the holder judged " +
        "expired — until interrupted (SIGINT/SIGTERM: exit 0); with -o json one object per line (default: off)"
    ),
    Flag.withDefault(false)
  ),
  name: Argument.String("name").pipe(Argument.withDescription("the lease, or a semaphore"))
}

/**
 * The `status` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("status", config, Lazy.handler(() => import("../internal/Status.ts"))).pipe(
  Command.withDescription(
    "Show who holds the lease NAME, when it was acquired and last renewed, its duration, when it expires " +
      "(as this observer judges it) and its fencing token. A missing lease is reported, with exit code 0. " +
      "With --watch, then print a line each time it changes hands (a new holder, a release, the holder judged expired) " +
      "until interrupted (exit 0). For a semaphore (see `run --permits`): its permit count, the holders (permit, holder, " +
      "token, expires in, withdrawn) and the waiters in queue order; --watch prints its changes."
  ),
  Command.withShortDescription("show who holds a lease (--watch: follow it)"),
  Command.withExamples([
    { command: "leasekit status nightly-report", description: "in the context's namespace" },
    { command: "leasekit status -n jobs db-migrate -o json | jq -r .holder", description: "the holder, for scripts" },
    { command: "leasekit status nightly-report --watch", description: "follow who holds it until Ctrl-C" },
    { command: "leasekit status db-migrate -w -o json | jq -c '{holder, token}'", description: "one JSON object per change" },
    { command: "leasekit status crawler -o json | jq '.holders[].holder'", description: "a semaphore's holders" }
  ])
)
