/**
 * The two scripts figure 7 writes into the temporary app: `hold.mjs`, the library process (one
 * lease held as an application would hold it, reporting its own memory once), and
 * `count-modules.mjs`, the preload that counts the files a process loads (only in separate
 * counting runs, never in a measured one). Source text only; nothing here runs in the bench.
 */

/**
 * The library process: holds one lease as an application would (deep imports), prints
 * `token=N` once held, `profile={…}` (its own view of its memory, `ProcessProfile`) `profileAfter`
 * seconds later and `done` after `seconds`, then releases it and exits.
 */
export const holdScript = `// Written by bench/src/figures/footprint/Scripts.ts: one lease held by a plain library process.
import * as V8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Lease from "@leasekit/core/Lease"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"

// as soon as the imports above have loaded, before anything runs
const loaded = {
  rss: process.memoryUsage.rss(),
  youngCommitted: V8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0
}

const [kubeconfig, namespace, name, seconds, profileAfter] = process.argv.slice(2)
const store = KubernetesLeaseStore.layer().pipe(Layer.provide(KubeClient.layerFromFile(kubeconfig)))
const profile = Effect.sync(() => {
  const { rss, heapTotal, heapUsed, external } = process.memoryUsage()
  const spaces = Object.fromEntries(V8.getHeapSpaceStatistics().map((s) => [
    s.space_name,
    { committed: s.space_size, used: s.space_used_size, resident: s.physical_space_size }
  ]))
  console.log(\`profile=\${JSON.stringify({ afterSeconds: Number(profileAfter), rss, heapTotal, heapUsed, external, spaces, loaded })}\`)
})
const hold = Effect.scoped(Effect.gen(function*() {
  const lease = yield* Lease.acquire({ namespace, name })
  console.log(\`token=\${lease.token}\`)
  const holding = Effect.sleep(\`\${profileAfter} seconds\`).pipe(
    Effect.andThen(profile),
    Effect.andThen(Effect.sleep(\`\${Number(seconds) - Number(profileAfter)} seconds\`))
  )
  yield* Effect.raceFirst(lease.lost, holding)
  console.log("done")
}))
await Effect.runPromise(Effect.provide(hold, store))
`

/**
 * Preloaded (`--import`) only into the counting runs, never into a measured one: counts the files
 * the process loads (ESM and CommonJS, through `module.registerHooks`) and their size on disk, by
 * package, and prints `modules={…}` (`ModuleCount`) as the process exits.
 */
export const countScript = `// Written by bench/src/figures/footprint/Scripts.ts: counts the modules this process loads.
import { statSync } from "node:fs"
import { registerHooks } from "node:module"
import { fileURLToPath } from "node:url"

const files = new Map()
registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith("file:") && !files.has(url)) files.set(url, statSync(fileURLToPath(url)).size)
    return nextLoad(url, context)
  }
})
process.once("exit", () => {
  const byPackage = {}
  let bytes = 0
  for (const [url, size] of files) {
    const name = /.*node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(url)?.[1] ?? "(app)"
    const entry = (byPackage[name] ??= { files: 0, bytes: 0 })
    entry.files += 1
    entry.bytes += size
    bytes += size
  }
  process.stdout.write(\`modules=\${JSON.stringify({ files: files.size, bytes, byPackage })}\\n\`)
})
`
