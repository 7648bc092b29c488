/**
 * Figure 7 — footprint: what the installed CLI and a library process cost in time and memory,
 * whole process, beside `node -e 0` and the client-go contender in the same run (issue 19).
 *
 * What is measured is what a user installs. The workspace is built here (`pnpm build` at the root,
 * so that what is installed is the commit measured), @leasekit/core, @leasekit/kubernetes and
 * @leasekit/cli are packed with pnpm and installed with npm into a temporary app outside the
 * workspace (npm `overrides` take every @leasekit/* from the tarballs; every other package comes
 * from the registry the machine's npm is configured with). Every Node program runs on the bench's
 * own Node (`process.execPath`, put first on `PATH` for the CLI's `#!/usr/bin/env node`).
 *
 * - Start-up: `node -e 0` (the floor), `leasekit --version`, `leasekit --help`, `true` (what
 *   spawning and reaping a process through GNU time costs; it is in every wall time), and a node
 *   process that only imports `effect/Effect`, `@leasekit/core/Lease` or
 *   `@leasekit/kubernetes/KubernetesLeaseStore` (what loading the library costs before it does
 *   anything), `runs` times each, interleaved, after one unmeasured warm-up of each. Wall time
 *   from spawn to exit as the bench sees it; peak RSS as the kernel accounts it for the exited
 *   process (GNU time's `%M`: wait4's `ru_maxrss`, the process's VmHWM).
 * - Holding one lease on the bench's control plane for `holdSeconds`: `leasekit run NAME -- sh -c
 *   'echo token=$LEASEKIT_TOKEN; sleep N; echo done'`, a library process (`hold.mjs` below:
 *   `Lease.acquire` over `KubernetesLeaseStore`, deep imports) and the client-go contender. VmRSS
 *   (and RssAnon) of the process that holds the lease (leasekit's node process, not its CMD) every
 *   250 ms: the steady RSS is the median of the samples taken while the lease was held, the peak
 *   the VmHWM at the last sample. The library process runs as installed (`node hold.mjs`, the
 *   goal's row) and, one after the other with the same sampling, with `--max-semi-space-size=1`
 *   (V8's young generation kept small), with `--lite-mode`, and bundled by esbuild into one file
 *   as an application would ship it (`hold.bundle.mjs`, from the installed packages; esbuild is the
 *   workspace root's), plain and with `--lite-mode`. Each prints its own profile once,
 *   `min(4, holdSeconds / 2)` s after it holds the lease: `process.memoryUsage()` and V8's heap
 *   spaces. The files each script loads are counted in separate short runs with a
 *   `module.registerHooks` preload, so that no measured process carries the hooks.
 * - `leasekit run` in a memory cgroup limited to 128 MiB, entered by a shell that then `exec`s the
 *   CLI: cgroup v2 `memory.max` (and `memory.swap.max` 0) where a v2 hierarchy offers the memory
 *   controller to new groups, else v1 `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes`,
 *   so that swap does not hide the limit). Recorded: whether the lease was held, how the CLI
 *   exited, the cgroup's peak usage, how often usage hit the limit, OOM kills. The cgroup is
 *   removed afterwards. Where none can be made, the reason is recorded and the plain run's peak
 *   RSS stands in; the figure does not fail for it.
 *
 * Not measured: CPU time, what the memory consists of (figure 5 takes a process holding many
 * leases apart), `npx` or global-install shims, other Node versions. RSS counts file pages mapped
 * by the process (the node binary, libc) in full. A cgroup's usage counts the page cache charged
 * to it, i.e. first brought in from inside it: the node binary, already cached by the runs before,
 * is not charged to it (a cold binary's readahead would be, and is reclaimable).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import * as Url from "node:url"
import type { Bench } from "../Bench.ts"
import { joinAndLead, sleep } from "../Bench.ts"
import { spawn, stop, track } from "../Contenders.ts"
import { summarize } from "../Statistics.ts"

/** Modules a library process imports, each measured alone (the later ones import the earlier). */
export const imported = ["effect/Effect", "@leasekit/core/Lease", "@leasekit/kubernetes/KubernetesLeaseStore"] as const

export type StartupCommand = "node -e 0" | "leasekit --version" | "leasekit --help" | "true" | `import ${typeof imported[number]}`

export interface StartupResult {
  readonly command: StartupCommand
  /** From spawn to exit, one per run. */
  readonly wallMs: ReadonlyArray<number>
  /** VmHWM of the exited process, one per run. */
  readonly peakRssMiB: ReadonlyArray<number>
  /** Runs that did not exit 0 (not counted above), with the end of their output. */
  readonly failures: ReadonlyArray<string>
}

/**
 * The library process (`hold.mjs`) as measured: plain (`library`, the row the goal is judged on),
 * with V8 flags, and bundled by esbuild into one file as an application would ship it.
 */
export const libraryVariants = [
  { holder: "library", slug: "library", script: "hold.mjs", flags: [] },
  { holder: "library --max-semi-space-size=1", slug: "library-semi", script: "hold.mjs", flags: ["--max-semi-space-size=1"] },
  { holder: "library --lite-mode", slug: "library-lite", script: "hold.mjs", flags: ["--lite-mode"] },
  { holder: "library bundled", slug: "library-bundled", script: "hold.bundle.mjs", flags: [] },
  { holder: "library bundled --lite-mode", slug: "library-bundled-lite", script: "hold.bundle.mjs", flags: ["--lite-mode"] }
] as const

export type LibraryVariant = typeof libraryVariants[number]
export type Holder = "leasekit run" | "leasekit run, no process flags" | LibraryVariant["holder"] | "client-go"

/** One V8 heap space as `v8.getHeapSpaceStatistics()` reports it, bytes. */
export interface HeapSpace {
  /** `space_size`: what V8 has reserved and committed for the space. */
  readonly committed: number
  /** `space_used_size`: what live and not yet collected objects take. */
  readonly used: number
  /** `physical_space_size`: the committed pages actually touched. */
  readonly resident: number
}

/** What a library process reports about itself while it holds the lease (`profile=` line), bytes. */
export interface ProcessProfile {
  /** Seconds after the lease was held. */
  readonly afterSeconds: number
  /** `process.memoryUsage()`. */
  readonly rss: number
  readonly heapTotal: number
  readonly heapUsed: number
  readonly external: number
  /** By V8's space name: `new_space` (the young generation), `old_space`, `code_space`, … */
  readonly spaces: Readonly<Record<string, HeapSpace>>
  /** Taken as the script's static imports had loaded, before it ran: RSS and `new_space` committed. */
  readonly loaded: { readonly rss: number; readonly youngCommitted: number }
}

/** The files a process loaded over its life (`modules=` line of a counting run). */
export interface ModuleCount {
  readonly files: number
  /** Their size on disk. */
  readonly bytes: number
  /** By package (`(app)`: the app's own files). */
  readonly byPackage: Readonly<Record<string, { readonly files: number; readonly bytes: number }>>
}

export interface HoldingResult {
  readonly holder: Holder
  readonly held: boolean
  /** The fencing token (leasekit only). */
  readonly token?: number | undefined
  /** From spawn to the lease held. */
  readonly heldAfterSeconds: number
  /** VmRSS samples taken while the lease was held, and RssAnon (memory not backed by a file) with them. */
  readonly rssMiB: ReadonlyArray<number>
  readonly anonMiB: ReadonlyArray<number>
  /** VmHWM at the last sample. */
  readonly peakRssMiB: number
  /** How the process ended: `exit 0`, `SIGKILL`, … (client-go: stopped by the bench). */
  readonly exit: string
  readonly failure?: string | undefined
  /** Node's flags on the holding process's command line once it held the lease (Node processes). */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
  /** What the process reported about itself while holding (library processes only). */
  readonly profile?: ProcessProfile | undefined
}

export interface MemoryLimitResult {
  readonly mechanism: "cgroup v2" | "cgroup v1" | "none"
  /** Why no cgroup could be used (mechanism `none`). */
  readonly reason?: string | undefined
  /** The limit in force, as read back from the cgroup. */
  readonly limitBytes: number
  /** Whether swap was limited too (v1 memsw, v2 memory.swap.max). */
  readonly swapLimited: boolean
  /** The `leasekit run` inside the limit (mechanism `none`: the plain run). */
  readonly run: HoldingResult
  /** v1 memory.max_usage_in_bytes, v2 memory.peak (kernel 5.19 and later). */
  readonly peakUsageBytes?: number | undefined
  /** Times usage hit the limit: v1 memory.failcnt, v2 memory.events `max`. */
  readonly failcnt?: number | undefined
  /** v1 memory.oom_control `oom_kill`, v2 memory.events `oom_kill`. */
  readonly oomKills?: number | undefined
}

export interface FootprintResult {
  readonly runs: number
  readonly holdSeconds: number
  /** What `leasekit --version` printed. */
  readonly cliVersion: string
  /** The installed app's node_modules on disk, and the CLI's JavaScript (its dist/*.js). */
  readonly installedMiB: number
  readonly cliBundleKiB: number
  readonly startup: ReadonlyArray<StartupResult>
  readonly holding: ReadonlyArray<HoldingResult>
  readonly memoryLimit: MemoryLimitResult
  /** The esbuild bundle of `hold.mjs` (absent from results written before it existed). */
  readonly libraryBundleKiB?: number | undefined
  /**
   * What `hold.mjs` and its bundle load, counted in separate runs of each (a counting preload in
   * the measured runs would change what they measure), or why it could not be counted.
   */
  readonly modules?: Readonly<Record<LibraryVariant["script"], ModuleCount | string>> | undefined
}

export const memoryLimitBytes = 128 * 2 ** 20

const pnpm = "pnpm@12.21.0"
const packed = ["@leasekit/core", "@leasekit/kubernetes", "@leasekit/cli"] as const

/**
 * The library process: holds one lease as an application would (deep imports), prints
 * `token=N` once held, `profile={…}` (its own view of its memory, `ProcessProfile`) `profileAfter`
 * seconds later and `done` after `seconds`, then releases it and exits.
 */
const holdScript = `// Written by bench/src/figures/Footprint.ts: one lease held by a plain library process.
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
const countScript = `// Written by bench/src/figures/Footprint.ts: counts the modules this process loads.
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

// ---------------------------------------------------------------------------------------------
// Processes

/** The environment of everything started here: without what pnpm and npm set for the bench's own
 * script, and with the bench's Node first on `PATH`. */
const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_)/i.test(name) || name === "KUBECONFIG" || name === "NODE_OPTIONS" || name.startsWith("LEASEKIT_")) continue
    env[name] = value
  }
  env["PATH"] = `${Path.dirname(process.execPath)}${Path.delimiter}${env["PATH"] ?? ""}`
  return env
}

interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** From spawn to exit (not to the end of its output). */
  readonly wallMs: number
}

/** Runs a command to completion; it is SIGKILLed after `timeoutMs`. */
const exec = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000): Promise<Ended> =>
  new Promise((resolve) => {
    const started = performance.now()
    let wallMs = Number.NaN
    let stdout = ""
    let stderr = ""
    const child = track(ChildProcess.spawn(command, [...args], { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] }))
    child.once("exit", () => (wallMs = performance.now() - started))
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      stderr += `\n[killed: did not end within ${timeoutMs} ms]`
      child.kill("SIGKILL")
    }, timeoutMs)
    const end = (code: number | null, signal: NodeJS.Signals | null, error = "") => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr: stderr + error, wallMs })
    }
    child.once("error", (error) => end(null, null, error.message))
    child.once("close", (code, signal) => end(code, signal))
  })

const lastLines = (text: string, n = 5) => text.trim().split("\n").slice(-n).join(" / ")

/** The process's result when it exited 0; otherwise an error with the end of its output. */
const checked = (what: string, ended: Ended): Ended => {
  if (ended.code === 0) return ended
  throw new Error(`${what} exited ${ended.code ?? ended.signal}: ${lastLines(ended.stderr || ended.stdout)}`)
}

const describeExit = (code: number | null, signal: NodeJS.Signals | null) => (signal !== null ? signal : `exit ${code}`)

// ---------------------------------------------------------------------------------------------
// Installing

interface Installed {
  readonly app: string
  /** The installed executable, `node_modules/.bin/leasekit`. */
  readonly leasekit: string
  readonly installedMiB: number
  readonly cliBundleKiB: number
  /** `hold.bundle.mjs`, `hold.mjs` bundled. */
  readonly libraryBundleKiB: number
  /** The counting preload, as a URL for `--import`. */
  readonly countModules: string
}

const bytesOnDisk = (path: string): number => {
  const stat = Fs.lstatSync(path)
  return stat.isDirectory() ? Fs.readdirSync(path).reduce((sum, entry) => sum + bytesOnDisk(Path.join(path, entry)), 0) : stat.size
}

/**
 * Bundles the installed app's `hold.mjs` into `hold.bundle.mjs` as an application would ship it:
 * esbuild (the workspace's, the one that bundles the CLI) with the installed packages as input,
 * one ESM file for Node, `@kubernetes/client-node` left out (as the CLI leaves it out) and a
 * `require` for the CommonJS dependencies' imports of Node built-ins. Its size, KiB.
 */
const bundleHold = async (app: string): Promise<number> => {
  const esbuild = await import("esbuild")
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: ["hold.mjs"],
    outfile: "hold.bundle.mjs",
    bundle: true,
    platform: "node",
    format: "esm",
    external: ["@kubernetes/client-node"],
    banner: { js: "import { createRequire as __holdRequire } from \"node:module\"; const require = __holdRequire(import.meta.url);" },
    logLevel: "warning"
  })
  return Fs.statSync(Path.join(app, "hold.bundle.mjs")).size / 1024
}

/**
 * Builds the workspace, packs the three packages, installs them into `<dir>/app` and bundles the
 * library process there.
 */
const install = async (bench: Bench, dir: string): Promise<Installed> => {
  const root = Path.resolve(bench.spawnContext.benchDir, "..")
  checked("pnpm build", await exec("npx", ["--yes", pnpm, "build"], root, 600_000))
  const packs = Path.join(dir, "packs")
  Fs.mkdirSync(packs)
  const fromTarballs: Record<string, string> = {}
  for (const name of packed) {
    const ended = checked(
      `pnpm pack ${name}`,
      await exec("npx", ["--yes", pnpm, "--filter", name, "pack", "--pack-destination", packs], root)
    )
    const tarball = ended.stdout.trim().split("\n").pop()!.trim()
    if (!Fs.existsSync(tarball)) throw new Error(`pnpm pack ${name} did not say where the tarball is: ${lastLines(ended.stdout)}`)
    fromTarballs[name] = `file:${tarball}`
  }
  const app = Path.join(dir, "app")
  Fs.mkdirSync(app)
  // effect at the version the workspace builds and tests with (the library script imports it)
  const effect = (JSON.parse(Fs.readFileSync(Path.join(bench.spawnContext.benchDir, "node_modules", "effect", "package.json"), "utf8")) as {
    readonly version: string
  }).version
  const manifest = { name: "leasekit-footprint", private: true, type: "module", dependencies: { ...fromTarballs, effect }, overrides: fromTarballs }
  Fs.writeFileSync(Path.join(app, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
  Fs.writeFileSync(Path.join(app, "hold.mjs"), holdScript)
  Fs.writeFileSync(Path.join(app, "count-modules.mjs"), countScript)
  checked("npm install", await exec("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], app, 600_000))
  const dist = Path.join(app, "node_modules", "@leasekit", "cli", "dist")
  const cliBundle = Fs.readdirSync(dist).filter((f) => f.endsWith(".js")).reduce((sum, f) => sum + Fs.statSync(Path.join(dist, f)).size, 0)
  return {
    app,
    leasekit: Path.join(app, "node_modules", ".bin", "leasekit"),
    installedMiB: bytesOnDisk(Path.join(app, "node_modules")) / 2 ** 20,
    cliBundleKiB: cliBundle / 1024,
    libraryBundleKiB: await bundleHold(app),
    countModules: Url.pathToFileURL(Path.join(app, "count-modules.mjs")).href
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up

const startup = async (installed: Installed, dir: string, runs: number): Promise<Array<StartupResult>> => {
  const commands: ReadonlyArray<readonly [StartupCommand, ReadonlyArray<string>]> = [
    ["node -e 0", [process.execPath, "-e", "0"]],
    ["leasekit --version", [installed.leasekit, "--version"]],
    ["leasekit --help", [installed.leasekit, "--help"]],
    ["true", ["true"]],
    ...imported.map((module) => [`import ${module}`, [process.execPath, "--input-type=module", "-e", `await import("${module}")`]] as const)
  ]
  const timeFile = Path.join(dir, "time.out")
  const results = commands.map(([command, argv]) => ({
    command,
    argv,
    wallMs: [] as Array<number>,
    peakRssMiB: [] as Array<number>,
    failures: [] as Array<string>
  }))
  // Round -1 warms the page cache and is not counted; then one of each per round.
  for (let round = -1; round < runs; round++) {
    for (const result of results) {
      const ended = await exec("/usr/bin/time", ["-o", timeFile, "-f", "%M", ...result.argv], installed.app)
      if (round < 0) continue
      if (ended.code !== 0) {
        result.failures.push(`${describeExit(ended.code, ended.signal)}: ${lastLines(ended.stderr || ended.stdout, 3)}`)
        continue
      }
      // GNU time may put a line about the exit status first; %M (KiB) is the last line.
      const kib = Number(Fs.readFileSync(timeFile, "utf8").trim().split("\n").pop())
      result.wallMs.push(ended.wallMs)
      result.peakRssMiB.push(kib / 1024)
    }
  }
  return results.map(({ argv: _, ...result }) => result)
}

// ---------------------------------------------------------------------------------------------
// Holding a lease

/** VmRSS, RssAnon and VmHWM of a live process, MiB. */
const memoryOf = (pid: number): { readonly rss: number; readonly anon: number; readonly hwm: number } | undefined => {
  let status: string
  try {
    status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
  } catch {
    return undefined
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN)
  const rss = kib("VmRSS")
  return Number.isNaN(rss) ? undefined : { rss: rss / 1024, anon: kib("RssAnon") / 1024, hwm: kib("VmHWM") / 1024 }
}

/** Samples a process's memory every 250 ms until `stop`. */
const sampleMemory = (pid: number) => {
  const samples: Array<{ readonly at: number; readonly rss: number; readonly anon: number }> = []
  let peak = Number.NaN
  const take = () => {
    const memory = memoryOf(pid)
    if (memory === undefined) return
    samples.push({ at: performance.now(), rss: memory.rss, anon: memory.anon })
    peak = memory.hwm
  }
  take()
  const timer = setInterval(take, 250)
  return {
    /** The samples taken between `from` and `to` (performance.now()). */
    between: (from: number, to: number) => {
      const taken = samples.filter((s) => s.at >= from && s.at <= to)
      return { rssMiB: taken.map((s) => s.rss), anonMiB: taken.map((s) => s.anon) }
    },
    peak: () => peak,
    stop: () => clearInterval(timer)
  }
}

const leaseName = (what: string) => `f7-${what}-${Date.now().toString(36)}`

/** The flags before the script on a live node process's command line, if it is one. */
const nodeFlagsOf = (pid: number): Array<string> | undefined => {
  const argv = (read(`/proc/${pid}`, "cmdline") ?? "").split("\0").filter((arg) => arg !== "")
  if (argv[0] === undefined || Path.basename(argv[0]) !== "node") return undefined
  const script = argv.findIndex((arg, i) => i > 0 && !arg.startsWith("-"))
  return argv.slice(1, script < 0 ? argv.length : script)
}

/** `key={json}` from a line of a holder's output, if the line is one. */
const reported = (line: string, key: "profile" | "modules"): unknown => {
  if (!line.startsWith(`${key}=`)) return undefined
  try {
    return JSON.parse(line.slice(key.length + 1)) as unknown
  } catch {
    return undefined
  }
}

/**
 * Follows a process that prints `token=N` once it holds the lease and `done` when it lets go,
 * then exits by itself (SIGKILLed if it is still running `holdSeconds + 90` s after the start);
 * samples its memory meanwhile and keeps what it reports about itself (`profile=`, `modules=`).
 */
const followHolder = async (
  holder: Holder,
  child: ChildProcess.ChildProcess,
  holdSeconds: number,
  log: string
): Promise<HoldingResult & { readonly modules?: ModuleCount | undefined }> => {
  const started = performance.now()
  if (child.pid === undefined) throw new Error(`${holder}: the process did not start (see ${log})`)
  const memory = sampleMemory(child.pid)
  let heldAt: number | undefined
  let doneAt: number | undefined
  let token: number | undefined
  let profile: ProcessProfile | undefined
  let modules: ModuleCount | undefined
  let nodeFlags: Array<string> | undefined
  const output = Readline.createInterface({ input: child.stdout! })
  output.on("line", (line) => {
    const held = /^token=(\d+)$/.exec(line.trim())
    if (held !== null && heldAt === undefined) {
      heldAt = performance.now()
      token = Number(held[1])
      nodeFlags = nodeFlagsOf(child.pid!)
    }
    if (line.trim() === "done" && doneAt === undefined) doneAt = performance.now()
    profile ??= reported(line, "profile") as ProcessProfile | undefined
    modules ??= reported(line, "modules") as ModuleCount | undefined
  })
  const ended = new Promise<void>((resolve) => output.once("close", resolve))
  const timer = setTimeout(() => child.kill("SIGKILL"), (holdSeconds + 90) * 1000)
  const exit = await new Promise<string>((resolve) => child.once("exit", (code, signal) => resolve(describeExit(code, signal))))
  clearTimeout(timer)
  memory.stop()
  // what it printed last (`modules=`, as it exits) may still be in the pipe
  await Promise.race([ended, sleep(2_000)])
  const failure = heldAt === undefined
    ? `did not hold the lease (${exit}): ${lastLines(Fs.readFileSync(log, "utf8"), 3)}`
    : exit !== "exit 0"
    ? `ended with ${exit}: ${lastLines(Fs.readFileSync(log, "utf8"), 3)}`
    : undefined
  return {
    holder,
    held: heldAt !== undefined,
    token,
    heldAfterSeconds: heldAt === undefined ? Number.NaN : (heldAt - started) / 1000,
    ...(heldAt === undefined ? { rssMiB: [], anonMiB: [] } : memory.between(heldAt, doneAt ?? Number.POSITIVE_INFINITY)),
    peakRssMiB: memory.peak(),
    exit,
    failure,
    nodeFlags,
    profile,
    modules
  }
}

/** A log file for a process's stderr, in the run's folder. */
const logFile = (bench: Bench, name: string) => Path.join(bench.outDir, `footprint-${name}.log`)

/** Starts `argv` with stdout piped and stderr into `log`, `env` added to the clean environment. */
const start = (argv: ReadonlyArray<string>, cwd: string, log: string, env: NodeJS.ProcessEnv = {}) => {
  const stderr = Fs.openSync(log, "a")
  const child = track(ChildProcess.spawn(argv[0]!, argv.slice(1), { cwd, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", stderr] }))
  Fs.closeSync(stderr)
  return child
}

/** `leasekit run` arguments holding `name` while CMD prints the token and sleeps. */
const runArgs = (bench: Bench, name: string, holdSeconds: number) => [
  "run",
  "--kubeconfig",
  bench.spawnContext.kubeconfig,
  "-n",
  bench.namespace,
  "--quiet",
  name,
  "--",
  "sh",
  "-c",
  `echo token=$LEASEKIT_TOKEN; sleep ${holdSeconds}; echo done`
]

/**
 * `leasekit run` as installed; with `processFlags: false`, without the Node flags the CLI gives
 * itself (`LEASEKIT_NODE_FLAGS=`), to measure what they are worth.
 */
const cliRun = (bench: Bench, installed: Installed, holdSeconds: number, processFlags = true) => {
  const name = processFlags ? "run" : "run-no-flags"
  const log = logFile(bench, name)
  const env = processFlags ? {} : { LEASEKIT_NODE_FLAGS: "" }
  const child = start([installed.leasekit, ...runArgs(bench, leaseName(name), holdSeconds)], installed.app, log, env)
  return followHolder(processFlags ? "leasekit run" : "leasekit run, no process flags", child, holdSeconds, log)
}

/** The library process reports its profile this long after it holds the lease. */
const profileAfter = (holdSeconds: number) => Math.min(4, holdSeconds / 2)

/** `hold.mjs` (or its bundle) holding a lease for `holdSeconds`; `preload` only for counting. */
const holdArgv = (bench: Bench, variant: LibraryVariant, holdSeconds: number, preload: ReadonlyArray<string> = []) => [
  process.execPath,
  ...variant.flags,
  ...preload,
  variant.script,
  bench.spawnContext.kubeconfig,
  bench.namespace,
  leaseName(variant.slug.replace("library", "lib")),
  String(holdSeconds),
  String(profileAfter(holdSeconds))
]

const library = async (bench: Bench, installed: Installed, variant: LibraryVariant, holdSeconds: number): Promise<HoldingResult> => {
  const log = logFile(bench, variant.slug)
  const { modules: _, ...result } = await followHolder(variant.holder, start(holdArgv(bench, variant, holdSeconds), installed.app, log), holdSeconds, log)
  return result
}

/**
 * What the library process loads: `hold.mjs` and its bundle each run once more, briefly, with
 * the counting preload (not measured), or why the count failed.
 */
const countModules = async (bench: Bench, installed: Installed): Promise<Record<LibraryVariant["script"], ModuleCount | string>> => {
  const counted: Partial<Record<LibraryVariant["script"], ModuleCount | string>> = {}
  for (const variant of libraryVariants.filter((v) => v.flags.length === 0)) {
    const log = logFile(bench, `${variant.slug}-count`)
    const argv = holdArgv(bench, variant, 2, ["--import", installed.countModules])
    const ended = await followHolder(variant.holder, start(argv, installed.app, log), 2, log)
    counted[variant.script] = ended.modules ?? `no count (${ended.failure ?? ended.exit})`
  }
  return counted as Record<LibraryVariant["script"], ModuleCount | string>
}

/** The client-go contender (`--serve`, one `join`), held for `holdSeconds`, then stopped. */
const clientgo = async (bench: Bench, holdSeconds: number): Promise<HoldingResult> => {
  const started = performance.now()
  const c = await spawn(bench.spawnContext, "client-go")
  const memory = sampleMemory(c.pid)
  try {
    await joinAndLead(c, { name: leaseName("clientgo"), namespace: bench.namespace })
    const heldAt = performance.now()
    await sleep(holdSeconds * 1000)
    return {
      holder: "client-go",
      held: true,
      heldAfterSeconds: (heldAt - started) / 1000,
      ...memory.between(heldAt, Number.POSITIVE_INFINITY),
      peakRssMiB: memory.peak(),
      exit: "stopped by the bench"
    }
  } catch (error) {
    return {
      holder: "client-go",
      held: false,
      heldAfterSeconds: Number.NaN,
      rssMiB: [],
      anonMiB: [],
      peakRssMiB: memory.peak(),
      exit: "stopped by the bench",
      failure: String(error)
    }
  } finally {
    memory.stop()
    await stop(c)
  }
}

// ---------------------------------------------------------------------------------------------
// The 128 MiB limit

interface Cgroup {
  readonly mechanism: "cgroup v2" | "cgroup v1"
  readonly dir: string
  readonly swapLimited: boolean
}

const read = (dir: string, file: string): string | undefined => {
  try {
    return Fs.readFileSync(Path.join(dir, file), "utf8")
  } catch {
    return undefined
  }
}
const readNumber = (dir: string, file: string) => {
  const text = read(dir, file)
  return text === undefined ? undefined : Number(text.trim())
}
/** `key N` from a flat-keyed file (memory.events, memory.oom_control). */
const readKey = (dir: string, file: string, key: string) => {
  const match = new RegExp(`^${key} (\\d+)$`, "m").exec(read(dir, file) ?? "")
  return match === null ? undefined : Number(match[1])
}
const message = (error: unknown) => (error instanceof Error ? error.message : String(error))

/** Mounted cgroup hierarchies: v2, and v1 with their controllers. */
const cgroupMounts = () =>
  (read("/proc/self", "mounts") ?? "").split("\n").map((line) => line.split(" ")).filter((f) => f[2] === "cgroup2" || f[2] === "cgroup").map((
    f
  ) => ({ dir: f[1]!, version: f[2] === "cgroup2" ? 2 : 1, options: (f[3] ?? "").split(",") }))

/**
 * A new cgroup limited to `limitBytes` — v2 if a v2 hierarchy offers the memory controller to new
 * groups, else v1 — or why none could be made.
 */
const makeCgroup = (limitBytes: number): Cgroup | string => {
  const name = `leasekit-bench-${process.pid}-${Date.now().toString(36)}`
  const reasons: Array<string> = []
  const attempt = (mechanism: Cgroup["mechanism"], parent: string, limit: (dir: string) => boolean): Cgroup | undefined => {
    const dir = Path.join(parent, name)
    try {
      Fs.mkdirSync(dir)
    } catch (error) {
      reasons.push(`${mechanism}: cannot create ${dir} (${message(error)})`)
      return undefined
    }
    try {
      return { mechanism, dir, swapLimited: limit(dir) }
    } catch (error) {
      reasons.push(`${mechanism}: cannot set the limit in ${dir} (${message(error)})`)
      removeEmpty(dir)
      return undefined
    }
  }
  const mounts = cgroupMounts()
  for (const mount of mounts.filter((m) => m.version === 2)) {
    if (!(read(mount.dir, "cgroup.subtree_control") ?? "").split(/\s+/).includes("memory")) {
      reasons.push(`cgroup v2 at ${mount.dir} does not offer the memory controller to new groups`)
      continue
    }
    const made = attempt("cgroup v2", mount.dir, (dir) => {
      Fs.writeFileSync(Path.join(dir, "memory.max"), String(limitBytes))
      if (read(dir, "memory.swap.max") === undefined) return false
      Fs.writeFileSync(Path.join(dir, "memory.swap.max"), "0")
      return true
    })
    if (made !== undefined) return made
  }
  const v1 = mounts.find((m) => m.version === 1 && m.options.includes("memory"))
  if (v1 === undefined) reasons.push("no cgroup v1 memory hierarchy is mounted")
  else {
    const made = attempt("cgroup v1", v1.dir, (dir) => {
      Fs.writeFileSync(Path.join(dir, "memory.limit_in_bytes"), String(limitBytes))
      if (read(dir, "memory.memsw.limit_in_bytes") === undefined) return false
      Fs.writeFileSync(Path.join(dir, "memory.memsw.limit_in_bytes"), String(limitBytes))
      return true
    })
    if (made !== undefined) return made
  }
  return reasons.join("; ")
}

/** Removes a cgroup that has no processes left; false if it could not. */
const removeEmpty = (dir: string): boolean => {
  try {
    Fs.rmdirSync(dir)
    return true
  } catch {
    return false
  }
}

/** SIGKILLs the processes in the cgroup (only this figure's processes are put there). */
const killMembers = (cgroup: Cgroup): void => {
  for (const pid of (read(cgroup.dir, "cgroup.procs") ?? "").split("\n").filter((p) => p !== "").map(Number)) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
}

/** Stops what is left in the cgroup and removes it, within about 5 s; false if it could not. */
const removeCgroup = async (cgroup: Cgroup): Promise<boolean> => {
  for (let attempt = 0; attempt < 50; attempt++) {
    if (removeEmpty(cgroup.dir)) return true
    killMembers(cgroup)
    await sleep(100)
  }
  return false
}

/** The same, synchronously (for the process's `exit` event): spins for at most 2 s. */
const removeCgroupNow = (cgroup: Cgroup): void => {
  killMembers(cgroup)
  const until = Date.now() + 2_000
  while (!removeEmpty(cgroup.dir) && Date.now() < until) {
    // the killed processes leave the cgroup as the kernel finishes them
  }
}

const inMemoryLimit = async (bench: Bench, installed: Installed, holdSeconds: number, plain: HoldingResult): Promise<MemoryLimitResult> => {
  const cgroup = makeCgroup(memoryLimitBytes)
  if (typeof cgroup === "string") {
    bench.log(`  fig 7: no memory cgroup (${cgroup}); the plain run's peak RSS stands in`)
    return { mechanism: "none", reason: cgroup, limitBytes: memoryLimitBytes, swapLimited: false, run: plain }
  }
  // If the bench is stopped meanwhile, the cgroup is removed on the way out (best effort).
  const onExit = () => removeCgroupNow(cgroup)
  process.once("exit", onExit)
  try {
    const log = logFile(bench, "run-limited")
    const argv = [
      "sh",
      "-c",
      `echo $$ > "$1" || exit 97; shift; exec "$@"`,
      "leasekit-in-cgroup",
      Path.join(cgroup.dir, "cgroup.procs"),
      installed.leasekit,
      ...runArgs(bench, leaseName("limited"), holdSeconds)
    ]
    const run = await followHolder("leasekit run", start(argv, installed.app, log), holdSeconds, log)
    const v2 = cgroup.mechanism === "cgroup v2"
    return {
      mechanism: cgroup.mechanism,
      limitBytes: readNumber(cgroup.dir, v2 ? "memory.max" : "memory.limit_in_bytes") ?? Number.NaN,
      swapLimited: cgroup.swapLimited,
      run: run.exit === "exit 97" ? { ...run, failure: `could not enter the cgroup: ${run.failure ?? ""}` } : run,
      peakUsageBytes: readNumber(cgroup.dir, v2 ? "memory.peak" : "memory.max_usage_in_bytes"),
      failcnt: v2 ? readKey(cgroup.dir, "memory.events", "max") : readNumber(cgroup.dir, "memory.failcnt"),
      oomKills: readKey(cgroup.dir, v2 ? "memory.events" : "memory.oom_control", "oom_kill")
    }
  } finally {
    if (!(await removeCgroup(cgroup))) bench.log(`  fig 7: could not remove ${cgroup.dir}`)
    process.removeListener("exit", onExit)
  }
}

// ---------------------------------------------------------------------------------------------

export const run = async (bench: Bench, settings: { readonly runs: number; readonly holdSeconds: number }): Promise<FootprintResult> => {
  const { holdSeconds, runs } = settings
  if (!Fs.existsSync("/usr/bin/time")) throw new Error("/usr/bin/time (GNU time, Debian package `time`) is needed for peak RSS")
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-footprint-"))
  try {
    bench.log("  fig 7: pnpm build, pnpm pack of core, kubernetes and cli, npm install into a temporary app")
    const installed = await install(bench, dir)
    const cliVersion = checked("leasekit --version", await exec(installed.leasekit, ["--version"], installed.app)).stdout.trim()
    bench.log(`  fig 7: installed ${cliVersion}; start-up, ${runs} runs of each`)
    const startupResults = await startup(installed, dir, runs)
    bench.log(
      `  fig 7: holding one lease for ${holdSeconds} s: leasekit run (with and without its process flags), ${
        libraryVariants.map((v) => v.holder).join(", ")
      }, client-go, leasekit run in a 128 MiB cgroup`
    )
    const plain = await cliRun(bench, installed, holdSeconds)
    const holding = [plain, await cliRun(bench, installed, holdSeconds, false)]
    for (const variant of libraryVariants) holding.push(await library(bench, installed, variant, holdSeconds))
    holding.push(await clientgo(bench, holdSeconds))
    const memoryLimit = await inMemoryLimit(bench, installed, holdSeconds, plain)
    bench.log("  fig 7: the modules the library process loads (hold.mjs and its bundle once more, with a counting preload)")
    const modules = await countModules(bench, installed)
    return {
      runs,
      holdSeconds,
      cliVersion,
      installedMiB: installed.installedMiB,
      cliBundleKiB: installed.cliBundleKiB,
      startup: startupResults,
      holding,
      memoryLimit,
      libraryBundleKiB: installed.libraryBundleKiB,
      modules
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** This figure's medians, as RESULTS.md's goals, table and findings quote them. */
export const medians = (f: FootprintResult) => {
  const ofStartup = (command: StartupCommand) => {
    const result = f.startup.find((x) => x.command === command)
    const wall = summarize(result?.wallMs ?? [])
    return { result, n: wall.n, wallMs: wall.median, peakMiB: summarize(result?.peakRssMiB ?? []).median }
  }
  const ofHolding = (holder: Holder) => {
    const result = f.holding.find((x) => x.holder === holder)
    return { result, steadyMiB: summarize(result?.rssMiB ?? []).median, anonMiB: summarize(result?.anonMiB ?? []).median }
  }
  return {
    floor: ofStartup("node -e 0"),
    version: ofStartup("leasekit --version"),
    help: ofStartup("leasekit --help"),
    spawn: ofStartup("true"),
    imports: imported.map((module) => ({ module, ...ofStartup(`import ${module}`) })),
    run: ofHolding("leasekit run"),
    runNoFlags: ofHolding("leasekit run, no process flags"),
    library: ofHolding("library"),
    /** Every library row, the plain one first. */
    libraries: libraryVariants.map((variant) => ({ variant, ...ofHolding(variant.holder) })),
    semiSpace: ofHolding("library --max-semi-space-size=1"),
    lite: ofHolding("library --lite-mode"),
    bundled: ofHolding("library bundled"),
    bundledLite: ofHolding("library bundled --lite-mode"),
    clientgo: ofHolding("client-go"),
    limited: {
      result: f.memoryLimit.run,
      steadyMiB: summarize(f.memoryLimit.run.rssMiB).median,
      anonMiB: summarize(f.memoryLimit.run.anonMiB).median
    }
  }
}
