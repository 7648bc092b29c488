/**
 * `leasekit status NAME`: who holds a lease, since when, until when, and its fencing token.
 *
 * One read of the Lease object, judged as a contender would judge it (see `LeaseView.ts` for the
 * two expiry figures). A lease that does not exist is reported as such (`exists: false`), with
 * exit code 0: "free" is an answer, not an error.
 *
 * Guarantees: read-only — nothing is written. Does not guarantee: that the answer still holds a
 * moment later.
 *
 * @since 0.1.0
 */
import { Lease } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import { Clock, Duration, Effect, Option } from "effect"
import { Argument, Command } from "effect/cli"
import * as GlobalOptions from "./GlobalOptions.ts"
import * as LeaseView from "./LeaseView.ts"

const config = {
  ...GlobalOptions.flags,
  namespace: GlobalOptions.namespace,
  output: GlobalOptions.output,
  name: Argument.String("name").pipe(Argument.withDescription("the lease"))
}

/**
 * The `status` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("status", config, (c) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.KubeClient
    const key = { namespace: Option.getOrElse(c.namespace, () => client.namespace), name: c.name }
    const inspection = yield* Lease.inspect(key)
    const view = LeaseView.make(key, inspection.record, yield* Clock.currentTimeMillis, Duration.toMillis(inspection.expiresIn))
    yield* Effect.sync(() =>
      process.stdout.write(c.output === "json" ? `${JSON.stringify(view, null, 2)}\n` : LeaseView.renderStatus(view))
    )
  }).pipe(GlobalOptions.withStore(c))).pipe(
    Command.withDescription(
      "Show who holds the lease NAME, when it was acquired and last renewed, its duration, when it expires " +
        "(as this observer judges it) and its fencing token. A missing lease is reported, with exit code 0."
    ),
    Command.withShortDescription("show who holds a lease"),
    Command.withExamples([
      { command: "leasekit status nightly-report", description: "in the context's namespace" },
      { command: "leasekit status -n jobs db-migrate -o json | jq -r .holder", description: "the holder, for scripts" }
    ])
  )
