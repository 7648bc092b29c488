/**
 * The command `leasekit run` holds a lease for, as a process: started with stdio inherited in a
 * session of its own, signalled as a whole session, stopped (SIGTERM, then SIGKILL after a grace
 * period), and how it ended. What to do with it while the lease is held — forwarding signals,
 * survivors, the loss — is `SignalForwarding.ts` and `Supervisor.ts`.
 *
 * Sessions. When stdin is not a terminal (cron, Kubernetes, CI, scripts) the command runs in a
 * session of its own (Node's `detached: true` calls `setsid`; its process group is then its own
 * too), and the *session* is what is supervised: every process the command starts stays in it,
 * also one that moves to a process group of its own — GNU `timeout` does, and so do the jobs of
 * a `set -m` script. Every signal — forwarded or sent to stop it — goes to every process group of
 * the session (`ProcessGroup.ts`, from `/proc`), and the command counts as finished only once its
 * own process has exited *and* no live process is left in its session (zombies do not count, but
 * a process whose main thread exited while its other threads run does). Only a further `setsid`
 * (`setsid(1)`, a daemon's double fork) leaves the session, and escapes supervision. Without
 * `/proc` (macOS) the session is supervised as the command's process group. When stdin is a
 * terminal the command stays in leasekit's group so that it can use the terminal; the terminal
 * then delivers Ctrl-C (SIGINT) and Ctrl-\ (SIGQUIT) to every process of that foreground group
 * directly, so those two are not forwarded a second time, other signals reach the command's own
 * process only, and only that process is supervised: its children are neither waited for nor
 * stopped (they share a group with leasekit itself and whatever else the shell started with it,
 * which leasekit cannot signal as a whole).
 *
 * Parent death. A dead man's switch (`DeadMansSwitch.ts`) is armed with the command's session (with
 * the command's process alone when stdin is a terminal) right after the start, and disarmed once
 * the session is empty: if leasekit dies in between — SIGKILL, OOM killer, crash — the switch
 * SIGKILLs the session within milliseconds, so the command cannot outlive the lease.
 *
 * Stopping. The session is stopped by the one stop sequence of leasekit's tools,
 * `Process.terminate` of `@leasekit/testing/Process` (bundled into the CLI), with the session as
 * its target: SIGCONT (a paused process does not act on SIGTERM), SIGTERM, SIGKILL after the grace
 * to whatever is left — sent again at each look until the session is empty — and a warning for
 * what a SIGKILL could not end 2 s later.
 *
 * Why the command is started with `node:child_process` and not `Process.spawn` (Effect's
 * `ChildProcess`): Effect's Node spawner SIGTERMs the command's process group as soon as the
 * command exits with a status other than 0, which would kill what `--survivors wait` keeps
 * running (`sh -c 'job & exit 3'`: the job gets SIGTERM at once); `Process.spawn` always gives the
 * command a session of its own, where a command run from a terminal must stay in leasekit's
 * foreground group; and the dead man's switch is armed in the same tick as the fork, where
 * `Process.spawn` hands the pid over only after Node's `spawn` event.
 *
 * Guarantees: when the scope closes, no live process is left in the command's session — if one
 * is, the session is stopped (SIGTERM, SIGKILL after the grace) and awaited — so a lease released
 * by an enclosing scope is released after the command and its session ended. Does not guarantee:
 * that processes which left the command's session (a further `setsid`: `setsid(1)`, daemons) —
 * or, without `/proc`, its process group — or, when stdin is a terminal, the command's children,
 * are waited for or stopped; that a process leasekit may not signal (another user's, through a
 * setuid program) is stopped (it is reported after the SIGKILL); anything for the instants between
 * leasekit's death and the switch's SIGKILL, or when the switch could not be started (no `/bin/sh`)
 * or was itself SIGKILLed. (A command paused by a passed-on SIGTSTP gets SIGCONT right after a
 * forwarded stop signal, so that it acts on it.)
 *
 * @since 0.1.0
 */
import * as Process from "@leasekit/testing/Process"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import * as DeadMansSwitch from "./DeadMansSwitch.ts"
import * as Durations from "./Durations.ts"
import * as ProcessGroup from "./ProcessGroup.ts"

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
 * How `ended` reads in a message: `it exited with 3`, `it was killed by SIGKILL`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const describeEnded = (ended: Ended): string =>
  ended.signal === null ? `it exited with ${ended.code}` : `it was killed by ${ended.signal}`

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
  /** Whether it runs in a session (and process group) of its own: signals then go to every
   * process group of the session, and the session is supervised. */
  readonly ownGroup: boolean
  /** Waits until the command's own process ended. */
  readonly ended: Effect.Effect<Ended>
  /** Waits until the command's own process ended and no live process is left in its session (its
   * own process only, without a session of its own). */
  readonly settled: Effect.Effect<Ended>
  /** The live processes in its session now (empty without a session of its own); `undefined`
   * when the session has some but the system cannot list them. */
  readonly members: Effect.Effect<ReadonlyArray<number> | undefined>
  /** Sends `signal` to every process group of its session (to its own process without a session
   * of its own); no-op once nothing is left to signal. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** SIGTERM, then SIGKILL to whatever is left after `grace`; waits until settled (after the
   * SIGKILL, for a bounded time: a process leasekit may not signal is reported and left). */
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
  /** Default: a session (and group) of its own unless stdin is a terminal. */
  readonly ownGroup?: boolean | undefined
  /** Grace period of the stop on scope close. */
  readonly grace: Duration.Duration
}

/** How often an emptying session is looked at: soon at first, then every 100 ms. */
const pollGroup = Schedule.min([Schedule.exponential("10 millis"), Schedule.spaced("100 millis")])

/** How long the session may take to empty after SIGKILL before what is left is reported
 * (`Process.terminate` waits that long). */
const afterKill = Duration.seconds(2)

/**
 * Starts `command` with `args`, stdio inherited, and arms a dead man's switch on it. When the
 * scope closes while the command or anything of its session runs, the session is stopped and awaited.
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
    // Started first, so that it is there the moment the command is; disarmed (by its own
    // finalizer) after the stop finalizer below has run.
    const deadMansSwitch = yield* DeadMansSwitch.make
    const endedSignal = yield* Deferred.make<Ended>()
    const proc = yield* Effect.callback<ChildProcess.ChildProcess, SpawnError>((resume) => {
      const child = ChildProcess.spawn(command, [...args], { stdio: "inherit", env: options.env, detached: ownGroup })
      // Armed at once: the pid is known as soon as spawn() returns (undefined when it failed).
      if (child.pid !== undefined) {
        deadMansSwitch.arm(
          ownGroup
            ? [{ _tag: "Session", sid: child.pid }, { _tag: "Process", pid: child.pid }]
            : [{ _tag: "Process", pid: child.pid }],
          ownGroup ? `the command's process group ${child.pid} and every process of its session` : `the command (pid ${child.pid})`
        )
      }
      const onError = (error: NodeJS.ErrnoException) =>
        resume(Effect.fail(new SpawnError({ command, code: error.code ?? "error", cause: error })))
      child.once("error", onError)
      child.once("spawn", () => {
        child.off("error", onError)
        child.once("exit", (code, signal) => {
          // Without a group of its own, the command's process is all that is supervised.
          if (!ownGroup) deadMansSwitch.disarm()
          Deferred.doneUnsafe(endedSignal, Effect.succeed({ code, signal }))
        })
        resume(Effect.succeed(child))
      })
    })
    const pid = proc.pid!
    // Its own group is also a session of its own (`detached: true` is `setsid`): the session is
    // what is watched and signalled, so that what moved to a group of its own (`timeout`) is too.
    const group = ownGroup ? ProcessGroup.session(pid) : undefined
    const ended = Deferred.await(endedSignal)
    /** Set once the session was seen empty: its number may be reused from then on. */
    const gone = yield* Ref.make(false)

    /** Settled now? Disarms the switch the first time it is. */
    const settledNow = Effect.gen(function*() {
      if (yield* Ref.get(gone)) return true
      if (!(yield* Deferred.isDone(endedSignal))) return false
      if (group !== undefined && group.hasLiveMember()) return false
      yield* Ref.set(gone, true)
      deadMansSwitch.disarm()
      return true
    })
    const settled = settledNow.pipe(
      Effect.repeat({ schedule: pollGroup, until: (done) => done }),
      Effect.andThen(ended)
    )
    const members = Effect.map(Ref.get(gone), (isGone) => group === undefined || isGone ? [] : group.liveMembers())

    /** Sends `sig` to the session, or to the command's process (Node ignores a kill once it exited). */
    const send = (sig: NodeJS.Signals) =>
      Effect.flatMap(Ref.get(gone), (isGone) =>
        Effect.sync(() => {
          if (isGone) return
          // The command's own process still gets it when nobody in the session did.
          if (group !== undefined && group.signal(sig)) return
          try {
            proc.kill(sig)
          } catch {
            // Already gone (ESRCH): the exit event is on its way.
          }
        }))
    const signal = (sig: NodeJS.Signals) =>
      Effect.gen(function*() {
        if (yield* settledNow) return
        yield* send(sig)
      })

    const what = group === undefined ? `the command (pid ${pid})` : `the command's session ${pid}`
    /** SIGKILL to the session and to the command's own process, should nothing else be left to signal. */
    const kill = send("SIGKILL").pipe(Effect.andThen(Effect.sync(() => {
      try {
        proc.kill("SIGKILL")
      } catch {
        // Already gone.
      }
    })))
    /**
     * Stops the session with the one stop sequence (`Process.terminate`: SIGCONT, SIGTERM, SIGKILL
     * after the grace, at most 2 s more), the session as its target: signals go to every process
     * group of it, and it is alive until settled. Once the SIGKILL went out it is sent again at each
     * look until the session is empty: a process forked while the session was being listed (a group
     * of its own not yet signalled) gets it the next time.
     */
    const stop = (grace: Duration.Duration) =>
      Effect.gen(function*() {
        let killing = false
        const session: Process.Target = {
          alive: Effect.gen(function*() {
            if (yield* settledNow) return false
            if (killing) yield* kill
            return true
          }),
          signal: (sig) =>
            Effect.gen(function*() {
              if (sig !== "SIGKILL") return yield* Effect.as(send(sig), true)
              yield* Effect.logWarning(
                `${what} ${group === undefined ? "still running" : `still has ${ProcessGroup.describe(yield* members)} running`} ` +
                  `${Durations.format(grace)} after SIGTERM; sending SIGKILL`
              )
              killing = true
              return yield* Effect.as(kill, true)
            })
        }
        yield* Process.terminate(session, grace)
        if (!(yield* settledNow)) {
          yield* Effect.logWarning(
            `${what} still has ${ProcessGroup.describe(yield* members)} running ${Durations.format(afterKill)} after ` +
              "SIGKILL (not ours to signal?); leaving them"
          )
        }
        return yield* ended
      })

    yield* Effect.addFinalizer(() =>
      settledNow.pipe(Effect.flatMap((done) => done ? Effect.void : Effect.asVoid(stop(options.grace))))
    )
    return { pid, ownGroup, ended, settled, members, signal, stop } satisfies Child
  }))

/**
 * Whether a command gets a session (and process group) of its own by default: yes, unless stdin is a terminal
 * (whose Ctrl-C must reach the command directly).
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultOwnGroup = (): boolean => !process.stdin.isTTY
