/**
 * `IntervalLease`: a Kubernetes Lease lock for code that does not use Effect, with the surface of
 * the systems it replaces (Hedera Solo's `IntervalLease`, actor-ts's `KubernetesLease`, Go's
 * leaselocker) plus a fencing token, a loss callback, `lock` and `run`. One instance is one core
 * `LeaseContender` (one holder identity on one Lease object), made on its first call inside its
 * `LeaseRuntime`, in a `Scope` the instance owns until `close()`: every method is a call of the
 * contender or of the lease it holds, so renewing, judging expiry and detecting loss are the core's.
 *
 * Guarantees (the core's, assuming the clocks of all contenders run at nearly the same *rate* and
 * holder identities are unique): while `checkAlive()` is true no other contender following the
 * protocol holds the lease; it is false from the moment a release begins; an unexpected loss fires
 * every `onLost` handler once and aborts `run`'s signal, this instance's own release or close does
 * not (nor a release whose write landed but whose answer was lost); `run`'s callback is guarded
 * work: not started on a lease no longer held, and told to stop and waited for (at most
 * `renewDeadline`, the lease renewed meanwhile) before a release or close writes, unless it called
 * that itself; tokens strictly increase with every change of holder while the object is not
 * deleted; calls that change what the instance holds run one at a time (the contender's permit: a
 * `release()` made while `lock()` waits runs after the wait, which its `signal`, `timeoutMs` or
 * `close()` stops).
 *
 * Does not guarantee: that work stops on loss or release (only code honouring `run`'s signal,
 * checking `checkAlive()` or fencing its writes with the token does); that a release which cannot
 * reach the API server ends quietly (`onLost` fires `DeadlineExceeded`); exclusion against writers
 * ignoring the protocol; a wall-clock notion of expiry: another holder's lease counts as expired
 * once this runtime has seen it unchanged for its duration (client-go's rule; see `maxClockSkew`).
 *
 * @since 0.1.0
 */
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import type { HeldLease } from "@leasekit/core/Lease"
import * as Lease from "@leasekit/core/Lease"
import * as LeaseOptions from "@leasekit/core/LeaseOptions"
import type { LeaseRelinquishmentError as CoreRelinquishmentError } from "@leasekit/core/LeaseError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Callback from "./internal/callback.ts"
import { Calls } from "./internal/calls.ts"
import * as Convert from "./internal/errors.ts"
import * as Guarded from "./internal/guarded.ts"
import * as Instance from "./internal/instance.ts"
import { Losses } from "./internal/losses.ts"
import { InvalidLeaseOptionsError, type LeaseInspectionError, type LeaseLocation, type LeaseLostError } from "./LeaseError.ts"
import * as LeaseRuntime from "./LeaseRuntime.ts"

/** The core's options that an `IntervalLease` names or means otherwise. */
type Own = "namespace" | "name" | "holder" | "duration"

/**
 * Options of an `IntervalLease`. The timing options and `releaseMode` are the core's (`LeaseOptions`,
 * its defaults and rules); durations take milliseconds or a string such as `"5 seconds"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface IntervalLeaseOptions extends Pick<LeaseOptions.LeaseOptions, Exclude<keyof LeaseOptions.LeaseOptions, Own>> {
  /** The namespace of the Lease object (a DNS-1123 label). Required. */
  readonly namespace: string
  /** The name of the Lease object (a DNS-1123 subdomain). Default: the namespace. */
  readonly leaseName?: string | undefined
  /** How long others wait on an unrenewed lease, in whole seconds ≥ 1. Default 20. */
  readonly durationSeconds?: number | undefined
  /** The identity written into the Lease, never shared by two live instances. Default:
   * `<pod or host>_<pid>_<random>`, fresh for every instance. */
  readonly holder?: string | undefined
  /** Kubeconfig file(s). Default: `$KUBECONFIG`, `~/.kube/config`, then in-cluster. */
  readonly kubeconfig?: string | undefined
  /** The kubeconfig context to use. Default: its `current-context`. */
  readonly context?: string | undefined
  /** A runtime shared by several leases (see `LeaseRuntime`); `close()` leaves it running. */
  readonly runtime?: LeaseRuntime.LeaseRuntime | undefined
  /** Where this lease's log lines go — renewal failing, lease lost, a release that failed — each
   * with the lease's attributes (`lease.namespace`, `lease.name`, `lease.holder`) as its second
   * argument (and `error`, the cause, when there is one). `console` fits, and so do winston and
   * most loggers (`warn(message, meta)`); pino takes the object first:
   * `{ warn: (m, a) => log.warn(a, m), error: (m, a) => log.error(a, m) }`. Default: Effect's
   * default logger (lines on the console). */
  readonly logger?: LeaseLogger | undefined
  /** The least severe lines given to `logger`. Default `"info"` (leasekit's `debug` lines — each
   * acquisition and release — are left out). */
  readonly logLevel?: LeaseLogLevel | undefined
}

/**
 * A logger `IntervalLease` can write to: `warn` and `error` are required, `info` and `debug` are
 * used when present. Each is called with the message and the line's attributes.
 *
 * @since 0.3.0
 * @category models
 */
export interface LeaseLogger {
  readonly debug?: ((message: string, attributes: Record<string, unknown>) => void) | undefined
  readonly info?: ((message: string, attributes: Record<string, unknown>) => void) | undefined
  readonly warn: (message: string, attributes: Record<string, unknown>) => void
  readonly error: (message: string, attributes: Record<string, unknown>) => void
}

/**
 * The least severe lines an `IntervalLease` gives its logger.
 *
 * @since 0.3.0
 * @category models
 */
export type LeaseLogLevel = "debug" | "info" | "warn" | "error"

/**
 * Options of `lock` and `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** Stop waiting when this signal aborts (rejects with reason `Aborted`). */
  readonly signal?: AbortSignal | undefined
  /** Stop waiting after this many milliseconds (rejects with reason `Timeout`). Default: forever. */
  readonly timeoutMs?: number | undefined
}

/**
 * A handler of unexpected loss.
 *
 * @since 0.1.0
 * @category models
 */
export type LostHandler = (error: LeaseLostError) => void

const isMillis = (value: unknown, min: number) => typeof value === "number" && value >= min && Number.isFinite(value)

/**
 * A lock on one Kubernetes Lease, renewed in the background while held.
 *
 * ```ts
 * import { IntervalLease } from "@leasekit/promise"
 *
 * declare function writeReport(signal: AbortSignal, fencingToken: string): Promise<void> // your work
 *
 * const lease = new IntervalLease({ namespace: "jobs", leaseName: "nightly-report" })
 * await lease.run((signal, token) => writeReport(signal, token))   // waits, runs, releases
 * await lease.close()
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class IntervalLease implements AsyncDisposable {
  /**
   * The default lease duration, in seconds.
   *
   * @since 0.1.0
   */
  static readonly DEFAULT_LEASE_DURATION = 20

  readonly #location: LeaseLocation
  readonly #options: LeaseOptions.ResolvedLeaseOptions
  readonly #timing: Lease.InspectOptions // as given, for `Lease.inspect`
  readonly #runtime: LeaseRuntime.LeaseRuntime
  readonly #scope = Effect.runSync(Scope.make()) // the contender's; `close()` closes it
  /** The contender, made once on first use; `#handle` once made (for the synchronous `checkAlive`). */
  readonly #contender: Effect.Effect<Lease.LeaseContender, never, Lease.Lease>
  #handle: Lease.LeaseContender | undefined = undefined
  readonly #losses: Losses
  readonly #calls: Calls
  /** Gives an effect the instance's logger and log annotations (every call, and the callback of `run`). */
  readonly #around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

  /** Checks the options (throwing `InvalidLeaseOptionsError`); nothing is sent and no kubeconfig is
   * read until the first call. */
  constructor(options: IntervalLeaseOptions) {
    const {
      namespace, leaseName = namespace, durationSeconds = IntervalLease.DEFAULT_LEASE_DURATION,
      holder, kubeconfig, context, runtime, logger, logLevel, ...timing
    } = options
    this.#location = { namespace, leaseName }
    this.#losses = new Losses(() => this.#location, `lease ${namespace}/${leaseName}`)
    const made = Instance.make(this.#location, leaseName, { durationSeconds, holder, kubeconfig, context, runtime, logger, logLevel }, timing)
    this.#timing = made.timing
    this.#options = made.options
    this.#runtime = made.runtime
    this.#around = made.around
    this.#calls = made.calls
    const contender = { ...this.#timing, namespace, name: leaseName }
    const self = this
    this.#contender = Effect.runSync(Effect.cached(Effect.gen(function*() {
      // One identity: the holder resolved above. The options are valid, so a rejection is a bug.
      const made = yield* Scope.provide(Lease.contender({ ...contender, holder: self.holder }), self.#scope)
      const losses = Stream.runForEach(made.events, (event) => event._tag === "Lost" ? self.#losses.convert(event.error) : Effect.void)
      yield* Effect.forkIn(losses, self.#scope, { startImmediately: true })
      return (self.#handle = made)
    }).pipe(Effect.orDie)))
  }

  /** The namespace of the Lease object. */
  get namespace(): string { return this.#location.namespace }
  /** The name of the Lease object. */
  get leaseName(): string { return this.#location.leaseName }
  /** This instance's holder identity, as written into the Lease. */
  get holder(): string { return this.#options.holder }
  /** The lease duration this instance writes, in seconds. */
  get durationSeconds(): number { return this.#options.durationSeconds }

  /** Takes the lease if it is absent, free or expired (or lost by this instance), renews it if this
   * instance holds it, and otherwise rejects with `LeaseAcquisitionError` (`HeldByOther`, naming the
   * holder and when it would expire). Never waits for another holder. */
  acquire(): Promise<void> { return this.#attempt(() => undefined) }
  /** `acquire`, resolving `false` when another holder has the lease (other failures still reject). */
  tryAcquire(): Promise<boolean> { return this.#attempt(() => true, () => false) }
  /** Renews the lease this instance holds; otherwise the same as `acquire`. */
  renew(): Promise<void> { return this.acquire() }
  /** `renew`, resolving `false` when another holder has the lease. */
  tryRenew(): Promise<boolean> { return this.tryAcquire() }
  /** `tryAcquire` resolving the fencing token (the Lease's `leaseTransitions`, a decimal string;
   * renewing keeps it), or `null` when another holder has the lease. */
  acquireWithToken(): Promise<{ readonly token: string } | null> {
    return this.#attempt((token) => ({ token: String(token) }), () => null)
  }

  /** Waits until this instance holds the lease (at once when it does, renewing it). Rejects with
   * `LeaseAcquisitionError`: `Timeout` after `timeoutMs` of waiting, `Aborted` when `signal` aborts
   * (`cause`: its reason), `Closed` when the instance is closed meanwhile. */
  async lock(options: LockOptions = {}): Promise<void> { await this.#lock(options) }

  /** Ends the tenure for a running `run` callback, then clears the holder (or deletes the object).
   * Gone, past its deadline, or taken after this release's write landed: quiet; taken otherwise:
   * `LeaseRelinquishmentError` (`HeldByOther`). Holding nothing, it reads once and writes nothing:
   * `HeldByOther` while another holder has an unexpired lease (as Solo's). A store failing for the
   * lease duration: `Store` (renewal has stopped; the next release retries). */
  release(): Promise<void> {
    return this.#calls.run(this.#releasing(), { operation: "release", whenClosed: () => undefined })
  }

  /** `release`, resolving `false` when another holder has the lease. */
  tryRelease(): Promise<boolean> {
    const heldByOther = (e: CoreRelinquishmentError) => e.reason._tag === "HeldByOther"
    const released = this.#releasing().pipe(Effect.as(true), Effect.catchIf(heldByOther, () => Effect.succeed(false)))
    return this.#calls.run(released, { operation: "release", whenClosed: () => true })
  }

  /** `release`, retried every `retryPeriod` while it fails for a store reason, until it succeeds or
   * `signal` aborts (`Aborted`); `HeldByOther` is not retried. */
  unlockWithRetry(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    const period = this.#options.retryPeriod
    const store = (e: CoreRelinquishmentError) => e.reason._tag === "Store"
    const retried = this.#releasing().pipe(
      Effect.tapError((e) => store(e) ? Effect.logWarning(`${e.message}; retrying in ${Duration.format(period)}`) : Effect.void),
      Effect.retry({ schedule: Schedule.spaced(period), while: store })
    )
    return this.#calls.run(retried, { operation: "release", signal: options.signal, whenClosed: () => undefined })
  }

  /** Stops a waiting `lock`, releases what is held as `release()` does (aborting a running `run`
   * callback's signal with the `Closed` `LeaseAcquisitionError`; a failure is logged), and closes the
   * Kubernetes client unless the runtime was passed in. Idempotent; acquiring then rejects `Closed`. */
  close(): Promise<void> {
    Callback.markCaller(this)
    // Closing the scope releases the tenure (the core's finalizer carries its store: no runtime needed).
    return this.#calls.close(() => Effect.runPromise(Scope.close(this.#scope, Exit.void)))
  }
  /** `close()`, for `await using lease = new IntervalLease(...)`. */
  [Symbol.asyncDispose](): Promise<void> { return this.close() }

  /** Whether the core holds the lease (see `checkAlive`) *and* a fresh read names this instance;
   * when it names someone else, a renewal confirms the loss at once (`onLost` fires now). */
  isAcquired(): Promise<boolean> {
    const self = this
    const check = Effect.gen(function*() {
      const held = yield* self.#current
      if (Option.isNone(held) || !(yield* held.value.isHeld)) return false
      if (Option.contains((yield* self.#inspect).holder, self.holder)) return true
      return yield* held.value.renew.pipe(Effect.as(true), Effect.catch((e) => Effect.as(self.#losses.convert(e), false)))
    })
    return this.#calls.run(check, { operation: "inspect", whenClosed: () => false })
  }

  /** Whether the lease is absent, free, or expired as this process judges, whoever holds it. */
  isExpired(): Promise<boolean> {
    const expired = Effect.map(this.#inspect, (i) => Option.isNone(i.holder) || Duration.isZero(i.expiresIn))
    return this.#calls.run(expired, { operation: "inspect" })
  }

  /** Whether this instance holds the lease, as the core knows it without a request: no release
   * begun, not lost, renew deadline not passed. While true, no other contender can hold it. */
  checkAlive(): boolean {
    const contender = this.#handle
    if (contender === undefined || this.#calls.closed.aborted) return false // (the runtime may not be built)
    const exit = this.#runtime.runSyncExit(Effect.flatMap(contender.current, (held) =>
      Option.isSome(held) ? held.value.isHeld : Effect.succeed(false)))
    return Exit.isSuccess(exit) && exit.value
  }

  /** client-go's `LeaderElector.Check`, locally: rejects with `LeaseLostError` when the lease this
   * instance holds (or held and lost, not released since) was last renewed more than its duration
   * plus `maxTolerableExpiredMs` ago; resolves when it holds nothing or is releasing. */
  check(maxTolerableExpiredMs: number): Promise<void> {
    if (!isMillis(maxTolerableExpiredMs, 0)) {
      const rule = "must be a finite number of milliseconds, at least 0"
      return Promise.reject(this.#invalid("maxTolerableExpiredMs", maxTolerableExpiredMs, rule))
    }
    if (this.#handle === undefined) return Promise.resolve() // never held: healthy, whatever the runtime
    const self = this
    const check = Effect.gen(function*() {
      const held = Option.getOrUndefined(yield* self.#current)
      const lost = held === undefined ? undefined : Option.getOrUndefined(yield* self.#losses.of(held))
      if (held === undefined || (lost === undefined && !(yield* held.isHeld))) return // nothing held, or releasing
      const renewed = new Date((yield* held.record).renewTime ?? Date.now())
      const expiredFor = Date.now() - renewed.getTime() - self.durationSeconds * 1000
      if (expiredFor <= maxTolerableExpiredMs) return
      return yield* Effect.fail(Convert.overdue(self.#location, self.holder, renewed, expiredFor, maxTolerableExpiredMs, lost))
    })
    return this.#calls.run(check, { operation: "inspect", whenClosed: () => undefined })
  }

  /** Calls `handler` once for each unexpected loss of a lease this instance holds (never for its own
   * `release()` / `close()`); a handler that throws is logged. Returns the unsubscribe function. */
  onLost(handler: LostHandler): () => void {
    return this.#losses.on(handler)
  }

  /** Waits for the lease (as `lock`), runs `fn(signal, token)` as guarded work, then releases it
   * (a tenure already held is used, and released too). `fn`'s signal aborts on a loss (reason: the
   * `LeaseLostError`), a release (`Relinquished`), `close()` (`Closed`) or `options.signal`. Once `fn`
   * has settled, `run` rejects with a loss that came meanwhile, else `Closed` after a close, else
   * `Relinquished` after a release, and otherwise settles as `fn` did. `fn` that releases or closes
   * its own instance is neither aborted nor waited for, and `run` settles as `fn` did (or `Closed`). */
  async run<T>(fn: (signal: AbortSignal, token: string) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    const held = await this.#lock(options)
    const release = Effect.flatMap(this.#contender, (c) =>
      Effect.flatMap(c.current, (now) => Option.contains(now, held) ? c.release : Effect.void))
    return Guarded.run({
      owner: this, held, location: this.#location, holder: this.holder, runtime: this.#runtime, calls: this.#calls,
      losses: this.#losses, around: this.#around, bound: this.#options.renewDeadline, label: `lease ${this.#key}`,
      signal: options.signal, start: (signal) => fn(signal, String(held.token)), release
    })
  }

  get #key(): string { return `${this.namespace}/${this.leaseName}` }

  /** The contender's latest tenure; none before the contender is made. */
  get #current(): Effect.Effect<Option.Option<HeldLease>> {
    return Effect.suspend(() => this.#handle?.current ?? Effect.succeedNone)
  }

  /** One `tryAcquire`: `onHeld(token)`, else `onBusy()` or, without it, `HeldByOther`. */
  #attempt<A>(onHeld: (token: number) => A, onBusy?: () => A): Promise<A> {
    const attempt = Effect.flatMap(this.#contender, (c) =>
      Effect.flatMap(c.tryAcquire, (result) => {
        if (result._tag === "Acquired") return Effect.succeed(onHeld(result.lease.token))
        return onBusy !== undefined ? Effect.succeed(onBusy()) : Effect.fail(Convert.heldByOther(this.#location, c.key, result))
      })
    )
    return this.#calls.run(attempt, { operation: "acquire" })
  }

  #lock({ signal, timeoutMs }: LockOptions): Promise<HeldLease> {
    if (timeoutMs !== undefined && !(isMillis(timeoutMs, 0) && timeoutMs > 0)) {
      return Promise.reject(this.#invalid("timeoutMs", timeoutMs, "must be a positive, finite number of milliseconds"))
    }
    const timeout = timeoutMs === undefined ? undefined : Duration.millis(timeoutMs)
    return this.#calls.run(Effect.flatMap(this.#contender, (c) => c.acquire(timeout)), { operation: "acquire", signal })
  }

  #releasing(): Effect.Effect<void, CoreRelinquishmentError, Lease.Lease> {
    Callback.markCaller(this)
    return Effect.flatMap(this.#contender, (c) => c.release)
  }

  /** Reads the lease and judges it as this instance's contender would. */
  get #inspect(): Effect.Effect<Lease.LeaseInspection, LeaseInspectionError, LeaseStore.LeaseStore> {
    return Lease.inspect(this.#options.key, this.#timing).pipe(Effect.catchTags({ // options checked: invalid is a bug
      LeaseStoreError: (e) => Effect.fail(Convert.fromInspection(this.#location, e)),
      InvalidLeaseOptions: (e) => Effect.die(e)
    }))
  }

  #invalid(field: string, value: unknown, rule: string): InvalidLeaseOptionsError {
    return Instance.invalid(this.#location, field, value, rule)
  }
}
