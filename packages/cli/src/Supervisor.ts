/**
 * Supervising the command `leasekit run` holds a lease for: start it, pass signals on, stop it
 * (SIGTERM, then SIGKILL after a grace period), and report how it ended.
 *
 * Process groups. When stdin is not a terminal (cron, Kubernetes, CI, scripts) the command runs
 * in a process group of its own, and every signal — forwarded or sent on loss — goes to that
 * whole group, so a shell script's own children stop too. When stdin is a terminal the command
 * stays in leasekit's group so that it can use the terminal; the terminal then delivers Ctrl-C
 * (SIGINT) and Ctrl-\ (SIGQUIT) to it directly, so those two are not forwarded a second time, and
 * signals reach the command's process only.
 *
 * Forwarding. While the command runs, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent
 * to leasekit are passed on and do not stop leasekit: it keeps renewing the lease until the
 * command has exited, then releases it. The usual handlers (interrupt on SIGINT/SIGTERM) are put
 * back when the command has exited.
 *
 * Guarantees: when the scope closes, the command is not running any more — if it still is, it
 * is stopped (SIGTERM, SIGKILL after the grace period) and awaited — so a lease released by an
 * enclosing scope is released after the command ended. Does not guarantee: anything if
 * leasekit itself is SIGKILLed (the command keeps running; in a pod, the container ending stops
 * it), nor that processes which left the command's process group (daemons) are stopped.
 *
 * @since 0.1.0
 */
import { Data, Deferred, Duration, Effect, Option, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"

/**
 * How the command ended.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ended {
  /** The exit code, when it exited. */
  readonly code: number | null
  /** The signal that killed it, when one did. */
  readonly signal: NodeJS.Signals | null
}

/**
 * The status a shell would report: the exit code, or 128 + the signal's number.
 *
 * @since 0.1.0
 * @category accessors
 */
export const statusOf = (ended: Ended): number =>
  ended.code ?? 128 + (ended.signal === null ? 0 : (Os.constants.signals[ended.signal] ?? 0))

/**
 * The command could not be started.
 *
 * @since 0.1.0
 * @category errors
 */
export class SpawnError extends Data.TaggedError("SpawnError")<{
  readonly command: string
  /** The errno code: `ENOENT`, `EACCES`, … */
  readonly code: string
  readonly cause: unknown
}> {
  override get message(): string {
    switch (this.code) {
      case "ENOENT":
        return `command not found: ${this.command}`
      case "EACCES":
        return `command not executable (permission denied): ${this.command}`
      default:
        return `cannot start ${this.command}: ${this.code}`
    }
  }
}

/**
 * A running command.
 *
 * @since 0.1.0
 * @category models
 */
export interface Child {
  readonly pid: number
  /** Whether it runs in a process group of its own (signals then go to the whole group). */
  readonly ownGroup: boolean
  /** Waits until it ended. */
  readonly ended: Effect.Effect<Ended>
  /** Sends `signal` (to its group when it has its own); no-op once it ended. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** SIGTERM, then SIGKILL if it has not ended after `grace`; waits until it ended. */
  readonly stop: (grace: Duration.Duration) => Effect.Effect<Ended>
}

/**
 * Options of `spawn`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SpawnOptions {
  readonly env: NodeJS.ProcessEnv
  /** Default: a group of its own unless stdin is a terminal. */
  readonly ownGroup?: boolean | undefined
  /** Grace period of the stop on scope close. */
  readonly grace: Duration.Duration
}

/**
 * Starts `command` with `args`, stdio inherited. When the scope closes while it runs, it is
 * stopped and awaited.
 *
 * @since 0.1.0
 * @category constructors
 */
export const spawn = (
  command: string,
  args: ReadonlyArray<string>,
  options: SpawnOptions
): Effect.Effect<Child, SpawnError, Scope.Scope> =>
  // Uninterruptible from the spawn until the stop finalizer is registered: an interruption in
  // between would leave a running command that nothing stops.
  Effect.uninterruptible(Effect.gen(function*() {
    const ownGroup = options.ownGroup ?? defaultOwnGroup()
    const endedSignal = yield* Deferred.make<Ended>()
    const proc = yield* Effect.callback<ChildProcess.ChildProcess, SpawnError>((resume) => {
      const child = ChildProcess.spawn(command, [...args], { stdio: "inherit", env: options.env, detached: ownGroup })
      const onError = (error: NodeJS.ErrnoException) =>
        resume(Effect.fail(new SpawnError({ command, code: error.code ?? "error", cause: error })))
      child.once("error", onError)
      child.once("spawn", () => {
        child.off("error", onError)
        child.once("exit", (code, signal) => Deferred.doneUnsafe(endedSignal, Effect.succeed({ code, signal })))
        resume(Effect.succeed(child))
      })
    })
    const pid = proc.pid!
    const ended = Deferred.await(endedSignal)
    const signal = (sig: NodeJS.Signals) =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(endedSignal)) return
        yield* Effect.sync(() => {
          try {
            if (ownGroup) process.kill(-pid, sig)
            else proc.kill(sig)
          } catch {
            // Already gone (ESRCH): the exit event is on its way.
          }
        })
      })
    const stop = (grace: Duration.Duration) =>
      Effect.gen(function*() {
        yield* signal("SIGTERM")
        const done = yield* Effect.timeoutOption(ended, grace)
        if (Option.isSome(done)) return done.value
        yield* Effect.logWarning(`command (pid ${pid}) still running ${Duration.format(grace)} after SIGTERM; sending SIGKILL`)
        yield* signal("SIGKILL")
        return yield* ended
      })
    yield* Effect.addFinalizer(() =>
      Deferred.isDone(endedSignal).pipe(Effect.flatMap((done) => done ? Effect.void : Effect.asVoid(stop(options.grace))))
    )
    return { pid, ownGroup, ended, signal, stop }
  }))

/**
 * Whether a command gets a process group of its own by default: yes, unless stdin is a terminal
 * (whose Ctrl-C must reach the command directly).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultOwnGroup = (): boolean => !process.stdin.isTTY

/**
 * The signals forwarded to the command.
 *
 * @since 0.1.0
 * @category constants
 */
export const forwardedSignals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]

/**
 * For the lifetime of the scope, passes the signals leasekit receives on to the command instead
 * of acting on them; the previous handlers are put back when the scope closes. Install it before
 * spawning: a signal that arrives before the command exists is delivered to it as soon as it does
 * (`child` completes), so none is lost in between. Each forwarded signal is logged at debug level.
 *
 * @since 0.1.0
 * @category signals
 */
export const forwardSignals = (child: Deferred.Deferred<Child>, ownGroup: boolean): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    // The terminal delivers these to the whole foreground group, the command included.
    const fromTerminal = new Set<NodeJS.Signals>(ownGroup ? [] : ["SIGINT", "SIGQUIT"])
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const forward = (sig: NodeJS.Signals) => () => {
      const terminal = fromTerminal.has(sig)
      run(
        Effect.logDebug(`received ${sig}; ${terminal ? "the terminal delivered it" : "forwarding it"} to the command`).pipe(
          Effect.andThen(terminal ? Effect.void : Effect.flatMap(Deferred.await(child), (c) => c.signal(sig)))
        )
      )
    }
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        forwardedSignals.map((sig) => {
          const previous = process.rawListeners(sig) as Array<(...args: Array<unknown>) => void>
          process.removeAllListeners(sig)
          const handler = forward(sig)
          process.on(sig, handler)
          return { sig, previous, handler }
        })
      ),
      (installed) =>
        Effect.sync(() => {
          for (const { handler, previous, sig } of installed) {
            process.off(sig, handler)
            for (const listener of previous) process.on(sig, listener)
          }
        })
    )
  })
