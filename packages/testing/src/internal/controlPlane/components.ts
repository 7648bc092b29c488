/**
 * The control plane's processes: one `ComponentProcess` per server (etcd, kube-apiserver), a slot
 * that holds at most one running process of a fixed command line and knows how to start it, wait
 * until it is ready, stop, restart, pause and resume it — the controls chaos and fault tests use.
 *
 * Guarantees:
 * - controls of one component run one at a time (a lock per slot); `restart` keeps the ports,
 *   flags and data, because the command line is fixed when the slot is made;
 * - spawning and recording the process (in the slot and in `<dir>/<component>.pid`, which the
 *   lifeline watchdog reads) is one uninterruptible step, so `stop` — and the control plane's
 *   finalizer — knows every process that was started;
 * - `start` waits, bounded by `startTimeout`, until the component's readiness probe answers, and
 *   fails early (`Exited`) when the process exits first, with the tail of what it logged since
 *   this start;
 * - `stop` stops the process group (SIGCONT, SIGTERM, SIGKILL after the grace period) and waits
 *   for the exit.
 *
 * Does not: restart a component that exits on its own (its state becomes `exited`), or probe a
 * running component unless asked (`awaitReady`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Semaphore from "effect/Semaphore"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Process from "../process.ts"
import type { Component } from "./model.ts"
import { ControlPlaneError } from "./model.ts"

/** What a component is doing, as its slot knows it. @internal */
export type ComponentState = "running" | "paused" | "stopped" | "exited"

/** One readiness probe: `ok`, and what was seen (for the error when it never becomes ready). @internal */
export interface Probe {
  readonly ok: boolean
  readonly seen: string
}

/** @internal */
export interface ComponentProcess {
  readonly component: Component
  /** The file receiving the process's stdout and stderr. */
  readonly logFile: string
  readonly pid: Effect.Effect<Option.Option<number>>
  readonly state: Effect.Effect<ComponentState>
  /** Starts it when it is not running and waits until it is ready. */
  readonly start: Effect.Effect<void, ControlPlaneError>
  /** Stops it when it is running (no-op otherwise). */
  readonly stop: Effect.Effect<void>
  /** `stop` without waiting for a control in progress: for the control plane's finalizer. */
  readonly shutdown: Effect.Effect<void>
  readonly restart: Effect.Effect<void, ControlPlaneError>
  /** SIGSTOP to its group; fails with `InvalidState` when it is not running. */
  readonly pause: Effect.Effect<void, ControlPlaneError>
  /** SIGCONT to its group; fails with `InvalidState` when it is not running. */
  readonly resume: Effect.Effect<void, ControlPlaneError>
  /** Polls the probe until it answers `ok`, bounded by `timeout`; fails early when the process exits. */
  readonly awaitReady: (timeout: Duration.Input) => Effect.Effect<void, ControlPlaneError>
}

/** @internal */
export interface ComponentOptions {
  readonly component: Component
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** The control plane's folder: the working directory, and where the log and pid files go. */
  readonly dir: string
  readonly env: NodeJS.ProcessEnv
  readonly probe: Effect.Effect<Probe>
  /** Bound on `start` becoming ready. */
  readonly startTimeout: Duration.Input
  /** Between SIGTERM and SIGKILL. */
  readonly graceMillis: number
}

/** A slot for one component; nothing runs until `start`. @internal */
export const make = (options: ComponentOptions): ComponentProcess => {
  const { command, component } = options
  const logFile = Path.join(options.dir, `${component}.log`)
  const pidFile = Path.join(options.dir, `${component}.pid`)
  const lock = Semaphore.makeUnsafe(1)
  let proc: Process.Proc | undefined
  let paused = false
  let logOffset = 0

  const alive = (): Process.Proc | undefined =>
    proc !== undefined && Option.isNone(proc.exitInfo()) ? proc : undefined
  const logTail = () => Process.tail(logFile, 40, logOffset)

  const awaitReady = (timeout: Duration.Input): Effect.Effect<void, ControlPlaneError> => {
    let last = "no answer yet"
    const attempt = Effect.gen(function*() {
      const exit = proc?.exitInfo() ?? Option.none()
      if (proc === undefined || Option.isSome(exit)) {
        const how = Option.match(exit, {
          onNone: () => "is not running",
          onSome: (e) => `exited (${e.signal ?? `code ${e.code}`})`
        })
        return yield* new ControlPlaneError({
          reason: "Exited",
          component,
          detail: `${command} ${how} before it became ready (log: ${logFile})`,
          logTail: logTail()
        })
      }
      const probe = yield* options.probe
      if (!probe.ok) {
        last = probe.seen
        return yield* new ControlPlaneError({ reason: "NotReady", component, detail: last })
      }
    })
    return attempt.pipe(
      Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e.reason === "NotReady" }),
      Effect.timeoutOrElse({
        duration: timeout,
        orElse: () =>
          Effect.fail(
            new ControlPlaneError({
              reason: "NotReady",
              component,
              detail: `not ready after ${Duration.format(Duration.fromInputUnsafe(timeout))} (last probe: ${last}; log: ${logFile})`,
              logTail: logTail()
            })
          )
      })
    )
  }

  const start: Effect.Effect<void, ControlPlaneError> = Effect.gen(function*() {
    if (alive() !== undefined) return
    yield* Effect.sync(() => {
      logOffset = Fs.existsSync(logFile) ? Fs.statSync(logFile).size : 0
      Fs.appendFileSync(logFile, `\n=== leasekit: starting ${command} at ${new Date().toISOString()} ===\n`)
    })
    yield* Process.spawn({ command, args: options.args, logFile, cwd: options.dir, env: options.env }).pipe(
      Effect.tap((started) =>
        Effect.sync(() => {
          proc = started
          paused = false
          Fs.writeFileSync(pidFile, `${started.pid}\n`)
        })
      ),
      Effect.mapError((e) => new ControlPlaneError({ reason: "Spawn", component, detail: e.message, cause: e.cause })),
      Effect.uninterruptible
    )
    yield* awaitReady(options.startTimeout)
  })

  const stop: Effect.Effect<void> = Effect.gen(function*() {
    const current = proc
    if (current === undefined) return
    yield* Process.terminate(current, options.graceMillis)
    proc = undefined
    paused = false
    yield* Effect.sync(() => Fs.rmSync(pidFile, { force: true }))
  }).pipe(Effect.uninterruptible)

  const signal = (verb: string, sig: NodeJS.Signals, pausedAfter: boolean) =>
    lock.withPermit(Effect.suspend(() => {
      const running = alive()
      if (running === undefined) {
        return Effect.fail(new ControlPlaneError({ reason: "InvalidState", component, detail: `cannot ${verb}: not running` }))
      }
      Process.signalGroup(running.pid, sig)
      paused = pausedAfter
      return Effect.void
    }))

  return {
    component,
    logFile,
    pid: Effect.sync(() => Option.fromUndefinedOr(alive()?.pid)),
    state: Effect.sync(() => {
      if (proc === undefined) return "stopped"
      if (Option.isSome(proc.exitInfo())) return "exited"
      return paused ? "paused" : "running"
    }),
    start: lock.withPermit(start),
    stop: lock.withPermit(stop),
    shutdown: stop,
    restart: lock.withPermit(Effect.andThen(stop, start)),
    pause: signal("pause", "SIGSTOP", true),
    resume: signal("resume", "SIGCONT", false),
    awaitReady
  }
}
