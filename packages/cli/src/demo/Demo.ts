/**
 * `leasekit demo`: three worker processes contend for one lease on a real API server, and the
 * demo measures what a lock user cares about.
 *
 * Scenario (about 30 seconds once the control plane is up): the workers start (`DemoWorker.ts`, run by `DemoWorkers.ts`)
 * and one takes the lease; each holder runs short critical sections stamped with its fencing
 * token. Then, in turn: the holder is asked to release gracefully (handover — the waiters watch
 * the lease, so the next one takes it within milliseconds); the holder is SIGKILLed like a
 * crashed pod (failover — the others take over once the record stayed unchanged for the lease
 * duration), and a fresh worker replaces it; again; and once more. It ends with a table of the
 * measured handover and failover times, the tokens seen (which must strictly increase), and a
 * check that no two workers' critical sections overlapped.
 *
 * Where: on the embedded control plane (built on first use, see `EmbeddedControlPlane.ts`)
 * unless `--kubeconfig` is given — `$KUBECONFIG` alone never sends the demo to a real cluster.
 * On a real cluster it uses a fresh lease name and deletes the lease afterwards.
 *
 * Guarantees: every process it started (workers, control plane) is gone when it exits, also on
 * Ctrl-C; it exits 0 only when the tokens strictly increased and no critical sections overlapped
 * (else 70). Does not: prove the algorithm correct — it shows it working, with real timings, on
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
import type * as DemoCommand from "../commands/DemoCommand.ts"
import * as DemoView from "./DemoView.ts"
import type { WorkerEvent } from "./DemoWorker.ts"
import * as DemoWorkers from "./DemoWorkers.ts"
import * as Durations from "../internal/Durations.ts"
import * as EmbeddedControlPlane from "./EmbeddedControlPlane.ts"
import * as ExitCode from "../internal/ExitCode.ts"
import * as GlobalOptions from "../internal/GlobalOptions.ts"
import * as LeaseView from "../internal/LeaseView.ts"

type Config = Command.Command.Config.Infer<typeof DemoCommand.config>


/** Wall-clock milliseconds, sub-millisecond precision (the workers use the same clock). */
const now = () => performance.timeOrigin + performance.now()

interface Section {
  readonly worker: string
  readonly token: number
  readonly start: number
  readonly end: number
}

interface Settings {
  readonly kubeconfig: string
  readonly context: string | undefined
  readonly namespace: string
  readonly lease: string
  readonly durationSeconds: number
  readonly workers: number
  readonly sectionMillis: number
  readonly verbose: boolean
}

const randomSuffix = () => Math.random().toString(36).slice(2, 7)

/** The demo itself, once it knows where to run. */
const demo = (settings: Settings) =>
  Effect.gen(function*() {
    const live = DemoView.make()
    const { bold, cyan, dim, green, red, yellow } = live.paint
    const started = now()
    const stamp = (t: number) => dim(DemoView.clock(Math.max(0, t - started)))
    const say = (line: string) => live.log(`${stamp(now())}  ${cyan("demo".padEnd(9))} ${line}`)

    const client = yield* KubeClient.makeFromFile(settings.kubeconfig, { context: settings.context })
    const store = KubernetesLeaseStore.make(client)
    const key = { namespace: settings.namespace, name: settings.lease }

    const events: Array<WorkerEvent> = []
    const sections: Array<Section> = []
    let phase = "starting the workers"
    let api: LeaseView.LeaseView | undefined
    let lastApiHolder: string | null | undefined

    const nameOf = (holder: string) => workers.find((w) => w.holder === holder)?.name ?? holder

    const onEvent = (worker: DemoWorkers.Worker, event: WorkerEvent) => {
      events.push(event)
      const line = (text: string) => live.log(`${stamp(event.t)}  ${bold(worker.name.padEnd(9))} ${text}`)
      switch (event.type) {
        case "ready":
          worker.pid = event.pid
          worker.holder = event.holder
          worker.status = "waiting"
          line(dim(`started (pid ${event.pid}), contending as ${event.holder}`))
          break
        case "acquired":
          worker.status = "holding"
          worker.token = event.token
          worker.sections = 0
          line(green(`acquired the lease — fencing token ${event.token}`))
          break
        case "section":
          worker.sections = event.n
          sections.push({ worker: worker.name, token: event.token, start: event.start, end: event.end })
          line(`critical section ${String(event.n).padStart(2)} with token ${event.token}`)
          break
        case "releasing":
          line(yellow(`releasing the lease (token ${event.token})`))
          break
        case "released":
          worker.status = "cooling"
          line(yellow("released it"))
          break
        case "lost":
          worker.status = "waiting"
          line(red(`lost the lease: ${event.reason}`))
          break
        case "fatal":
          worker.status = "failed"
          line(red(`failed: ${event.message}`))
          break
      }
      if (event.type === "released") setTimeout(() => worker.status === "cooling" && (worker.status = "waiting"), 1000)
    }

    const pool = DemoWorkers.make(settings, {
      onEvent,
      onText: (worker, text) => live.log(`${stamp(now())}  ${bold(worker.name.padEnd(9))} ${dim(text)}`)
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
            const detail = failed === undefined ? "" : ` (${failed.name}: ${failed.stderr.slice(-3).join(" | ") || "see above"})`
            return Effect.fail(
              ExitCode.fail(ExitCode.codes.software, `demo: ${what} did not happen within ${Duration.format(Duration.fromInputUnsafe(timeout))}${detail}`, "run with --verbose to see the workers' logs")
            )
          }
        }),
        Effect.map((a) => a as A)
      )
    const acquiredAfter = (index: number, predicate: (e: Extract<WorkerEvent, { type: "acquired" }>) => boolean) => () =>
      events.slice(index).find((e): e is Extract<WorkerEvent, { type: "acquired" }> => e.type === "acquired" && predicate(e))
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
      DemoWorkers.askToRelease(from)
      const acquired = yield* waitFor("a handover", "20 seconds", acquiredAfter(index, (e) => e.worker !== from.name))
      const releasing = events.slice(index).find((e) => e.type === "releasing" && e.worker === from.name)!
      const change: DemoView.Change = {
        kind: "handover",
        from: from.name,
        to: acquired.worker,
        millis: acquired.t - releasing.t,
        fromToken: from.token ?? -1,
        toToken: acquired.token
      }
      changes.push(change)
      say(green(`handover ${from.name} → ${acquired.worker} in ${bold(Durations.formatMillis(change.millis))} (token ${change.fromToken} → ${change.toToken})`))
    })

    const failover = Effect.gen(function*() {
      const from = yield* waitFor("a holder", "30 seconds", holderNow)
      const index = events.length
      const token = from.token ?? -1
      phase = `failover: ${from.name} was SIGKILLed; the others wait until the lease expires (${settings.durationSeconds}s unchanged)`
      say(red(bold(`→ failover: SIGKILL ${from.name} (pid ${from.pid}) while it holds the lease, like a crashed pod`)))
      const killedAt = now()
      from.status = "killed"
      DemoWorkers.kill(from)
      const replacement = spawnWorker(nextIndex++)
      say(dim(`${replacement.name} starts to replace it`))
      const acquired = yield* waitFor(
        "a failover",
        Duration.seconds(settings.durationSeconds * 3 + 20),
        acquiredAfter(index, (e) => e.token > token)
      )
      const change: DemoView.Change = {
        kind: "failover",
        from: from.name,
        to: acquired.worker,
        millis: acquired.t - killedAt,
        fromToken: token,
        toToken: acquired.token
      }
      changes.push(change)
      say(green(`failover ${from.name} → ${acquired.worker} in ${bold(Durations.formatMillis(change.millis))} (token ${change.fromToken} → ${change.toToken})`))
    })

    say(`lease ${bold(`${key.namespace}/${key.name}`)}, duration ${settings.durationSeconds}s; starting ${settings.workers} worker processes`)
    for (let i = 0; i < settings.workers; i++) spawnWorker(nextIndex++)
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

    // Summary: tokens in the order their first section started; overlaps between workers.
    const ordered = [...sections].sort((a, b) => a.start - b.start)
    const tokens: Array<number> = []
    for (const s of ordered) if (tokens[tokens.length - 1] !== s.token) tokens.push(s.token)
    let overlaps = 0
    for (let i = 0; i < ordered.length; i++) {
      for (let j = i + 1; j < ordered.length && ordered[j]!.start < ordered[i]!.end; j++) {
        if (ordered[j]!.worker !== ordered[i]!.worker) overlaps++
      }
    }
    const summary: DemoView.Summary = {
      lease: `${key.namespace}/${key.name}`,
      durationSeconds: settings.durationSeconds,
      workers: settings.workers,
      changes,
      tokens,
      sections: sections.length,
      overlaps,
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
    yield* LeaseOptions.resolve({ namespace: "default", name: "leasekit-demo", holder: "demo", duration }).pipe(
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
      workers: c.workers,
      sectionMillis: 400,
      verbose: c.verbose
    })
    if (!DemoView.strictlyIncreasing(summary.tokens) || summary.overlaps > 0) {
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
