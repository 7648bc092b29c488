/**
 * The control plane's processes: one `ComponentProcess` per server (etcd, kube-apiserver), a slot
 * that holds at most one running process of a fixed command line and knows how to start it, wait
 * until it is ready, stop, restart, pause and resume it — the controls chaos and fault tests use.
 *
 * Guarantees:
 * - controls of one component run one at a time (a lock per slot); `restart` keeps the ports,
 *   flags and data, because the command line is fixed when the slot is made;
 * - each process is a `Process` of `@leasekit/testing/Process` (its own process group, stdout and
 *   stderr appended to `<dir>/<component>.log`) in a scope of its own, closed by `stop`; spawning
 *   and recording it (in the slot, and with the lifeline of `dir` through `Process.register`) is
 *   one uninterruptible step, so `stop` — and the control plane's finalizer — knows every process
 *   that was started;
 * - `start` waits, bounded by `startTimeout`, until the component's readiness probe answers, and
 *   fails early (`Exited`) when the process exits first, with the tail of what it logged since
 *   this start;
 * - `stop` stops the process group (`Process.stop`: SIGCONT, SIGTERM, SIGKILL after the grace
 *   period) and waits for the exit.
 *
 * Does not: restart a component that exits on its own (its state becomes `exited`), or probe a
 * running component unless asked (`awaitReady`).
 *
 * @internal
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Process from "../../Process.ts"
import type { Component, ComponentState } from "./model.ts"
import { ControlPlaneError } from "./model.ts"

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
  /** The whole environment of the process. */
  readonly env: Readonly<Record<string, string | undefined>>
  /** The spawner (`Process.layer`, built once by the control plane). */
  readonly spawner: Context.Context<ChildProcessSpawner>
  readonly probe: Effect.Effect<Probe>
  /** Bound on `start` becoming ready. */
  readonly startTimeout: Duration.Input
  /** Between SIGTERM and SIGKILL. */
  readonly grace: Duration.Input
}

/** The last `lines` lines of a log file after byte `from` ("" when unreadable). */
const tail = (file: string, lines: number, from: number): string => {
  try {
    const size = Fs.statSync(file).size
    const length = Math.max(0, Math.min(size - from, 64 * 1024))
    const buffer = Buffer.alloc(length)
    const fd = Fs.openSync(file, "r")
    try {
      Fs.readSync(fd, buffer, 0, length, size - length)
    } finally {
      Fs.closeSync(fd)
    }
    return buffer.toString("utf8").split("\n").slice(-lines - 1).join("\n").trimEnd()
  } catch {
    return ""
  }
}

/** A running process and the scope it lives in. */
interface Running {
  readonly process: Process.Process
  readonly scope: Scope.Closeable
}

/** A slot for one component; nothing runs until `start`. @internal */
export const make = (options: ComponentOptions): ComponentProcess => {
  const { command, component } = options
  const logFile = Path.join(options.dir, `${component}.log`)
  const lock = Semaphore.makeUnsafe(1)
  let current: Running | undefined
  let paused = false
  let logOffset = 0

  /** The process when it has not exited. */
  const alive: Effect.Effect<Process.Process | undefined> = Effect.suspend(() =>
    current === undefined
      ? Effect.succeed(undefined)
      : Effect.map(current.process.exited, (exit) => Option.isNone(exit) ? current?.process : undefined)
  )
  const logTail = () => tail(logFile, 40, logOffset)

  const awaitReady = (timeout: Duration.Input): Effect.Effect<void, ControlPlaneError> => {
    let last = "no answer yet"
    const attempt = Effect.gen(function*() {
      const exit = current === undefined ? Option.none() : yield* current.process.exited
      if (current === undefined || Option.isSome(exit)) {
        const how = Option.match(exit, {
          onNone: () => "is not running",
          onSome: (e) => `exited (${e.signal ?? `code ${e.code}`})`
        })
        // Its last lines reach the log through a pipe: give them a moment to arrive.
        yield* Effect.sleep("200 millis")
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

  const stop: Effect.Effect<void> = Effect.suspend(() => {
    const running = current
    if (running === undefined) return Effect.void
    return running.process.stop.pipe(
      Effect.andThen(Scope.close(running.scope, Exit.void)),
      Effect.andThen(Effect.sync(() => {
        current = undefined
        paused = false
      }))
    )
  }).pipe(Effect.uninterruptible)

  const spawn = Effect.gen(function*() {
    const scope = yield* Scope.make()
    const child = yield* Process.spawn(command, options.args, {
      cwd: options.dir,
      env: options.env,
      extendEnv: false,
      output: { file: logFile },
      grace: options.grace
    }).pipe(
      Scope.provide(scope),
      Effect.provide(options.spawner),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    current = { process: child, scope }
    paused = false
    yield* Process.register(options.dir, child.pid)
  }).pipe(
    Effect.mapError((e) => new ControlPlaneError({ reason: "Spawn", component, detail: e.message, cause: e })),
    Effect.uninterruptible
  )

  const start: Effect.Effect<void, ControlPlaneError> = Effect.gen(function*() {
    if ((yield* alive) !== undefined) return
    // A process that exited on its own is released before the next one starts.
    yield* stop
    yield* Effect.sync(() => {
      logOffset = Fs.existsSync(logFile) ? Fs.statSync(logFile).size : 0
      Fs.appendFileSync(logFile, `\n=== leasekit: starting ${command} at ${new Date().toISOString()} ===\n`)
    })
    yield* spawn
    yield* awaitReady(options.startTimeout)
  })

  const signal = (verb: string, sig: NodeJS.Signals, pausedAfter: boolean) =>
    lock.withPermit(Effect.gen(function*() {
      const running = yield* alive
      if (running === undefined) {
        return yield* new ControlPlaneError({ reason: "InvalidState", component, detail: `cannot ${verb}: not running` })
      }
      yield* running.signal(sig)
      paused = pausedAfter
    }))

  return {
    component,
    logFile,
    pid: Effect.map(alive, (running) => Option.fromUndefinedOr(running?.pid)),
    state: Effect.gen(function*() {
      if (current === undefined) return "stopped"
      if (Option.isSome(yield* current.process.exited)) return "exited"
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
