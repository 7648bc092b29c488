/**
 * Child processes of the control plane: spawned in their own process group, stderr/stdout to a
 * log file, signalled as a group, terminated with a bounded grace period.
 *
 * Each server is spawned with `detached: true`, which makes it the leader of a new session and
 * process group (pgid = pid): signals go to `-pid`, so anything the server might fork is signalled
 * with it, and a terminal's Ctrl-C (which signals the *test runner's* group) does not kill it
 * behind our back — the finalizers (or the watchdog, see `watchdog.ts`) stop it instead. The
 * child is not `unref`'d: Node keeps reaping it and reports its exit.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"

/** @internal */
export interface ExitInfo {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** @internal */
export interface Proc {
  readonly pid: number
  readonly child: ChildProcess.ChildProcess
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>
  /** The exit, once it happened. */
  readonly exitInfo: () => Option.Option<ExitInfo>
}

/** @internal */
export class SpawnError extends Data.TaggedError("SpawnError")<{ readonly command: string; readonly cause: unknown }> {
  override get message(): string {
    return `could not start ${this.command}: ${String(this.cause)}`
  }
}

/** @internal */
export const spawn = (options: {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly logFile: string
  readonly cwd: string
  readonly env?: NodeJS.ProcessEnv
}): Effect.Effect<Proc, SpawnError> =>
  Effect.callback<Proc, SpawnError>((resume) => {
    let fd: number
    try {
      fd = Fs.openSync(options.logFile, "a")
    } catch (cause) {
      resume(Effect.fail(new SpawnError({ command: options.command, cause })))
      return
    }
    let child: ChildProcess.ChildProcess
    try {
      child = ChildProcess.spawn(options.command, [...options.args], {
        cwd: options.cwd,
        detached: true,
        stdio: ["ignore", fd, fd],
        env: options.env ?? process.env
      })
    } catch (cause) {
      Fs.closeSync(fd)
      resume(Effect.fail(new SpawnError({ command: options.command, cause })))
      return
    }
    Fs.closeSync(fd)
    let exit: ExitInfo | undefined
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once("exit", (code, signal) => {
        exit = { code, signal }
        resolve(exit)
      })
    })
    const pid = child.pid
    if (pid === undefined) {
      // spawn failed (ENOENT, EACCES): Node reports it asynchronously.
      child.once("error", (cause) => resume(Effect.fail(new SpawnError({ command: options.command, cause }))))
      return
    }
    child.on("error", () => {
      // Signalling an exited child can emit "error"; the exit is observed through "exit".
    })
    resume(Effect.succeed({
      pid,
      child,
      exited,
      exitInfo: () => Option.fromNullishOr(exit)
    }))
  })

/** Sends `signal` to the process group led by `pid`; `false` when it no longer exists. @internal */
export const signalGroup = (pid: number, signal: NodeJS.Signals): boolean => {
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

/** Waits for the exit, at most `millis`; `None` when it did not exit in time. @internal */
export const awaitExit = (proc: Proc, millis: number): Effect.Effect<Option.Option<ExitInfo>> =>
  Effect.promise(() => proc.exited).pipe(Effect.timeoutOption(millis))

/**
 * Stops the process group: SIGCONT (a paused process cannot handle SIGTERM), SIGTERM, then
 * SIGKILL after `graceMillis`. Completes when the process has exited.
 *
 * @internal
 */
export const terminate = (proc: Proc, graceMillis: number): Effect.Effect<ExitInfo> =>
  Effect.gen(function*() {
    const done = proc.exitInfo()
    if (Option.isSome(done)) return done.value
    signalGroup(proc.pid, "SIGCONT")
    signalGroup(proc.pid, "SIGTERM")
    const graceful = yield* awaitExit(proc, graceMillis)
    if (Option.isSome(graceful)) return graceful.value
    signalGroup(proc.pid, "SIGKILL")
    return yield* Effect.promise(() => proc.exited)
  }).pipe(Effect.uninterruptible)

/** The last `lines` lines of a log file after byte `from` ("" when unreadable). @internal */
export const tail = (file: string, lines = 40, from = 0): string => {
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

/** Runs a command to completion, capturing output; fails on a non-zero exit. @internal */
export const run = (command: string, args: ReadonlyArray<string>, cwd: string): Effect.Effect<string, SpawnError> =>
  Effect.callback<string, SpawnError>((resume) => {
    ChildProcess.execFile(command, [...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) {
        resume(Effect.fail(new SpawnError({ command: `${command} ${args.join(" ")}`, cause: `${error.message}\n${stderr}` })))
      } else {
        resume(Effect.succeed(stdout))
      }
    })
  })
