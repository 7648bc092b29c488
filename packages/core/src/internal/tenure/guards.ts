/**
 * Guarded work (`HeldLease.guard`): the registry of running guards a tenure keeps, and the guard
 * itself — work that runs only while the tenure lasts and is interrupted when it ends.
 *
 * Guarantees: the stop arm is armed before the work starts; the work checks, in its own fiber and
 * right before its first step, that the tenure has not ended and its deadline has not passed
 * (`ensureHeld`); every guard reports through `stopped` once its work has stopped, so that a release
 * can wait for it. Work runs with `CallingGuards` naming the guards it is inside (forks inherit it),
 * so that a release called from inside guarded work can tell and not wait for itself.
 * Does not: stop work outside `guard`, nor work that ignores interruption, in time; decide when the
 * tenure ends (the tenure tells each guard through `stop`).
 *
 * @internal
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type { LeaseLostError } from "../../LeaseError.ts"

/** One running `guard`: told to stop through `stop`, reports through `stopped`. */
export interface Guard {
  readonly stop: Deferred.Deferred<never, LeaseLostError>
  readonly stopped: Deferred.Deferred<void>
  /** The fiber that runs the guarded effect, once it started. */
  workFiber: number | undefined
  /** The guard of the same tenure whose work fiber started this one (a guard nested in the
   * guarded work itself, not in a fiber it forked): it waits for this one to finish. */
  readonly parent: Guard | undefined
}

/** The guards (of any tenure) inside whose work the current fiber runs — directly, or in a fiber
 * that work forked (forks inherit it); some may have finished since. */
export const CallingGuards = Context.Reference<ReadonlySet<Guard>>("@leasekit/core/internal/tenure/CallingGuards", {
  defaultValue: () => new Set()
})

/** The guards whose work the fiber `fiber` runs: its own and those waiting on it through nesting. */
export const guardsOf = (guards: ReadonlySet<Guard>, fiber: number): ReadonlySet<Guard> => {
  const result = new Set<Guard>()
  for (const guard of guards) {
    if (guard.workFiber !== fiber) continue
    for (let g: Guard | undefined = guard; g !== undefined; g = g.parent) result.add(g)
  }
  return result
}

/**
 * The guard of a tenure whose running guards are `guards`: runs `self` in a fiber of its own, raced
 * against the guard's `stop`, after `ensureHeld` (which fails once the tenure ended or its deadline
 * passed).
 */
export const make = (guards: Ref.Ref<ReadonlySet<Guard>>, ensureHeld: Effect.Effect<void, LeaseLostError>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LeaseLostError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const caller = yield* Effect.fiberId
        const entry: Guard = {
          stop: yield* Deferred.make<never, LeaseLostError>(),
          stopped: yield* Deferred.make<void>(),
          workFiber: undefined,
          parent: [...(yield* Ref.get(guards))].find((guard) => guard.workFiber === caller)
        }
        yield* Ref.update(guards, (set) => new Set(set).add(entry))
        // The stop arm is armed first; the work checks, in its own fiber and right before its
        // first step, that the tenure has not ended and its deadline has not passed.
        const work = Effect.fiberId.pipe(
          Effect.flatMap((id) => Effect.sync(() => (entry.workFiber = id))),
          Effect.andThen(ensureHeld),
          Effect.andThen(self),
          Effect.provideService(CallingGuards, new Set(yield* CallingGuards).add(entry))
        )
        return yield* restore(Effect.raceFirst(Deferred.await(entry.stop), work)).pipe(
          Effect.ensuring(
            Ref.update(guards, (set) => {
              const next = new Set(set)
              next.delete(entry)
              return next
            }).pipe(Effect.andThen(Deferred.succeed(entry.stopped, undefined)))
          )
        )
      })
    )
