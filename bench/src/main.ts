/**
 * leasekit's benchmarks, side by side with client-go's leader election, on a real local control
 * plane (etcd + kube-apiserver from `@leasekit/testing`). Writes `RESULTS.md` and two SVG plots.
 *
 *   node src/main.ts [--quick] [--out <dir>] [--wait-quiet <minutes>] [--only 1,2,…]
 *   node src/main.ts --report-from <results.json> [--out <dir>]   (re-render only)
 *   node src/main.ts --update <results.json> --only 5,6            (re-run some figures into a run)
 *
 * `--quick` takes every figure with few samples (under 3 minutes); the full run takes the numbers
 * meant for the committed RESULTS.md (about 30 minutes). `--wait-quiet` first waits, polling once
 * a minute for at most that many minutes, until the 1-minute load average is below 1 (default:
 * 30 in the full run, 0 with --quick); RESULTS.md says whether the machine was quiet.
 *
 * Every process started here lives in the run's scope (`RunScope`) and is stopped at the end, on
 * failure, and on SIGINT / SIGTERM (which interrupt the run).
 */
import { ControlPlane, Process } from "@leasekit/testing"
import { Effect, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AuditLog from "@leasekit/testing/AuditLog"
import type { Bench } from "./Bench.ts"
import { benchAudit, sleep } from "./Bench.ts"
import { Pool, running } from "./Contenders.ts"
import * as Contention from "./figures/Contention.ts"
import * as Failover from "./figures/Failover.ts"
import * as Footprint from "./figures/Footprint.ts"
import * as Handoff from "./figures/Handoff.ts"
import * as Handover from "./figures/Handover.ts"
import * as RequestsPerOperation from "./figures/RequestsPerOperation.ts"
import * as RuntimeCost from "./figures/RuntimeCost.ts"
import * as Scale from "./figures/Scale.ts"
import * as Semaphore from "./figures/Semaphore.ts"
import * as Machine from "./Machine.ts"
import type { ProfileSummary } from "./Profile.ts"
import { summarizeProfile } from "./Profile.ts"
import * as Report from "./Report.ts"
import type { Results } from "./Results.ts"
import { rerun } from "./Results.ts"
import * as RunScope from "./RunScope.ts"

const benchDir = Path.resolve(import.meta.dirname, "..")
const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const quick = flag("--quick")
/** Re-run the `--only` figures into an existing results.json, keeping the other figures. */
const update = option("--update")
const outDir = Path.resolve(option("--out") ?? benchDir)
const waitQuietMinutes = Number(option("--wait-quiet") ?? (quick ? 0 : 30))
const only = option("--only")?.split(",").map(Number)
const wanted = (figure: number) => only === undefined || only.includes(figure)

/** Each figure's settings for this run (each figure keeps its quick and its full ones). */
const mode = quick ? "quick" : "full"
const settings = {
  fig1: RequestsPerOperation.settings[mode],
  fig2: Handover.settings[mode],
  fig3: Failover.settings[mode],
  fig4: Contention.settings[mode],
  fig5: Scale.settings[mode],
  fig6: RuntimeCost.settings[mode],
  fig7: Footprint.settings[mode],
  fig8: Handoff.settings[mode],
  fig9: Semaphore.settings[mode]
}

const started = Date.now()
const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`)

// ---------------------------------------------------------------------------------------------
// No process outlives the run: SIGINT / SIGTERM interrupt it, which closes the run's scope.

const abort = new AbortController()
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping contenders and the control plane`)
    abort.abort()
    setTimeout(() => process.exit(130), 30_000).unref()
  })
}

// ---------------------------------------------------------------------------------------------

/** Builds the client-go baseline (build.sh caches it): its progress on stderr, the binary's path last on stdout. */
const buildClientgo = Effect.scoped(Effect.gen(function*() {
  const build = yield* Process.spawn("bash", [Path.join(benchDir, "clientgo", "build.sh")], { output: "pipe" })
  const [out, status] = yield* Effect.all([Stream.runCollect(build.lines), build.exit], { concurrency: 2 })
  if (status.code !== 0) return yield* Effect.fail(new Error(`clientgo/build.sh failed (exit ${status.code ?? status.signal})`))
  return out.join("\n").trim().split("\n").pop()!
}))

const run = (
  controlPlane: ControlPlane.ControlPlaneService,
  clientgoBinary: string,
  measuredOn: { readonly quiet: Machine.Quiet; readonly versions: Machine.Versions; readonly provenance: Machine.Provenance },
  controlPlanePids: Bench["controlPlanePids"],
  processes: RunScope.RunScope
) =>
  Effect.tryPromise({
    try: async () => {
      const runDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-bench-"))
      const spawnContext = {
        kubeconfig: controlPlane.users.admin.kubeconfig,
        clientgoBinary,
        logDir: runDir,
        benchDir,
        processes
      }
      const auditFile = controlPlane.auditLog
      if (auditFile._tag === "None") throw new Error("the control plane has no audit log")
      const pool = new Pool(spawnContext)
      const bench: Bench = {
        quick,
        controlPlane,
        namespace: controlPlane.namespace,
        audit: benchAudit(AuditLog.make(auditFile.value)),
        pool,
        spawnContext,
        outDir: runDir,
        log,
        controlPlanePids
      }
      log(`contender logs and profiles in ${runDir}`)
      const fresh: Results = {
        mode: quick ? "quick" : "full",
        startedAt: new Date(started).toISOString(),
        durationSeconds: 0,
        machine: Machine.machine(),
        ...measuredOn,
        loads: [],
        settings,
        requests: [],
        handover: [],
        failover: [],
        contention: [],
        scale: [],
        runtimeCost: undefined,
        footprint: undefined,
        handoff: [],
        semaphore: undefined,
        profiles: {},
        errors: [],
        reruns: []
      }
      const results: Results = update === undefined ? fresh : rerun(JSON.parse(Fs.readFileSync(update, "utf8")), fresh, only ?? [])
      const attempt = async (figure: string, body: () => Promise<void>) => {
        results.loads.push({ figure, load: Os.loadavg() })
        log(`${figure} ...`)
        try {
          await body()
        } catch (error) {
          log(`${figure} FAILED: ${String(error)}`)
          results.errors.push({ figure, message: String(error) })
        }
      }
      const profile = (name: string, file: string | undefined) => {
        if (file === undefined) return
        try {
          results.profiles[name] = summarizeProfile(file) satisfies ProfileSummary
        } catch (error) {
          results.errors.push({ figure: `profile ${name}`, message: String(error) })
        }
      }

      // Contenders for figures 2 and 4: started before anything is measured in the full run; in
      // the quick run beside figures 1 and 3 (which count requests and wait on timers).
      const poolSize = wanted(4)
        ? Math.max(...settings.fig4.contenders)
        : wanted(2)
        ? Math.max(...settings.fig2.waiters) + 1
        : wanted(9)
        ? 2 * Math.max(...settings.fig9.permits)
        : wanted(8)
        ? settings.fig8.waiters + 1
        : 1
      const warming = (async () => {
        log(`starting ${poolSize} leasekit and ${poolSize} client-go contenders`)
        const warm = await Promise.all([pool.take("leasekit", poolSize), pool.take("client-go", poolSize)])
        pool.give(warm.flat())
        log(`contenders ready`)
      })()
      if (!quick) await warming

      // Figures 1 and 3 together: figure 1 counts requests (per lease), figure 3 waits on timers.
      await Promise.all([
        wanted(1)
          ? attempt("figure 1: requests per operation", () => RequestsPerOperation.measure(bench, settings.fig1, results))
          : Promise.resolve(),
        wanted(3)
          ? attempt("figure 3: failover after SIGKILL", () => Failover.measure(bench, settings.fig3, results))
          : Promise.resolve()
      ])

      await warming

      // The figures that take their contenders from the warm pool, then the pool is emptied: the
      // figures after it measure one process's CPU and memory on a machine otherwise idle.
      if (wanted(2)) await attempt("figure 2: handover after graceful release", () => Handover.measure(bench, settings.fig2, results, profile))
      if (wanted(4)) await attempt("figure 4: contended throughput", () => Contention.measure(bench, settings.fig4, results))
      if (wanted(8)) await attempt("figure 8: handoff to a named successor", () => Handoff.measure(bench, settings.fig8, results))
      if (wanted(9)) await attempt("figure 9: a counting semaphore", () => Semaphore.measure(bench, settings.fig9, results))
      await pool.shrink(0)

      if (wanted(5)) await attempt("figure 5: scale in one process", () => Scale.measure(bench, settings.fig5, results, profile))
      if (wanted(6)) await attempt("figure 6: cost of the Effect runtime", () => RuntimeCost.measure(bench, settings.fig6, results, profile))
      if (wanted(7)) await attempt("figure 7: footprint", () => Footprint.measure(bench, settings.fig7, results))

      if (update === undefined) results.durationSeconds = (Date.now() - started) / 1000
      results.loads.push({ figure: "end", load: Os.loadavg() })
      Fs.writeFileSync(Path.join(runDir, "results.json"), JSON.stringify(results, null, 2))
      Report.write(outDir, results)
      log(`wrote ${Path.join(outDir, "RESULTS.md")} (raw results: ${Path.join(runDir, "results.json")})`)
      return results
    },
    catch: (error) => error
  })

const program = Effect.scoped(Effect.gen(function*() {
  const quiet = yield* Effect.promise(() => Machine.waitQuiet(waitQuietMinutes, log))
  log("building the client-go baseline and starting the control plane")
  const [clientgoBinary, controlPlane] = yield* Effect.all([
    buildClientgo,
    // The audit log must not rotate (kube-apiserver rotates it at 100 MB by default): phases are
    // delimited by offsets in one file. It is deleted with the control plane's folder.
    ControlPlane.make({ namespace: "leasekit-bench", startTimeout: "120 seconds", apiserverArgs: ["--audit-log-maxsize=100000"] })
  ], { concurrency: 2 })
  log(`control plane up at ${controlPlane.server}`)
  const pid = (component: ControlPlane.Component) => Effect.map(controlPlane.pid(component), (p) => p._tag === "Some" ? p.value : -1)
  const pids = { apiserver: yield* pid("apiserver"), etcd: yield* pid("etcd") }
  const versions = yield* Machine.versions({
    benchDir,
    kubeApiserver: controlPlane.assets.kubeApiserver,
    etcd: controlPlane.assets.etcd,
    clientgoBinary
  })
  const provenance = yield* Machine.provenance(benchDir)
  // Made after the control plane, so closed before it: contenders release their leases first.
  const processes = yield* RunScope.make
  return yield* run(controlPlane, clientgoBinary, { versions, quiet, provenance }, pids, processes)
})).pipe(Effect.provide(Process.layer))

// Re-render RESULTS.md and the plots from a run's results.json (e.g. after a figure's rendering changed).
const reportFrom = option("--report-from")
if (reportFrom !== undefined) {
  Report.write(outDir, JSON.parse(Fs.readFileSync(reportFrom, "utf8")) as Results)
  log(`wrote ${Path.join(outDir, "RESULTS.md")} from ${reportFrom}`)
  process.exit(0)
}

const exit = await Effect.runPromiseExit(program, { signal: abort.signal })
// The run's scope stopped every contender and waited for its exit; their bookkeeping settles in a moment.
await sleep(200)
if (running() > 0) log(`warning: ${running()} contender processes still running`)
if (exit._tag === "Failure") {
  log(`failed: ${String(exit.cause)}`)
  process.exit(1)
}
log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
