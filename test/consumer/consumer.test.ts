/**
 * The consumer test: the packed packages, installed with npm into apps outside the workspace, used
 * the way users use them — plain `node` (ESM and CommonJS) on every Node version the packages
 * declare, the user's `tsc` under `NodeNext` and `bundler` resolution, the installed `leasekit`
 * binary, and every program in `examples/` (each from its own package.json) — against the memory
 * store and a real local control plane (etcd + kube-apiserver).
 *
 * This is the truth about packaging: it fails when `exports` point at sources, when a `.d.ts` is
 * missing, when a dependency is undeclared or a `workspace:` range leaks, when the CLI's `bin` does
 * not run, or when a declared Node version cannot load a package.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { type Duration, Effect, Layer, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { cleanEnv, Consumer, copyFolder, declaredNode, exec, layer as consumerLayer, ok, published, root } from "./Consumer.ts"

const namespace = "leasekit-consumer"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

/** `node` of `version` first on PATH, so that `#!/usr/bin/env node` and npm's bin links use it. */
const withNode = (node: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env = cleanEnv(extra)
  return { ...env, PATH: `${Path.dirname(node)}${Path.delimiter}${env["PATH"] ?? ""}` }
}

/** The app every test but the examples uses, installed once. */
const appLayer = Layer.effect(
  Consumer,
  Effect.gen(function*() {
    const consumer = yield* Consumer
    const app = Path.join(consumer.dir, "app")
    copyFolder(Path.join(import.meta.dirname, "app"), app)
    yield* consumer.install(app)
    return consumer
  })
).pipe(Layer.provideMerge(consumerLayer))

const app = Effect.map(Consumer, (c) => Path.join(c.dir, "app"))

/** An example folder, installed from the tarballs and type-checked with its own tsc. */
const example = (name: string) =>
  Effect.gen(function*() {
    const consumer = yield* Consumer
    const dir = Path.join(consumer.dir, "examples", name)
    copyFolder(Path.join(root, "examples", name), dir)
    yield* consumer.install(dir)
    yield* exec("npm", ["run", "typecheck"], { cwd: dir, env: withNode(process.execPath) }).pipe(Effect.flatMap(ok(`examples/${name}: npm run typecheck`)))
    return dir
  })

/** Starts `node file` in `cwd`; killed when the scope closes. */
const spawn = (cwd: string, file: string, env: NodeJS.ProcessEnv) => spawnProcess(cwd, process.execPath, [file], env)

/** Starts `command args…` in `cwd`, collecting its output; killed when the scope closes. */
const spawnProcess = (cwd: string, command: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = ChildProcess.spawn(command, [...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk))
      const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)))
      return { child, output: () => output, exited: Effect.promise(() => exited) }
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

const waitUntil = (what: string, condition: () => boolean, timeout: Duration.Input = "60 seconds", output?: () => string) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (done) => done }),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () => Effect.die(new Error(`timed out waiting for ${what}${output === undefined ? "" : `; its output:\n${output()}`}`))
    })
  )


layer(Layer.mergeAll(ControlPlane.layer({ namespace }), appLayer), { excludeTestServices: true, timeout: "12 minutes" })(
  "installed from the packed packages",
  (it) => {
    it.effect("the tarballs carry built JavaScript, declarations, sources, LICENSE and README — no tests, no workspace ranges", () =>
      Effect.gen(function*() {
        const { tarballs } = yield* Consumer
        for (const pkg of published) {
          const listing = ChildProcess.execFileSync("tar", ["tzf", tarballs[pkg]], { encoding: "utf8" }).split("\n")
          const built = pkg === "cli"
            ? ["dist/bin.js", "dist/THIRD-PARTY-LICENSES.md", "src/main.ts"]
            : ["dist/index.js", "dist/index.d.ts", "dist/index.d.ts.map", "src/index.ts"]
          for (const file of ["package.json", "LICENSE", "README.md", "CHANGELOG.md", ...built]) {
            assert.include(listing, `package/${file}`, `the ${pkg} tarball lacks ${file}`)
          }
          assert.isFalse(listing.some((f) => f.startsWith("package/test/")), `${pkg} ships its tests`)
          const manifest = ChildProcess.execFileSync("tar", ["xzOf", tarballs[pkg], "package/package.json"], { encoding: "utf8" })
          assert.notInclude(manifest, "workspace:", `${pkg}'s manifest`)
          assert.notInclude(manifest, "./src/", `${pkg}'s manifest points at sources`)
          if (pkg === "cli") {
            // One bundle (packages/cli/scripts/bundle.ts): what it runs is inside it, so installing the
            // CLI installs no copy of effect or of the libraries; client-node only for oidc, loaded on use.
            const { dependencies } = JSON.parse(manifest) as { readonly dependencies: Record<string, string> }
            assert.deepStrictEqual(Object.keys(dependencies), ["@kubernetes/client-node"], "the CLI's dependencies")
            assert.isFalse(listing.some((f) => /^package\/dist\/.*\.d\.ts$/.test(f)), "the CLI ships declarations of a bundle")
          }
        }
      }))

    it.effect("an ESM program runs with plain node on every Node version @leasekit/core declares (memory store)", () =>
      Effect.gen(function*() {
        const { nodes } = yield* Consumer
        const cwd = yield* app
        for (const version of [declaredNode("core"), declaredNode("kubernetes"), process.versions.node]) {
          const ended = yield* exec(nodes.get(version)!, ["memory.mjs"], { cwd }).pipe(Effect.flatMap(ok(`node ${version} memory.mjs`)))
          assert.match(ended.stdout, /first token=\d+ held=true/)
          assert.match(ended.stdout, /second token=\d+ held=true/)
          const [a, b] = [...ended.stdout.matchAll(/token=(\d+)/g)].map((m) => Number(m[1]))
          assert.isTrue(a! < b!, `tokens increase: ${ended.stdout}`)
          assert.include(ended.stdout, `done on node v${version}`)
        }
      }))

    it.effect("@leasekit/promise's Semaphore loads and works with plain node on the Node version it declares (memory store)", () =>
      Effect.gen(function*() {
        const { nodes } = yield* Consumer
        const cwd = yield* app
        for (const version of [declaredNode("promise"), process.versions.node]) {
          const ended = yield* exec(nodes.get(version)!, ["semaphore.mjs"], { cwd }).pipe(Effect.flatMap(ok(`node ${version} semaphore.mjs`)))
          assert.match(ended.stdout, /permits (0,1|1,0) held=true third=false/)
          assert.match(ended.stdout, /after release third=true permit=\d token=\d+/)
          assert.include(ended.stdout, `done on node v${version}`)
        }
      }))

    it.effect("an ESM program acquires and releases a Lease on the real API server (KubernetesLeaseStore)", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const { nodes } = yield* Consumer
        const cwd = yield* app
        for (const version of [declaredNode("kubernetes"), process.versions.node]) {
          const ended = yield* exec(nodes.get(version)!, ["cluster.mjs", `consumer-esm-${suffix()}`], {
            cwd,
            env: cleanEnv({ KUBECONFIG: cp.users.admin.kubeconfig, LEASE_NAMESPACE: namespace })
          }).pipe(Effect.flatMap(ok(`node ${version} cluster.mjs`)))
          assert.match(ended.stdout, /held as .+ with token \d+/)
          assert.match(ended.stdout, /released; next token \d+/)
        }
      }))

    it.effect("CommonJS require()s @leasekit/promise (and core on its lowest Node) and takes a Lease", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const { nodes } = yield* Consumer
        const cwd = yield* app
        for (const version of [declaredNode("promise"), process.versions.node]) {
          const ended = yield* exec(nodes.get(version)!, ["promise.cjs", `consumer-cjs-${suffix()}`], {
            cwd,
            env: cleanEnv({ KUBECONFIG: cp.users.admin.kubeconfig, LEASE_NAMESPACE: namespace })
          }).pipe(Effect.flatMap(ok(`node ${version} promise.cjs`)))
          assert.match(ended.stdout, /ran with token \d+/)
        }
        const core = yield* exec(nodes.get(declaredNode("core"))!, ["core.cjs"], { cwd }).pipe(Effect.flatMap(ok("core.cjs")))
        assert.match(core.stdout, /token=\d+/)
      }))

    it.effect("the user's tsc type-checks a consumer under NodeNext and bundler resolution (strict; the types are real, not any), and emits declarations for a library re-exporting leasekit types", () =>
      Effect.gen(function*() {
        const cwd = yield* app
        for (const config of ["tsconfig.nodenext.json", "tsconfig.bundler.json", "tsconfig.declaration.json"]) {
          const ended = yield* exec(Path.join(cwd, "node_modules", ".bin", "tsc"), ["-p", config], { cwd })
          assert.strictEqual(ended.code, 0, `tsc -p ${config}:\n${ended.stdout}${ended.stderr}`)
        }
      }))

    it.effect("the installed leasekit binary: --version, --help, and run NAME -- true against the API server", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const { nodes, versions } = yield* Consumer
        const cwd = yield* app
        const bin = Path.join(cwd, "node_modules", ".bin", "leasekit")
        for (const version of [declaredNode("cli"), process.versions.node]) {
          const env = withNode(nodes.get(version)!)
          const shown = yield* exec(bin, ["--version"], { cwd, env }).pipe(Effect.flatMap(ok("leasekit --version")))
          assert.include(shown.stdout, versions.cli)
          const help = yield* exec(bin, ["--help"], { cwd, env }).pipe(Effect.flatMap(ok("leasekit --help")))
          assert.include(help.stdout, "leasekit run")
          const lease = `consumer-cli-${suffix()}`
          const run = yield* exec(bin, ["run", lease, "--kubeconfig", cp.users.admin.kubeconfig, "-n", namespace, "--", "sh", "-c", "echo token=$LEASEKIT_TOKEN"], { cwd, env })
            .pipe(Effect.flatMap(ok("leasekit run")))
          assert.match(run.stdout, /token=\d+/)
          const status = yield* exec(bin, ["status", lease, "--kubeconfig", cp.users.admin.kubeconfig, "-n", namespace, "-o", "json"], { cwd, env })
            .pipe(Effect.flatMap(ok("leasekit status")))
          assert.include(status.stdout, lease)
        }
        // npx finds the same binary
        const npx = yield* exec("npx", ["--no-install", "leasekit", "--version"], { cwd, env: withNode(process.execPath) })
          .pipe(Effect.flatMap(ok("npx leasekit --version")))
        assert.include(npx.stdout, versions.cli)
      }))

    it.effect("npm install -g @leasekit/cli, as a user runs it: the global leasekit runs, and run NAME -- true takes the lease", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const { dir, registryFlag, versions } = yield* Consumer
        const prefix = Path.join(dir, "global")
        const env = withNode(process.execPath)
        yield* exec("npm", ["install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--loglevel=error", registryFlag, "@leasekit/cli"], {
          cwd: dir,
          env,
          timeoutMs: 300_000
        }).pipe(Effect.flatMap(ok("npm install -g @leasekit/cli")))
        const bin = Path.join(prefix, "bin", "leasekit")
        const shown = yield* exec(bin, ["--version"], { cwd: dir, env }).pipe(Effect.flatMap(ok("global leasekit --version")))
        assert.include(shown.stdout, versions.cli)
        const run = yield* exec(bin, ["run", `consumer-global-${suffix()}`, "--kubeconfig", cp.users.admin.kubeconfig, "-n", namespace, "--", "true"], {
          cwd: dir,
          env
        })
        assert.strictEqual(run.code, 0, run.stderr)
        assert.isFalse(Fs.existsSync(Path.join(prefix, "lib", "node_modules", "@leasekit", "testing")), "the CLI pulled in the test rig")
        // and npx, from the registry, in a folder with no package.json
        const npx = yield* exec("npx", ["--yes", registryFlag, "--package", "@leasekit/cli", "leasekit", "--version"], {
          cwd: dir,
          env: { ...env, npm_config_cache: Path.join(dir, "npx-cache") },
          timeoutMs: 300_000
        }).pipe(Effect.flatMap(ok("npx --package @leasekit/cli leasekit --version")))
        assert.include(npx.stdout, versions.cli)
      }))

    it.effect("the installed CLI never loads the test rig: without @leasekit/testing, control-plane start says what to install", () =>
      Effect.gen(function*() {
        const cwd = yield* app
        assert.isFalse(Fs.existsSync(Path.join(cwd, "node_modules", "@leasekit", "testing")), "@leasekit/testing was installed")
        const ended = yield* exec(Path.join(cwd, "node_modules", ".bin", "leasekit"), ["control-plane", "start"], {
          cwd,
          env: withNode(process.execPath)
        })
        assert.strictEqual(ended.code, 69, ended.stderr)
        assert.include(ended.stderr, "@leasekit/testing")
        assert.include(ended.stderr, "npm install -g @leasekit/testing")
      }))

    it.effect("the installed CLI with @leasekit/testing beside it: control-plane start serves a run, and stops on SIGTERM", () =>
      Effect.gen(function*() {
        const consumer = yield* Consumer
        // Its own app: the main one must stay without the test rig (the test above).
        const cwd = Path.join(consumer.dir, "with-testing")
        Fs.mkdirSync(cwd, { recursive: true })
        Fs.writeFileSync(
          Path.join(cwd, "package.json"),
          JSON.stringify({ name: "with-testing", private: true, dependencies: { "@leasekit/cli": "*", "@leasekit/testing": "*" } })
        )
        yield* consumer.install(cwd)
        const bin = Path.join(cwd, "node_modules", ".bin", "leasekit")
        const env = withNode(process.execPath)
        const kubeconfig = Path.join(cwd, "admin.kubeconfig")
        // The testing package brings its own copy of effect: the bundle runs its layers and effects.
        const cp = yield* spawnProcess(cwd, bin, ["control-plane", "start", "--kubeconfig", kubeconfig, "-n", namespace], env)
        yield* waitUntil("the control plane to start", () => cp.output().includes("running until interrupted"), "3 minutes", cp.output)
        const run = yield* exec(bin, ["run", `consumer-cp-${suffix()}`, "--kubeconfig", kubeconfig, "-n", namespace, "--", "sh", "-c", "echo token=$LEASEKIT_TOKEN"], { cwd, env })
          .pipe(Effect.flatMap(ok("leasekit run against leasekit control-plane start")))
        assert.match(run.stdout, /token=\d+/)
        cp.child.kill("SIGTERM")
        const code = yield* cp.exited
        assert.include([0, 130], code, cp.output())
        assert.include(cp.output(), "control plane stopped and removed")
      }))

    it.effect("on a Node older than it declares, the CLI says so (exit 69) instead of crashing in a dependency", () =>
      Effect.gen(function*() {
        const { nodes } = yield* Consumer
        const cwd = yield* app
        const older = nodes.get(declaredNode("core"))!
        if (declaredNode("core") === declaredNode("cli")) return
        const ended = yield* exec(Path.join(cwd, "node_modules", ".bin", "leasekit"), ["--help"], { cwd, env: withNode(older) })
        assert.strictEqual(ended.code, 69, ended.stderr)
        assert.include(ended.stderr, `needs Node >= ${declaredNode("cli").split(".").slice(0, 2).join(".")}`)
      }))

    it.effect("examples/memory (installed from its own package.json): runs with no cluster; the two runs take turns with increasing tokens", () =>
      Effect.gen(function*() {
        const dir = yield* example("memory")
        const ended = yield* exec(process.execPath, ["main.ts"], { cwd: dir }).pipe(Effect.flatMap(ok("examples/memory")))
        const tokens = [...ended.stdout.matchAll(/fencing token (\d+)/g)].map((m) => Number(m[1]))
        assert.strictEqual(tokens.length, 2, ended.stdout)
        assert.isTrue(tokens[0]! < tokens[1]!, ended.stdout)
      }))

    it.effect("examples/effect-cluster: takes and releases the lease on the API server", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const dir = yield* example("effect-cluster")
        const ended = yield* exec(process.execPath, ["main.ts"], {
          cwd: dir,
          env: cleanEnv({ LEASEKIT_KUBECONFIG: cp.users.admin.kubeconfig, LEASEKIT_NAMESPACE: namespace })
        }).pipe(Effect.flatMap(ok("examples/effect-cluster")))
        assert.match(ended.stdout, new RegExp(`holding ${namespace}/nightly-report as .+, fencing token \\d+`))
      }))

    it.effect("examples/promise-cluster: IntervalLease.run on the API server", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const dir = yield* example("promise-cluster")
        const ended = yield* exec(process.execPath, ["main.ts"], {
          cwd: dir,
          env: cleanEnv({ KUBECONFIG: cp.users.admin.kubeconfig, LEASE_NAMESPACE: namespace })
        }).pipe(Effect.flatMap(ok("examples/promise-cluster")))
        assert.match(ended.stdout, /holding the lease, fencing token \d+/)
        assert.include(ended.stdout, "report written: 42 rows")
      }))

    it.effect("examples/kubernetes: two replicas of the leader-elected service; one leads, and when it stops the other does", () =>
      Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const dir = yield* example("kubernetes")
        const env = cleanEnv({ LEASEKIT_KUBECONFIG: cp.users.admin.kubeconfig, LEASE_NAMESPACE: namespace })
        const a = yield* spawn(dir, "leader.ts", env)
        yield* waitUntil("replica a to lead", () => a.output().includes("leading as"))
        const b = yield* spawn(dir, "leader.ts", env)
        yield* waitUntil("replica b to join", () => b.output().includes("joining the election"))
        assert.notInclude(b.output(), "leading as")
        a.child.kill("SIGTERM") // a graceful stop: the scope closes and the lease is released
        const code = yield* a.exited
        // NodeRuntime.runMain exits 130 after a signal interrupted the program (0 would be as good)
        assert.include([0, 130], code, a.output())
        // released, not expired: b leads well within the lease's 15 s duration
        yield* waitUntil("replica b to lead after a released", () => b.output().includes("leading as"), "5 seconds")
      }))
  }
)

/** Each `// #region readme` block of the examples, as it must appear in the root README. */
const readmeRegions = (): ReadonlyArray<{ readonly file: string; readonly text: string }> =>
  ["memory/main.ts", "effect-cluster/main.ts", "promise-cluster/main.ts", "kubernetes/leader.ts", "telemetry/main.ts"].flatMap((file) => {
    const source = Fs.readFileSync(Path.join(root, "examples", file), "utf8")
    return [...source.matchAll(/\/\/ #region readme\n([\s\S]*?)\/\/ #endregion/g)].map((m) => ({ file, text: m[1]!.trimEnd() }))
  })

describe("the README", () => {
  it.effect("shows the examples' code verbatim, so its snippets cannot call what does not exist", () =>
    Effect.sync(() => {
      const readme = Fs.readFileSync(Path.join(root, "README.md"), "utf8")
      const regions = readmeRegions()
      assert.isAtLeast(regions.length, 5)
      for (const { file, text } of regions) {
        assert.include(readme, text, `README.md lacks the readme region of examples/${file} (copy it over)`)
      }
    }))
})
