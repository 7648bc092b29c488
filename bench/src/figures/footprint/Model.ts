/**
 * What figure 7 (footprint) records: the start-up runs, the processes holding a lease (the CLI,
 * the library process and its variants, client-go), the run inside a memory limit, and what the
 * library process loads — and the medians RESULTS.md quotes from them. Types and constants only,
 * plus `medians`; measuring is in the sibling modules, rendering in `Section.ts` and `Findings.ts`.
 */
import { summarize } from "../../Statistics.ts"

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
