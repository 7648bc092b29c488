/**
 * `Semaphore`: a counting semaphore on Kubernetes Leases for code that does not use Effect — at
 * most N holders at once, waiters served first come, first served. One instance is one core
 * `SemaphoreContender` (one holder identity, holding at most one permit at a time), made on its
 * first call inside its `LeaseRuntime`, in a `Scope` the instance owns until `close()`; the same
 * construction, options and Promise boundary as `IntervalLease` (and the same machinery: a waiting
 * `acquire` is stopped by its `signal`, `timeoutMs` or `close()`; `run`'s callback is guarded work).
 *
 * Guarantees (the core's `LeaseSemaphore`, under `Lease`'s assumptions — clock rates nearly equal,
 * unique holder identities): while `isHeld` is true this instance holds permit `permit`, which no
 * other contender following the protocol holds, and at most N instances hold a permit while N is
 * unchanged (at most M during the drain after a `resize` from M down to N); `token` is the permit
 * lease's fencing token, strictly increasing per permit; a waiting `acquire` is served before every
 * waiter that enqueued after it, except that permits freed at once may go to the waiters they made
 * eligible in any order, and a dead waiter ahead delays it by at most that waiter's lease duration;
 * `tryAcquire` never overtakes a live waiter; an unexpected loss fires every `onLost` handler once
 * and aborts `run`'s signal, this instance's own release or close does not.
 *
 * Does not guarantee: that work stops on loss or release (only code honouring `run`'s signal,
 * checking `isHeld` or fencing its writes with `token` does); exclusion against writers ignoring
 * the protocol; an order among waiters made eligible by the same release.
 *
 * @since 0.5.0
 */
import type * as Lease from "@leasekit/core/Lease"
import type * as LeaseOptions from "@leasekit/core/LeaseOptions"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Callback from "./internal/callback.ts"
import type { Calls } from "./internal/calls.ts"
import * as Guarded from "./internal/guarded.ts"
import * as Instance from "./internal/instance.ts"
import { Losses } from "./internal/losses.ts"
import type { LeaseLogger, LeaseLogLevel, LockOptions, LostHandler } from "./IntervalLease.ts"
import { IntervalLease } from "./IntervalLease.ts"
import type { InvalidLeaseOptionsError, LeaseLocation } from "./LeaseError.ts"
import type * as LeaseRuntime from "./LeaseRuntime.ts"

/** The core's options that a `Semaphore` names or means otherwise. */
type Own = "namespace" | "name" | "holder" | "duration"

/**
 * Options of a `Semaphore`: where it is, N, and the same timing, identity, client and logging
 * options as `IntervalLeaseOptions` (every permit and waiter ticket of this instance uses them).
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreOptions extends Pick<LeaseOptions.LeaseOptions, Exclude<keyof LeaseOptions.LeaseOptions, Own>> {
  /** The namespace of the semaphore's Lease objects (a DNS-1123 label). Required. */
  readonly namespace: string
  /** The semaphore's name: its head Lease; its permits are `<name>-0 … <name>-(N-1)`. Required. */
  readonly name: string
  /** N, the number of permits: needed to create the semaphore (a whole number, 1 to 1000). Once
   * it exists the count stored on it wins (a different value is logged as a warning). */
  readonly permits?: number | undefined
  /** How long others wait on an unrenewed permit or waiter ticket, in whole seconds ≥ 1. Default 20. */
  readonly durationSeconds?: number | undefined
  /** The identity written into the permits and tickets, never shared by two live instances.
   * Default: `<pod or host>_<pid>_<random>`, fresh for every instance. */
  readonly holder?: string | undefined
  /** Kubeconfig file(s). Default: `$KUBECONFIG`, `~/.kube/config`, then in-cluster. */
  readonly kubeconfig?: string | undefined
  /** The kubeconfig context to use. Default: its `current-context`. */
  readonly context?: string | undefined
  /** A runtime shared with other instances (see `LeaseRuntime`); `close()` leaves it running. */
  readonly runtime?: LeaseRuntime.LeaseRuntime | undefined
  /** Where log lines go (as `IntervalLeaseOptions.logger`). */
  readonly logger?: LeaseLogger | undefined
  /** The least severe lines given to `logger`. Default `"info"`. */
  readonly logLevel?: LeaseLogLevel | undefined
}

/**
 * The permit an instance holds: its index and its fencing token (a decimal string, as
 * `IntervalLease`'s tokens).
 *
 * @since 0.5.0
 * @category models
 */
export interface Permit {
  readonly permit: number
  readonly token: string
}

/**
 * A counting semaphore on Kubernetes Leases: `acquire` waits for one of N permits, renewed in the
 * background while held.
 *
 * ```ts
 * import { Semaphore } from "@leasekit/promise"
 *
 * declare function transcode(signal: AbortSignal, fencingToken: string): Promise<void> // your work
 *
 * const slots = new Semaphore({ namespace: "media", name: "transcoders", permits: 3 })
 * await slots.run((signal, { token }) => transcode(signal, token))   // waits, runs, releases
 * await slots.close()
 * ```
 *
 * @since 0.5.0
 * @category models
 */
export class Semaphore implements AsyncDisposable {
  readonly #location: LeaseLocation
  readonly #options: LeaseOptions.ResolvedLeaseOptions
  readonly #runtime: LeaseRuntime.LeaseRuntime
  readonly #scope = Effect.runSync(Scope.make()) // the contender's; `close()` closes it
  /** The contender, made once on first use. */
  readonly #contender: Effect.Effect<LeaseSemaphore.SemaphoreContender, never, Lease.Lease>
  /** The permit held, as the last call that changed it left it (for the synchronous getters). */
  #held: LeaseSemaphore.HeldPermit | undefined = undefined
  readonly #losses: Losses
  readonly #calls: Calls
  readonly #around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

  /** Checks the options (throwing `InvalidLeaseOptionsError`); nothing is sent and no kubeconfig is
   * read until the first call. */
  constructor(options: SemaphoreOptions) {
    const {
      namespace, name, permits, durationSeconds = IntervalLease.DEFAULT_LEASE_DURATION,
      holder, kubeconfig, context, runtime, logger, logLevel, ...timing
    } = options
    this.#location = { namespace, leaseName: name }
    if (permits !== undefined && !(Number.isInteger(permits) && permits >= 1 && permits <= LeaseSemaphore.maxPermits)) {
      throw Instance.invalid(this.#location, "permits", permits, `must be a whole number from 1 to ${LeaseSemaphore.maxPermits}`)
    }
    this.#losses = new Losses((error) => ({ namespace: error.key.namespace, leaseName: error.key.name }), `semaphore ${namespace}/${name}`)
    const made = Instance.make(this.#location, name, { durationSeconds, holder, kubeconfig, context, runtime, logger, logLevel }, timing)
    this.#options = made.options
    this.#runtime = made.runtime
    this.#around = made.around
    this.#calls = made.calls
    const contender = { ...made.timing, namespace, name, holder: this.holder, permits }
    const self = this
    this.#contender = Effect.runSync(Effect.cached(
      // One identity: the holder resolved above. The options are valid, so a rejection is a bug.
      Scope.provide(LeaseSemaphore.contender(contender), self.#scope).pipe(Effect.orDie)
    ))
  }

  /** The namespace of the semaphore's Lease objects. */
  get namespace(): string { return this.#location.namespace }
  /** The semaphore's name (its head Lease). */
  get name(): string { return this.#location.leaseName }
  /** This instance's holder identity, as written into the permits and tickets. */
  get holder(): string { return this.#options.holder }
  /** The lease duration this instance writes, in seconds. */
  get durationSeconds(): number { return this.#options.durationSeconds }
  /** The index of the permit this instance holds (`<name>-<permit>`), or `undefined`. */
  get permit(): number | undefined { return this.isHeld ? this.#held?.permit : undefined }
  /** The fencing token of the permit this instance holds (a decimal string), or `undefined`. */
  get token(): string | undefined { return this.isHeld ? String(this.#held?.token) : undefined }
  /** Whether this instance holds a permit, as the core knows it without a request: no release begun,
   * not lost, renew deadline not passed. */
  get isHeld(): boolean {
    const held = this.#held
    if (held === undefined || this.#calls.closed.aborted) return false
    const exit = this.#runtime.runSyncExit(held.isHeld)
    return Exit.isSuccess(exit) && exit.value
  }

  /** Waits until this instance holds a permit (at once when it holds one), in the semaphore's queue.
   * Rejects with `LeaseAcquisitionError`: `Timeout` after `timeoutMs` of waiting (holding nothing,
   * out of the queue), `Aborted` when `signal` aborts, `Closed` when the instance is closed
   * meanwhile, `Semaphore` when the name is a plain lease or the semaphore does not exist and no
   * `permits` were given. */
  async acquire(options: LockOptions = {}): Promise<Permit> {
    const held = await this.#acquire(options)
    return { permit: held.permit, token: String(held.token) }
  }

  /** Takes a free permit when nobody live waits in the queue (it never overtakes a waiter):
   * `true`, else `false` (holding one already: `true`). Other failures reject. */
  tryAcquire(): Promise<boolean> {
    const attempt = Effect.flatMap(this.#contender, (c) =>
      Effect.flatMap(c.tryAcquire, (result) => result._tag === "Acquired" ? Effect.as(this.#track(result.permit), true) : Effect.succeed(false)))
    return this.#calls.run(attempt, { operation: "acquire" })
  }

  /** Stops a running `run` callback (aborting its signal, `Relinquished`), then releases the permit
   * held; nothing when none is. A permit already lost: quiet. */
  release(): Promise<void> {
    Callback.markCaller(this)
    return this.#calls.run(Effect.flatMap(this.#contender, (c) => c.release), { operation: "release", whenClosed: () => undefined })
  }

  /** Waits for a permit (as `acquire`), runs `fn(signal, permit)` as guarded work, then releases
   * it (a permit already held is used, and released too). `fn`'s signal aborts on a loss (reason:
   * the `LeaseLostError`), a release (`Relinquished`), `close()` (`Closed`) or `options.signal`.
   * Settles as `IntervalLease.run` does. */
  async run<T>(fn: (signal: AbortSignal, permit: Permit) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    const held = await this.#acquire(options)
    const release = Effect.flatMap(this.#contender, (c) =>
      Effect.flatMap(c.current, (now) => Option.contains(now, held) ? c.release : Effect.void))
    const location = { namespace: held.key.namespace, leaseName: held.key.name }
    return Guarded.run({
      owner: this, held, location, holder: this.holder, runtime: this.#runtime, calls: this.#calls,
      losses: this.#losses, around: this.#around, bound: this.#options.renewDeadline,
      label: `semaphore ${this.namespace}/${this.name} permit ${held.permit}`, signal: options.signal,
      start: (signal) => fn(signal, { permit: held.permit, token: String(held.token) }), release
    })
  }

  /** Calls `handler` once for each unexpected loss of a permit this instance holds (never for its
   * own `release()` / `close()`); a handler that throws is logged. Returns the unsubscribe function. */
  onLost(handler: LostHandler): () => void {
    return this.#losses.on(handler)
  }

  /** Stops a waiting `acquire` (which leaves the queue), releases the permit held as `release()`
   * does, and closes the Kubernetes client unless the runtime was passed in. Idempotent; acquiring
   * then rejects `Closed`. */
  close(): Promise<void> {
    Callback.markCaller(this)
    return this.#calls.close(() => Effect.runPromise(Scope.close(this.#scope, Exit.void)))
  }
  /** `close()`, for `await using slots = new Semaphore(...)`. */
  [Symbol.asyncDispose](): Promise<void> { return this.close() }

  #acquire({ signal, timeoutMs }: LockOptions): Promise<LeaseSemaphore.HeldPermit> {
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      return Promise.reject(this.#invalid("timeoutMs", timeoutMs, "must be a positive, finite number of milliseconds"))
    }
    const timeout = timeoutMs === undefined ? undefined : Duration.millis(timeoutMs)
    const acquired = Effect.flatMap(this.#contender, (c) => Effect.tap(c.acquire(timeout), (held) => this.#track(held)))
    return this.#calls.run(acquired, { operation: "acquire", signal })
  }

  /** Remembers `held` for the getters and, the first time, tells the `onLost` handlers of its loss. */
  #track(held: LeaseSemaphore.HeldPermit): Effect.Effect<void> {
    if (this.#held === held) return Effect.void
    this.#held = held
    const losses = Effect.catch(held.lost, (error) => this.#losses.convert(error))
    return Effect.asVoid(Effect.forkIn(losses, this.#scope, { startImmediately: true }))
  }

  #invalid(field: string, value: unknown, rule: string): InvalidLeaseOptionsError {
    return Instance.invalid(this.#location, field, value, rule)
  }
}
