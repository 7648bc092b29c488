/**
 * `leasekit list [-n NS | -A]`: the leases of a namespace, or of all namespaces, with holder,
 * state, token and last renewal.
 *
 * Every Lease object is listed, including those written by other tools (client-go leader
 * elections, the kubelet's node leases in `kube-node-lease`): they are the same kind of object.
 *
 * Guarantees: read-only. Does not: work without the `list` permission on leases (exit 77, naming
 * the rule to add); with `-A` that permission is needed cluster-wide.
 *
 * @since 0.1.0
 */
import { LeaseStore } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import * as LeaseView from "./LeaseView.ts"

const config = {
  ...GlobalOptions.flags,
  namespace: GlobalOptions.namespace,
  allNamespaces: Flag.Boolean("all-namespaces").pipe(
    Flag.withAlias("A"),
    Flag.withDescription("list the leases of every namespace (default: off — only the -n or the context's namespace)"),
    Flag.withDefault(false)
  ),
  output: GlobalOptions.output
}

/**
 * The `list` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("list", config, (c) =>
  Effect.gen(function*() {
    if (c.allNamespaces && Option.isSome(c.namespace)) {
      return yield* ExitCode.usage("-n and -A exclude each other", "pass -n NS for one namespace or -A for all")
    }
    const client = yield* KubeClient.KubeClient
    const store = yield* LeaseStore.LeaseStore
    const namespace = c.allNamespaces ? undefined : Option.getOrElse(c.namespace, () => client.namespace)
    const records = yield* store.list(namespace)
    const now = yield* Clock.currentTimeMillis
    const views = records.map((r) => LeaseView.make(r.key, Option.some(r), now))
    const text = c.output === "json"
      ? `${JSON.stringify(views, null, 2)}\n`
      : views.length === 0
      ? ""
      : LeaseView.renderList(views, c.allNamespaces)
    yield* Effect.sync(() => process.stdout.write(text))
    if (c.output === "text" && views.length === 0) {
      yield* Effect.sync(() =>
        process.stderr.write(`leasekit: no leases ${namespace === undefined ? "in any namespace" : `in namespace "${namespace}"`}\n`)
      )
    }
  }).pipe(GlobalOptions.withStore(c))).pipe(
    Command.withDescription("List the leases of a namespace (default: the context's) or of all namespaces (-A)."),
    Command.withShortDescription("list leases"),
    Command.withExamples([
      { command: "leasekit list", description: "the leases of the context's namespace" },
      { command: "leasekit list -A -o json", description: "every lease in the cluster, as JSON" }
    ])
  )
