/**
 * Leader election: hold a lease for as long as possible, run work while holding it, and go back
 * into the election after every loss.
 *
 * `run` competes for the lease, runs `whileLeading` guarded by it (interrupted before anyone else
 * can lead), and, when the lease is lost, waits its turn again with the same identity. `layer`
 * does the same in the background of a Layer — a singleton service for a replicated deployment.
 *
 * Guarantees: those of `Lease` — at most one leader at a time under the clock-rate assumption.
 * Does not guarantee: that `whileLeading` runs to completion; it is interrupted on loss and
 * started afresh on the next term, so it must be safe to restart.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Layer, Scope } from "effect"
import * as Lease from "./Lease.ts"
import type { InvalidLeaseOptions, LeaseAcquisitionError } from "./LeaseError.ts"
import { LeaseLostError } from "./LeaseError.ts"
import * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseStore } from "./LeaseStore.ts"

/**
 * Leads whenever it can: acquires the lease (waiting), runs `whileLeading` until it completes or
 * the lease is lost, and after a loss re-enters the election. Returns `whileLeading`'s result
 * (releasing the lease) once it completes while leading; fails when `whileLeading` fails, or
 * when the store refuses for good (e.g. RBAC forbids it).
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R>(
  options: LeaseOptions.LeaseOptions,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | LeaseAcquisitionError | InvalidLeaseOptions, LeaseStore | Exclude<R, Scope.Scope>> =>
  Effect.gen(function*() {
    const resolved = yield* LeaseOptions.resolve(options)
    const term = Effect.scoped(
      Effect.flatMap(Lease.acquireResolved(resolved), (lease) =>
        Effect.logDebug(`leading with token ${lease.token}`).pipe(
          Effect.andThen(lease.guard(whileLeading(lease)))
        ))
    )
    while (true) {
      const outcome = yield* term.pipe(
        Effect.map((value) => ({ _tag: "Done", value }) as const),
        // Only a loss of *this* lease is a reason to re-enter; `whileLeading` failing with the
        // loss of another lease it guards work with is its own failure.
        Effect.catchIf(
          (error): error is LeaseLostError =>
            error instanceof LeaseLostError && error.holder === resolved.holder &&
            error.key.namespace === resolved.key.namespace && error.key.name === resolved.key.name,
          (error) => Effect.succeed({ _tag: "Lost", error } as const)
        )
      )
      if (outcome._tag === "Done") return outcome.value
      yield* Effect.logInfo(`stopped leading: ${outcome.error.message}; re-entering the election`)
    }
  })

/**
 * A Layer that runs `run(options, whileLeading)` in the background for as long as the layer is
 * alive: a singleton across replicas. Building the layer does not wait for leadership. A
 * permanent failure (e.g. forbidden by RBAC) is logged as an error.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <A, E, R>(
  options: LeaseOptions.LeaseOptions,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
): Layer.Layer<never, never, LeaseStore | Exclude<R, Scope.Scope>> =>
  Layer.effectDiscard(
    run(options, whileLeading).pipe(
      Effect.tapCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logError("leader election stopped", cause)
      ),
      Effect.ignore,
      Effect.forkScoped
    )
  )
