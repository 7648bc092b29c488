/**
 * Supervising the command `leasekit run` holds a lease for, from its start to its end: every wait
 * races the loss of the lease, and what the command leaves behind in its session is waited for or
 * stopped. The process itself (start, session, signals, stop) is `CommandProcess.ts`; the signals
 * passed on to it are `SignalForwarding.ts`.
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
 * Guarantees: when `supervise` returns, no live process is left in the command's session (but those
 * a SIGKILL could not end, which are reported), so a lease released afterwards is released after
 * the command and its session ended; on a loss, the SIGKILL comes within the grace of it. Does not:
 * supervise what left the session (see `CommandProcess.ts`).
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type Child, type Ended, statusOf } from "./CommandProcess.ts"
import * as Durations from "./Durations.ts"
import * as ProcessGroup from "./ProcessGroup.ts"
import type { Forwarding } from "./SignalForwarding.ts"

/** How long processes of the session that exit with the command may take before they count as left
 * behind (cut short by a loss). */
const settling = Duration.millis(100)

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
