/**
 * `leasekit list [-n NS | -A]`: the leases of a namespace, or of all namespaces, with holder,
 * state, token and last renewal.
 *
 * Every Lease object is listed, including those written by other tools (client-go leader
 * elections, the kubelet's node leases in `kube-node-lease`): they are the same kind of object.
 * A semaphore (`LeaseSemaphore`) is one row: its head, with its permits and its waiters' tickets
 * folded into it (`SemaphoreView.fold`: "2 of 3 permits held, 1 waiting", state `semaphore`; in
 * JSON an object with `kind: "semaphore"`, `permits`, `holders` and `waiting`).
 *
 * Guarantees: read-only. Does not: work without the `list` permission on leases (exit 77, naming
 * the rule to add); with `-A` that permission is needed cluster-wide.
 *
 * @since 0.1.0
 */
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Command from "effect/cli/Command"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import * as LeaseView from "./LeaseView.ts"
import type * as ListCommand from "../commands/ListCommand.ts"
import { printable } from "./Printable.ts"
import * as SemaphoreView from "./SemaphoreView.ts"

type Config = Command.Command.Config.Infer<typeof ListCommand.config>



/**
 * What `leasekit list` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    if (c.allNamespaces && Option.isSome(c.namespace)) {
      return yield* ExitCode.usage("-n and -A exclude each other", "pass -n NS for one namespace or -A for all")
    }
    const client = yield* KubeClient.KubeClient
    const store = yield* LeaseStore.LeaseStore
    const namespace = c.allNamespaces ? undefined : Option.getOrElse(c.namespace, () => client.namespace)
    const records = yield* store.list(namespace)
    const now = yield* Clock.currentTimeMillis
    // A semaphore's permits and tickets are folded into its head's row.
    const items = SemaphoreView.fold(records, now)
    const views = items.map((item) => item._tag === "Lease" ? LeaseView.make(item.record.key, Option.some(item.record), now) : item.row)
    const text = c.output === "json"
      ? `${JSON.stringify(views, null, 2)}\n`
      : views.length === 0
      ? ""
      : LeaseView.table(
        LeaseView.listHeader(c.allNamespaces),
        views.map((v) => [
          ...(c.allNamespaces ? [printable(v.namespace)] : []),
          ...("kind" in v ? SemaphoreView.listCells(v) : LeaseView.listCells(v))
        ])
      )
    yield* Effect.sync(() => process.stdout.write(text))
    if (c.output === "text" && views.length === 0) {
      yield* Effect.sync(() =>
        process.stderr.write(`leasekit: no leases ${namespace === undefined ? "in any namespace" : `in namespace "${namespace}"`}\n`)
      )
    }
  }).pipe(GlobalOptions.withStore(c))
