// Plain ESM, plain node: acquire, guard, release on the memory store; then a second acquisition.
import { Lease, LeaseStore } from "@leasekit/core"
import { Effect } from "effect"

const once = (label) =>
  Effect.gen(function* () {
    const lease = yield* Lease.acquire({ namespace: "jobs", name: "nightly-report" })
    yield* lease.guard(Effect.sync(() => console.log(`${label} token=${lease.token} held=${lease.holder !== ""}`)))
  }).pipe(Effect.scoped)

await Effect.runPromise(Effect.all([once("first"), once("second")], { concurrency: 2 }).pipe(Effect.provide(LeaseStore.layerMemory())))
console.log(`done on node ${process.version}`)
