/**
 * The scope every process of a bench run lives in. The figures are Promises; `run` lets them
 * start processes through `@leasekit/testing`'s `Process` (or its contender driver) as fibers of
 * the run's scope, and `fork` gives a contender a scope of its own inside it. The end of the run,
 * its failure, and SIGINT / SIGTERM (which interrupt the orchestrator) close that scope: every
 * process still running is stopped (SIGTERM, SIGKILL after the grace period), all at once.
 *
 * Does not cover a bench killed without running finalizers (SIGKILL, OOM): contenders then exit
 * by themselves when their stdin ends; a figure whose processes could outlive the bench otherwise
 * guards them with a `Process.lifeline` (figure 7).
 */
import { Effect, Fiber, Scope } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"

export interface RunScope {
  /**
   * Runs `effect` as a fiber of the run, in a scope of its own that closes when it ends (stopping
   * what it spawned and did not wait for); rejects with its failure, or when the run ended first.
   */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Scope.Scope | ChildProcessSpawner>) => Promise<A>
  /** A new scope inside the run's, for what outlives one `run` (a contender); close it when done. */
  readonly fork: () => Scope.Closeable
}

/** The run's scope, inside the caller's: closed with it, its processes stopped in parallel. */
export const make: Effect.Effect<RunScope, never, Scope.Scope | ChildProcessSpawner> = Effect.gen(function*() {
  const scope = yield* Scope.fork(yield* Effect.scope, "parallel")
  const run = Effect.runPromiseWith(yield* Effect.context<ChildProcessSpawner>())
  return {
    run: (effect) => run(Effect.flatMap(Effect.forkIn(Effect.scoped(effect), scope), Fiber.join)),
    fork: () => Scope.forkUnsafe(scope)
  }
})
