/**
 * `IntervalLease`: a Kubernetes Lease lock for code that does not use Effect.
 *
 * One instance is one core `LeaseContender` — one holder identity on one Lease object — made on
 * the first call inside the instance's `LeaseRuntime` and kept in a `Scope` the instance owns
 * until `close()`. Its surface is that of the systems it replaces (Hedera Solo's `IntervalLease`,
 * actor-ts's `KubernetesLease`, Go's leaselocker): `acquire` / `tryAcquire`, `renew` / `tryRenew`,
 * `release` / `tryRelease`, `isAcquired`, `isExpired`; plus a fencing token, a loss callback, a
 * blocking `lock` and `run`. Every method is a call of the contender or of the lease it holds:
 * taking, renewing (in the background, every `renewInterval`), judging expiry, detecting loss and
 * releasing are the core's algorithm, not a copy of it.
 *
 * Guarantees (the core's, assuming the clocks of all contenders run at nearly the same *rate* and
 * holder identities are unique):
 * - while `checkAlive()` is true no other contender following the protocol holds the lease (the
 *   core declares the loss `renewDeadline` after its last successful renewal was sent, before
 *   anyone may take over); `checkAlive()` and `isAcquired()` say false once a release begins;
 * - an unexpected loss (taken over, released or deleted by someone else, renew deadline passed)
 *   fires every `onLost` handler once and aborts the signal of `run`'s callback; this instance's
 *   own `release()` / `close()` does not, nor does a release whose write landed but whose answer
 *   was lost while another contender took the lease;
 * - `run`'s callback is the core's guarded work: it does not start on a lease no longer held, and
 *   a `release()` (or a variant) or `close()` aborts its signal and waits for it to settle — at
 *   most `renewDeadline`, the lease renewed meanwhile — before anything is written; `run` then
 *   rejects with that reason. A callback that calls `release()` or `close()` itself is neither
 *   stopped nor waited for (it is waiting for the release);
 * - the token (`acquireWithToken`, `run`) strictly increases with every change of holder while the
 *   Lease object is not deleted (`releaseMode: "delete"` restarts it from 0);
 * - acquire, renew, lock, release and their variants run one at a time (the contender's permit),
 *   so one instance never holds two tenures; a `release()` called while `lock()` waits runs after
 *   the wait — stop a wait with its `signal`, `timeoutMs` or `close()`, which also releases what is
 *   held and, unless the runtime was passed in, closes the Kubernetes client.
 *
 * Does not guarantee:
 * - that work stops when the lease is lost or released: only code that honours `run`'s signal (or
 *   checks `checkAlive()`, or fences its writes with the token) stops in time. A callback still
 *   running `renewDeadline` after its signal aborted is left running while the release is written
 *   (a warning is logged); `run` settles only when it does;
 * - that a release which cannot reach the API server ends quietly: loss detection stays armed
 *   until the release is written, so `onLost` fires (`DeadlineExceeded`) if it is not written in
 *   time — the Lease may still name this instance until it expires;
 * - exclusion against writers that ignore the protocol (an admin editing the Lease);
 * - a wall-clock notion of expiry: another holder's lease counts as expired once this instance's
 *   runtime has seen it unchanged for its `leaseDurationSeconds` (client-go's rule), so a lease
 *   first seen now is not expired until that long from now — unless `maxClockSkew` is set.
 *   `isExpired()`, `acquire()`, `tryAcquire()` and `release()` judge so; `lock()` waits exactly as
 *   long as needed and wakes at once (watch-driven) when the holder releases.
 *
 * @since 0.1.0
 */
import type { HeldLease, LeaseStore } from "@leasekit/core"
import {
  Lease,
  LeaseAcquisitionError as CoreAcquisitionError,
  type LeaseLostError as CoreLostError,
  LeaseOptions,
  type LeaseRelinquishmentError as CoreRelinquishmentError
} from "@leasekit/core"
import { Cause, Duration, Effect, Exit, Option, Schedule, Scope, Stream } from "effect"
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

/** One call of `run`, as its callback's async context carries it. */
interface Run {
  /** Its callback called `release()` (or a variant) or `close()`: the release it waits for must
   * neither stop nor wait for it. The core cannot tell, as that call comes from a fiber of its own. */
  released: boolean
}

type Outcome<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: unknown }

type Services = Lease.Lease | LeaseStore.LeaseStore

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
  /** Where the contender lives; `close()` closes it, which releases what the contender holds. */
  readonly #scope: Scope.Closeable = Effect.runSync(Scope.make())
  /** The contender, made once, on first use. */
  readonly #contender: Effect.Effect<Lease.LeaseContender, never, Lease.Lease>
  /** The contender once made, for the synchronous `checkAlive`. */
  #handle: Lease.LeaseContender | undefined = undefined
  readonly #handlers = new Set<LostHandler>()
  /** Each loss the core declared, converted once; `onLost` handlers are called on the first. */
  readonly #losses = new WeakMap<CoreLostError, LeaseLostError>()
  readonly #closeController = new AbortController()
  /** The `run` whose callback the current async context is inside, if any. */
  readonly #callbacks = new AsyncLocalStorage<Run>()
  /** Calls in flight, which `close()` lets finish (they are interrupted) before it ends anything. */
  readonly #calls = new Set<Promise<unknown>>()
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
    const contenderOptions = { ...timing, namespace, name: leaseName, holder: options.holder }
    const resolved = Effect.runSyncExit(LeaseOptions.resolve(contenderOptions))
    if (Exit.isFailure(resolved)) {
      const error = Cause.findErrorOption(resolved.cause)
      if (Option.isSome(error)) throw Convert.fromInvalidOptions(this.#location, error.value)
      throw Cause.squash(resolved.cause)
    }
    this.#options = resolved.value
    this.#timing = timing
    this.#runtime = options.runtime ?? LeaseRuntime.make({ kubeconfig: options.kubeconfig, context: options.context })
    this.#ownsRuntime = options.runtime === undefined
    const self = this
    // One identity: the holder resolved above (a default one is random). The options were checked
    // above, so a rejection here is a bug. Losses reach `onLost` through the contender's events.
    this.#contender = Effect.runSync(Effect.cached(Effect.gen(function*() {
      const contender = yield* Lease.contender({ ...contenderOptions, holder: self.holder }).pipe(
        Scope.provide(self.#scope),
        Effect.orDie
      )
      yield* Stream.runForEach(contender.events, (event) => event._tag === "Lost" ? self.#loss(event.error) : Effect.void)
        .pipe(Effect.forkIn(self.#scope, { startImmediately: true }))
      self.#handle = contender
      return contender
    })))
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

  /**
   * Takes the lease if it is absent, free or expired (as this process judges expiry), renews it if
   * this instance holds it (a lease it held but lost is taken anew if possible), and otherwise
   * rejects with `LeaseAcquisitionError` (reason `HeldByOther`, naming the holder and when it would
   * expire). Never waits for another holder (see `lock`). Renewal runs until `release()` or `close()`.
   */
  acquire(): Promise<void> {
    return this.#attempt(() => undefined)
  }

  /** `acquire`, resolving `false` instead of rejecting when another holder has the lease. Other
   * failures (forbidden, unreachable, misconfigured) still reject: they are not contention. */
  tryAcquire(): Promise<boolean> {
    return this.#attempt(() => true, () => false)
  }

  /** Renews the lease now when this instance holds it, and otherwise is `acquire`. */
  renew(): Promise<void> {
    return this.acquire()
  }

  /** `renew`, resolving `false` instead of rejecting when another holder has the lease. */
  tryRenew(): Promise<boolean> {
    return this.tryAcquire()
  }

  /**
   * `tryAcquire` that also hands out the fencing token: the Lease's `leaseTransitions` after this
   * acquisition, as a decimal string. It strictly increases with every change of holder (while the
   * object is not deleted); renewing keeps it. Resolves `null` when another holder has the lease.
   */
  acquireWithToken(): Promise<{ readonly token: string } | null> {
    return this.#attempt((token) => ({ token: String(token) }), () => null)
  }

  /**
   * Waits until this instance holds the lease: watch-driven, so a graceful release by the holder
   * hands over at once, and a dead holder's lease is taken its duration after this process first
   * saw it unchanged. Resolves at once when the lease is already held (renewing it). Rejects with
   * `LeaseAcquisitionError`: reason `Timeout` after `timeoutMs` of waiting, `Aborted` when `signal`
   * aborts (`cause` is the signal's reason), `Closed` when the instance is closed meanwhile.
   */
  async lock(options: LockOptions = {}): Promise<void> {
    await this.#lock(options)
  }

  /**
   * Releases the lease this instance holds: first ends the tenure for a running `run` callback (see
   * `run`), then stops renewal and clears the holder (or deletes the object, `releaseMode:
   * "delete"`). A lease that is gone or past its deadline is released without complaint, and so is
   * one another contender took after this release's write landed (its answer lost); one another
   * holder took otherwise rejects with `LeaseRelinquishmentError` (`HeldByOther`). Holding nothing,
   * it reads the Lease once and writes nothing: it rejects with `HeldByOther` while another holder
   * has the lease and it has not expired (as this process judges; Solo's `release()` does so), and
   * resolves otherwise. When the API server keeps failing (retried for up to the lease duration) it
   * rejects with reason `Store`; renewal has then stopped and the next release tries again.
   */
  release(): Promise<void> {
    return this.#run(this.#releasing(), { operation: "release", whenClosed: () => undefined })
  }

  /** `release`, resolving `false` instead of rejecting when another holder has the lease now. */
  tryRelease(): Promise<boolean> {
    const released = this.#releasing().pipe(
      Effect.as(true),
      Effect.catchIf((e) => e.reason._tag === "HeldByOther", () => Effect.succeed(false))
    )
    return this.#run(released, { operation: "release", whenClosed: () => true })
  }

  /**
   * `release`, retrying every `retryPeriod` while it fails for a store reason (unreachable, timing
   * out, forbidden), until it succeeds or `signal` aborts (reason `Aborted`). A lease that another
   * holder has now is not retried: that rejects at once with `HeldByOther`.
   */
  unlockWithRetry(options: { readonly signal?: AbortSignal | undefined } = {}): Promise<void> {
    const retried = this.#releasing().pipe(
      Effect.tapError((e) =>
        e.reason._tag === "Store"
          ? Effect.logWarning(`${e.message}; retrying in ${Duration.format(this.#options.retryPeriod)}`)
          : Effect.void
      ),
      Effect.retry({ schedule: Schedule.spaced(this.#options.retryPeriod), while: (e) => e.reason._tag === "Store" })
    )
    return this.#run(retried, { operation: "release", signal: options.signal, whenClosed: () => undefined })
  }

  /**
   * Releases what this instance holds (like `release()`, never rejecting for it: a failure is
   * logged and the lease expires by itself), stops a waiting `lock`, aborts the signal of a running
   * `run` callback (reason: the `Closed` `LeaseAcquisitionError`) and waits for it before the
   * release is written, and closes the Kubernetes client unless the runtime was passed in.
   * Idempotent. Afterwards acquiring rejects with reason `Closed`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeNow()
    return this.#closing
  }

  /** `close()`, for `await using lease = new IntervalLease(...)`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /**
   * Whether this instance holds the lease: the core still considers it held (no release begun, not
   * lost, renew deadline not passed) *and* a fresh read names this instance. When the read names
   * someone else, the core confirms the loss at once (a renewal), so `onLost` fires now. Rejects
   * with `LeaseInspectionError` when the Lease cannot be read.
   */
  isAcquired(): Promise<boolean> {
    const self = this
    const check = Effect.gen(function*() {
      const held = yield* self.#current
      if (Option.isNone(held) || !(yield* held.value.isHeld)) return false
      const inspection = yield* self.#inspect
      if (Option.getOrUndefined(inspection.holder) === self.holder) return true
      return yield* held.value.renew.pipe(Effect.as(true), Effect.catch((error) => Effect.as(self.#loss(error), false)))
    })
    return this.#run(check, { operation: "inspect", whenClosed: () => false })
  }

  /**
   * Whether the lease is expired, whoever holds it: true when the Lease is absent or names no
   * holder, or when this process has seen it unchanged for its duration (see the module comment).
   * A lease this instance holds and renews is not expired. Rejects with `LeaseInspectionError` when
   * the Lease cannot be read.
   */
  isExpired(): Promise<boolean> {
    return this.#run(
      Effect.map(this.#inspect, (i) => Option.isNone(i.holder) || Duration.isZero(i.expiresIn)),
      { operation: "inspect" }
    )
  }

  /**
   * Whether this instance holds the lease right now, as the core knows it locally (no request): no
   * release begun, not lost, and the renew deadline of the last renewal not passed. While it is
   * true, no other contender following the protocol can hold the lease.
   */
  checkAlive(): boolean {
    const contender = this.#handle
    if (contender === undefined || this.#closing !== undefined) return false
    const exit = this.#runtime.runSyncExit(
      Effect.flatMap(contender.current, Option.match({ onNone: () => Effect.succeed(false), onSome: (held) => held.isHeld }))
    )
    return Exit.isSuccess(exit) && exit.value
  }

  /**
   * A health check in the manner of client-go's `LeaderElector.Check`: rejects with
   * `LeaseLostError` when this instance holds a lease (or held one and lost it, not released since)
   * whose last successful renewal is older than the lease duration plus `maxTolerableExpiredMs`.
   * Resolves when this instance holds nothing (a contender waiting its turn is healthy), or is
   * releasing. Local, no request.
   */
  check(maxTolerableExpiredMs: number): Promise<void> {
    if (typeof maxTolerableExpiredMs !== "number" || !(maxTolerableExpiredMs >= 0) || !Number.isFinite(maxTolerableExpiredMs)) {
      return Promise.reject(this.#invalid("maxTolerableExpiredMs", maxTolerableExpiredMs, "must be a finite number of milliseconds, at least 0"))
    }
    const self = this
    const check = Effect.gen(function*() {
      const held = yield* self.#current
      if (Option.isNone(held)) return
      const lost = Option.getOrUndefined(yield* self.#lossOf(held.value))
      if (lost === undefined && !(yield* held.value.isHeld)) return // a release has begun
      const renewed = (yield* held.value.record).renewTime ?? Date.now()
      const expiredFor = Date.now() - (renewed + self.durationSeconds * 1000)
      if (expiredFor <= maxTolerableExpiredMs) return
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
   * released or deleted by someone else, or not renewed before the renew deadline — but not on this
   * instance's own `release()` / `close()`; again for a later tenure that is lost too. A handler
   * that throws is logged, and the others still run. Returns a function that unsubscribes it.
   */
  onLost(handler: LostHandler): () => void {
    this.#handlers.add(handler)
    return () => {
      this.#handlers.delete(handler)
    }
  }

  /**
   * Waits for the lease (as `lock`), runs `fn` with a signal and the fencing token as the core's
   * guarded work, and releases the lease afterwards whatever happens. `fn` is not started on a lease
   * no longer held; its signal aborts when the lease is lost (reason: the `LeaseLostError`), when a
   * `release()` (or a variant) of this instance begins (a `LeaseLostError` with reason
   * `Relinquished`), when the instance is closed (the `Closed` `LeaseAcquisitionError`), and when
   * `options.signal` aborts (its reason). A release or close waits for `fn` to settle — at most
   * `renewDeadline` after the abort, the lease renewed meanwhile — before it writes. `run` settles
   * once `fn` has, then rejects with the `LeaseLostError` if the lease was lost while `fn` ran (a
   * release that finds another holder, its own write not having let them in, counts), with `Closed`
   * if the instance was closed, with the signal's `Relinquished` reason if a release began;
   * otherwise it settles as `fn` did (a release failing for a store reason is logged: the lease
   * expires by itself). `fn` may release its own lease (`await lease.release()`) or close the
   * instance: it is then neither aborted nor waited for, and `run` settles as `fn` does (or rejects
   * with `Closed`). A tenure this instance already held is used, and still released afterwards: of
   * several `run`s sharing one tenure, the first to finish stops the others.
   */
  async run<T>(fn: (signal: AbortSignal, token: string) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    const held = await this.#lock(options)
    const controller = new AbortController()
    const abort = (reason: unknown) => controller.signal.aborted || controller.abort(reason)
    const unlisten = [options.signal, this.#closeController.signal].map((source) => {
      const listener = () => abort(source?.reason)
      source?.addEventListener("abort", listener, { once: true })
      if (source?.aborted) listener()
      return () => source?.removeEventListener("abort", listener)
    })
    const marker: Run = { released: false }
    const self = this
    let settled: Promise<Outcome<T>> | undefined
    const work = Effect.callback<Outcome<T>>((resume) => {
      const running = new Promise<T>((resolve) => resolve(this.#callbacks.run(marker, () => fn(controller.signal, String(held.token)))))
        .then((value): Outcome<T> => ({ ok: true, value }), (error: unknown): Outcome<T> => ({ ok: false, error }))
      settled = running
      void running.then((outcome) => resume(Effect.succeed(outcome)))
      // The core ends the tenure for guarded work (a loss, a release or close) by interrupting it:
      // abort the signal and wait for `fn`, at most `renewDeadline`; the core writes only after.
      return Effect.gen(function*() {
        if (marker.released) return
        if (!controller.signal.aborted) abort(yield* self.#endReason(held))
        const bound = self.#options.renewDeadline
        if (Option.isNone(yield* Effect.timeoutOption(Effect.promise(() => running), bound))) {
          yield* Effect.logWarning(
            `lease ${self.#key}: run()'s callback did not stop within ${
              Duration.format(bound)
            } (the renew deadline) of its signal aborting; no longer waiting for it (it still runs)`
          )
        }
      })
    })
    let exit: Exit.Exit<Outcome<T>, unknown>
    let outcome: Outcome<T> | undefined
    try {
      exit = await this.#runtime.runPromiseExit(held.guard(work))
      outcome = await settled // a release stops waiting for `fn` after `renewDeadline`; `run` does not
    } finally {
      for (const stop of unlisten) stop()
    }
    // Release the tenure `fn` ran on, unless a release already ended it.
    const release = this.#using((c) =>
      Effect.flatMap(c.current, (current) => Option.contains(current, held) ? c.release : Effect.void)
    )
    await this.#run(release, { operation: "release", whenClosed: () => undefined }).catch((error: unknown) => {
      if (error instanceof LeaseRelinquishmentError && error.reason === "HeldByOther") return // the core declared the loss
      this.#log(`lease ${this.#key}: not released after run(), it will expire by itself: ${String(error)}`)
    })
    const lost = await Effect.runPromise(this.#lossOf(held))
    if (Option.isSome(lost)) throw lost.value
    if (this.#closing !== undefined) throw this.#closedError("acquire")
    if (Exit.isFailure(exit) && !(marker.released && outcome !== undefined)) {
      // The tenure ended for `fn` by a release of this instance (a loss is `lost` above).
      if (controller.signal.reason instanceof LeaseLostError) throw controller.signal.reason
      const failure = Cause.findErrorOption(exit.cause)
      throw Option.isSome(failure) ? Convert.fromUnknown(this.#location, failure.value) : Cause.squash(exit.cause)
    }
    if (outcome === undefined || !outcome.ok) throw outcome?.error
    return outcome.value
  }

  /** The contender's current tenure, without making the contender. */
  get #current(): Effect.Effect<Option.Option<HeldLease>> {
    return Effect.suspend(() => this.#handle?.current ?? Effect.succeedNone)
  }

  #using<A, E>(f: (contender: Lease.LeaseContender) => Effect.Effect<A, E>): Effect.Effect<A, E, Lease.Lease> {
    return Effect.flatMap(this.#contender, f)
  }

  /** One attempt that never waits: `onHeld` with the token, or `onBusy` (else `HeldByOther`). */
  #attempt<A>(onHeld: (token: number) => A, onBusy?: () => A): Promise<A> {
    const key = this.#options.key
    const attempt = this.#using((c) =>
      Effect.flatMap(c.tryAcquire, (result) => {
        if (result._tag === "Acquired") return Effect.succeed(onHeld(result.lease.token))
        if (onBusy !== undefined) return Effect.succeed(onBusy())
        const reason = { _tag: "HeldByOther", holder: result.holder, expiresIn: result.expiresIn } as const
        return Effect.fail(new CoreAcquisitionError({ key, reason }))
      })
    )
    return this.#run(attempt, { operation: "acquire" })
  }

  #lock(options: LockOptions): Promise<HeldLease> {
    const { timeoutMs } = options
    if (timeoutMs !== undefined && (typeof timeoutMs !== "number" || !(timeoutMs > 0) || !Number.isFinite(timeoutMs))) {
      return Promise.reject(this.#invalid("timeoutMs", timeoutMs, "must be a positive, finite number of milliseconds"))
    }
    const timeout = timeoutMs === undefined ? undefined : Duration.millis(timeoutMs)
    return this.#run(this.#using((c) => c.acquire(timeout)), { operation: "acquire", signal: options.signal })
  }

  /** The contender's release; called from a `run` callback, it marks that `run` (see `Run`). */
  #releasing(): Effect.Effect<void, CoreRelinquishmentError, Lease.Lease> {
    const run = this.#callbacks.getStore()
    if (run !== undefined) run.released = true
    return this.#using((c) => c.release)
  }

  async #closeNow(): Promise<void> {
    const run = this.#callbacks.getStore()
    if (run !== undefined) run.released = true
    this.#closeController.abort(this.#closedError("acquire"))
    await Promise.allSettled(this.#calls)
    // Closing the scope releases the tenure (the core's finalizer carries its store), so it needs
    // no service of the runtime and runs even when the runtime never got built.
    const exit = await Effect.runPromiseExit(Scope.close(this.#scope, Exit.void))
    if (this.#ownsRuntime) await this.#runtime.dispose()
    if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
  }

  /** The loss the core declared for `held`, if it did (never waits). */
  #lossOf(held: HeldLease): Effect.Effect<Option.Option<LeaseLostError>> {
    return Effect.flatMap(
      Effect.timeoutOption(Effect.flip(held.lost), Duration.zero),
      (error) => Option.isSome(error) ? Effect.asSome(this.#loss(error.value)) : Effect.succeedNone
    )
  }

  /** Converts a loss the core declared; the first time, tells the `onLost` handlers. */
  #loss(error: CoreLostError): Effect.Effect<LeaseLostError> {
    return Effect.suspend(() => {
      const known = this.#losses.get(error)
      if (known !== undefined) return Effect.succeed(known)
      const lost = Convert.fromLoss(this.#location, error)
      this.#losses.set(error, lost)
      const thrown = [...this.#handlers].flatMap((handler) => {
        try {
          handler(lost)
          return []
        } catch (failure) {
          return [failure]
        }
      })
      return Effect.as(
        Effect.forEach(thrown, (failure) => Effect.logError(`lease ${this.#key}: an onLost handler threw`, failure), { discard: true }),
        lost
      )
    })
  }

  /** Why the core ended `held` for guarded work: a loss, else a close, else a release. */
  #endReason(held: HeldLease): Effect.Effect<Error> {
    return Effect.map(this.#lossOf(held), Option.getOrElse((): Error =>
      this.#closing !== undefined ? this.#closedError("acquire") : new LeaseLostError({
        ...this.#location,
        message: `lease ${this.#key}: released by this instance while run()'s callback was running; the callback was told to stop before the release is written`,
        reason: "Relinquished",
        holder: this.holder
      })))
  }

  /** Reads the lease and judges it as a contender with this instance's timing would. */
  get #inspect(): Effect.Effect<Lease.LeaseInspection, LeaseInspectionError, LeaseStore.LeaseStore> {
    return Lease.inspect(this.#options.key, this.#timing).pipe(
      Effect.catchTag("LeaseStoreError", (e) => Effect.fail(Convert.fromInspection(this.#location, e))),
      Effect.catchTag("InvalidLeaseOptions", (e) => Effect.die(e)) // checked in the constructor: a bug
    )
  }

  /**
   * Runs `effect` on the runtime and settles like it, converting failures to this package's errors;
   * an interruption by `signal` or by `close()` becomes `Aborted` / `Closed` (or `whenClosed()`).
   */
  async #run<A>(
    effect: Effect.Effect<A, unknown, Services>,
    options: {
      readonly operation: "acquire" | "release" | "inspect"
      readonly signal?: AbortSignal | undefined
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
    const call = this.#runtime.runPromiseExit(effect, { signal: combined })
    this.#calls.add(call)
    const exit = await call.finally(() => this.#calls.delete(call))
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

  get #key(): string {
    return `${this.#location.namespace}/${this.#location.leaseName}`
  }

  #invalid(field: string, value: unknown, rule: string): InvalidLeaseOptionsError {
    return new InvalidLeaseOptionsError({ ...this.#location, field, value, rule })
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
      ? new LeaseRelinquishmentError({ ...this.#location, message: `lease ${this.#key}: release aborted${why}`, reason: "Aborted", cause: reason })
      : new LeaseAcquisitionError({ ...this.#location, message: `lease ${this.#key}: acquisition aborted${why}`, reason: "Aborted", cause: reason })
  }

  #log(message: string): void {
    Effect.runFork(Effect.logWarning(message))
  }
}
