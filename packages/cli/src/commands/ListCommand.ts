/**
 * `leasekit list`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/List.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.1.0
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `list`.
 *
 * @since 0.1.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  allNamespaces: Flag.Boolean("all-namespaces").pipe(
    Flag.withAlias("A"),
    Flag.withDescription("list the leases of every namespace (default: off — only the -n or the context's namespace)"),
    Flag.withDefault(false)
  ),
  output: GlobalFlags.output
}

/**
 * The `list` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("list", config, Lazy.handler(() => import("../internal/List.ts"))).pipe(
  Command.withDescription(
    "List the leases of a namespace (default: the context's) or of all namespaces (-A). A semaphore is one row " +
      "(its permits and waiters folded in: \"2 of 3 permits held, 1 waiting\")."
  ),
  Command.withShortDescription("list leases"),
  Command.withExamples([
    { command: "leasekit list", description: "the leases of the context's namespace" },
    { command: "leasekit list -A -o json", description: "every lease in the cluster, as JSON" }
  ])
)
