/**
 * The losses an instance tells its `onLost` handlers of, shared by `IntervalLease` and `Semaphore`:
 * each core loss is converted once (the same `LeaseLostError` for every caller that asks about it)
 * and, the first time, given to every handler; a handler that throws is logged, the others still run.
 */
import type { LeaseLostError as CoreLostError } from "@leasekit/core/LeaseError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LeaseLocation, LeaseLostError } from "../LeaseError.ts"
import * as Convert from "./errors.ts"

/** A handler of unexpected loss. */
export type Handler = (error: LeaseLostError) => void

export class Losses {
  readonly #handlers = new Set<Handler>()
  readonly #converted = new WeakMap<CoreLostError, LeaseLostError>()
  /** Where a loss happened (the Lease object it names), and the label of log lines. */
  readonly #locate: (error: CoreLostError) => LeaseLocation
  readonly #label: string

  constructor(locate: (error: CoreLostError) => LeaseLocation, label: string) {
    this.#locate = locate
    this.#label = label
  }

  /** Adds `handler`; returns the unsubscribe function. */
  on(handler: Handler): () => void {
    this.#handlers.add(handler)
    return () => void this.#handlers.delete(handler)
  }

  /** Converts a loss the core declared; the first time, tells the handlers. */
  convert(error: CoreLostError): Effect.Effect<LeaseLostError> {
    const known = this.#converted.get(error)
    if (known !== undefined) return Effect.succeed(known)
    const lost = Convert.fromLoss(this.#locate(error), error)
    this.#converted.set(error, lost)
    const call = (handler: Handler) =>
      Effect.try(() => handler(lost)).pipe(Effect.catch((e) => Effect.logError(`${this.#label}: onLost handler threw`, e.cause)))
    return Effect.as(Effect.forEach([...this.#handlers], call, { discard: true }), lost)
  }

  /** The loss the core declared for `held`, if it did (never waits). */
  of(held: { readonly lost: Effect.Effect<never, CoreLostError> }): Effect.Effect<Option.Option<LeaseLostError>> {
    return Effect.flatMap(Effect.timeoutOption(Effect.flip(held.lost), Duration.zero), (error) =>
      Option.isSome(error) ? Effect.asSome(this.convert(error.value)) : Effect.succeedNone)
  }
}
