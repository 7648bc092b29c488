/**
 * `leasekit demo`: three worker processes contend for one lease on a real API server, and the
 * demo measures what a lock user cares about.
 *
 * Scenario (about 30 seconds once the control plane is up): the workers start (the contender
 * processes of `@leasekit/testing`'s harness — the ones the chaos suite and the bench drive — run
 * by `DemoWorkers.ts`) and one takes the lease; each holder runs a critical section of short steps,
 * each checked with `isHeld` and stamped with its fencing token. Then, in turn: the holder is asked
 * to release gracefully (handover — the waiters watch the lease, so the next one takes it within
 * milliseconds); the holder is SIGKILLed like a crashed pod (failover — the others take over once
 * the record stayed unchanged for the lease duration), and a fresh worker replaces it; again; and
 * once more. It ends with a table of the measured handover and failover times, the tokens seen,
 * and the verdict of `Exclusion` (the chaos suite's checker) on what the workers reported: no two
 * workers' critical sections overlapped, tokens strictly increased.
 *
 * Where: on the embedded control plane (built on first use, see `EmbeddedControlPlane.ts`)
 * unless `--kubeconfig` is given — `$KUBECONFIG` alone never sends the demo to a real cluster.
 * On a real cluster it uses a fresh lease name and deletes the lease afterwards.
 *
 * Guarantees: every process it started (workers, control plane) is gone when it exits, also on
 * Ctrl-C; it exits 0 only when `Exclusion` found no violation (else 70). Needs `@leasekit/testing`
 * (an optional peer of the CLI), also with `--kubeconfig`: its contender processes are the demo's
 * workers. Does not: prove the algorithm correct — it shows it working, with real timings, on
 * one machine.
 *
 * @since 0.1.0
 */
import * as LeaseOptions from "@leasekit/core/LeaseOptions"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Command from "effect/cli/Command"
import type * as Exclusion from "@leasekit/testing/Exclusion"
import type * as DemoCommand from "../commands/DemoCommand.ts"
import * as DemoView from "./DemoView.ts"
import * as DemoWorkers from "./DemoWorkers.ts"
import * as Durations from "../internal/Durations.ts"
import * as EmbeddedControlPlane from "./EmbeddedControlPlane.ts"
import * as ExitCode from "../internal/ExitCode.ts"
import * as GlobalOptions from "../internal/GlobalOptions.ts"
import * as LeaseView from "../internal/LeaseView.ts"

type Config = Command.Command.Config.Infer<typeof DemoCommand.config>


/** Milliseconds of `CLOCK_MONOTONIC` (the workers' events are on it: `Exclusion.inMillis`). */
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000

interface Settings {
  readonly kubeconfig: string
  readonly context: string | undefined
  readonly namespace: string
  readonly lease: string
  readonly durationSeconds: number
  /** The workers' lease timing, for the checker's thresholds. */
  readonly timing: Omit<Exclusion.Timing, "durationSeconds">
  readonly workers: number
  readonly sectionMillis: number
  readonly verbose: boolean
}

const randomSuffix = () => Math.random().toString(36).slice(2, 7)

/** The demo itself, once it knows where to run. */
const demo = (settings: Settings) =>
  Effect.gen(function*() {
    const testing = yield* EmbeddedControlPlane.loadTesting("the demo")
    const live = DemoView.make()
    const { bold, cyan, dim, green, red, yellow } = live.paint
    const started = now()
    const stamp = (t: number) => dim(DemoView.clock(Math.max(0, t - started)))
    const say = (line: string) => live.log(`${stamp(now())}  ${cyan("demo".padEnd(9))} ${line}`)

    const client = yield* KubeClient.makeFromFile(settings.kubeconfig, { context: settings.context })
    const store = KubernetesLeaseStore.make(client)
    const key = { namespace: settings.namespace, name: settings.lease }

    const events: Array<{ readonly worker: DemoWorkers.Worker; readonly event: DemoWorkers.WorkerEvent }> = []
    let phase = "starting the workers"
    let api: LeaseView.LeaseView | undefined
    let lastApiHolder: string | null | undefined

    const nameOf = (holder: string) => workers.find((w) => w.holder === holder)?.name ?? holder

    const onEvent = (worker: DemoWorkers.Worker, event: DemoWorkers.WorkerEvent) => {
      events.push({ worker, event })
      const line = (text: string) => live.log(`${stamp("t" in event ? event.t : now())}  ${bold(worker.name.padEnd(9))} ${text}`)
      switch (event.ev) {
        case "ready":
          worker.status = "waiting"
          line(dim(`started (pid ${event.pid}), contending as ${event.identity}`))
          break
        case "joined":
          if (worker.status === "cooling") worker.status = "waiting"
          break
        case "acquired":
          worker.status = "holding"
          worker.token = event.token
          worker.sections = 0
          line(green(`acquired the lease — fencing token ${event.token}`))
          break
        case "valid":
          // A step of the critical section (not its entry or exit check).
          if (event.where !== "before-write") break
          worker.sections++
          line(`critical section ${String(worker.sections).padStart(2)} with token ${event.token}`)
          break
        case "found-out":
          line(red(`found out it no longer holds the lease (token ${event.token})`))
          break
        case "releasing":
          line(yellow(`releasing the lease (token ${event.token})`))
          break
        case "release-ok":
          worker.status = "cooling"
          line(yellow("released it"))
          break
        case "release-failed":
          line(red(`could not release it: ${event.message}`))
          break
        case "lost":
          worker.status = "waiting"
          line(red(`lost the lease: ${event.message}`))
          break
        case "acquire-failed":
          worker.status = "failed"
          line(red(`failed to acquire: ${event.message}`))
          break
        case "error":
          worker.status = "failed"
          line(red(`failed: ${event.msg}`))
          break
      }
    }

    const pool = yield* DemoWorkers.make(testing, settings, {
      onEvent,
      onText: (worker, text) => live.log(`${stamp(now())}  ${bold(worker.name.padEnd(9))} ${red(text)}`)
    })
    const { stop: stopWorkers, workers } = pool
    const spawnWorker = pool.spawn

    // Every process is gone when the demo ends, whatever ends it.
    yield* Effect.addFinalizer(() => stopWorkers.pipe(Effect.andThen(Effect.sync(() => live.close()))))

    // The live view: the API server's record, polled, and the panel redrawn.
    yield* Effect.gen(function*() {
      const record = yield* store.get(key).pipe(Effect.option)
      if (Option.isSome(record)) {
        api = LeaseView.make(key, record.value, yield* Clock.currentTimeMillis)
        if (!live.tty && api.holder !== lastApiHolder) {
          say(`API server: the lease is ${api.holder === null ? "free" : `held by ${nameOf(api.holder)} (token ${api.token})`}`)
        }
        lastApiHolder = api.holder
      }
      live.panel(DemoView.panelLines(live, {
        lease: `${key.namespace}/${key.name}`,
        durationSeconds: settings.durationSeconds,
        api,
        nameOf,
        workers: workers.map((w) => ({ name: w.name, pid: w.pid, status: w.status, token: w.token, sections: w.sections })),
        phase
      }))
    }).pipe(Effect.repeat(Schedule.spaced(Duration.millis(200))), Effect.forkScoped)

    /** Waits (polling, bounded) until `find` returns something. */
    const waitFor = <A>(what: string, timeout: Duration.Input, find: () => A | undefined) =>
      Effect.sync(find).pipe(
        Effect.repeat({ schedule: Schedule.spaced(Duration.millis(10)), until: (a) => a !== undefined }),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () => {
            const failed = workers.find((w) => w.status === "failed")
            const detail = failed === undefined ? "" : ` (${failed.name}: ${failed.stderr().slice(-3).join(" | ") || "see above"})`
            return Effect.fail(
              ExitCode.fail(ExitCode.codes.software, `demo: ${what} did not happen within ${Duration.format(Duration.fromInputUnsafe(timeout))}${detail}`, "run with --verbose to see the workers' logs")
            )
          }
        }),
        Effect.map((a) => a as A)
      )
    type Acquired = { readonly worker: DemoWorkers.Worker; readonly event: Extract<DemoWorkers.WorkerEvent, { ev: "acquired" }> }
    const acquiredAfter = (index: number, predicate: (e: Acquired) => boolean) => () =>
      events.slice(index).find((e): e is Acquired => e.event.ev === "acquired" && predicate(e as Acquired))
    const holderNow = () => workers.find((w) => w.status === "holding" && !w.exited)
    const pause = (millis: number, next: string) =>
      Effect.gen(function*() {
        phase = `${next} in ${Durations.formatMillis(millis)}`
        yield* Effect.sleep(Duration.millis(millis))
      })

    const changes: Array<DemoView.Change> = []
    let nextIndex = 1

    const handover = Effect.gen(function*() {
      const from = yield* waitFor("a holder", "30 seconds", holderNow)
      const index = events.length
      phase = `handover: asking ${from.name} to release the lease gracefully`
      say(bold(`→ handover: asking ${from.name} to release the lease gracefully`))
      yield* pool.askToRelease(from)
      const acquired = yield* waitFor("a handover", "20 seconds", acquiredAfter(index, (e) => e.worker !== from))
      const releasing = events.slice(index).find((e) => e.event.ev === "releasing" && e.worker === from)!
      const change: DemoView.Change = {
        kind: "handover",
        from: from.name,
        to: acquired.worker.name,
        millis: acquired.event.t - (releasing.event as { readonly t: number }).t,
        fromToken: from.token ?? -1,
        toToken: acquired.event.token
      }
      changes.push(change)
      say(green(`handover ${from.name} → ${acquired.worker.name} in ${bold(Durations.formatMillis(change.millis))} (token ${change.fromToken} → ${change.toToken})`))
    })

    const failover = Effect.gen(function*() {
      const from = yield* waitFor("a holder", "30 seconds", holderNow)
      const index = events.length
      const token = from.token ?? -1
      phase = `failover: ${from.name} was SIGKILLed; the others wait until the lease expires (${settings.durationSeconds}s unchanged)`
      say(red(bold(`→ failover: SIGKILL ${from.name} (pid ${from.pid}) while it holds the lease, like a crashed pod`)))
      const killedAt = now()
      yield* pool.kill(from)
      const replacement = yield* spawnWorker(nextIndex++)
      say(dim(`${replacement.name} starts to replace it`))
      const acquired = yield* waitFor(
        "a failover",
        Duration.seconds(settings.durationSeconds * 3 + 20),
        acquiredAfter(index, (e) => e.event.token > token)
      )
      const change: DemoView.Change = {
        kind: "failover",
        from: from.name,
        to: acquired.worker.name,
        millis: acquired.event.t - killedAt,
        fromToken: token,
        toToken: acquired.event.token
      }
      changes.push(change)
      say(green(`failover ${from.name} → ${acquired.worker.name} in ${bold(Durations.formatMillis(change.millis))} (token ${change.fromToken} → ${change.toToken})`))
    })

    say(`lease ${bold(`${key.namespace}/${key.name}`)}, duration ${settings.durationSeconds}s; starting ${settings.workers} worker processes`)
    for (let i = 0; i < settings.workers; i++) yield* spawnWorker(nextIndex++)
    phase = "waiting for the first holder"
    yield* waitFor("a first acquisition", "60 seconds", acquiredAfter(0, () => true))
    yield* pause(2000, "handover")
    yield* handover
    yield* pause(2000, "failover")
    yield* failover
    yield* pause(2000, "handover")
    yield* handover
    yield* pause(2000, "failover")
    yield* failover
    yield* pause(2000, "handover")
    yield* handover
    yield* pause(1500, "the end")
    phase = "stopping the workers"
    say("stopping the workers")
    yield* stopWorkers

    // The verdict: the chaos suite's checker on what the workers reported. Tokens in the order
    // their first step started.
    const report = testing.Exclusion.check({
      timing: { durationSeconds: settings.durationSeconds, ...settings.timing },
      journals: workers.map((w) => w.journal),
      circumstances: [],
      fence: testing.Exclusion.emptyFence
    })
    const firstValid = new Map<string, { readonly token: number; readonly t: number }>()
    for (const w of workers) {
      for (const e of w.journal) {
        if (e.ev === "valid" && !firstValid.has(`${w.name}#${e.token}`)) firstValid.set(`${w.name}#${e.token}`, { token: e.token, t: e.t })
      }
    }
    const tokens: Array<number> = []
    for (const s of [...firstValid.values()].sort((a, b) => a.t - b.t)) if (tokens[tokens.length - 1] !== s.token) tokens.push(s.token)
    const summary: DemoView.Summary = {
      lease: `${key.namespace}/${key.name}`,
      durationSeconds: settings.durationSeconds,
      workers: settings.workers,
      changes,
      tokens,
      sections: report.sections,
      steps: workers.reduce((n, w) => n + w.journal.filter((e) => e.ev === "valid" && e.where === "before-write").length, 0),
      overlaps: report.overlaps.length,
      violations: testing.Exclusion.violations(report),
      elapsedMillis: now() - started
    }
    live.close()
    process.stdout.write(DemoView.renderSummary(live, summary))
    return summary
  })


/**
 * What `leasekit demo` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    const duration = yield* Durations.parse("--duration", c.duration)
    const millis = Duration.toMillis(duration)
    if (millis < 2000 || millis % 1000 !== 0) {
      return yield* ExitCode.usage(`--duration ${c.duration} does not suit the demo`, "give whole seconds, at least 2s (e.g. 4s)")
    }
    // The workers' lease options must pass the core's rules (e.g. at most 1 hour): checked here,
    // before the control plane starts, rather than by each worker.
    const resolved = yield* LeaseOptions.resolve({ namespace: "default", name: "leasekit-demo", holder: "demo", duration }).pipe(
      Effect.mapError((error) => ExitCode.usage(`--duration ${c.duration}: ${error.message}`, "give whole seconds from 2s to 1h (e.g. 4s)"))
    )
    if (!Number.isInteger(c.workers) || c.workers < 2 || c.workers > 10) {
      return yield* ExitCode.usage(`--workers ${c.workers} does not suit the demo`, "give 2 to 10")
    }
    const where = yield* Option.match(c.kubeconfig, {
      onNone: () =>
        EmbeddedControlPlane.start().pipe(
          Effect.map((cp) => ({ kubeconfig: cp.users.admin.kubeconfig, context: undefined, namespace: cp.namespace, external: false }))
        ),
      onSome: (kubeconfig) =>
        KubeClient.makeFromFile(kubeconfig, { context: Option.getOrUndefined(c.context) }).pipe(
          Effect.map((client) => ({
            kubeconfig,
            context: Option.getOrUndefined(c.context),
            namespace: Option.getOrElse(c.namespace, () => client.namespace),
            external: true
          }))
        )
    })
    const lease = `leasekit-demo-${randomSuffix()}`
    if (where.external) {
      // A real cluster keeps objects: delete the demo's lease at the end.
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          const client = yield* KubeClient.makeFromFile(where.kubeconfig, { context: where.context })
          const store = KubernetesLeaseStore.make(client)
          const record = yield* store.get({ namespace: where.namespace, name: lease })
          if (Option.isSome(record)) yield* store.remove(record.value)
        }).pipe(
          Effect.scoped,
          Effect.catch((error) => Effect.logWarning(`could not delete the demo lease ${where.namespace}/${lease}: ${error.message}`))
        )
      )
    }
    const summary = yield* demo({
      kubeconfig: where.kubeconfig,
      context: where.context,
      namespace: where.namespace,
      lease,
      durationSeconds: millis / 1000,
      timing: {
        renewIntervalMillis: Duration.toMillis(resolved.renewInterval),
        renewDeadlineMillis: Duration.toMillis(resolved.renewDeadline),
        retryPeriodMillis: Duration.toMillis(resolved.retryPeriod),
        requestTimeoutMillis: Duration.toMillis(resolved.requestTimeout)
      },
      workers: c.workers,
      sectionMillis: 400,
      verbose: c.verbose
    })
    if (summary.violations.length > 0) {
      return yield* ExitCode.fail(
        ExitCode.codes.software,
        "the demo saw a safety violation (see the summary above)",
        "run it again with --verbose and report it, with the output"
      )
    }
  }).pipe(
    Effect.scoped,
    Effect.mapError(ExitCode.fromError),
    Effect.provide(GlobalOptions.loggerLayer(c.verbose))
  )
