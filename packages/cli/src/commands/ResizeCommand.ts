/**
 * `leasekit resize`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/Resize.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.5.0
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `resize`.
 *
 * @since 0.5.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  permits: Flag.Int("permits").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("the new number of permits, 1 to 1000 (required)")
  ),
  output: GlobalFlags.output,
  name: Argument.String("name").pipe(Argument.withDescription("the semaphore"))
}

/**
 * The `resize` command.
 *
 * @since 0.5.0
 * @category commands
 */
export const command = Command.make("resize", config, Lazy.handler(() => import("../internal/Resize.ts"))).pipe(
  Command.withDescription(
    "Change the number of permits of the semaphore NAME (admin; one compare-and-swap on its head). Raising it " +
      "serves waiters at once. Lowering it withdraws the permits numbered N and above: nobody acquires them any " +
      "more, their holders keep them until they release (at most the old count hold permits until then) and " +
      "are told. Prints the count before and after. Exit codes: 64 no such semaphore, or NAME is a plain lease; " +
      "69 API unreachable; 77 forbidden."
  ),
  Command.withShortDescription("change a semaphore's number of permits (admin)"),
  Command.withExamples([
    { command: "leasekit resize crawler --permits 5", description: "allow 5 crawls at once" },
    { command: "leasekit resize crawler --permits 1 -o json", description: "drain to 1; {\"from\":5,\"to\":1,…}" }
  ])
)
