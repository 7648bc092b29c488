/**
 * `leasekit release`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/Release.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
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
 * The flags and arguments of `release`.
 *
 * @since 0.1.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  force: Flag.Boolean("force").pipe(
    Flag.withDescription("really clear the holder (required: the holder may still be working; without it, exit 64)"),
    Flag.withDefault(false)
  ),
  output: GlobalFlags.output,
  name: Argument.String("name").pipe(Argument.withDescription("the lease"))
}

/**
 * The `release` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("release", config, Lazy.handler(() => import("../internal/Release.ts"))).pipe(
  Command.withDescription(
    "Clear the holder of the lease NAME (admin: a stuck holder). Requires --force. The object and its " +
      "fencing-token counter are kept; the previous holder notices at its next renewal. Until then it " +
      "still believes it holds the lease while a waiting contender may already have taken it: two holders " +
      "at once, against which only fencing tokens protect (the new holder's token is higher). Use it for " +
      "holders that are gone, not to pre-empt a live one."
  ),
  Command.withShortDescription("clear a stuck holder (admin; needs --force)"),
  Command.withExamples([
    { command: "leasekit release nightly-report --force", description: "free the lease now" }
  ])
)
