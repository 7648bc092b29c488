/**
 * The demo's worker processes (`DemoWorker.ts`): started with their configuration, their events
 * read from stdout (one JSON object per line), their stderr kept (the last 20 lines) and shown with
 * `--verbose`, asked to release, SIGKILLed, and stopped at the end.
 *
 * Guarantees: `stop` leaves no worker running — the waiting ones get SIGTERM first, then the
 * holder (a worker releases its lease as it exits), so that the lease does not pass around on the
 * way out; SIGKILL for any worker still there after 10 seconds. Does not: judge what the workers
 * did (`Demo.ts` does), or stop the workers by itself — whoever makes the pool runs `stop` when it
 * ends.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { fileURLToPath } from "node:url"
import type * as DemoView from "./DemoView.ts"
import type { WorkerConfig, WorkerEvent } from "./DemoWorker.ts"
import { configVariable } from "./DemoWorker.ts"

/** The worker's script beside this module: `DemoWorker.ts` in the sources, `DemoWorker.js` when built. */
const workerScript = fileURLToPath(new URL(`./DemoWorker${Path.extname(fileURLToPath(import.meta.url))}`, import.meta.url))

/**
 * A worker process and what the demo knows of it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Worker {
  readonly name: string
  readonly proc: ChildProcess.ChildProcess
  pid: number | undefined
  holder: string | undefined
  status: DemoView.WorkerLine["status"]
  token: number | undefined
  sections: number
  exited: boolean
  readonly stderr: Array<string>
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
  /** Starts worker `worker-<index>`. */
  readonly spawn: (index: number) => Worker
  /** Stops every worker still running (see the module header). */
  readonly stop: Effect.Effect<void>
}

/**
 * A pool of workers contending for `settings.lease`; `onEvent` gets each event a worker reports,
 * `onText` each line of its stdout that is not an event.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
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
): Pool => {
  const workers: Array<Worker> = []
  const spawn = (index: number): Worker => {
    const config: WorkerConfig = {
      worker: `worker-${index}`,
      kubeconfig: settings.kubeconfig,
      context: settings.context,
      namespace: settings.namespace,
      lease: settings.lease,
      durationSeconds: settings.durationSeconds,
      sectionMillis: settings.sectionMillis,
      cooldownMillis: 1000
    }
    const proc = ChildProcess.spawn(process.execPath, [workerScript], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, [configVariable]: JSON.stringify(config) }
    })
    const worker: Worker = {
      name: config.worker,
      proc,
      pid: proc.pid,
      holder: undefined,
      status: "starting",
      token: undefined,
      sections: 0,
      exited: false,
      stderr: []
    }
    workers.push(worker)
    Readline.createInterface({ input: proc.stdout! }).on("line", (text) => {
      try {
        handlers.onEvent(worker, JSON.parse(text) as WorkerEvent)
      } catch {
        handlers.onText(worker, text)
      }
    })
    Readline.createInterface({ input: proc.stderr! }).on("line", (text) => {
      worker.stderr.push(text)
      if (worker.stderr.length > 20) worker.stderr.shift()
      if (settings.verbose) process.stderr.write(`[${worker.name}] ${text}\n`)
    })
    proc.stdin!.on("error", () => {}) // a SIGKILLed worker's pipe breaks; that is expected
    proc.once("exit", () => {
      worker.exited = true
      if (worker.status !== "killed" && worker.status !== "failed") worker.status = "stopped"
    })
    return worker
  }

  /**
   * Stops the workers: the waiting ones first, then the holder (SIGTERM: a worker releases its
   * lease as it exits), so that the lease does not pass around on the way out; SIGKILL for any
   * worker still there after 10 seconds.
   */
  const stop = Effect.gen(function*() {
    const alive = () => workers.filter((w) => !w.exited)
    const stopAll = (which: ReadonlyArray<Worker>) =>
      Effect.gen(function*() {
        for (const w of which) w.proc.kill("SIGTERM")
        yield* Effect.sleep(Duration.millis(20)).pipe(
          Effect.repeat({ until: () => which.every((w) => w.exited) }),
          Effect.timeout(Duration.seconds(10)),
          Effect.ignore
        )
      })
    yield* stopAll(alive().filter((w) => w.status !== "holding"))
    yield* stopAll(alive())
    for (const w of alive()) w.proc.kill("SIGKILL")
  })
  return { workers, spawn, stop }
}

/**
 * Asks a worker to release the lease gracefully (it goes on contending afterwards).
 *
 * @since 0.1.0
 * @category commands
 */
export const askToRelease = (worker: Worker): void => void worker.proc.stdin!.write("release\n")

/**
 * SIGKILLs a worker, like a crashed pod.
 *
 * @since 0.1.0
 * @category commands
 */
export const kill = (worker: Worker): void => void worker.proc.kill("SIGKILL")
