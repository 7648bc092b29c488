// CommonJS on core's lowest Node: require(esm) of @leasekit/core and effect, the memory store.
const { Lease, LeaseStore } = require("@leasekit/core")
const { Effect } = require("effect")

const program = Effect.scoped(
  Effect.flatMap(Lease.acquire({ namespace: "jobs", name: "cjs" }), (lease) => Effect.sync(() => console.log(`token=${lease.token}`)))
)
Effect.runPromise(program.pipe(Effect.provide(LeaseStore.layerMemory()))).then(
  () => console.log(`done on node ${process.version}`),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
