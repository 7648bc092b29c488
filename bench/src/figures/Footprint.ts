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
 *
 * This module runs the figure and judges issue 19's goals; its parts are in `footprint/`: what it
 * records (`Model.ts`), the processes it starts (`Processes.ts`), the app it installs (`Install.ts`,
 * `Scripts.ts`), start-up (`Startup.ts`), the processes holding a lease (`Holding.ts`), the memory
 * limit (`MemoryLimit.ts`), its section of RESULTS.md (`Section.ts`) and the explanations of its
 * missed goals (`Findings.ts`).
 */
import { Process } from "@leasekit/testing"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Bench } from "../Bench.ts"
import type { Goal } from "../Goal.ts"
import { mib } from "../Markdown.ts"
import type { Results } from "../Results.ts"
import { fmt } from "../Statistics.ts"
import * as Findings from "./footprint/Findings.ts"
import { clientgo, cliRun, countModules, library } from "./footprint/Holding.ts"
import { install } from "./footprint/Install.ts"
import { inMemoryLimit } from "./footprint/MemoryLimit.ts"
import type { FootprintResult } from "./footprint/Model.ts"
import { libraryVariants, medians } from "./footprint/Model.ts"
import { checked, exec } from "./footprint/Processes.ts"
import { startup } from "./footprint/Startup.ts"

export const run = async (bench: Bench, settings: { readonly runs: number; readonly holdSeconds: number }): Promise<FootprintResult> => {
  const { holdSeconds, runs } = settings
  if (!Fs.existsSync("/usr/bin/time")) throw new Error("/usr/bin/time (GNU time, Debian package `time`) is needed for peak RSS")
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-footprint-"))
  // If the bench dies without closing its scope, the lifeline stops the processes registered
  // there and deletes the folder.
  const lifeline = bench.spawnContext.processes.fork()
  try {
    await bench.spawnContext.processes.run(Scope.provide(Process.lifeline(dir, { remove: true }), lifeline))
    bench.log("  fig 7: pnpm build, pnpm pack of core, kubernetes and cli, npm install into a temporary app")
    const installed = await install(bench, dir)
    const cliVersion = checked("leasekit --version", await exec(bench, installed.leasekit, ["--version"], installed.app)).stdout.trim()
    bench.log(`  fig 7: installed ${cliVersion}; start-up, ${runs} runs of each`)
    const startupResults = await startup(bench, installed, dir, runs)
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
    await Effect.runPromise(Scope.close(lifeline, Exit.void))
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Start-up runs of each command and the seconds each holder holds, in the quick and the full run. */
export const settings = {
  quick: { runs: 3, holdSeconds: 8 },
  full: { runs: 10, holdSeconds: 30 }
}

/** Figure 7 in a run. */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  results.footprint = await run(bench, s)
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** The goals issue 19 (footprint) set, judged on figure 7. */
export const goals = (r: Results): Array<Goal> => {
  const f = r.footprint
  if (f === undefined) return []
  const v = medians(f)
  const out: Array<Goal> = []
  for (const [id, x] of [["version", v.version], ["help", v.help]] as const) {
    const command = `\`leasekit --${id}\``
    const ratio = x.wallMs / v.floor.wallMs
    out.push(
      {
        id: `footprint-wall-${id}`,
        goal: `${command}: wall time ≤ 10 × \`node -e 0\` in the same run (issue 19)`,
        measured: x.n === 0 ? "failed" : `${fmt(ratio, 1)} × (${fmt(x.wallMs, 0)} against ${fmt(v.floor.wallMs, 0)} ms, n=${x.n})`,
        met: x.n > 0 && v.floor.n > 0 && ratio <= 10,
        explain: Findings.startup
      },
      {
        id: `footprint-peak-${id}`,
        goal: `${command}: peak RSS ≤ 80 MiB (issue 19)`,
        measured: x.n === 0 ? "failed" : `${mib(x.peakMiB, 1)} (\`node -e 0\`: ${mib(v.floor.peakMiB, 1)})`,
        met: x.n > 0 && x.peakMiB <= 80,
        explain: Findings.startup
      }
    )
  }
  const run = v.run.result
  if (run !== undefined) {
    out.push({
      id: "footprint-run",
      goal: `\`leasekit run NAME -- sleep ${f.holdSeconds}\` holding a lease: RSS ≤ 80 MiB (issue 19)`,
      measured: run.held ? `${mib(v.run.steadyMiB, 1)} while holding (peak ${mib(run.peakRssMiB, 1)})` : `did not hold the lease: ${run.failure ?? ""}`,
      met: run.held && v.run.steadyMiB <= 80,
      explain: Findings.holding
    })
  }
  const library = v.library.result
  if (library !== undefined) {
    const above = v.library.steadyMiB - v.floor.peakMiB
    out.push({
      id: "footprint-library",
      goal: "a library process holding one lease: ≤ +40 MB (38.1 MiB) above a bare Node process (issue 19)",
      measured: library.held
        ? `+${mib(above, 1)} (${mib(v.library.steadyMiB, 1)} holding, \`node -e 0\` ${mib(v.floor.peakMiB, 1)}); client-go ${mib(v.clientgo.steadyMiB, 1)}`
        : `did not hold the lease: ${library.failure ?? ""}`,
      met: library.held && above <= 40e6 / 2 ** 20,
      explain: Findings.library
    })
  }
  const limit = f.memoryLimit
  const limited = limit.run
  out.push(
    limit.mechanism === "none"
      ? {
        id: "footprint-limit",
        goal: "the installed CLI holds a lease inside a 128 MiB memory limit, 0 OOM kills (issue 19)",
        measured: `no cgroup could be made (${limit.reason ?? ""}); peak RSS of the plain run ${mib(limited.peakRssMiB, 1)}`,
        met: limited.held && limited.peakRssMiB < 128,
        explain: Findings.memoryLimit
      }
      : {
        id: "footprint-limit",
        goal: "the installed CLI holds a lease inside a 128 MiB memory limit, 0 OOM kills (issue 19)",
        measured: `${limit.mechanism}: ${limited.held ? "held" : "**not held**"}, ${limited.exit}, peak usage ${
          mib((limit.peakUsageBytes ?? Number.NaN) / 2 ** 20, 1)
        }, ${limit.oomKills ?? "unknown"} OOM kills`,
        met: limited.held && limited.exit === "exit 0" && (limit.oomKills === undefined || limit.oomKills === 0),
        explain: Findings.memoryLimit
      }
  )
  return out
}

export { section } from "./footprint/Section.ts"
