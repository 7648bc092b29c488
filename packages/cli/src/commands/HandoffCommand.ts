/**
 * `leasekit handoff`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/Handoff.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.3.0
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `handoff`.
 *
 * @since 0.3.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  to: Flag.String("to").pipe(
    Flag.withMetavar("HOLDER"),
    Flag.withDescription(
      "the identity of the contender that should get the lease (as it writes it into the lease: `leasekit status` " +
        "shows a holder's; `leasekit run --holder ID` names a run's, with a random suffix). Required"
    )
  ),
  output: GlobalFlags.output,
  name: Argument.String("name").pipe(Argument.withDescription("the lease"))
}

/**
 * The `handoff` command.
 *
 * @since 0.3.0
 * @category commands
 */
export const command = Command.make("handoff", config, Lazy.handler(() => import("../internal/Handoff.ts"))).pipe(
  Command.withDescription(
    "Ask the holder of the lease NAME to hand it over to HOLDER (admin: a rolling upgrade, moving work to a " +
      "better place). Writes a request onto the Lease (an annotation, by compare-and-swap) and changes nothing " +
      "else; a leasekit holder sees it at its next renewal (within a third of its duration), stops its guarded " +
      "work, releases, and for a window only HOLDER may take the lease — HOLDER must be waiting for it " +
      "(a waiting `leasekit run` prints its identity). A `leasekit run` holder stops its command first " +
      "(SIGTERM, SIGKILL after its grace) and exits 79. A holder configured to refuse requests, or one that " +
      "is not leasekit, ignores the request. " +
      "Exit 0 when the request was written or there is nothing to do (no lease, free, already HOLDER's); " +
      "64 for a lease managed by the API server's coordinated leader election (spec.strategy)."
  ),
  Command.withShortDescription("ask the holder to hand a lease over to HOLDER"),
  Command.withExamples([
    { command: "leasekit handoff nightly-report --to worker-2_7f3a", description: "ask the holder to hand over" },
    {
      command: "leasekit handoff -n jobs db-migrate --to \"$(hostname)\" -o json | jq -r .outcome",
      description: "requested, free, already or absent, for scripts"
    }
  ])
)
