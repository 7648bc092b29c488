/**
 * The Promise boundary of an `IntervalLease`: every method runs one effect on the lease's runtime,
 * interruptible by the caller's `signal` and by `close()`, and settles like it, with failures
 * converted to this package's errors. Closing (once) interrupts every call in flight and waits for
 * them to finish, so that what they were doing (an acquisition releasing what it took as it is
 * interrupted) is done before the instance ends what it holds and the runtime, if it is the
 * instance's own, is disposed of.
 */
import type * as Lease from "@leasekit/core/Lease"
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { LeaseLocation } from "../LeaseError.ts"
import type { LeaseRuntime } from "../LeaseRuntime.ts"
import * as Convert from "./errors.ts"

/** How one call runs. */
export interface CallOptions<A> {
  readonly operation: Convert.Operation
  /** The caller's signal: aborting it interrupts the call, which rejects with `Aborted`. */
  readonly signal?: AbortSignal | undefined
  /** The answer once the instance is closed; without one, a closed instance rejects (`Closed`). */
  readonly whenClosed?: (() => A) | undefined
}

export class Calls {
  readonly #runtime: LeaseRuntime
  readonly #ownsRuntime: boolean
  readonly #location: LeaseLocation
  readonly #closed = new AbortController()
  readonly #inFlight = new Set<Promise<unknown>>()
  #closing: Promise<void> | undefined = undefined

  /** Applied to every effect run (the instance's logger and log annotations). */
  readonly #around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

  constructor(
    runtime: LeaseRuntime,
    ownsRuntime: boolean,
    location: LeaseLocation,
    around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = (effect) => effect
  ) {
    this.#runtime = runtime
    this.#ownsRuntime = ownsRuntime
    this.#location = location
    this.#around = around
  }

  /** Aborted once `close` began; its reason is the `Closed` error. */
  get closed(): AbortSignal {
    return this.#closed.signal
  }

  /** Runs `effect` and settles like it (see the module comment). */
  async run<A>(effect: Effect.Effect<A, unknown, Lease.Lease | LeaseStore.LeaseStore>, options: CallOptions<A>): Promise<A> {
    const { operation, signal, whenClosed } = options
    const closed = () => whenClosed !== undefined ? whenClosed() : Promise.reject(Convert.closed(this.#location, operation))
    if (this.#closed.signal.aborted) return closed()
    if (signal?.aborted) throw Convert.aborted(this.#location, operation, signal.reason)
    const interrupt = signal === undefined ? this.#closed.signal : AbortSignal.any([this.#closed.signal, signal])
    const call = this.#runtime.runPromiseExit(this.#around(effect), { signal: interrupt })
    this.#inFlight.add(call)
    const exit = await call.finally(() => this.#inFlight.delete(call))
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.findErrorOption(exit.cause)
    if (Option.isSome(failure)) throw Convert.fromUnknown(this.#location, failure.value)
    if (!Cause.hasInterruptsOnly(exit.cause)) throw Cause.squash(exit.cause)
    if (signal?.aborted) throw Convert.aborted(this.#location, operation, signal.reason)
    return this.#closed.signal.aborted ? closed() : Promise.reject(Cause.squash(exit.cause))
  }

  /** Refuses new calls, interrupts those in flight, waits until they have finished, runs `end`, and
   * disposes of the runtime if it is the instance's own. Idempotent: later calls join the first. */
  close(end: () => Promise<void>): Promise<void> {
    return this.#closing ??= (async () => {
      this.#closed.abort(Convert.closed(this.#location, "acquire"))
      await Promise.allSettled(this.#inFlight)
      try {
        await end()
      } finally {
        if (this.#ownsRuntime) await this.#runtime.dispose()
      }
    })()
  }
}
