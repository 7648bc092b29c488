/**
 * One worker process of `leasekit demo`: contends for the demo lease with the library itself
 * (`Lease.acquire`, `guard`, `release`) and, while holding it, runs short critical sections
 * stamped with its fencing token.
 *
 * Run as `node DemoWorker.ts` with its configuration (JSON) in `LEASEKIT_DEMO_WORKER`. It talks
 * to the demo in lines: events as JSON on stdout (`ready`, `acquired`, `section`, `releasing`,
 * `released`, `lost`), commands on stdin (`release`: finish the current section, release the
 * lease gracefully and rejoin the contention after a pause; `stop`: release and exit). SIGTERM
 * and SIGINT release the lease and exit; SIGKILL is what the demo uses to simulate a crash.
 *
 * Guarantees: a `section` event is only emitted for a section that completed while the lease was
 * held (guarded: a section interrupted by loss emits nothing); every time stamp is this machine's
 * wall clock in milliseconds with sub-millisecond precision, so the demo can compare workers.
 * Does not: retry on a permanent failure (forbidden, bad kubeconfig) — it reports `fatal` and
 * exits 1.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Lease from "@leasekit/core/Lease"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Readline from "node:readline"

/**
 * What the demo tells a worker.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerConfig {
  readonly worker: string
  readonly kubeconfig: string
  readonly context?: string | undefined
  readonly namespace: string
  readonly lease: string
  readonly durationSeconds: number
  readonly sectionMillis: number
  readonly cooldownMillis: number
}

/**
 * What a worker tells the demo (one JSON object per line; `t` is wall-clock milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export type WorkerEvent =
  | { readonly type: "ready"; readonly worker: string; readonly t: number; readonly pid: number; readonly holder: string }
  | { readonly type: "acquired"; readonly worker: string; readonly t: number; readonly token: number }
  | {
    readonly type: "section"
    readonly worker: string
    readonly t: number
    readonly token: number
    readonly n: number
    readonly start: number
    readonly end: number
  }
  | { readonly type: "releasing"; readonly worker: string; readonly t: number; readonly token: number }
  | { readonly type: "released"; readonly worker: string; readonly t: number; readonly token: number }
  | { readonly type: "lost"; readonly worker: string; readonly t: number; readonly token: number; readonly reason: string }
  | { readonly type: "fatal"; readonly worker: string; readonly t: number; readonly message: string }

/**
 * The environment variable carrying the configuration.
 *
 * @since 0.1.0
 * @category constants
 */
export const configVariable = "LEASEKIT_DEMO_WORKER"

/** Wall-clock milliseconds, sub-millisecond precision. */
const now = () => performance.timeOrigin + performance.now()

type Event = WorkerEvent extends infer E ? E extends WorkerEvent ? Omit<E, "worker" | "t"> : never : never

/** The worker's program. */
const program = (config: WorkerConfig) => {
  const emit = (event: Event) =>
    Effect.sync(() => process.stdout.write(`${JSON.stringify({ ...event, worker: config.worker, t: now() })}\n`))
  return Effect.gen(function*() {
    const holder = `demo-${config.worker}_${process.pid}`
    const commands = yield* Queue.unbounded<string>()
    const lines = Readline.createInterface({ input: process.stdin })
    lines.on("line", (line) => Queue.offerUnsafe(commands, line.trim()))
    // The demo closing our stdin means it is gone: leave.
    lines.on("close", () => Queue.offerUnsafe(commands, "stop"))

    yield* emit({ type: "ready", pid: process.pid, holder })
    const options = { namespace: config.namespace, name: config.lease, holder, duration: `${config.durationSeconds} seconds` as const }

    while (true) {
      const outcome = yield* Effect.scoped(Effect.gen(function*() {
        const lease = yield* Lease.acquire(options)
        yield* emit({ type: "acquired", token: lease.token })
        return yield* Effect.gen(function*() {
          for (let n = 1;; n++) {
            const start = now()
            yield* lease.guard(Effect.sleep(config.sectionMillis))
            yield* emit({ type: "section", token: lease.token, n, start, end: now() })
            const command = yield* Queue.poll(commands)
            if (Option.isSome(command)) {
              yield* emit({ type: "releasing", token: lease.token })
              yield* lease.release
              yield* emit({ type: "released", token: lease.token })
              return command.value
            }
          }
        }).pipe(
          Effect.catchTag("LeaseLostError", (error) =>
            emit({ type: "lost", token: lease.token, reason: error.message }).pipe(Effect.as("lost")))
        )
      }))
      if (outcome === "stop") return
      // After a graceful release, step back so that a waiting worker takes over.
      if (outcome === "release") yield* Effect.sleep(config.cooldownMillis)
    }
  }).pipe(
    Effect.catch((error) =>
      emit({ type: "fatal", message: error.message }).pipe(Effect.andThen(Effect.sync(() => {
        process.exitCode = 1
      })))
    ),
    Effect.provide(
      KubernetesLeaseStore.layer().pipe(Layer.provide(KubeClient.layerFromFile(config.kubeconfig, { context: config.context })))
    )
  )
}

if (process.env[configVariable] !== undefined) {
  const config = JSON.parse(process.env[configVariable]) as WorkerConfig
  NodeRuntime.runMain(program(config).pipe(Effect.andThen(Effect.sync(() => process.exit()))), { disableErrorReporting: true })
}
