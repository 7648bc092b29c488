// Plain ESM, plain node: @leasekit/promise's Semaphore on the core's memory store — two permits,
// three instances: two hold at once, the third is refused by tryAcquire, then let in after a release.
import { LeaseStore } from "@leasekit/core"
import { LeaseRuntime, Semaphore } from "@leasekit/promise"

const runtime = LeaseRuntime.fromLayer(LeaseStore.layerMemory())
const make = () => new Semaphore({ namespace: "jobs", name: "slots", permits: 2, durationSeconds: 5, runtime })
const [a, b, c] = [make(), make(), make()]
const first = await a.acquire()
const second = await b.acquire()
console.log(`permits ${first.permit},${second.permit} held=${a.isHeld && b.isHeld} third=${await c.tryAcquire()}`)
await a.release()
console.log(`after release third=${await c.tryAcquire()} permit=${c.permit} token=${c.token}`)
await Promise.all([a.close(), b.close(), c.close()])
await runtime.dispose()
console.log(`done on node ${process.version}`)
