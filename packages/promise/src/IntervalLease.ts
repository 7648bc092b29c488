/**
 * `IntervalLease`: a Kubernetes Lease lock for code that does not use Effect.
 *
 * One instance stands for one contender (one holder identity) on one Lease object. It has the
 * surface of the systems it replaces (Hedera Solo's `IntervalLease`, actor-ts's `KubernetesLease`,
 * Go's leaselocker): `acquire` / `tryAcquire`, `renew` / `tryRenew`, `release` / `tryRelease`,
 * `isAcquired`, `isExpired`; plus a fencing token, a loss callback, a blocking `lock` and `run`.
 *
 * Every method calls `@leasekit/core` through an Effect `ManagedRuntime` (see `LeaseRuntime.ts`):
 * taking, renewing, judging expiry, detecting loss and releasing are the core's algorithm, not a
 * second copy of it. A lease this instance holds lives in a `Scope` the instance owns; the core
 * renews it in the background every `renewInterval` from the moment it is taken until `release()`
 * or `close()`.
 *
 * Guarantees (those of the core, assuming the clocks of all contenders run at nearly the same
 * *rate* and holder identities are unique):
 * - while `checkAlive()` is true, no other contender following the protocol holds the lease: the
 *   core declares the lease lost `renewDeadline` after its last successful renewal was sent, before
 *   any other contender may take it over;
 * - an unexpected loss (taken over, released or deleted by someone else, renew deadline passed)
 *   fires every `onLost` handler once and aborts the signal `run` passed to its callback;
 * - `run`'s callback is the core's guarded work: it is not started on a lease that is no longer
 *   held, and a `release()` (or a variant) or `close()` ends the tenure for it *before* anything
 *   is written: its signal aborts (reason: a `LeaseLostError` with reason `Relinquished`; for
 *   `close()` the `LeaseAcquisitionError` with reason `Closed`) and the release waits for the
 *   callback to settle, at most `renewDeadline` — the core keeps renewing meanwhile, so the
 *   callback keeps exclusive use while it stops. `run` then rejects with that reason: its work
 *   was not protected to the end. The bound is `renewDeadline` because that is the time the
 *   lease already gives guarded work to notice the end of a tenure (the core declares a loss that
 *   long after its last renewal); it only keeps a callback that ignores its signal from holding
 *   the lease for ever. A callback that calls `release()` or `close()` itself is neither stopped
 *   nor waited for (it is waiting for the release), and `run` then settles as the callback does
 *   (or rejects with `Closed`);
 * - `onLost` does not fire for this instance's own `release()` / `close()`, and a release whose
 *   write landed but whose answer was lost counts as released even when another contender has
 *   taken the lease meanwhile (no `onLost`; `run` settles as its callback did). `checkAlive()`
 *   and `isAcquired()` say false from the moment a release begins;
 * - the token (`acquireWithToken`, `run`) strictly increases with every change of holder as long as
 *   the Lease object is not deleted (`releaseMode: "delete"` restarts it from 0);
 * - operations that change what the instance holds (acquire, renew, lock, release and their
 *   variants) run one at a time, so one instance never holds two tenures; a `release()` called
 *   while `lock()` waits therefore runs after the wait ends — stop a wait with its `signal`,
 *   `timeoutMs` or `close()`, which interrupts it, releases what is held and, unless the runtime
 *   was passed in, closes the Kubernetes client.
 *
 * Does not guarantee:
 * - that work stops when the lease is lost or released: `run` aborts its signal, but only code
 *   that honours the signal (or checks `checkAlive()`, or fences its writes with the token) stops
 *   in time. A callback still running `renewDeadline` after its signal aborted is left running
 *   while the release is written (a warning is logged); `run` still settles only when it does;
 * - that a release which cannot reach the API server ends quietly: loss detection stays armed
 *   until the release is written, so if it is not written by the renew deadline, `onLost` fires
 *   (`DeadlineExceeded`) — the Lease may still name this instance, and others take it over once
 *   it expires;
 * - exclusion against writers that ignore the protocol (an admin editing the Lease);
 * - a wall-clock notion of expiry. Expiry is judged as *this process* observes it (client-go's
 *   rule): a lease held by someone else counts as expired once this process — strictly, this
 *   instance's runtime — has seen it unchanged for its `leaseDurationSeconds`. A lease first seen
 *   now is therefore not expired until that long from now, even if its holder died an hour ago,
 *   unless `maxClockSkew` is set (then `renewTime + duration + maxClockSkew < now` also counts).
 *   `isExpired()`, `acquire()` and `tryAcquire()` all judge this way; `lock()` waits exactly as
 *   long as needed, and wakes at once (watch-driven) when the holder releases.
 *
 * @since 0.1.0
 */
import type { HeldLease, LeaseStore } from "@leasekit/core"
import {
  Lease,
  LeaseAcquisitionError as CoreAcquisitionError,
  type LeaseLostError as CoreLostError,
  LeaseOptions,
  LeaseRelinquishmentError as CoreRelinquishmentError
} from "@leasekit/core"
import { Cause, Clock, Duration, Effect, Exit, Option, Schedule, Scope, Semaphore } from "effect"
import { AsyncLocalStorage } from "node:async_hooks"
import * as Convert from "./internal/errors.ts"
import {
  InvalidLeaseOptionsError,
  LeaseAcquisitionError,
  LeaseInspectionError,
  type LeaseLocation,
  LeaseLostError,
  LeaseRelinquishmentError
} from "./LeaseError.ts"
import * as LeaseRuntime from "./LeaseRuntime.ts"

/**
 * Options of an `IntervalLease`.
 *
 * Durations other than `durationSeconds` take a number of milliseconds or a string such as
 * `"5 seconds"`; their defaults and rules are the core's (`@leasekit/core` `LeaseOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export interface IntervalLeaseOptions {
  /** The namespace of the Lease object (a DNS-1123 label). Required. */
  readonly namespace: string
  /** The name of the Lease object (a DNS-1123 subdomain). Default: the namespace. */
  readonly leaseName?: string | undefined
  /** How long others wait on an unrenewed lease. Whole seconds ≥ 1. Default
   * `IntervalLease.DEFAULT_LEASE_DURATION` (20). */
  readonly durationSeconds?: number | undefined
  /** This contender's identity, written into the Lease. Default: `<pod or host>_<pid>_<random>`,
   * fresh for every instance. Never give two live instances the same identity. */
  readonly holder?: string | undefined
  /** Kubeconfig file(s). Default: `$KUBECONFIG`, `~/.kube/config`, then in-cluster. */
  readonly kubeconfig?: string | undefined
  /** The kubeconfig context to use. Default: its `current-context`. */
  readonly context?: string | undefined
  /** Time between renewals. Default `duration / 3`. */
  readonly renewInterval?: Duration.Input | undefined
  /** The lease is given up when no renewal succeeded for this long. Default `duration × 2/3`. */
  readonly renewDeadline?: Duration.Input | undefined
  /** Spacing of retries (and of polls when watching is not allowed). Default `min(2 s, renewInterval)`. */
  readonly retryPeriod?: Duration.Input | undefined
  /** Bound on each API request. Default `min(5 s, retryPeriod)`. */
  readonly requestTimeout?: Duration.Input | undefined
  /** `"clear"` (default) empties the holder on release and keeps the object (and its token
   * counter); `"delete"` deletes the object. */
  readonly releaseMode?: "clear" | "delete" | undefined
  /** Opt-in: also treat a lease as expired once its `renewTime + duration + maxClockSkew` is past
   * by this machine's clock. Default: off. */
  readonly maxClockSkew?: Duration.Input | undefined
  /** The longest `leaseDurationSeconds` honoured in someone else's record. Default 1 hour. */
  readonly maxHonouredDuration?: Duration.Input | undefined
  /** A runtime shared by several leases (see `LeaseRuntime`); `kubeconfig` and `context` are then
   * ignored, and `close()` leaves the runtime running. */
  readonly runtime?: LeaseRuntime.LeaseRuntime | undefined
}

/**
 * Options of `lock` and `run`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  /** Stop waiting when this signal aborts (rejects with reason `Aborted`). */
  readonly signal?: AbortSignal | undefined
  /** Stop waiting after this many milliseconds (rejects with reason `Timeout`). Default: wait forever. */
  readonly timeoutMs?: number | undefined
}

/**
 * A handler of unexpected loss.
 *
 * @since 0.1.0
 * @category models
 */
export type LostHandler = (error: LeaseLostError) => void

/** A lease this instance holds, as the core hands it out, with the instance's bookkeeping. */
interface Tenure {
  readonly held: HeldLease
  readonly scope: Scope.Closeable
  /** Set once the core declared the lease lost. */
  lost: LeaseLostError | undefined
  /** A release began: the tenure is no longer live. If the release failed, renewal has stopped;
   * the next release retries, the next acquire starts over. */
  releasing: boolean
  /** The `run` whose own callback began the release (or close), if one did: that callback is
   * neither stopped nor waited for — it is waiting for the release. */
  releasedBy: Run | undefined
}

/** One call of `run`: what its callback's async context carries. */
interface Run {
  readonly tenure: Tenure
}

type Outcome<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: unknown }

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

  readonly #options: LeaseOptions.ResolvedLeaseOptions
  /** The options as the core takes them, for `inspect`. */
  readonly #timing: Partial<LeaseOptions.LeaseOptions>
  readonly #location: LeaseLocation
  readonly #runtime: LeaseRuntime.LeaseRuntime
  readonly #ownsRuntime: boolean
  /** Serializes everything that changes what this instance holds. */
  readonly #permit: Semaphore.Semaphore
  readonly #handlers = new Set<LostHandler>()
  readonly #closeController = new AbortController()
  /** The `run` whose callback the current async context is inside, if any. */
  readonly #callbacks = new AsyncLocalStorage<Run>()
  #tenure: Tenure | undefined = undefined
  #closing: Promise<void> | undefined = undefined

  /**
   * Checks the options (throwing `InvalidLeaseOptionsError` before anything is sent) and prepares
   * the client; nothing is sent and no kubeconfig is read until the first call.
   */
  constructor(options: IntervalLeaseOptions) {
    const namespace = options.namespace
    const leaseName = options.leaseName ?? namespace
    this.#location = { namespace, leaseName }
    const durationSeconds = options.durationSeconds ?? IntervalLease.DEFAULT_LEASE_DURATION
    if (typeof durationSeconds !== "number" || !Number.isInteger(durationSeconds) || durationSeconds < 1) {
      throw new InvalidLeaseOptionsError({
        ...this.#location,
        field: "durationSeconds",
        value: durationSeconds,
        rule: "must be a whole number of seconds, at least 1 (the Lease API stores integer seconds)"
      })
    }
    const timing: Partial<LeaseOptions.LeaseOptions> = {
      duration: Duration.seconds(durationSeconds),
      renewInterval: options.renewInterval,
      renewDeadline: options.renewDeadline,
      retryPeriod: options.retryPeriod,
      requestTimeout: options.requestTimeout,
      releaseMode: options.releaseMode,
      maxClockSkew: options.maxClockSkew,
      maxHonouredDuration: options.maxHonouredDuration
    }
    const resolved = Effect.runSyncExit(
      LeaseOptions.resolve({ ...timing, namespace, name: leaseName, holder: options.holder })
    )
    if (Exit.isFailure(resolved)) {
      const error = Cause.findErrorOption(resolved.cause)
      if (Option.isSome(error)) throw Convert.fromInvalidOptions(this.#location, error.value)
      throw Cause.squash(resolved.cause)
    }
    this.#options = resolved.value
    this.#timing = timing
    this.#runtime = options.runtime ?? LeaseRuntime.make({ kubeconfig: options.kubeconfig, context: options.context })
    this.#ownsRuntime = options.runtime === undefined
    this.#permit = Effect.runSync(Semaphore.make(1))
  }

  /** The namespace of the Lease object. */
  get namespace(): string {
    return this.#location.namespace
  }

  /** The name of the Lease object. */
  get leaseName(): string {
    return this.#location.leaseName
  }

  /** This instance's holder identity, as written into the Lease. */
  get holder(): string {
    return this.#options.holder
  }

  /** The lease duration this instance writes, in seconds. */
  get durationSeconds(): number {
    return this.#options.durationSeconds
  }

  // ---------------------------------------------------------------------------------------------
  // Acquiring
  // ---------------------------------------------------------------------------------------------

  /**
   * Takes the lease if it is absent, free or expired (as this process judges expiry), renews it
   * if this instance already holds it, and otherwise rejects with `LeaseAcquisitionError`
   * (reason `HeldByOther`, naming the holder and when it would expire). Never waits for another
   * holder; use `lock` for that. Background renewal runs until `release()` or `close()`.
   */
  acquire(): Promise<void> {
    return this.#run(Effect.asVoid(this.#acquireOnce), { operation: "acquire" })
  }

  /**
   * `acquire`, resolving `false` instead of rejecting when another holder has the lease. Other
   * failures (forbidden, unreachable, misconfigured) still reject: they are not contention.
   */
  tryAcquire(): Promise<boolean> {
    return this.#run(this.#contended(this.#acquireOnce, () => true, false), { operation: "acquire" })
  }

  /**
   * Renews the lease now when this instance holds it; takes it when it is absent, free or expired
   * (and keeps it renewed from then on); rejects with `LeaseAcquisitionError` (`HeldByOther`)
   * when another holder has it. A lease this instance held but has lost is taken anew if possible.
   */
  renew(): Promise<void> {
    return this.#run(Effect.asVoid(this.#acquireOnce), { operation: "acquire" })
  }

  /** `renew`, resolving `false` instead of rejecting when another holder has the lease. */
  tryRenew(): Promise<boolean> {
    return this.#run(this.#contended(this.#acquireOnce, () => true, false), { operation: "acquire" })
  }

  /**
   * `tryAcquire` that also hands out the fencing token: the Lease's `leaseTransitions` after this
   * acquisition, as a decimal string. It strictly increases with every change of holder (while the
   * object is not deleted); renewing keeps it. Resolves `null` when another holder has the lease.
   */
  acquireWithToken(): Promise<{ readonly token: string } | null> {
    return this.#run(
      this.#contended(this.#acquireOnce, (token) => ({ token: String(token) }), null),
      { operation: "acquire" }
    )
  }

  /**
   * Waits until this instance holds the lease: watch-driven, so a graceful release by the holder
   * hands over at once, and a dead holder's lease is taken its duration after this process first
   * saw it unchanged. Resolves at once when the lease is already held (renewing it). Rejects with
   * `LeaseAcquisitionError`: reason `Timeout` after `timeoutMs`, `Aborted` when `signal` aborts
   * (`cause` is the signal's reason), `Closed` when the instance is closed meanwhile.
   */
  lock(options: LockOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
      return Promise.reject(
        new InvalidLeaseOptionsError({
          ...this.#location,
          field: "timeoutMs",
          value: timeoutMs,
          rule: "must be a positive, finite number of milliseconds"
        })
      )
    }
    const self = this
    const wait = Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      return yield* self.#serialized(Effect.gen(function*() {
        if (Option.isSome(yield* self.#renewLive)) return
        const remaining = timeoutMs === undefined ? undefined : timeoutMs - ((yield* Clock.currentTimeMillis) - start)
        if (remaining !== undefined && remaining <= 0) {
          return yield* Effect.fail(
            new LeaseAcquisitionError({
              ...self.#location,
              message: `lease ${self.#key}: gave up waiting after ${timeoutMs}ms`,
              reason: "Timeout"
            })
          )
        }
        yield* self.#take(
          Effect.map(
            Effect.flatMap(
              self.#contender,
              (contender) => contender.acquire(remaining === undefined ? undefined : Duration.millis(remaining))
            ),
            Option.some
          )
        )
      }))
    })
    return this.#run(wait, { operation: "acquire", signal: options.signal })
  }

  // ---------------------------------------------------------------------------------------------
  // Releasing
  // ---------------------------------------------------------------------------------------------

  /**
   * Releases the lease this instance holds: first ends the tenure for a running `run` callback
   * (aborts its signal with a `Relinquished` `LeaseLostError` and waits for it to settle, at most
   * `renewDeadline`, the lease still renewed meanwhile), then stops renewal and clears the holder
   * (or deletes the object with `releaseMode: "delete"`). From the moment it begins, `checkAlive()`
   * and `isAcquired()` say false. A lease that is gone, or that still names this instance after its
   * deadline passed, is released without complaint, and so is one another contender took after
   * this release's write landed (its answer lost); one that another holder took otherwise rejects
   * with `LeaseRelinquishmentError` (`HeldByOther`). When this instance holds nothing (never
   * acquired, already released) it reads the Lease once and writes nothing: it rejects with
   * `HeldByOther` (naming the holder) when another holder has the lease now and it has not expired
   * (as this process judges), as Solo's `release()` does, and resolves when the lease is absent,
   * free, expired or names this instance. When the API server keeps failing
   * (after retrying for up to the lease duration) it rejects with reason `Store`; renewal has then
   * stopped and the next `release()` / `unlockWithRetry()` tries again.
   */
  release(): Promise<void> {
    return this.#run(this.#releaseOnce(this.#callbacks.getStore()), {
      operation: "release",
      whenClosed: () => undefined
    })
  }

  /** `release`, resolving `false` instead of rejecting when another holder has the lease now. */
  tryRelease(): Promise<boolean> {
    return this.#run(
      this.#releaseOnce(this.#callbacks.getStore()).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e.reason === "HeldByOther", () => Effect.succeed(false))
      ),
      { operation: "release", whenClosed: () => true }
    )
  }

  /**
   * `release`, retrying every `retryPeriod` while it fails for a store reason (unreachable,
   * timing out, forbidden), until it succeeds or `signal` aborts (reason `Aborted`). A lease that
   * another holder has now is not retried: that rejects at once with `HeldByOther`.
   */
  unlockWithRetry(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    const retried = this.#releaseOnce(this.#callbacks.getStore()).pipe(
      Effect.tapError((e) =>
        e.reason === "Store"
          ? Effect.logWarning(`${e.message}; retrying in ${Duration.format(this.#options.retryPeriod)}`)
          : Effect.void
      ),
      Effect.retry({ schedule: Schedule.spaced(this.#options.retryPeriod), while: (e) => e.reason === "Store" })
    )
    return this.#run(retried, { operation: "release", signal: options.signal, whenClosed: () => undefined })
  }

  /**
   * Releases what this instance holds (like `release()`, but never rejecting for it: a release
   * that fails is logged and the lease expires by itself), stops a waiting `lock`, aborts the
   * signal of a running `run` callback (reason: the `Closed` `LeaseAcquisitionError`) and waits
   * for it before the release is written, as `release()` does, and closes the Kubernetes client
   * unless the runtime was passed in. Idempotent. Afterwards acquiring rejects with reason `Closed`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeNow(this.#callbacks.getStore())
    return this.#closing
  }

  /** `close()`, for `await using lease = new IntervalLease(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  // ---------------------------------------------------------------------------------------------
  // Observing
  // ---------------------------------------------------------------------------------------------

  /**
   * Whether this instance holds the lease and it has not expired: the core still considers it
   * held (no release begun, not lost, renew deadline not passed) *and* a fresh read of the Lease
   * names this instance. When the read names someone else, the loss is confirmed through the core
   * at once (so `onLost` fires now rather than at the next renewal). Rejects with
   * `LeaseInspectionError` when the Lease cannot be read.
   */
  isAcquired(): Promise<boolean> {
    const self = this
    const check = Effect.gen(function*() {
      const tenure = self.#tenure
      if (tenure === undefined || !(yield* self.#isLive(tenure))) return false
      const inspection = yield* self.#inspect
      if (Option.getOrUndefined(inspection.holder) === self.#options.holder) return true
      return yield* self.#serialized(Effect.gen(function*() {
        if (self.#tenure !== tenure || !(yield* self.#isLive(tenure))) return false
        const renewed = yield* Effect.exit(tenure.held.renew)
        if (Exit.isSuccess(renewed)) return true
        yield* self.#lostFrom(tenure, renewed.cause)
        return false
      }))
    })
    return this.#run(check, { operation: "inspect", whenClosed: () => false })
  }

  /**
   * Whether the lease is expired, whoever holds it: true when the Lease does not exist or names no
   * holder, or when this process has seen it unchanged for its duration (see the module comment:
   * expiry is judged by this process's observation, so a lease first seen now is not expired until
   * its duration from now, unless `maxClockSkew` is set). A lease this instance holds and renews is
   * not expired. Rejects with `LeaseInspectionError` when the Lease cannot be read.
   */
  isExpired(): Promise<boolean> {
    return this.#run(
      Effect.map(this.#inspect, (i) => Option.isNone(i.holder) || Duration.isZero(i.expiresIn)),
      { operation: "inspect" }
    )
  }

  /**
   * Whether this instance holds the lease right now, as the core knows it locally — no request is
   * made: no release begun, not lost, and the renew deadline of the last successful renewal not passed.
   * While it is true, no other contender following the protocol can hold the lease.
   */
  checkAlive(): boolean {
    const tenure = this.#tenure
    if (tenure === undefined || this.#closing !== undefined) return false
    // On the lease's runtime: the renew deadline is judged by the clock the tenure runs on.
    const exit = this.#runtime.runSyncExit(this.#isLive(tenure))
    return Exit.isSuccess(exit) && exit.value
  }

  /**
   * A health check in the manner of client-go's `LeaderElector.Check`: rejects with
   * `LeaseLostError` when this instance holds a lease (or held one and lost it without releasing
   * it since) whose last successful renewal is older than the lease duration plus
   * `maxTolerableExpiredMs` — the renewal has been stuck for longer than tolerable. Resolves when
   * this instance holds nothing (a contender waiting its turn is healthy). Local, no request.
   */
  check(maxTolerableExpiredMs: number): Promise<void> {
    if (typeof maxTolerableExpiredMs !== "number" || !(maxTolerableExpiredMs >= 0) || !Number.isFinite(maxTolerableExpiredMs)) {
      return Promise.reject(
        new InvalidLeaseOptionsError({
          ...this.#location,
          field: "maxTolerableExpiredMs",
          value: maxTolerableExpiredMs,
          rule: "must be a finite number of milliseconds, at least 0"
        })
      )
    }
    const tenure = this.#tenure
    if (tenure === undefined || tenure.releasing || this.#closing !== undefined) return Promise.resolve()
    const self = this
    const check = Effect.gen(function*() {
      const record = yield* tenure.held.record
      const now = yield* Clock.currentTimeMillis
      const renewed = record.renewTime ?? now
      const expiredFor = now - (renewed + self.#options.durationSeconds * 1000)
      if (expiredFor <= maxTolerableExpiredMs) return
      const lost = tenure.lost
      return yield* Effect.fail(
        new LeaseLostError({
          ...self.#location,
          message: `lease ${self.#key} held by "${self.holder}" has been expired for ${expiredFor}ms, more than the ${maxTolerableExpiredMs}ms tolerated (last renewal ${
            new Date(renewed).toISOString()
          }${lost === undefined ? "" : `; ${lost.message}`})`,
          reason: lost?.reason ?? "DeadlineExceeded",
          holder: self.holder,
          takenBy: lost?.takenBy,
          lastRenewal: new Date(renewed),
          cause: lost?.cause
        })
      )
    })
    return this.#run(check, { operation: "inspect", whenClosed: () => undefined })
  }

  /**
   * Calls `handler` once when a lease this instance holds is lost unexpectedly — taken over,
   * released or deleted by someone else, or not renewed before the renew deadline — but not on
   * this instance's own `release()` / `close()`. It fires again for a later tenure that is lost
   * too. A handler that throws is logged, and the other handlers still run. Returns a function
   * that unsubscribes the handler.
   */
  onLost(handler: LostHandler): () => void {
    this.#handlers.add(handler)
    return () => {
      this.#handlers.delete(handler)
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Running under the lease
  // ---------------------------------------------------------------------------------------------

  /**
   * Waits for the lease (as `lock`, with its `signal` and `timeoutMs`), runs `fn` with a signal and
   * the fencing token, and releases the lease afterwards whatever happens. `fn` runs as the core's
   * guarded work: it is not started when the lease is no longer held, and its signal aborts when
   * the lease is lost (the reason is the `LeaseLostError`), when this instance's `release()` (or a
   * variant) begins (a `LeaseLostError` with reason `Relinquished`), when the instance is closed
   * (the `LeaseAcquisitionError` with reason `Closed`), and when `options.signal` aborts (its
   * reason). A release or close waits for `fn` to settle — at most `renewDeadline` after the
   * abort, the lease renewed meanwhile — before it writes. `run` settles only after `fn` has
   * settled, then:
   * - rejects with `LeaseLostError` if the lease was lost while `fn` ran (even if `fn` resolved —
   *   its work was not protected to the end); a release that finds another holder, without its
   *   own write having let them in, counts as such;
   * - rejects with `LeaseAcquisitionError` (`Closed`) if the instance was closed while `fn` ran;
   * - rejects with the `Relinquished` `LeaseLostError` (the signal's reason) if a release of this
   *   instance began while `fn` ran;
   * - otherwise settles as `fn` did. A release that fails for a store reason is logged, not thrown
   *   (the work is done; the lease expires by itself).
   *
   * `fn` may end the tenure early itself (`await lease.release()` inside it): its own signal is
   * then not aborted and the release does not wait for it, and `run` settles as `fn` does. If this
   * instance already held the lease, `run` uses that tenure and still releases it afterwards; so
   * when several `run`s share one tenure, the first to finish stops the others.
   */
  async run<T>(fn: (signal: AbortSignal, token: string) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    await this.lock(options)
    const tenure = this.#tenure
    if (tenure === undefined) {
      // Only a concurrent release or close can get here between `lock` resolving and now.
      throw this.#closedError("acquire")
    }
    const controller = new AbortController()
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason)
    }
    const onCallerAbort = () => abort(options.signal?.reason)
    const onClose = () => abort(this.#closeController.signal.reason)
    options.signal?.addEventListener("abort", onCallerAbort, { once: true })
    this.#closeController.signal.addEventListener("abort", onClose, { once: true })
    if (options.signal?.aborted) onCallerAbort()
    if (this.#closeController.signal.aborted) onClose()
    const work = this.#guarded(tenure, fn, controller.signal, abort)
    let exit: Exit.Exit<Outcome<T>, unknown>
    let outcome: Outcome<T> | undefined
    try {
      exit = await this.#runtime.runPromiseExit(work.effect)
      // A release stops waiting for `fn` after `renewDeadline`; `run` does not settle before it.
      outcome = await work.settled()
    } finally {
      options.signal?.removeEventListener("abort", onCallerAbort)
      this.#closeController.signal.removeEventListener("abort", onClose)
    }
    let lost = tenure.lost
    if (this.#tenure === tenure) {
      try {
        await this.release()
      } catch (error) {
        if (error instanceof LeaseRelinquishmentError && error.reason === "HeldByOther") {
          // The core declared that loss (`Taken`) before failing; `#releaseOnce` recorded it.
          lost ??= tenure.lost
        } else if (!(error instanceof LeaseAcquisitionError && error.reason === "Closed")) {
          this.#log(`lease ${this.#key}: not released after run(), it will expire by itself: ${String(error)}`)
        }
      }
    }
    if (lost !== undefined) throw lost
    if (this.#closeController.signal.aborted) throw this.#closedError("acquire")
    if (Exit.isFailure(exit) && !(work.releasedItself() && outcome !== undefined)) {
      // The tenure ended for `fn` by a release of this instance (a loss is `lost` above).
      const reason = controller.signal.reason
      if (reason instanceof LeaseLostError) throw reason
      const failure = Cause.findErrorOption(exit.cause)
      throw Option.isSome(failure) ? Convert.fromUnknown(this.#location, failure.value) : Cause.squash(exit.cause)
    }
    if (outcome === undefined || !outcome.ok) throw outcome?.error
    return outcome.value
  }

  // ---------------------------------------------------------------------------------------------
  // Internals
  // ---------------------------------------------------------------------------------------------

  /** The options of this instance's contender (one identity: the resolved holder). */
  get #contenderOptions(): LeaseOptions.LeaseOptions {
    return { ...this.#timing, namespace: this.#location.namespace, name: this.#location.leaseName, holder: this.#options.holder }
  }

  /** A contender with this instance's identity, in the current scope (the options were validated
   * in the constructor: a rejection here is a bug). */
  get #contender() {
    return Lease.contender(this.#contenderOptions).pipe(Effect.catchTag("InvalidLeaseOptions", (e) => Effect.die(e)))
  }

  /** One attempt that never waits; another holder fails with the core's `HeldByOther`. */
  get #tryAcquireOnce(): Effect.Effect<HeldLease, CoreAcquisitionError, Lease.Lease | Scope.Scope> {
    const key = this.#options.key
    return Effect.flatMap(this.#contender, (contender) =>
      Effect.flatMap(contender.tryAcquire, (result) =>
        result._tag === "Acquired"
          ? Effect.succeed(result.lease)
          : Effect.fail(
            new CoreAcquisitionError({
              key,
              reason: { _tag: "HeldByOther", holder: result.holder, expiresIn: result.expiresIn }
            })
          )))
  }

  get #key(): string {
    return `${this.#location.namespace}/${this.#location.leaseName}`
  }

  #serialized<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Semaphore.withPermit(this.#permit)(effect)
  }

  #closedError(operation: "acquire" | "release" | "inspect"): Error {
    const message = `lease ${this.#key}: this IntervalLease is closed`
    return operation === "inspect"
      ? new LeaseInspectionError({ ...this.#location, message, reason: "Closed" })
      : new LeaseAcquisitionError({ ...this.#location, message, reason: "Closed" })
  }

  #abortedError(operation: "acquire" | "release" | "inspect", reason: unknown): Error {
    const why = reason instanceof Error ? `: ${reason.message}` : ""
    return operation === "release"
      ? new LeaseRelinquishmentError({
        ...this.#location,
        message: `lease ${this.#key}: release aborted${why}`,
        reason: "Aborted",
        cause: reason
      })
      : new LeaseAcquisitionError({
        ...this.#location,
        message: `lease ${this.#key}: acquisition aborted${why}`,
        reason: "Aborted",
        cause: reason
      })
  }

  #log(message: string): void {
    Effect.runFork(Effect.logWarning(message))
  }

  /**
   * Runs `effect` on the runtime and settles like it, converting failures to this package's
   * errors; an interruption by `signal` or by `close()` becomes `Aborted` / `Closed`.
   */
  async #run<A>(
    effect: Effect.Effect<A, unknown, Lease.Lease | LeaseStore.LeaseStore>,
    options: {
      readonly operation: "acquire" | "release" | "inspect"
      readonly signal?: AbortSignal | undefined
      /** The answer once the instance is closed; without one, a closed instance rejects (`Closed`). */
      readonly whenClosed?: (() => A) | undefined
    }
  ): Promise<A> {
    const { operation, signal, whenClosed } = options
    if (this.#closing !== undefined) {
      if (whenClosed !== undefined) return whenClosed()
      throw this.#closedError(operation)
    }
    if (signal?.aborted) throw this.#abortedError(operation, signal.reason)
    const combined = signal === undefined
      ? this.#closeController.signal
      : AbortSignal.any([this.#closeController.signal, signal])
    const exit = await this.#runtime.runPromiseExit(effect, { signal: combined })
    if (Exit.isSuccess(exit)) return exit.value
    const failure = Cause.findErrorOption(exit.cause)
    if (Option.isSome(failure)) throw Convert.fromUnknown(this.#location, failure.value)
    if (Cause.hasInterruptsOnly(exit.cause)) {
      if (signal?.aborted) throw this.#abortedError(operation, signal.reason)
      if (this.#closeController.signal.aborted) {
        if (whenClosed !== undefined) return whenClosed()
        throw this.#closedError(operation)
      }
    }
    throw Cause.squash(exit.cause)
  }

  /** Not released, not lost as far as the core knows, and the renew deadline not passed. */
  #isLive(tenure: Tenure): Effect.Effect<boolean> {
    return tenure.releasing || tenure.lost !== undefined ? Effect.succeed(false) : tenure.held.isHeld
  }

  /** Reads the lease and judges it as a contender with this instance's timing would. */
  get #inspect(): Effect.Effect<Lease.LeaseInspection, LeaseInspectionError, Lease.Lease | LeaseStore.LeaseStore> {
    return Lease.inspect(this.#options.key, this.#timing).pipe(
      Effect.catchTag("LeaseStoreError", (e) => Effect.fail(Convert.fromInspection(this.#location, e))),
      // The options were validated in the constructor; a rejection here is a bug, not an input error.
      Effect.catchTag("InvalidLeaseOptions", (e) => Effect.die(e))
    )
  }

  /**
   * `fn` as the core's guarded work on `tenure`, built with `Effect.callback`: the core starts it
   * only while the lease is held, and when the tenure ends for guarded work — a loss, or a release
   * or close of this instance — interrupts it. The interruption aborts `fn`'s signal with the
   * reason and waits for `fn` to settle, at most `renewDeadline`; the core's release writes only
   * after that. `settled` is `fn`'s outcome once it settles (`undefined` if it never started).
   */
  #guarded<T>(
    tenure: Tenure,
    fn: (signal: AbortSignal, token: string) => Promise<T> | T,
    signal: AbortSignal,
    abort: (reason: unknown) => void
  ): {
    readonly effect: Effect.Effect<Outcome<T>, CoreLostError>
    readonly settled: () => Promise<Outcome<T> | undefined>
    /** Whether the callback itself released the lease (or closed the instance). */
    readonly releasedItself: () => boolean
  } {
    const self = this
    const bound = this.#options.renewDeadline
    const run: Run = { tenure }
    let running: Promise<Outcome<T>> | undefined
    const work = Effect.callback<Outcome<T>>((resume) => {
      const started = new Promise<T>((resolve) =>
        resolve(this.#callbacks.run(run, () => fn(signal, String(tenure.held.token))))
      ).then(
        (value): Outcome<T> => ({ ok: true, value }),
        (error): Outcome<T> => ({ ok: false, error })
      )
      running = started
      void started.then((outcome) => resume(Effect.succeed(outcome)))
      return Effect.gen(function*() {
        // A callback releasing its own lease waits for that release: it can be neither stopped
        // nor waited for, and what it does afterwards is its own choice.
        if (tenure.releasedBy === run) return
        if (!signal.aborted) abort(yield* self.#endReason(tenure))
        const stopped = yield* Effect.timeoutOption(Effect.promise(() => started), bound)
        if (Option.isNone(stopped)) {
          yield* Effect.logWarning(
            `lease ${self.#key}: run()'s callback did not stop within ${
              Duration.format(bound)
            } (the renew deadline) of its signal aborting; no longer waiting for it (it still runs)`
          )
        }
      })
    })
    // The core stops guarded work on a loss and when a release begins, and waits for it to stop.
    const effect = tenure.held.guard(work).pipe(
      Effect.tapError((error) => error.reason._tag === "Relinquished" ? Effect.void : this.#notifyLost(tenure, error))
    )
    return {
      effect,
      settled: () => running ?? Promise.resolve(undefined),
      releasedItself: () => tenure.releasedBy === run
    }
  }

  /**
   * Why the core ended `tenure` for guarded work: a loss (recorded here first if only the core knew
   * it yet), else a release of this instance began, else the runtime is going away (closed).
   */
  #endReason(tenure: Tenure): Effect.Effect<Error> {
    const self = this
    return Effect.gen(function*() {
      yield* self.#recordLoss(tenure)
      if (tenure.lost !== undefined) return tenure.lost
      if (tenure.releasing) {
        return new LeaseLostError({
          ...self.#location,
          message: `lease ${self.#key}: released by this instance while run()'s callback was running; the callback was told to stop before the release is written`,
          reason: "Relinquished",
          holder: self.holder
        })
      }
      return self.#closedError("acquire")
    })
  }

  /**
   * Records a loss the core has declared but this instance has not heard of yet (its watcher is a
   * fiber of its own and may run later). Never waits: the core fails `lost` before it ends the
   * tenure for guarded work and before it fails a release with `HeldByOther`.
   */
  #recordLoss(tenure: Tenure): Effect.Effect<void> {
    return Effect.flip(tenure.held.lost).pipe(
      Effect.timeoutOption(Duration.zero),
      Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (error) => this.#notifyLost(tenure, error) }))
    )
  }

  /** Records the core's loss of `tenure` (once) and tells the handlers. */
  #notifyLost(tenure: Tenure, error: CoreLostError): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (tenure.lost !== undefined) return Effect.void
      const lost = Convert.fromLoss(this.#location, error)
      tenure.lost = lost
      const failures: Array<unknown> = []
      for (const handler of this.#handlers) {
        try {
          handler(lost)
        } catch (thrown) {
          failures.push(thrown)
        }
      }
      return Effect.forEach(failures, (thrown) => Effect.logError(`lease ${this.#key}: an onLost handler threw`, thrown), {
        discard: true
      })
    })
  }

  /** After a failed core `renew`: the failure is the core's loss; anything else is a defect. */
  #lostFrom(tenure: Tenure, cause: Cause.Cause<CoreLostError>): Effect.Effect<void> {
    const error = Cause.findErrorOption(cause)
    return Option.isSome(error) ? this.#notifyLost(tenure, error.value) : Effect.failCause(cause).pipe(Effect.orDie)
  }

  /** Closes the tenure's scope: the core's finalizer releases it unless someone else took it. */
  #dispose(tenure: Tenure): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.#tenure === tenure) this.#tenure = undefined
      return Scope.close(tenure.scope, Exit.void)
    })
  }

  /**
   * The live tenure, renewed now; `None` when there is none. A tenure that is lost (including one
   * whose renewal now fails), or whose release failed, is disposed so that a new one can start.
   */
  get #renewLive(): Effect.Effect<Option.Option<Tenure>> {
    const self = this
    return Effect.gen(function*() {
      const tenure = self.#tenure
      if (tenure === undefined) return Option.none()
      if (!tenure.releasing && tenure.lost === undefined) {
        const renewed = yield* Effect.exit(tenure.held.renew)
        if (Exit.isSuccess(renewed)) return Option.some(tenure)
        yield* self.#lostFrom(tenure, renewed.cause)
      }
      yield* self.#dispose(tenure)
      return Option.none<Tenure>()
    })
  }

  /**
   * Runs a core acquisition in a fresh scope that becomes the tenure's when it yields a held lease
   * (closed otherwise). Only the acquisition itself is interruptible: a lease the core took is
   * always either installed or released.
   */
  #take<E>(
    acquisition: Effect.Effect<Option.Option<HeldLease>, E, Lease.Lease | LeaseStore.LeaseStore | Scope.Scope>
  ): Effect.Effect<Option.Option<Tenure>, E, Lease.Lease | LeaseStore.LeaseStore> {
    const self = this
    return Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const exit = yield* Effect.exit(restore(Scope.provide(scope)(acquisition)))
        if (Exit.isSuccess(exit) && Option.isSome(exit.value)) {
          const tenure: Tenure = { held: exit.value.value, scope, lost: undefined, releasing: false, releasedBy: undefined }
          self.#tenure = tenure
          yield* tenure.held.lost.pipe(
            Effect.catch((error) => self.#notifyLost(tenure, error)),
            Effect.forkIn(scope)
          )
          return Option.some(tenure)
        }
        yield* Scope.close(scope, exit)
        if (Exit.isFailure(exit)) return yield* Effect.failCause(exit.cause)
        return Option.none<Tenure>()
      })
    )
  }

  /**
   * One acquisition without waiting: renew the live tenure, or take the lease. When another holder
   * has it, the core fails `HeldByOther` naming the holder — no extra read.
   */
  get #acquireOnce(): Effect.Effect<number, LeaseAcquisitionError | CoreAcquisitionError, Lease.Lease | LeaseStore.LeaseStore> {
    const self = this
    return this.#serialized(Effect.gen(function*() {
      const live = yield* self.#renewLive
      if (Option.isSome(live)) return live.value.held.token
      const taken = yield* self.#take(Effect.map(self.#tryAcquireOnce, Option.some))
      return Option.getOrThrow(taken).held.token
    }))
  }

  /** Maps success with `onHeld` and contention (`HeldByOther`) to `onBusy`; other failures stay. */
  #contended<A, B, E, R>(
    self: Effect.Effect<number, E, R>,
    onHeld: (token: number) => A,
    onBusy: B
  ): Effect.Effect<A | B, E, R> {
    return self.pipe(
      Effect.map(onHeld),
      Effect.catchIf(
        (e) => e instanceof CoreAcquisitionError && e.reason._tag === "HeldByOther",
        () => Effect.succeed<A | B>(onBusy)
      )
    )
  }

  /**
   * One release of the tenure through the core, which first stops `run`'s callback (see
   * `#guarded`) and then writes; `caller` is the `run` whose callback called it, if one did.
   * Success or another holder ends the tenure; a store failure keeps it (renewal stopped) for the
   * next release to retry. Without a tenure, see `#releaseNothing`.
   */
  #releaseOnce(caller: Run | undefined): Effect.Effect<void, LeaseRelinquishmentError, Lease.Lease | LeaseStore.LeaseStore> {
    const self = this
    return this.#serialized(Effect.gen(function*() {
      const tenure = self.#tenure
      if (tenure === undefined) return yield* self.#releaseNothing
      // From here on the tenure is not live (`checkAlive`, `isAcquired`); the core stops `run`'s
      // callback before it writes — unless that callback is the one releasing.
      tenure.releasing = true
      if (caller?.tenure === tenure) tenure.releasedBy = caller
      const released = yield* Effect.exit(tenure.held.release)
      if (Exit.isSuccess(released)) return yield* self.#dispose(tenure)
      const error = Cause.findErrorOption(released.cause)
      if (Option.isNone(error)) return yield* Effect.failCause(released.cause).pipe(Effect.orDie)
      const converted = Convert.fromRelinquishment(self.#location, error.value)
      if (converted.reason === "HeldByOther") {
        yield* self.#recordLoss(tenure)
        yield* self.#dispose(tenure)
      }
      return yield* Effect.fail(converted)
    }))
  }

  /**
   * A release by an instance that holds nothing: one read, no write. Fails `HeldByOther` when
   * another holder has the lease now and it has not expired as this process judges (Solo's
   * `release()` throws then); succeeds when it is absent, free, expired or names this instance.
   */
  get #releaseNothing(): Effect.Effect<void, LeaseRelinquishmentError, Lease.Lease | LeaseStore.LeaseStore> {
    const key = this.#options.key
    return Lease.inspect(key, { ...this.#timing, holder: this.#options.holder }).pipe(
      Effect.catchTag("LeaseStoreError", (error) =>
        Effect.fail(
          Convert.fromRelinquishment(
            this.#location,
            new CoreRelinquishmentError({ key, reason: { _tag: "Store", error }, cause: error })
          )
        )),
      // The options were validated in the constructor; a rejection here is a bug, not an input error.
      Effect.catchTag("InvalidLeaseOptions", (e) => Effect.die(e)),
      Effect.flatMap((inspection) => {
        const holder = Option.getOrUndefined(inspection.holder)
        if (holder === undefined || holder === this.#options.holder || Duration.isZero(inspection.expiresIn)) {
          return Effect.void
        }
        return Effect.fail(
          Convert.fromRelinquishment(
            this.#location,
            new CoreRelinquishmentError({ key, reason: { _tag: "HeldByOther", holder } })
          )
        )
      })
    )
  }

  async #closeNow(caller: Run | undefined): Promise<void> {
    this.#closeController.abort(this.#closedError("acquire"))
    // Waits for an interrupted operation to let go of the permit, then ends the tenure; needs no
    // store service of its own (the core's finalizer carries its store), so it runs even when the
    // runtime never got built.
    const self = this
    const exit = await Effect.runPromiseExit(self.#serialized(Effect.suspend(() => {
      const tenure = self.#tenure
      if (tenure === undefined) return Effect.void
      if (caller?.tenure === tenure) tenure.releasedBy = caller
      return self.#dispose(tenure)
    })))
    if (this.#ownsRuntime) await this.#runtime.dispose()
    if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
  }
}
