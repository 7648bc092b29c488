/**
 * The demo's worker processes: contenders of `@leasekit/testing`'s harness (the contender the
 * chaos suite and the bench drive, `Contender.spawn`), each running the loop mode on the demo's
 * lease — acquire, a critical section of `sectionMillis` steps each checked with `isHeld`, until
 * asked to release — with their events (milliseconds of `CLOCK_MONOTONIC`) handed to the demo as
 * they arrive, and kept per worker (`journal`) for `Exclusion` to judge.
 *
 * A worker asked to release (`askToRelease`) ends its section after the current step, releases
 * the lease, and joins again after a pause of `cooldownMillis`, so that a waiting worker takes over.
 *
 * Guarantees: `stop` leaves no worker running — the waiting ones are stopped first, then the
 * holder (a contender releases its lease as it exits), so that the lease does not pass around on
 * the way out; SIGKILL for any worker still there after 10 seconds; and the pool's scope stops
 * them all whatever ends the demo. Does not: judge what the workers did (`Demo.ts` does).
 *
 * @since 0.1.0
 */
import type * as Contender from "@leasekit/testing/Contender"
import type * as ContenderProtocol from "@leasekit/testing/ContenderProtocol"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type * as DemoView from "./DemoView.ts"
import type { Testing } from "./EmbeddedControlPlane.ts"

/**
 * What a worker reports, in milliseconds: its loop's events, `ready`, `released` (it left the
 * contention) and `error`.
 *
 * @since 0.1.0
 * @category models
 */
export type WorkerEvent =
  | ContenderProtocol.LoopEvent
  | Extract<ContenderProtocol.Event, { readonly ev: "ready" | "released" | "error" }>

/**
 * A worker process and what the demo knows of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Worker {
  readonly name: string
  /** Its holder identity. */
  readonly holder: string
  pid: number | undefined
  status: DemoView.WorkerLine["status"]
  token: number | undefined
  sections: number
  exited: boolean
  /** Its loop events so far (milliseconds), for `Exclusion`. */
  readonly journal: Array<ContenderProtocol.LoopEvent>
  /** The last lines of its log (stderr). */
  readonly stderr: () => ReadonlyArray<string>
  contender: Contender.Contender | undefined
  /** Set by `askToRelease`: join again after the release. */
  rejoin: boolean
}

/**
 * The workers' pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pool {
  /** Every worker started so far, in the order started. */
  readonly workers: ReadonlyArray<Worker>
  /** Starts worker `worker-<index>` (in the background: it joins once its process is ready). */
  readonly spawn: (index: number) => Effect.Effect<Worker>
  /** Asks a worker to release the lease gracefully (it goes on contending afterwards). */
  readonly askToRelease: (worker: Worker) => Effect.Effect<void>
  /** SIGKILLs a worker, like a crashed pod. */
  readonly kill: (worker: Worker) => Effect.Effect<void>
  /** Stops every worker still running (see the module header). */
  readonly stop: Effect.Effect<void>
}

/**
 * A pool of workers contending for `settings.lease`; `onEvent` gets each event a worker reports,
 * `onText` what the demo should say about a worker that is not an event (a failure to start).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  testing: Testing,
  settings: {
    readonly kubeconfig: string
    readonly context: string | undefined
    readonly namespace: string
    readonly lease: string
    readonly durationSeconds: number
    readonly sectionMillis: number
    readonly verbose: boolean
  },
  handlers: {
    readonly onEvent: (worker: Worker, event: WorkerEvent) => void
    readonly onText: (worker: Worker, text: string) => void
  }
): Effect.Effect<Pool, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const logs = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-demo-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(logs, { recursive: true, force: true })))
    const workers: Array<Worker> = []
    const protocol = testing.ContenderProtocol
    const join: ContenderProtocol.JoinCommand = {
      cmd: "join",
      mode: "loop",
      name: settings.lease,
      namespace: settings.namespace,
      leaseDurationMs: settings.durationSeconds * 1000,
      // Steps of the critical section: until asked to release.
      writes: Number.MAX_SAFE_INTEGER,
      workMs: settings.sectionMillis
    }
    const inMillis = (event: ContenderProtocol.Event): WorkerEvent | undefined =>
      protocol.isLoopEvent(event)
        ? testing.Exclusion.inMillis(event)
        : event.ev === "ready" || event.ev === "released"
        ? { ...event, t: event.t / 1000 }
        : event.ev === "error"
        ? event
        : undefined

    /** Hands each event to the demo; joins again after a requested release. */
    const follow = (worker: Worker, contender: Contender.Contender) =>
      contender.follow((item) =>
        Effect.gen(function*() {
          const event = inMillis(item)
          if (event === undefined) return
          if (protocol.isLoopEvent(event)) worker.journal.push(event)
          handlers.onEvent(worker, event)
          if (event.ev === "released" && worker.rejoin) {
            worker.rejoin = false
            yield* Effect.sleep(Duration.millis(1000))
            yield* contender.send(join)
          }
        })
      ).pipe(Effect.flatMap(Fiber.join), Effect.scoped)

    const start = (worker: Worker) =>
      Effect.gen(function*() {
        const contender = yield* testing.Contender.spawn({
          kubeconfig: settings.kubeconfig,
          context: settings.context,
          identity: worker.holder,
          label: worker.name,
          ...(settings.verbose ? {} : { log: Path.join(logs, `${worker.name}.log`) }),
          grace: Duration.seconds(10)
        }).pipe(Effect.provide(testing.Process.layer))
        worker.contender = contender
        worker.pid = contender.pid
        yield* Effect.forkIn(follow(worker, contender), scope)
        yield* Effect.forkIn(
          Effect.andThen(contender.exit, Effect.sync(() => {
            worker.exited = true
            if (worker.status !== "killed" && worker.status !== "failed") worker.status = "stopped"
          })),
          scope
        )
        handlers.onEvent(worker, { ...contender.ready, t: contender.ready.t / 1000 })
        yield* contender.send(join)
      }).pipe(
        Effect.catch((error) =>
          Effect.sync(() => {
            worker.status = "failed"
            worker.exited = true
            handlers.onText(worker, `failed to start: ${error.message}`)
          })
        ),
        Scope.provide(scope)
      )

    const spawn = (index: number) =>
      Effect.gen(function*() {
        const name = `worker-${index}`
        const logFile = Path.join(logs, `${name}.log`)
        const worker: Worker = {
          name,
          holder: `demo-${name}`,
          pid: undefined,
          status: "starting",
          token: undefined,
          sections: 0,
          exited: false,
          journal: [],
          stderr: () => (Fs.existsSync(logFile) ? Fs.readFileSync(logFile, "utf8").trim().split("\n").slice(-20) : []),
          contender: undefined,
          rejoin: false
        }
        workers.push(worker)
        yield* Effect.forkIn(start(worker), scope)
        return worker
      })

    const askToRelease = (worker: Worker) =>
      Effect.suspend(() => {
        if (worker.contender === undefined) return Effect.void
        worker.rejoin = true
        return worker.contender.send({ cmd: "release" })
      })

    const kill = (worker: Worker) =>
      Effect.suspend(() => {
        worker.status = "killed"
        return worker.contender === undefined ? Effect.void : Effect.asVoid(worker.contender.signal("SIGKILL"))
      })

    const stop = Effect.gen(function*() {
      const alive = () => workers.filter((w) => !w.exited && w.contender !== undefined)
      const stopAll = (which: ReadonlyArray<Worker>) =>
        Effect.forEach(which, (w) => Effect.ignore(w.contender!.stop), { concurrency: "unbounded", discard: true })
      yield* stopAll(alive().filter((w) => w.status !== "holding"))
      yield* stopAll(alive())
    })
    yield* Effect.addFinalizer(() => stop)
    return { workers, spawn, askToRelease, kill, stop }
  })
