/**
 * Supervising the command `leasekit run` holds a lease for: start it, pass signals on, stop it and
 * everything it started (SIGTERM, then SIGKILL after a grace period), deal with what it leaves
 * behind, and report how it ended.
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
 * Forwarding. While the command (or its session) runs, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
 * and SIGUSR2 sent to leasekit are passed on and do not stop leasekit: it keeps renewing the lease
 * until the command has exited. The first four ask for a stop: once the command's own process
 * has exited after one of them, whatever it left in its session is stopped (SIGTERM, SIGKILL after
 * the grace), not waited for. Job control (a session of its own only): SIGTSTP (Ctrl-Z, `kill
 * -TSTP`) does not stop leasekit; it pauses the command's session — sent on as SIGSTOP, since the
 * kernel discards SIGTSTP's stop in an orphaned process group, which a session leader's group
 * always is — and leasekit keeps the lease held and renewed for the paused command; SIGCONT is
 * passed on; SIGTTIN and SIGTTOU are ignored. The usual handlers (interrupt on SIGINT/SIGTERM) are
 * put back when the scope closes.
 *
 * `supervise` runs the command to its end. The loss of the lease is watched once, for all of it,
 * and every wait races it:
 * - the lease lost while the command runs: the session gets SIGTERM (and SIGCONT, for what is
 *   paused), SIGKILL after the grace to whatever is left of it — also when the command's own
 *   process exited at the SIGTERM while a child of it ignores it — and `supervise` returns once
 *   the session is empty;
 * - the command exits: processes of its session get up to 100 ms to exit with it (a pipeline); a
 *   loss cuts that short, so it adds nothing to the time between the loss and the SIGKILL. Those
 *   still live then are "survivors" (as `sh -c 'job &'`): with `wait` (the default, as flock, whose
 *   lock is held while any process holds the file) they keep the lease held and renewed until they
 *   have exited; with `stop` they are stopped (SIGTERM, SIGKILL after the grace). A loss or a stop
 *   signal while waiting stops them too. A loss while they are being stopped does not restart the
 *   stop (its SIGTERM went out before the loss, so its SIGKILL comes within the grace of the loss)
 *   but is how it ends: `Lost`, `during: "survivors"`.
 *
 * Parent death. A dead man's switch (`DeadMansSwitch.ts`) is armed with the command's session (with
 * the command's process alone when stdin is a terminal) right after the start, and disarmed once
 * the session is empty: if leasekit dies in between — SIGKILL, OOM killer, crash — the switch
 * SIGKILLs the session within milliseconds, so the command cannot outlive the lease.
 *
 * Why `node:child_process` and not `effect/process`: `run` needs the command's terminating signal
 * (for the 128+N status), inherited stdio, a group of its own only when stdin is not a terminal,
 * and supervision of the session after its leader exited; `ChildProcess` reports an exit code only
 * and its group handling ends with the leader.
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
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import * as Os from "node:os"
import * as DeadMansSwitch from "./DeadMansSwitch.ts"
import * as Durations from "./Durations.ts"
import * as ProcessGroup from "./ProcessGroup.ts"
import * as Signals from "./Signals.ts"

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

/** How long processes of the session that exit with the command may take before they count as left
 * behind (cut short by a loss). */
const settling = Duration.millis(100)

/** How long the session may take to empty after SIGKILL before what is left is reported. */
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
    const stop = (grace: Duration.Duration) =>
      Effect.gen(function*() {
        if (yield* settledNow) return yield* ended
        yield* send("SIGTERM")
        // A process stopped (SIGTSTP passed on, SIGSTOP) acts on the SIGTERM only once continued.
        yield* send("SIGCONT")
        const done = yield* Effect.timeoutOption(settled, grace)
        if (Option.isSome(done)) return done.value
        const left = yield* members
        yield* Effect.logWarning(
          `${what} ${group === undefined ? "still running" : `still has ${ProcessGroup.describe(left)} running`} ` +
            `${Durations.format(grace)} after SIGTERM; sending SIGKILL`
        )
        // The command's own process too, should nothing else be left to signal. Sent again at each
        // look until the session is empty: a process forked while the session was being listed
        // (a group of its own not yet signalled) gets it the next time.
        const kill = send("SIGKILL").pipe(Effect.andThen(Effect.sync(() => {
          try {
            proc.kill("SIGKILL")
          } catch {
            // Already gone.
          }
        })))
        const killed = yield* kill.pipe(
          Effect.andThen(settledNow),
          Effect.repeat({ schedule: pollGroup, until: (done) => done }),
          Effect.andThen(ended),
          Effect.timeoutOption(afterKill)
        )
        if (Option.isSome(killed)) return killed.value
        yield* Effect.logWarning(
          `${what} still has ${ProcessGroup.describe(yield* members)} running ${Durations.format(afterKill)} after ` +
            "SIGKILL (not ours to signal?); leaving them"
        )
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

/**
 * The signals forwarded to the command.
 *
 * @since 0.1.0
 * @category constants
 */
export const forwardedSignals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"]

/**
 * Job control, while the command has a group (a session) of its own: SIGTSTP and SIGCONT are
 * passed on to it and do not stop leasekit, which keeps renewing the lease for the paused command;
 * SIGTTIN and SIGTTOU (a background read or write on leasekit's terminal) are ignored. SIGTSTP is
 * passed on as SIGSTOP: the command's group, alone in its session, is an orphaned process group,
 * for which the kernel discards the stop of SIGTSTP. Without a group of its own the command shares
 * leasekit's job, which the terminal stops and continues as a whole: these keep their usual effect
 * then.
 *
 * @since 0.1.0
 * @category constants
 */
export const jobControlSignals: ReadonlyArray<NodeJS.Signals> = ["SIGTSTP", "SIGCONT", "SIGTTIN", "SIGTTOU"]

/** The job control signals that are not passed on, only kept from stopping leasekit. */
const ignoredSignals: ReadonlyArray<NodeJS.Signals> = ["SIGTTIN", "SIGTTOU"]

/**
 * The forwarded signals that ask for a stop: after one of them, what the command leaves in its
 * session is stopped rather than waited for.
 *
 * @since 0.1.0
 * @category constants
 */
export const stoppingSignals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]

/**
 * What `forwardSignals` tells.
 *
 * @since 0.1.0
 * @category signals
 */
export interface Forwarding {
  /** Completes with the first stopping signal leasekit received (see `stoppingSignals`). */
  readonly stopRequested: Effect.Effect<NodeJS.Signals>
  /** That signal, if one was received so far. */
  readonly stopRequestedYet: Effect.Effect<Option.Option<NodeJS.Signals>>
}

/**
 * For the lifetime of the scope, passes the signals leasekit receives on to the command instead
 * of acting on them; the previous handlers are put back when the scope closes. Install it before
 * spawning: a signal that arrives before the command exists is delivered to it as soon as it does
 * (`child` completes), so none is lost in between. Each forwarded signal is logged at debug level.
 *
 * @since 0.1.0
 * @category signals
 */
export const forwardSignals = (
  child: Deferred.Deferred<Child>,
  ownGroup: boolean
): Effect.Effect<Forwarding, never, Scope.Scope> =>
  Effect.gen(function*() {
    // The terminal delivers these to the whole foreground group, the command included.
    const fromTerminal = new Set<NodeJS.Signals>(ownGroup ? [] : ["SIGINT", "SIGQUIT"])
    const stopRequested = yield* Deferred.make<NodeJS.Signals>()
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const forward = (sig: NodeJS.Signals) => {
      if (ignoredSignals.includes(sig)) return void run(Effect.logDebug(`received ${sig}; ignoring it`))
      const terminal = fromTerminal.has(sig)
      // An orphaned group (the command's own session) is not stopped by SIGTSTP.
      const sent: NodeJS.Signals = sig === "SIGTSTP" ? "SIGSTOP" : sig
      run(
        Effect.logDebug(
          `received ${sig}; ${terminal ? "the terminal delivered it" : `forwarding it${sent === sig ? "" : ` as ${sent}`}`} to the command`
        ).pipe(
          // Recorded before it reaches the command, so that whoever sees the command end sees it.
          Effect.andThen(stoppingSignals.includes(sig) ? Deferred.succeed(stopRequested, sig) : Effect.void),
          Effect.andThen(terminal ? Effect.void : Effect.flatMap(Deferred.await(child), (c) =>
            // A command paused by a passed-on SIGTSTP acts on a stop signal only once continued.
            ownGroup && stoppingSignals.includes(sig) ? Effect.andThen(c.signal(sent), c.signal("SIGCONT")) : c.signal(sent)))
        )
      )
    }
    yield* Signals.intercept([...forwardedSignals, ...(ownGroup ? jobControlSignals : [])], forward)
    return {
      stopRequested: Deferred.await(stopRequested),
      stopRequestedYet: Deferred.poll(stopRequested).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.succeedNone, onSome: Effect.map(Option.some) }))
      )
    }
  })

/**
 * What happens to live processes the command leaves in its session when it exits by itself:
 * `wait` — they keep the lease held (and renewed) until they have exited; `stop` — SIGTERM,
 * SIGKILL after the grace, then the lease is released.
 *
 * @since 0.1.0
 * @category models
 */
export type Survivors = "wait" | "stop"

/**
 * How a supervised command ended: by itself (and its session with it), or stopped because the lease
 * was lost — while its own process ran (`running`), or while processes it left behind ran.
 *
 * @since 0.1.0
 * @category models
 */
export type Supervised<E> =
  | { readonly _tag: "Exited"; readonly ended: Ended }
  | { readonly _tag: "Lost"; readonly error: E; readonly ended: Ended; readonly during: "running" | "survivors" }

/**
 * Options of `supervise`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuperviseOptions<E> {
  /** Fails when the lease is lost. */
  readonly lost: Effect.Effect<never, E>
  /** Whether and when leasekit was asked to stop (`forwardSignals`). */
  readonly forwarding: Forwarding
  readonly survivors: Survivors
  /** Between SIGTERM and SIGKILL. */
  readonly grace: Duration.Duration
  /** Tells the user, one line (without the `leasekit: ` prefix). */
  readonly notify: (line: string) => Effect.Effect<void>
}

/**
 * Runs the command to its end — its own process and its session — as the module header describes,
 * and returns how it ended. When it returns, no live process is left in the command's session (but
 * those a SIGKILL could not end, which are reported).
 *
 * @since 0.1.0
 * @category supervising
 */
export const supervise = <E>(child: Child, options: SuperviseOptions<E>): Effect.Effect<Supervised<E>> =>
  Effect.gen(function*() {
    const { grace, notify } = options
    const plan = `SIGTERM now, SIGKILL after ${Durations.format(grace)}`
    // The loss is watched once, for the whole supervision: every wait below races it.
    const loss = yield* Deferred.make<{ readonly _tag: "Lost"; readonly error: E }>()
    yield* options.lost.pipe(
      Effect.catch((error) => Deferred.succeed(loss, { _tag: "Lost", error } as const)),
      Effect.forkScoped
    )
    const lostNow = Deferred.await(loss)

    const first = yield* Effect.raceFirst(child.ended.pipe(Effect.map((ended) => ({ _tag: "Ended", ended }) as const)), lostNow)
    if (first._tag === "Lost") {
      yield* notify(`stopping the command: ${plan}`)
      const ended = yield* child.stop(grace)
      return { _tag: "Lost", error: first.error, ended, during: "running" } as const
    }
    const ended = first.ended
    const status = statusOf(ended)
    const exited = { _tag: "Exited", ended } as const
    const lostWhileLeft = (error: E) =>
      Effect.gen(function*() {
        yield* notify(`stopping what the command left running: ${plan}`)
        yield* child.stop(grace)
        return { _tag: "Lost", error, ended, during: "survivors" } as const
      })
    /** Stops what the command left. A loss meanwhile does not restart the stop — its SIGTERM went
     * out before the loss, so its SIGKILL comes within the grace of it — but is how it ends. */
    const stopLeft = (line: string) =>
      Effect.gen(function*() {
        yield* notify(line)
        yield* child.stop(grace)
        const lost = yield* Deferred.poll(loss)
        if (Option.isNone(lost)) return exited
        const { error } = yield* lost.value
        return { _tag: "Lost", error, ended, during: "survivors" } as const
      })

    // Processes of the session that are exiting with the command (a pipeline, a signal that
    // reached them all) are not survivors: give them a moment before looking — a moment the loss
    // cuts short, so that it does not add to the time between the loss and the SIGKILL.
    const afterExit = yield* Effect.raceFirst(
      Effect.timeoutOption(child.settled, settling).pipe(Effect.map(Option.match({
        onNone: () => ({ _tag: "Left" }) as const,
        onSome: () => ({ _tag: "Settled" }) as const
      }))),
      lostNow
    )
    if (afterExit._tag === "Settled") return exited
    const left = yield* child.members
    if (left !== undefined && left.length === 0) return exited
    if (afterExit._tag === "Lost") return yield* lostWhileLeft(afterExit.error)
    const survivors = ProcessGroup.describe(left)

    const stopping = yield* options.forwarding.stopRequestedYet
    if (Option.isSome(stopping) || options.survivors === "stop") {
      const why = Option.isSome(stopping) ? `after ${stopping.value}` : `with status ${status}`
      return yield* stopLeft(`the command exited ${why} and left ${survivors} running; stopping them: ${plan}`)
    }

    yield* notify(
      `the command exited with status ${status} and left ${survivors} running; ` +
        "holding the lease until they exit (--survivors stop stops them instead)"
    )
    const next = yield* Effect.raceAllFirst([
      child.settled.pipe(Effect.as({ _tag: "Settled" } as const)),
      lostNow,
      options.forwarding.stopRequested.pipe(Effect.map((signal) => ({ _tag: "Stop", signal }) as const))
    ])
    switch (next._tag) {
      case "Settled":
        return exited
      case "Stop":
        return yield* stopLeft(`stopping what the command left running (${next.signal}): ${plan}`)
      case "Lost":
        return yield* lostWhileLeft(next.error)
    }
  }).pipe(Effect.scoped)
