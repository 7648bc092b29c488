/**
 * Child processes, each the leader of its own process group (and session), on Effect's
 * `effect/process` `ChildProcess` with the Node spawner — the one process layer of leasekit's
 * tools: the CLI's command, the control plane's servers, and the contender processes of the demo,
 * the chaos suite and the bench all start here.
 *
 * Effect's `ChildProcess` spawns the child detached (a new session and process group), streams its
 * output, and on scope close terminates the group. What it lacks, and this module adds:
 * - `signal`: any signal to the whole group without waiting for an exit (SIGSTOP / SIGCONT to pause
 *   and resume, SIGKILL to crash it, a forwarded SIGHUP) — the handle's `kill` always waits for the
 *   process to exit;
 * - `ExitStatus` with the terminating signal — the handle's `exitCode` fails with a message only;
 * - `terminate`: the one SIGTERM → SIGCONT → grace → SIGKILL sequence, for a process group (`stop`)
 *   and for targets that are not one group (the CLI stops every group of its command's session);
 *   SIGCONT right after SIGTERM, because a stopped process acts on a signal only once resumed — and
 *   with SIGTERM already pending it ends as it resumes, without running its own code in between;
 * - `send` / `lines`: a line protocol over stdin / stdout, and `output: { file }` (stdout and stderr
 *   appended to a log file);
 * - `exec`: a command run to completion with its outputs and how long it ran (timed at the exit, for
 *   start-up times); on a timeout, what it printed so far in the error;
 * - `lifeline`: processes that must not outlive this Node process even when it dies without running
 *   finalizers (SIGKILL, OOM): a watchdog shell blocked on a pipe only this process writes to.
 *
 * Guarantees: when the scope of `spawn` closes, the group has been stopped (`stop`, bounded by the
 * grace period plus the SIGKILL) unless it exited before. `signal` never signals a process group
 * after its leader's exit was observed (its pid may be reused). Does not: follow processes that left
 * the group (`setpgid`) or the session (`setsid`); the lifeline cannot stop anything on a machine
 * without `/proc` (it checks each pid's command line first, so a reused pid is never hit).
 *
 * @since 0.2.0
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ChildProcess from "effect/process/ChildProcess"
import { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type { ChildProcessHandle } from "effect/process/ChildProcessSpawner"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { describe, type ExitStatus, exitStatusOf, ProcessError } from "./internal/process/status.ts"
import * as Fs from "node:fs"

export {
  /**
   * How a process ended: its exit code, or the signal that terminated it.
   *
   * @since 0.2.0
   * @category models
   */
  type ExitStatus,
  /**
   * A process could not be started, or (`run`) ended unsuccessfully.
   *
   * @since 0.2.0
   * @category errors
   */
  ProcessError
} from "./internal/process/status.ts"
export {
  /**
   * Starts a lifeline for a folder: registered process groups are stopped when this process dies.
   *
   * @since 0.2.0
   * @category lifeline
   */
  lifeline,
  /**
   * Registers a process group leader with the lifeline watching a folder.
   *
   * @since 0.2.0
   * @category lifeline
   */
  register
} from "./internal/process/lifeline.ts"

/**
 * A running child process, the leader of its own process group.
 *
 * @since 0.2.0
 * @category models
 */
export interface Process {
  readonly pid: number
  /** Effect's handle (stdout / stderr streams, the stdin sink). */
  readonly handle: ChildProcessHandle
  /** Stdout as lines (`output: "pipe"`); consume it once, and keep consuming it: a full pipe blocks the child. */
  readonly lines: Stream.Stream<string>
  /** Writes one line to stdin (`stdin: "pipe"`); false once stdin was closed. */
  readonly send: (line: string) => Effect.Effect<boolean>
  /** Ends stdin (`stdin: "pipe"`): the child reads end-of-file. */
  readonly closeStdin: Effect.Effect<void>
  /** Sends `signal` to the whole group, without waiting; false when the process has exited. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<boolean>
  /** SIGTERM, SIGCONT, SIGKILL after the grace period (`terminate`); completes once it exited. */
  readonly stop: Effect.Effect<ExitStatus>
  /** Waits for the exit. */
  readonly exit: Effect.Effect<ExitStatus>
  /** The exit, once it happened. */
  readonly exited: Effect.Effect<Option.Option<ExitStatus>>
}

/**
 * Options of `spawn`.
 *
 * @since 0.2.0
 * @category models
 */
export interface SpawnOptions {
  readonly cwd?: string | undefined
  /** Added to this process's environment, unless `extendEnv` is false (then the whole environment). */
  readonly env?: Record<string, string | undefined> | undefined
  readonly extendEnv?: boolean | undefined
  /** Default `"ignore"`. */
  readonly stdin?: "pipe" | "inherit" | "ignore" | undefined
  /** Stdout and stderr: piped (`lines`; stderr is then inherited), inherited, ignored, or appended to a file. Default `"ignore"`. */
  readonly output?: "pipe" | "inherit" | "ignore" | { readonly file: string } | undefined
  /** With `output: "pipe"` only: stderr appended to this file instead of inherited (a contender's log). */
  readonly stderr?: { readonly file: string } | undefined
  /** Between SIGTERM and SIGKILL when stopped (also on scope close). Default 5 seconds. */
  readonly grace?: Duration.Input | undefined
}

/**
 * Something that can be signalled and asked whether it is still alive: a process group, or all
 * the groups of a session.
 *
 * @since 0.2.0
 * @category models
 */
export interface Target {
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<boolean>
  readonly alive: Effect.Effect<boolean>
}

/**
 * The Node spawner every `spawn` / `run` needs.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<ChildProcessSpawner> = NodeChildProcessSpawner.layer.pipe(
  Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
)

/** How often `terminate` looks whether the target is gone. */
const pollMillis = 10

/**
 * The one stop sequence: SIGTERM, then SIGCONT (a stopped process acts on the pending SIGTERM as
 * it resumes, without running in between), then SIGKILL once `grace` passed with the target still alive; completes when it is gone, or 2 s after
 * the SIGKILL at the latest (a process in uninterruptible sleep).
 *
 * @since 0.2.0
 * @category stopping
 */
export const terminate = (target: Target, grace: Duration.Input): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (!(yield* target.alive)) return
    yield* target.signal("SIGTERM")
    yield* target.signal("SIGCONT")
    if (yield* gone(target, Duration.toMillis(Duration.fromInputUnsafe(grace)))) return
    yield* target.signal("SIGKILL")
    yield* gone(target, 2_000)
  }).pipe(Effect.uninterruptible)

/** Waits up to `millis` for the target to be gone, measured on the monotonic clock: a step of the
 * wall clock (NTP, a resumed VM) must not stretch the grace before the SIGKILL. */
const gone = (target: Target, millis: number): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = performance.now() + millis
    while (yield* target.alive) {
      if (performance.now() >= deadline) return false
      yield* Effect.sleep(pollMillis)
    }
    return true
  })

/** `kill(-pgid, signal)`, falling back to the leader alone; false when neither exists. */
const signalGroup = (pid: number, signal: NodeJS.Signals | 0): boolean => {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    try {
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }
}

/**
 * Starts `command` with `args` in a new process group. Closing the scope stops the group
 * (`stop`) if it is still running.
 *
 * @since 0.2.0
 * @category spawning
 */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions = {}
): Effect.Effect<Process, ProcessError, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const output = options.output ?? "ignore"
    const file = typeof output === "object" ? output.file : undefined
    const stdio = typeof output === "object" ? "pipe" : output
    const stderrFile = output === "pipe" ? options.stderr?.file : undefined
    const grace = options.grace ?? Duration.seconds(5)
    const handle = yield* ChildProcess.make(command, args, {
      cwd: options.cwd,
      env: options.env,
      extendEnv: options.extendEnv ?? true,
      stdin: options.stdin ?? "ignore",
      stdout: stdio,
      stderr: stdio === "pipe" && file === undefined && stderrFile === undefined ? "inherit" : stdio,
      killSignal: "SIGTERM",
      forceKillAfter: grace
    }).pipe(
      Effect.mapError((error) => new ProcessError({ command: describe(command, args), reason: "Spawn", detail: error.message }))
    )
    const pid = handle.pid as number
    const exit = yield* Deferred.make<ExitStatus>()
    yield* Effect.forkScoped(Effect.flatMap(exitStatusOf(handle), (status) => Deferred.succeed(exit, status)))
    const exited = Deferred.poll(exit).pipe(
      Effect.flatMap((done) => Option.isNone(done) ? Effect.succeed(Option.none<ExitStatus>()) : Effect.map(done.value, Option.some))
    )
    const isRunning = Effect.map(exited, Option.isNone)
    const signal = (sig: NodeJS.Signals) =>
      Effect.flatMap(isRunning, (running) => Effect.sync(() => running && signalGroup(pid, sig)))
    const group: Target = {
      signal,
      // The leader, and any member left in its group after it exited.
      alive: Effect.map(isRunning, (running) => running || signalGroup(pid, 0))
    }
    const groupSignal = (sig: NodeJS.Signals) => Effect.sync(() => signalGroup(pid, sig))
    const stop = terminate({ signal: groupSignal, alive: group.alive }, grace).pipe(Effect.andThen(Deferred.await(exit)))
    const appendTo = (path: string, output: Stream.Stream<Uint8Array, unknown>) => {
      const fd = Fs.openSync(path, "a")
      return Effect.forkScoped(
        Stream.runForEach(output, (chunk) => Effect.sync(() => Fs.writeSync(fd, chunk))).pipe(
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => Fs.closeSync(fd)))
        )
      )
    }
    if (file !== undefined) yield* appendTo(file, handle.all)
    if (stderrFile !== undefined) yield* appendTo(stderrFile, handle.stderr)
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    if (options.stdin === "pipe") {
      yield* Effect.forkScoped(Stream.run(Stream.fromQueue(input), handle.stdin).pipe(Effect.ignore))
    }
    const encoder = new TextEncoder()
    // Registered after the spawn, so it runs before Effect's own release (which then finds the
    // process gone): our sequence resumes a stopped process and is bounded.
    yield* Effect.addFinalizer(() => Effect.andThen(Queue.end(input), Effect.asVoid(stop)))
    return {
      pid,
      handle,
      lines: handle.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.orDie),
      send: (line) => Queue.offer(input, encoder.encode(line.endsWith("\n") ? line : `${line}\n`)),
      closeStdin: Effect.asVoid(Queue.end(input)),
      signal,
      stop,
      exit: Deferred.await(exit),
      exited
    } satisfies Process
  })

/**
 * What `exec` answers: how the command ended, everything it wrote, and how long it ran.
 *
 * @since 0.2.0
 * @category models
 */
export interface Output extends ExitStatus {
  readonly stdout: string
  readonly stderr: string
  /**
   * From just before the spawn to the moment its exit was observed (not to the end of its output),
   * on the monotonic clock: a start-up time as the caller sees it.
   */
  readonly elapsed: Duration.Duration
}

/**
 * Options of `exec`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ExecOptions {
  readonly cwd?: string | undefined
  /** Added to this process's environment, unless `extendEnv` is false (then the whole environment). */
  readonly env?: Record<string, string | undefined> | undefined
  readonly extendEnv?: boolean | undefined
  /** Written to stdin, which is then closed. Default: none (stdin is `/dev/null`). */
  readonly stdin?: string | undefined
  /** Default 60 seconds. */
  readonly timeout?: Duration.Input | undefined
}

/** The last characters of what a command printed, for an error's detail. */
const tail = (stdout: string, stderr: string) => {
  const printed = (stderr.trim() === "" ? stdout : stderr).trim()
  return printed === "" ? "" : `: ${printed.slice(-2000)}`
}

/**
 * Runs `command` to completion and answers its exit status, stdout, stderr and how long it ran,
 * whatever the exit code; fails when it cannot start or runs longer than `timeout` (the error then
 * carries the end of what it printed so far — stderr, or stdout when stderr is empty — and the
 * process group is stopped: SIGTERM, SIGKILL 5 s later).
 *
 * @since 0.2.0
 * @category spawning
 */
export const exec = (
  command: string,
  args: ReadonlyArray<string>,
  options: ExecOptions = {}
): Effect.Effect<Output, ProcessError, ChildProcessSpawner> =>
  Effect.scoped(Effect.gen(function*() {
    const timeout = Duration.fromInputUnsafe(options.timeout ?? Duration.seconds(60))
    const started = performance.now()
    const handle = yield* ChildProcess.make(command, args, {
      cwd: options.cwd,
      env: options.env,
      extendEnv: options.extendEnv ?? true,
      stdin: options.stdin === undefined ? "ignore" : Stream.make(new TextEncoder().encode(options.stdin)),
      stdout: "pipe",
      stderr: "pipe",
      killSignal: "SIGTERM",
      forceKillAfter: Duration.seconds(5)
    }).pipe(
      Effect.mapError((error) => new ProcessError({ command: describe(command, args), reason: "Spawn", detail: error.message }))
    )
    // Collected as it arrives, so that a timeout can still say what was printed.
    const printed = { stdout: "", stderr: "" }
    const collect = (stream: Stream.Stream<Uint8Array, unknown>, into: "stdout" | "stderr") =>
      Stream.runForEach(Stream.decodeText(stream), (chunk) => Effect.sync(() => (printed[into] += chunk))).pipe(Effect.ignore)
    const ended = yield* Effect.all([
      exitStatusOf(handle).pipe(Effect.map((status) => ({ ...status, elapsed: Duration.millis(performance.now() - started) }))),
      collect(handle.stdout, "stdout"),
      collect(handle.stderr, "stderr")
    ], { concurrency: "unbounded" }).pipe(Effect.timeoutOption(timeout))
    if (Option.isNone(ended)) {
      return yield* Effect.fail(
        new ProcessError({
          command: describe(command, args),
          reason: "Timeout",
          detail: `after ${Duration.format(timeout)}${tail(printed.stdout, printed.stderr)}`
        })
      )
    }
    return { ...ended.value[0], stdout: printed.stdout, stderr: printed.stderr }
  }))

/**
 * Runs `command` to completion and answers its stdout; fails when it cannot start, exits with a
 * code other than 0 (the error carries the end of its stderr), or runs longer than `timeout`
 * (default 60 seconds; then it is stopped).
 *
 * @since 0.2.0
 * @category spawning
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string | undefined; readonly timeout?: Duration.Input | undefined } = {}
): Effect.Effect<string, ProcessError, ChildProcessSpawner> =>
  Effect.flatMap(exec(command, args, options), (output) => {
    if (output.code === 0) return Effect.succeed(output.stdout)
    const how = output.code === null ? `killed by ${output.signal}` : `exit code ${output.code}`
    return Effect.fail(
      new ProcessError({
        command: describe(command, args),
        reason: "Exit",
        detail: `${how}: ${output.stderr.trim().slice(-2000)}`
      })
    )
  })

