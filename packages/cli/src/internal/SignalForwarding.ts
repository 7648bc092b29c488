/**
 * Passing the signals leasekit receives on to the command it runs (`CommandProcess.ts`), while
 * it runs, instead of acting on them.
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
 * Guarantees: no signal is lost between the installation and the command's start (it is delivered
 * once the command exists); a stopping signal is recorded before it reaches the command. Does not:
 * stop the command itself (`Supervisor.ts` decides what a stop signal means for what it leaves).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Child } from "./CommandProcess.ts"
import * as Signals from "./Signals.ts"

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
