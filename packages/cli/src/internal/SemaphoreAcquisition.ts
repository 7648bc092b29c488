/**
 * How `leasekit run NAME --permits N` gets a permit of the semaphore NAME: one attempt always,
 * then — with `--try` — an answer, or — by default — a wait in the semaphore's fair queue that
 * says what it waits for. Everything is done by one semaphore contender, made once from `run`'s
 * resolved options (`LeaseSemaphore.contender`).
 *
 * - **One attempt first**, whatever `--timeout` says: a free permit is taken when nobody is queued
 *   (the attempt never overtakes a live waiter), and an API server that cannot be reached (or
 *   refuses us) is reported at once (69, 77) instead of being waited out.
 * - **`--try`**: a full semaphore (every permit below N held, or live waiters queued) answers at
 *   once with `--conflict-exit-code` (75), naming the holders and the number of waiters. Unlike a
 *   single lease's `--try`, a dead holder is not observed: its permit frees itself for the waiters
 *   once it has gone unrenewed for its duration.
 * - **Waiting**: one line on stderr when the wait starts (holders, waiters ahead, this waiter's
 *   identity), then one every `progressEvery` while it lasts; `--quiet` silences them. The wait is
 *   the core's (`SemaphoreContender.acquire`): served in the order the waiters enqueued at the API
 *   server, bounded by `--timeout` (then `--conflict-exit-code`, holding nothing, queued nowhere).
 *
 * Guarantees: those of `LeaseSemaphore` (at most N holders while N is unchanged; the fairness it
 * states). Does not: hand a permit over on request (`leasekit handoff` does not apply to permits).
 *
 * @since 0.5.0
 */
import * as LeaseRecord from "@leasekit/core/LeaseRecord"
import type * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Acquisition from "./Acquisition.ts"
import * as Durations from "./Durations.ts"
import * as ExitCode from "./ExitCode.ts"
import { printable } from "./Printable.ts"

/**
 * What `acquire` needs to know.
 *
 * @since 0.5.0
 * @category models
 */
export interface Settings extends Omit<Acquisition.Settings, "contender"> {
  readonly contender: LeaseSemaphore.SemaphoreContender
}


/**
 * A full semaphore in words: `semaphore NS/NAME is full (3 permits: 0 "a", 1 "b", 2 "c"; 2 waiting)`.
 *
 * @since 0.5.0
 * @category rendering
 */
export const describeFull = (key: LeaseRecord.LeaseKey, full: Extract<LeaseSemaphore.SemaphoreTryResult, { _tag: "Full" }>): string => {
  const held = full.holders.filter((h) => !h.withdrawn)
  const holders = held.length === 0
    ? "none held"
    : held.map((h) => `${h.permit} "${printable(h.holder)}"`).join(", ")
  const free = full.permits - held.length
  const why = free > 0 ? `; ${free} free, but ${full.waiting} waiting came first` : `; ${full.waiting} waiting`
  return `semaphore ${printable(LeaseRecord.formatKey(key))} is full (${full.permits} permit${full.permits === 1 ? "" : "s"}: ${holders}${why})`
}

/**
 * Takes a permit as `run --permits` does (see the module header), for the lifetime of the
 * contender's scope.
 *
 * @since 0.5.0
 * @category constructors
 */
export const acquire = (settings: Settings): Effect.Effect<LeaseSemaphore.HeldPermit, unknown> =>
  Effect.gen(function*() {
    const { contender, timeout } = settings
    const first = yield* contender.tryAcquire
    if (first._tag === "Acquired") return first.permit
    const text = describeFull(contender.key, first)
    if (settings.try) {
      return yield* ExitCode.fail(
        settings.conflictExitCode,
        text,
        `not waiting (--try); drop --try to wait in its queue; see who holds it with \`leasekit status ${contender.key.name}\``
      )
    }
    const bound = Option.match(timeout, { onNone: () => "", onSome: (t) => ` at most ${Durations.format(t)}` })
    yield* Acquisition.say(settings.quiet, `${text}; waiting in its queue${bound} as "${printable(contender.holder)}"`)
    const every = settings.progressEvery ?? Duration.seconds(30)
    const started = yield* Clock.currentTimeMillis
    const progress = Effect.gen(function*() {
      const waited = (yield* Clock.currentTimeMillis) - started
      yield* Acquisition.say(settings.quiet, `still waiting (${Durations.formatMillis(waited)}) for a permit of semaphore ${printable(LeaseRecord.formatKey(contender.key))}`)
    }).pipe(Effect.repeat(Schedule.spaced(every)), Effect.delay(every))
    return yield* Effect.raceFirst(
      contender.acquire(Option.getOrUndefined(timeout)),
      settings.quiet ? Effect.never : Effect.andThen(progress, Effect.never)
    ).pipe(
      Effect.mapError((error) =>
        error.reason._tag === "Timeout"
          ? ExitCode.fail(
            settings.conflictExitCode,
            error.message,
            `wait longer with --timeout; see who holds its permits with \`leasekit status ${contender.key.name}\``
          )
          : error
      )
    )
  })
