/**
 * leasekit on the memory store: no cluster needed.
 *
 * Two runs of a "nightly report" start at once and contend for one lease; the second waits until
 * the first has released it, then runs with a higher fencing token. The same program runs on a
 * cluster by providing `KubernetesLeaseStore.layer()` instead (see ../effect-cluster).
 *
 * Run: `npm install && node main.ts` (Node >= 22.19 strips the types itself; on Node 20.19+ compile
 * it first with `npx tsc`).
 */
// #region readme
import { Lease, LeaseStore } from "@leasekit/core"
import { Effect } from "effect"

const nightlyReport = (run: string) =>
  Effect.gen(function*() {
    const lease = yield* Lease.acquire({ namespace: "jobs", name: "nightly-report" }) // waits; scoped
    // guarded: interrupted with LeaseLostError if the lease is lost before it ends
    yield* lease.guard(Effect.log(`${run}: writing the report with fencing token ${lease.token}`))
  }).pipe(Effect.scoped) // released when the scope closes

// two runs at once, one lease: they take turns
const program = Effect.all([nightlyReport("run A"), nightlyReport("run B")], { concurrency: 2 })

Effect.runPromise(program.pipe(Effect.provide(LeaseStore.layerMemory())))
// #endregion
