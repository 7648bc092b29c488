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
 * Every process started here is stopped at the end, on failure, and on SIGINT / SIGTERM.
 */
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AuditLog from "@leasekit/testing/AuditLog"
import type { Bench } from "./Bench.ts"
import { benchAudit, sleep } from "./Bench.ts"
import { killAll, Pool, running } from "./Contenders.ts"
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

const settings = quick
  ? {
    fig1: { cycles: 1, windowSeconds: 12 },
    fig2: { waiters: [1, 4, 16], leasekit: 15, clientgo: 4 },
    fig3: [{ seconds: 5, trials: 2 }, { seconds: 15, trials: 1 }],
    fig4: { contenders: [2, 8, 32], seconds: 4 },
    fig5: {
      leasekit: [1000],
      clientgo: [] as Array<number>,
      tuned: [] as Array<{ leases: number; nodeFlags: Array<string> }>,
      settleSeconds: 1,
      windowSeconds: 40 / 3,
      profileSeconds: 5
    },
    fig6: { memory: 2_000, kubernetes: 200 },
    fig7: { runs: 3, holdSeconds: 8 },
    fig8: { waiters: 3, rounds: 15 },
    fig9: { permits: [1, 3, 10], seconds: 6, holdMs: 0, floorSeconds: 4 }
  }
  : {
    fig1: { cycles: 5, windowSeconds: 120 },
    fig2: { waiters: [1, 4, 16], leasekit: 200, clientgo: 200 },
    fig3: [{ seconds: 5, trials: 20 }, { seconds: 15, trials: 10 }],
    fig4: { contenders: [2, 8, 32], seconds: 30 },
    fig5: {
      leasekit: [100, 1000, 10000],
      clientgo: [100, 1000],
      // A tuning variant: the young generation capped (see Findings: memory at 1,000 leases).
      tuned: [{ leases: 1000, nodeFlags: ["--max-semi-space-size=8"] }],
      settleSeconds: 8,
      windowSeconds: 60,
      profileSeconds: 20
    },
    fig6: { memory: 20_000, kubernetes: 2_000 },
    fig7: { runs: 10, holdSeconds: 30 },
    fig8: { waiters: 3, rounds: 200 },
    fig9: { permits: [1, 3, 10], seconds: 30, holdMs: 0, floorSeconds: 30 }
  }
export type Settings = typeof settings

const started = Date.now()
const log = (message: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`)

// ---------------------------------------------------------------------------------------------
// No process outlives the run.

process.on("exit", killAll)
const abort = new AbortController()
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping contenders and the control plane`)
    killAll()
    abort.abort()
    setTimeout(() => process.exit(130), 30_000).unref()
  })
}

// ---------------------------------------------------------------------------------------------

const waitQuiet = async () => {
  const threshold = 1.0
  const first = Os.loadavg()
  const start = Date.now()
  if (waitQuietMinutes <= 0) return { waitedSeconds: 0, loadAtStart: first, reached: first[0]! < threshold, threshold, asked: false }
  let load = first
  while (load[0]! >= threshold && Date.now() - start < waitQuietMinutes * 60_000) {
    log(`load average ${load.map((l) => l.toFixed(2)).join(" ")} ≥ ${threshold}: waiting for a quiet machine (up to ${waitQuietMinutes} min)`)
    await sleep(60_000)
    load = Os.loadavg()
  }
  return { waitedSeconds: (Date.now() - start) / 1000, loadAtStart: load, reached: load[0]! < threshold, threshold, asked: true }
}

/** The commit measured, and whether the packages measured differ from it. */
const provenance = () => {
  const git = (args: ReadonlyArray<string>) => {
    try {
      return ChildProcess.execFileSync("git", [...args], { cwd: benchDir, encoding: "utf8" }).trim()
    } catch {
      return "unknown"
    }
  }
  const paths = ["../packages/core", "../packages/kubernetes", "."]
  return {
    commit: git(["rev-parse", "--short", "HEAD"]),
    dirty: git(["status", "--porcelain", "--", ...paths]) !== ""
  }
}

const buildClientgo = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn("bash", [Path.join(benchDir, "clientgo", "build.sh")], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()))
    child.on("exit", (code) =>
      code === 0 ? resolve(out.trim().split("\n").pop()!) : reject(new Error(`clientgo/build.sh failed (exit ${code})`))
    )
  })

/** An earlier run's results with the figures to re-run emptied, noted as re-run. */
const merged = (earlier: Report.Results, fresh: Report.Results): Report.Results => {
  const figures = only ?? []
  const keep = <K extends keyof Report.Results>(key: K, figure: number) => (figures.includes(figure) ? fresh[key] : earlier[key])
  return {
    ...earlier,
    requests: keep("requests", 1),
    handover: keep("handover", 2),
    failover: keep("failover", 3),
    contention: keep("contention", 4),
    scale: keep("scale", 5),
    runtimeCost: keep("runtimeCost", 6),
    footprint: keep("footprint", 7),
    handoff: keep("handoff", 8),
    semaphore: keep("semaphore", 9),
    profiles: Object.fromEntries(Object.entries(earlier.profiles).filter(([name]) =>
      !(figures.includes(2) && name.startsWith("handover")) &&
      !(figures.includes(5) && name.startsWith("scale")) &&
      !(figures.includes(6) && name.startsWith("renewal"))
    )),
    errors: earlier.errors.filter((e) => !figures.some((f) => e.figure.startsWith(`figure ${f}:`))),
    loads: [...earlier.loads, ...fresh.loads],
    reruns: [
      ...(earlier.reruns ?? []),
      { figures, at: fresh.startedAt, quiet: fresh.quiet, provenance: fresh.provenance }
    ]
  }
}

const run = (
  controlPlane: ControlPlane.ControlPlaneService,
  clientgoBinary: string,
  quiet: Report.Quiet,
  controlPlanePids: Bench["controlPlanePids"]
) =>
  Effect.tryPromise({
    try: async () => {
      const runDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-bench-"))
      const spawnContext = {
        kubeconfig: controlPlane.users.admin.kubeconfig,
        clientgoBinary,
        logDir: runDir,
        benchDir
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
      const fresh: Report.Results = {
        mode: quick ? "quick" : "full",
        startedAt: new Date(started).toISOString(),
        durationSeconds: 0,
        machine: Machine.machine(),
        versions: Machine.versions({
          benchDir,
          kubeApiserver: controlPlane.assets.kubeApiserver,
          etcd: controlPlane.assets.etcd,
          clientgoBinary
        }),
        quiet,
        provenance: provenance(),
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
      const results: Report.Results = update === undefined ? fresh : merged(JSON.parse(Fs.readFileSync(update, "utf8")), fresh)
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
          ? attempt("figure 1: requests per operation", async () => {
            results.requests.push(
              ...(await Promise.all((["leasekit", "client-go"] as const).map((kind) =>
                RequestsPerOperation.run(bench, kind, settings.fig1.cycles, settings.fig1.windowSeconds)
              )))
            )
          })
          : Promise.resolve(),
        wanted(3)
          ? attempt("figure 3: failover after SIGKILL", async () => {
            for (const { seconds, trials } of settings.fig3) {
              results.failover.push(
                ...(await Promise.all((["leasekit", "client-go"] as const).map((kind) => Failover.run(bench, kind, seconds, trials))))
              )
            }
          })
          : Promise.resolve()
      ])

      await warming

      // Figure 2: leasekit series one after another; client-go's (which spend their time polling)
      // all at once beside them.
      if (wanted(2)) {
        await attempt("figure 2: handover after graceful release", async () => {
          const clientgo = Promise.all(
            settings.fig2.waiters.map((w) => Handover.run(bench, "client-go", w, settings.fig2.clientgo))
          )
          const most = Math.max(...settings.fig2.waiters)
          for (const w of settings.fig2.waiters) {
            const profileFile = w === most ? Path.join(runDir, "profile-handover-waiter.cpuprofile") : undefined
            results.handover.push(await Handover.run(bench, "leasekit", w, settings.fig2.leasekit, profileFile ? { profileFile } : {}))
            if (profileFile !== undefined) profile("handover-waiter", profileFile)
          }
          results.handover.push(...(await clientgo))
        })
      }

      if (wanted(4)) {
        await attempt("figure 4: contended throughput", async () => {
          for (const n of settings.fig4.contenders) {
            for (const kind of ["leasekit", "client-go"] as const) {
              const r = await Contention.run(bench, kind, n, settings.fig4.seconds)
              log(`  fig 4 ${kind} N=${n}: ${r.perSecond.toFixed(1)} critical sections/s, ${r.violations.length} violations`)
              results.contention.push(r)
            }
          }
        })
      }
      if (wanted(8)) {
        await attempt("figure 8: handoff to a named successor", async () => {
          const r = await Handoff.run(bench, settings.fig8.waiters, settings.fig8.rounds)
          log(`  fig 8: ${r.handoffMs.length} handoffs, ${r.releaseMs.length} releases, ${r.wrongSuccessor} to another contender`)
          results.handoff = [...(results.handoff ?? []).filter((x) => x.waiters !== r.waiters), r]
        })
      }
      if (wanted(9)) {
        await attempt("figure 9: a counting semaphore", async () => {
          // The floor first, in the same run: figure 4's loop on one plain lease, 2 contenders.
          const floor = await Contention.run(bench, "leasekit", 2, settings.fig9.floorSeconds)
          log(`  fig 9 floor: one lease, 2 contenders: ${floor.perSecond.toFixed(1)}/s`)
          const runs: Array<Semaphore.SemaphoreResult> = []
          for (const permits of settings.fig9.permits) {
            const r = await Semaphore.run(bench, permits, settings.fig9.seconds, settings.fig9.holdMs)
            log(`  fig 9 N=${permits}: ${r.perSecond.toFixed(1)}/s, max jump ${r.maxJump} (${r.jumped}/${r.queued}), max overtakes ${r.maxOvertakes} (${r.overtaken}/${r.queued}), requeued ${r.requeued}, unqueued ${r.unqueued} (${r.barged} ahead of a waiter), untied ${r.untied}, ${r.violations.length} violations`)
            runs.push(r)
          }
          results.semaphore = { floor: { contenders: 2, perSecond: floor.perSecond, gapMs: floor.gapMs }, runs }
        })
      }
      await pool.shrink(0)

      if (wanted(5)) {
        await attempt("figure 5: scale in one process", async () => {
          const { clientgo, leasekit, profileSeconds, settleSeconds, tuned, windowSeconds } = settings.fig5
          // Whatever may overload the API server (more than 1,000 leases) runs last.
          const leasekitRun = async (n: number) => {
            const r = await Scale.run(bench, "leasekit", n, { settleSeconds, windowSeconds, profileSeconds: n === 1000 ? profileSeconds : 0 })
            results.scale.push(r)
            profile(`scale-${n}`, r.profileFile)
          }
          for (const n of leasekit.filter((n) => n <= 1000)) await leasekitRun(n)
          for (const { leases, nodeFlags } of tuned) {
            results.scale.push(await Scale.run(bench, "leasekit", leases, { settleSeconds, windowSeconds, profileSeconds: 0 }, nodeFlags))
          }
          for (const n of clientgo) {
            results.scale.push(await Scale.run(bench, "client-go", n, { settleSeconds, windowSeconds, profileSeconds: 0 }))
          }
          for (const n of leasekit.filter((n) => n > 1000)) await leasekitRun(n)
        })
      }

      if (wanted(6)) {
        await attempt("figure 6: cost of the Effect runtime", async () => {
          results.runtimeCost = await RuntimeCost.run(bench, settings.fig6)
          profile("renewal-kubernetes", results.runtimeCost.profiles.kubernetes)
          profile("renewal-memory", results.runtimeCost.profiles.memory)
        })
      }

      if (wanted(7)) {
        await attempt("figure 7: footprint", async () => {
          results.footprint = await Footprint.run(bench, settings.fig7)
        })
      }

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
  const quiet = yield* Effect.promise(waitQuiet)
  log("building the client-go baseline and starting the control plane")
  const [clientgoBinary, controlPlane] = yield* Effect.all([
    Effect.tryPromise({ try: buildClientgo, catch: (error) => error }),
    // The audit log must not rotate (kube-apiserver rotates it at 100 MB by default): phases are
    // delimited by offsets in one file. It is deleted with the control plane's folder.
    ControlPlane.make({ namespace: "leasekit-bench", startTimeout: "120 seconds", apiserverArgs: ["--audit-log-maxsize=100000"] })
  ], { concurrency: 2 })
  log(`control plane up at ${controlPlane.server}`)
  const pid = (component: ControlPlane.Component) => Effect.map(controlPlane.pid(component), (p) => p._tag === "Some" ? p.value : -1)
  const pids = { apiserver: yield* pid("apiserver"), etcd: yield* pid("etcd") }
  return yield* run(controlPlane, clientgoBinary, quiet, pids).pipe(Effect.ensuring(Effect.sync(killAll)))
}))

// Re-render RESULTS.md and the plots from a run's results.json (e.g. after Findings.ts changed).
const reportFrom = option("--report-from")
if (reportFrom !== undefined) {
  Report.write(outDir, JSON.parse(Fs.readFileSync(reportFrom, "utf8")) as Report.Results)
  log(`wrote ${Path.join(outDir, "RESULTS.md")} from ${reportFrom}`)
  process.exit(0)
}

const exit = await Effect.runPromiseExit(program, { signal: abort.signal })
// Contenders were killed; give them a moment to be reaped before checking.
await sleep(200)
if (running() > 0) log(`warning: ${running()} contender processes still running`)
if (exit._tag === "Failure") {
  log(`failed: ${String(exit.cause)}`)
  process.exit(1)
}
log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`)
