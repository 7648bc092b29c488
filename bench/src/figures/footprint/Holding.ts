/**
 * Figure 7's processes holding one lease on the bench's control plane: `leasekit run` as installed
 * (with and without the Node flags the CLI gives itself), the library process (`hold.mjs`) and its
 * variants, and the client-go contender. Each is followed from spawn: when it holds the lease
 * (`token=N`) and lets go (`done`), its VmRSS and RssAnon every 250 ms and its VmHWM, Node's flags
 * on its command line, and what it reports about itself (`profile=`, `modules=`). A process still
 * running 90 s after it should have ended is SIGKILLed; a failure is recorded, not thrown. Each
 * runs through `Process` in the run's scope, registered with the figure's lifeline (`Installed.dir`).
 */
import type { Process } from "@leasekit/testing"
import { Duration, Effect, Fiber, Option, type Scope, Stream } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../../Bench.ts"
import { joinAndLead, sleep } from "../../Bench.ts"
import { spawn, stop } from "../../Contenders.ts"
import type { Installed } from "./Install.ts"
import type { Holder, HoldingResult, LibraryVariant, ModuleCount, ProcessProfile } from "./Model.ts"
import { libraryVariants } from "./Model.ts"
import { describeExit, lastLines, logFile, read, start } from "./Processes.ts"

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

export const leaseName = (what: string) => `f7-${what}-${Date.now().toString(36)}`

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
export const followHolder = (
  holder: Holder,
  spawned: Effect.Effect<Process.Process, Process.ProcessError, Scope.Scope | ChildProcessSpawner>,
  holdSeconds: number,
  log: string
): Effect.Effect<HoldingResult & { readonly modules?: ModuleCount | undefined }, Error, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const child = yield* spawned.pipe(
      Effect.mapError((error) => new Error(`${holder}: the process did not start (see ${log}): ${error.message}`))
    )
    const started = performance.now()
    const memory = yield* Effect.acquireRelease(Effect.sync(() => sampleMemory(child.pid)), (m) => Effect.sync(m.stop))
    let heldAt: number | undefined
    let doneAt: number | undefined
    let token: number | undefined
    let profile: ProcessProfile | undefined
    let modules: ModuleCount | undefined
    let nodeFlags: Array<string> | undefined
    const reading = yield* Effect.forkScoped(Stream.runForEach(child.lines, (line) =>
      Effect.sync(() => {
        const held = /^token=(\d+)$/.exec(line.trim())
        if (held !== null && heldAt === undefined) {
          heldAt = performance.now()
          token = Number(held[1])
          nodeFlags = nodeFlagsOf(child.pid)
        }
        if (line.trim() === "done" && doneAt === undefined) doneAt = performance.now()
        profile ??= reported(line, "profile") as ProcessProfile | undefined
        modules ??= reported(line, "modules") as ModuleCount | undefined
      })))
    const exited = yield* child.exit.pipe(Effect.timeoutOption(Duration.seconds(holdSeconds + 90)))
    const status = Option.isSome(exited) ? exited.value : yield* Effect.andThen(child.signal("SIGKILL"), child.exit)
    const exit = describeExit(status.code, status.signal)
    memory.stop()
    // what it printed last (`modules=`, as it exits) may still be in the pipe
    yield* Fiber.join(reading).pipe(Effect.timeoutOption(Duration.seconds(2)))
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
  })

/** `leasekit run` arguments holding `name` while CMD prints the token and sleeps. */
export const runArgs = (bench: Bench, name: string, holdSeconds: number) => [
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
export const cliRun = (bench: Bench, installed: Installed, holdSeconds: number, processFlags = true) => {
  const name = processFlags ? "run" : "run-no-flags"
  const log = logFile(bench, name)
  const env = processFlags ? {} : { LEASEKIT_NODE_FLAGS: "" }
  const child = start(installed.dir, [installed.leasekit, ...runArgs(bench, leaseName(name), holdSeconds)], installed.app, log, env)
  return bench.spawnContext.processes.run(followHolder(processFlags ? "leasekit run" : "leasekit run, no process flags", child, holdSeconds, log))
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

export const library = async (bench: Bench, installed: Installed, variant: LibraryVariant, holdSeconds: number): Promise<HoldingResult> => {
  const log = logFile(bench, variant.slug)
  const child = start(installed.dir, holdArgv(bench, variant, holdSeconds), installed.app, log)
  const { modules: _, ...result } = await bench.spawnContext.processes.run(followHolder(variant.holder, child, holdSeconds, log))
  return result
}

/**
 * What the library process loads: `hold.mjs` and its bundle each run once more, briefly, with
 * the counting preload (not measured), or why the count failed.
 */
export const countModules = async (bench: Bench, installed: Installed): Promise<Record<LibraryVariant["script"], ModuleCount | string>> => {
  const counted: Partial<Record<LibraryVariant["script"], ModuleCount | string>> = {}
  for (const variant of libraryVariants.filter((v) => v.flags.length === 0)) {
    const log = logFile(bench, `${variant.slug}-count`)
    const argv = holdArgv(bench, variant, 2, ["--import", installed.countModules])
    const ended = await bench.spawnContext.processes.run(followHolder(variant.holder, start(installed.dir, argv, installed.app, log), 2, log))
    counted[variant.script] = ended.modules ?? `no count (${ended.failure ?? ended.exit})`
  }
  return counted as Record<LibraryVariant["script"], ModuleCount | string>
}

/** The client-go contender (`--serve`, one `join`), held for `holdSeconds`, then stopped. */
export const clientgo = async (bench: Bench, holdSeconds: number): Promise<HoldingResult> => {
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
