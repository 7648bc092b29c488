/**
 * `run`'s shape, shared by `IntervalLease` and `Semaphore`: once something is held, run the
 * caller's callback as the core's guarded work (`callback.ts`), release what it ran under, and
 * settle as the documentation of `run` says — with a loss that came meanwhile, else `Closed`
 * after a close, else as the callback did (a callback that released or closed its own instance
 * is neither aborted nor waited for).
 */
import type * as Lease from "@leasekit/core/Lease"
import type { LeaseLostError as CoreLostError } from "@leasekit/core/LeaseError"
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import type * as Duration from "effect/Duration"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { type LeaseLocation, LeaseLostError, LeaseRelinquishmentError } from "../LeaseError.ts"
import type { LeaseRuntime } from "../LeaseRuntime.ts"
import * as Callback from "./callback.ts"
import type { Calls } from "./calls.ts"
import * as Convert from "./errors.ts"
import type { Losses } from "./losses.ts"

/** What is held while the callback runs: the core's guard and loss of a lease or a permit. */
export interface Held {
  readonly guard: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CoreLostError, R>
  readonly lost: Effect.Effect<never, CoreLostError>
}

export interface Guarded<T> {
  readonly owner: object
  readonly held: Held
  readonly location: LeaseLocation
  readonly holder: string
  readonly runtime: LeaseRuntime
  readonly calls: Calls
  readonly losses: Losses
  readonly around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How long the callback is waited for once told to stop (the renew deadline). */
  readonly bound: Duration.Duration
  readonly label: string
  /** The caller's signal, besides loss, release and close. */
  readonly signal: AbortSignal | undefined
  readonly start: (signal: AbortSignal) => Promise<T> | T
  /** Releases `held` if it is still what the instance holds. */
  readonly release: Effect.Effect<void, unknown, Lease.Lease | LeaseStore.LeaseStore>
}

export const run = async <T>(g: Guarded<T>): Promise<T> => {
  const ended = new AbortController()
  const signal = AbortSignal.any([ended.signal, g.calls.closed, ...g.signal ? [g.signal] : []])
  // The core ended the tenure for the callback: abort its signal (unless a close or the caller did)
  // with the loss, else `Relinquished`.
  const relinquished = () => Convert.relinquished(g.location, g.holder)
  const stop = Effect.suspend(() =>
    signal.aborted ? Effect.void : Effect.map(g.losses.of(g.held), (lost) => ended.abort(Option.getOrElse(lost, relinquished))))
  const { work, started, released } = Callback.make(g.owner, () => g.start(signal), stop, g.bound, `${g.label}: run()'s callback`)
  const exit = await g.runtime.runPromiseExit(g.around(g.held.guard(work)))
  const running = started()
  await running?.catch(() => undefined) // the release stops waiting after `bound`; `run` does not
  await g.calls.run(g.release, { operation: "release", whenClosed: () => undefined }).catch((error: unknown) => {
    if (error instanceof LeaseRelinquishmentError && error.reason === "HeldByOther") return // a loss, declared
    Effect.runFork(g.around(Effect.logWarning(`${g.label}: not released after run(), it will expire by itself: ${error}`)))
  })
  const lost = await Effect.runPromise(g.losses.of(g.held))
  if (Option.isSome(lost)) throw lost.value
  if (g.calls.closed.aborted) throw Convert.closed(g.location, "acquire")
  if (Exit.isFailure(exit) && !(released() && running !== undefined)) {
    if (signal.reason instanceof LeaseLostError) throw signal.reason // a release of this instance began
    const failure = Cause.findErrorOption(exit.cause)
    throw Option.isSome(failure) ? Convert.fromUnknown(g.location, failure.value) : Cause.squash(exit.cause)
  }
  return running as Promise<T> // started: the guard refused no work that reaches here
}
