/**
 * What importing the libraries loads (issue "Footprint"): an application pays at start for the
 * modules it reaches, so each module of @leasekit/core and @leasekit/kubernetes pulls in only what
 * it needs at start. Each case imports one module in a fresh Node process and lists, through a
 * `module.registerHooks` preload, every file it loaded; the assertions name what must stay out
 * (loaded later, when used) — not sizes or times, which the bench measures (figure 7).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

const packages = Path.resolve(import.meta.dirname, "../..")

/** A preload that prints, at exit, the URL of every module the process loaded. */
const preload = `data:text/javascript,${
  encodeURIComponent(
    "import { registerHooks } from 'node:module';" +
      "const loaded = [];" +
      "registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context) } });" +
      "process.on('exit', () => process.stderr.write(JSON.stringify(loaded)));"
  )
}`

/** The modules a fresh process loads to import `specifier` (resolved from package `from`). */
const loadedBy = (from: string, specifier: string, run = ""): ReadonlyArray<string> => {
  const ended = ChildProcess.spawnSync(
    process.execPath,
    ["--import", preload, "--input-type=module", "-e", `const m = await import(${JSON.stringify(specifier)}); ${run}`],
    { cwd: Path.join(packages, from), encoding: "utf8", timeout: 60_000 }
  )
  assert.strictEqual(ended.status, 0, ended.stderr)
  return JSON.parse(ended.stderr.slice(ended.stderr.lastIndexOf("[\""))) as ReadonlyArray<string>
}

const including = (loaded: ReadonlyArray<string>, fragment: string) => loaded.filter((url) => url.includes(fragment))

describe("module loading", () => {
  it("@leasekit/core/Lease loads neither effect's Config nor Schema (the holder identity reads POD_NAME from the ConfigProvider)", () => {
    const loaded = loadedBy("core", "@leasekit/core/Lease")
    assert.isNotEmpty(including(loaded, "/core/src/Lease.ts"), "the module itself")
    assert.deepStrictEqual(including(loaded, "/effect/dist/Config.js"), [])
    assert.deepStrictEqual(including(loaded, "/effect/dist/Schema.js"), [])
    assert.deepStrictEqual(including(loaded, "/core/src/index.ts"), [], "no barrel")
  })

  it("@leasekit/kubernetes/KubernetesLeaseStore loads no yaml, no child-process support, no client-node and no barrel until used", () => {
    const loaded = loadedBy("kubernetes", "@leasekit/kubernetes/KubernetesLeaseStore")
    assert.isNotEmpty(including(loaded, "/kubernetes/src/KubernetesLeaseStore.ts"), "the module itself")
    for (const absent of ["/yaml/", "NodeChildProcessSpawner", "NodeFileSystem", "@kubernetes/client-node", "/core/src/index.ts", "/core/src/LeaderElection.ts"]) {
      assert.deepStrictEqual(including(loaded, absent), [], `${absent} is loaded at import`)
    }
  })

  it("@leasekit/core/LeaderElection loads no HTTP server, router, Prometheus formatting, Config or Schema (LeaderHealth and LeaseConfig do, when imported)", () => {
    const loaded = loadedBy("core", "@leasekit/core/LeaderElection")
    assert.isNotEmpty(including(loaded, "/core/src/LeaderElection.ts"), "the module itself")
    for (
      const absent of [
        "/effect/dist/http/",
        "/effect/dist/observability/",
        "/core/src/LeaderHealth.ts",
        "/effect/dist/Config.js",
        "/effect/dist/Schema.js",
        "/core/src/LeaseConfig.ts"
      ]
    ) {
      assert.deepStrictEqual(including(loaded, absent), [], `${absent} is loaded at import`)
    }
    const health = loadedBy("core", "@leasekit/core/LeaderHealth")
    assert.isNotEmpty(including(health, "/effect/dist/http/HttpRouter.js"), "the check above can fail")
    const config = loadedBy("core", "@leasekit/core/LeaseConfig")
    assert.isNotEmpty(including(config, "/effect/dist/Config.js"), "LeaseConfig loads Config: the check above can fail")
  })

  it("yaml loads when a kubeconfig is parsed, and only then", () => {
    const loaded = loadedBy(
      "kubernetes",
      "@leasekit/kubernetes/KubeClient",
      "const Effect = await import('effect/Effect');" +
        "const yaml = 'apiVersion: v1\\nkind: Config\\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:6443\"}}]\\n" +
        "users: [{name: u, user: {token: t}}]\\ncontexts: [{name: x, context: {cluster: c, user: u}}]\\ncurrent-context: x\\n';" +
        "await Effect.runPromise(Effect.scoped(m.makeFromString(yaml)));"
    )
    assert.isNotEmpty(including(loaded, "/yaml/"), "a kubeconfig was parsed without yaml")
  })
})
