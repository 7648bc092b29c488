/**
 * What a user installs, made the way a user gets it: the workspace's packages packed with
 * `pnpm pack` (so `publishConfig` and `workspace:` ranges are applied as on publish), installed with
 * plain `npm` into folders outside the workspace, run with plain `node` of the Node versions the
 * packages declare in `engines`.
 *
 * `layer` does the expensive part once per test file: packs the five published packages (their
 * `dist/` must have been built — `pnpm build`, which `pnpm test:consumer` runs first), and installs
 * the lowest Node versions the packages declare (the npm package `node`) into a temporary folder.
 * `install` turns a folder with a `package.json` into an installed app whose `@leasekit/*`
 * dependencies come from those tarballs (direct and transitive: npm `overrides`), everything else
 * from the registry the machine's npm is configured with.
 *
 * `registry` serves the packed `@leasekit/*` packages as an npm registry would (package documents
 * and tarballs with their integrity, on loopback), so that `npm install -g @leasekit/cli` and
 * `npx` can be run exactly as a user runs them, with `--@leasekit:registry=<its URL>`: npm takes
 * `@leasekit/*` from it and every other package from the machine's configured registry.
 *
 * Guarantees: nothing is installed or written inside the workspace; the temporary folder is
 * removed and the registry closed when the layer is released. Child processes run with a bounded
 * time and are killed when it passes. Does not: publish anything.
 */
import { Context, Effect, Layer } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"

/** The repository's root. */
export const root = Path.resolve(import.meta.dirname, "../..")

/** The published packages, by folder under `packages/`. */
export const published = ["core", "kubernetes", "promise", "testing", "cli"] as const
export type Published = typeof published[number]

/** The lowest Node version each package declares, read from its `engines`. */
export const declaredNode = (pkg: Published): string => {
  const manifest = JSON.parse(Fs.readFileSync(Path.join(root, "packages", pkg, "package.json"), "utf8")) as {
    readonly engines: { readonly node: string }
  }
  const match = /^>=(\d+\.\d+\.\d+)$/.exec(manifest.engines.node)
  if (match === null) throw new Error(`packages/${pkg}: engines.node must be ">=X.Y.Z", is ${manifest.engines.node}`)
  return match[1]!
}

/** A finished process. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** The environment for npm and the programs: without what pnpm sets for its own scripts. */
export const cleanEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(npm_|PNPM_|pnpm_)/i.test(name) || name === "KUBECONFIG" || name.startsWith("LEASEKIT_")) continue
    env[name] = value
  }
  return { ...env, ...extra }
}

/** Runs `command args…` in `cwd` to completion within `timeoutMs`. */
export const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs?: number }
): Effect.Effect<Ended> =>
  Effect.callback<Ended>((resume) => {
    const child = ChildProcess.spawn(command, [...args], {
      cwd: options.cwd,
      env: options.env ?? cleanEnv(),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      stderr += `\n[killed: ${command} ${args.join(" ")} did not end within ${options.timeoutMs ?? 120_000} ms]`
      child.kill("SIGKILL")
    }, options.timeoutMs ?? 120_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code: null, signal: null, stdout, stderr: `${stderr}${error.message}` }))
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Fails with the process's output unless it exited 0. */
export const ok = (what: string) => (ended: Ended): Effect.Effect<Ended> =>
  ended.code === 0
    ? Effect.succeed(ended)
    : Effect.die(new Error(`${what} exited ${ended.code ?? ended.signal}\n--- stdout\n${ended.stdout}\n--- stderr\n${ended.stderr}`))

/** What a test file can use. */
export interface ConsumerService {
  /** A temporary folder outside the workspace, removed with the layer. */
  readonly dir: string
  /** The packed tarballs, by package folder. */
  readonly tarballs: Readonly<Record<Published, string>>
  /** The version the packages were packed at. */
  readonly versions: Readonly<Record<Published, string>>
  /** `node` binaries by version: the lowest declared ones and this process's own. */
  readonly nodes: ReadonlyMap<string, string>
  /** Installs `app` (a folder with a package.json) with `@leasekit/*` from the tarballs. */
  readonly install: (app: string) => Effect.Effect<void>
  /** The npm flag that takes `@leasekit/*` from the tarballs: `--@leasekit:registry=http://127.0.0.1:…/`. */
  readonly registryFlag: string
}

/** @category tags */
export class Consumer extends Context.Service<Consumer, ConsumerService>()("leasekit/test/Consumer") {}

const pnpm = ["--yes", "pnpm@12.21.0"]

/** Packs every published package into `into`; the tarball of each, by folder. */
const pack = (into: string) =>
  Effect.gen(function*() {
    const tarballs: Partial<Record<Published, string>> = {}
    const versions: Partial<Record<Published, string>> = {}
    for (const pkg of published) {
      const cwd = Path.join(root, "packages", pkg)
      if (!Fs.existsSync(Path.join(cwd, "dist"))) {
        return yield* Effect.die(new Error(`packages/${pkg}/dist is missing: run \`pnpm build\` first (pnpm test:consumer does)`))
      }
      const ended = yield* exec("npx", [...pnpm, "pack", "--pack-destination", into], { cwd, env: cleanEnv() }).pipe(
        Effect.flatMap(ok(`pnpm pack in packages/${pkg}`))
      )
      const tarball = ended.stdout.trim().split("\n").pop()!.trim()
      if (!Fs.existsSync(tarball)) return yield* Effect.die(new Error(`pnpm pack did not say where the tarball is:\n${ended.stdout}`))
      tarballs[pkg] = tarball
      versions[pkg] = (JSON.parse(Fs.readFileSync(Path.join(cwd, "package.json"), "utf8")) as { version: string }).version
    }
    return { tarballs: tarballs as Record<Published, string>, versions: versions as Record<Published, string> }
  })

const npmInstall = (cwd: string, args: ReadonlyArray<string> = []) =>
  exec("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...args], { cwd, timeoutMs: 300_000 }).pipe(
    Effect.flatMap(ok(`npm install in ${cwd}`))
  )

/** Installs the lowest declared Node versions (npm package `node`) under `into`. */
const installNodes = (into: string) =>
  Effect.gen(function*() {
    const versions = [...new Set(published.map(declaredNode))]
    Fs.mkdirSync(into, { recursive: true })
    Fs.writeFileSync(Path.join(into, "package.json"), JSON.stringify({ name: "nodes", private: true }))
    yield* npmInstall(into, versions.map((v) => `node-${v}@npm:node@${v}`))
    const nodes = new Map<string, string>([[process.versions.node, process.execPath]])
    for (const v of versions) nodes.set(v, Path.join(into, "node_modules", `node-${v}`, "bin", "node"))
    return nodes
  })

/**
 * Serves the tarballs as the `@leasekit` scope of an npm registry, on loopback, for the scope.
 * Only what npm asks for when installing is answered: `GET /@leasekit%2f<name>` (the package
 * document: one version, `latest`, its manifest, the tarball's URL, sha1 and sha512 integrity) and
 * `GET /tarballs/<file>`; anything else is a 404.
 */
const registry = (tarballs: Readonly<Record<Published, string>>) =>
  Effect.acquireRelease(
    Effect.callback<Http.Server>((resume) => {
      const documents = new Map<string, (base: string) => unknown>()
      const files = new Map<string, string>()
      for (const pkg of published) {
        const tarball = tarballs[pkg]
        const bytes = Fs.readFileSync(tarball)
        const manifest = JSON.parse(ChildProcess.execFileSync("tar", ["xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as {
          readonly name: string
          readonly version: string
        }
        files.set(Path.basename(tarball), tarball)
        documents.set(manifest.name, (base) => ({
          name: manifest.name,
          "dist-tags": { latest: manifest.version },
          versions: {
            [manifest.version]: {
              ...manifest,
              _id: `${manifest.name}@${manifest.version}`,
              dist: {
                tarball: `${base}/tarballs/${Path.basename(tarball)}`,
                shasum: Crypto.createHash("sha1").update(bytes).digest("hex"),
                integrity: `sha512-${Crypto.createHash("sha512").update(bytes).digest("base64")}`
              }
            }
          }
        }))
      }
      const server = Http.createServer((request, response) => {
        const base = `http://${request.headers.host}`
        const path = decodeURIComponent(new URL(request.url ?? "/", base).pathname)
        const document = documents.get(path.slice(1))
        if (request.method === "GET" && document !== undefined) {
          response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(document(base)))
          return
        }
        const file = path.startsWith("/tarballs/") ? files.get(path.slice("/tarballs/".length)) : undefined
        if (request.method === "GET" && file !== undefined) {
          response.writeHead(200, { "content-type": "application/octet-stream" }).end(Fs.readFileSync(file))
          return
        }
        response.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not found" }))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as { port: number }).port}/`))

/**
 * Packs the packages and installs the declared Node versions, once for a test file.
 *
 * @category layers
 */
export const layer: Layer.Layer<Consumer> = Layer.effect(
  Consumer,
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-consumer-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const packs = Path.join(dir, "packs")
    Fs.mkdirSync(packs)
    const { tarballs, versions } = yield* pack(packs)
    const nodes = yield* installNodes(Path.join(dir, "nodes"))
    const fromTarballs = Object.fromEntries(published.map((pkg) => [`@leasekit/${pkg}`, `file:${tarballs[pkg]}`]))
    const install = (app: string) =>
      Effect.gen(function*() {
        const manifestPath = Path.join(app, "package.json")
        const manifest = JSON.parse(Fs.readFileSync(manifestPath, "utf8")) as {
          dependencies?: Record<string, string>
          devDependencies?: Record<string, string>
          overrides?: Record<string, string>
        }
        for (const field of ["dependencies", "devDependencies"] as const) {
          for (const name of Object.keys(manifest[field] ?? {})) {
            if (name in fromTarballs) manifest[field]![name] = fromTarballs[name]!
          }
        }
        manifest.overrides = { ...manifest.overrides, ...fromTarballs }
        Fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`)
        yield* npmInstall(app)
      })
    const url = yield* registry(tarballs)
    return { dir, tarballs, versions, nodes, install, registryFlag: `--@leasekit:registry=${url}` }
  }).pipe(Effect.orDie)
)

/** Copies `from` (a folder of the repository) to `to`, without `node_modules`. */
export const copyFolder = (from: string, to: string): void =>
  Fs.cpSync(from, to, { recursive: true, filter: (source) => !source.split(Path.sep).includes("node_modules") })
