/**
 * The options of `leasekit run`, from its flags: the lease's options (checked by the core's rules
 * before anything is sent), the bound on the wait, and the grace period between the SIGTERM and
 * the SIGKILL that stop CMD when the lease is lost.
 *
 * The grace rule. A holder declares its lease lost `renewDeadline` after it sent its last
 * successful renewal; no other contender may take over before `duration` after it observed that
 * write. So from the moment the loss is declared, CMD has at most the *margin*
 * `duration − renewDeadline` (a third of `--duration`: 6.67 s at 20 s) until the next holder may
 * start — and SIGKILL has to have landed by then. Within the margin, `leasekit run` needs room
 * for what happens around the grace period: the loss timer firing late (a busy or paused event
 * loop), the SIGKILL reaching the process group and the kernel tearing it down, and clocks that
 * run at slightly different rates on different machines (an error that grows with `duration`,
 * hence a share of the margin rather than a constant).
 *
 * - default `--grace` = ⌊margin / 2⌋ — 3.33 s at the default `--duration 20s`, 500 ms at `3s`;
 * - an explicit `--grace` must be at most ⌊margin × 3/4⌋ — 5 s at `20s` — so at least a quarter
 *   of the margin is always left over. A longer one is a usage error (exit 64) saying how long a
 *   `--duration` would fit it: a longer duration is the honest price of a longer grace (a crashed
 *   holder's lease is then taken over later).
 *
 * Why a rejection and not a warning: a grace beyond the margin lets CMD run on into the next
 * holder's tenure on *every* loss by the deadline — it silently turns `run`'s exclusion off for
 * the case it exists for — and a warning on a CronJob's stderr is read by nobody. Every grace
 * fits some `--duration` up to 15 minutes (a quarter of the 1 hour maximum).
 *
 * Guarantees: `resolve` succeeds only with options the core accepts and a grace that fits their
 * margin; every failure is a usage error (64) naming the flag, the value, the rule and what to
 * change. Does not: make CMD stop — see `RunCommand.ts` for what a loss that is not declared by
 * the deadline (a takeover, a forced release) means for the grace.
 *
 * @since 0.1.0
 */
import * as LeaseHolder from "@leasekit/core/LeaseHolder"
import * as LeaseOptions from "@leasekit/core/LeaseOptions"
import type { InvalidLeaseOptions } from "@leasekit/core/LeaseError"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Durations from "./Durations.ts"
import * as ExitCode from "./ExitCode.ts"

/**
 * The flags of `run` this module reads (as the command line parser hands them over).
 *
 * @since 0.1.0
 * @category models
 */
export interface RunFlags {
  readonly name: string
  readonly command: ReadonlyArray<string>
  readonly duration: string
  readonly wait: boolean
  readonly try: boolean
  readonly timeout: Option.Option<string>
  readonly grace: Option.Option<string>
  readonly holder: Option.Option<string>
  readonly conflictExitCode: number
  readonly healthPort?: Option.Option<number> | undefined
  readonly healthHost?: Option.Option<string> | undefined
  /** `--permits N`: NAME is a semaphore with N permits (`LeaseSemaphore`). */
  readonly permits?: Option.Option<number> | undefined
}

/**
 * The options `run` runs with.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** What `run`'s one contender is made from (`Lease.contender`; the holder resolved once). */
  readonly lease: LeaseOptions.LeaseOptions
  /** The same after the core's defaults and rules. */
  readonly resolved: LeaseOptions.ResolvedLeaseOptions
  /** Time between SIGTERM and SIGKILL when the lease is lost. */
  readonly grace: Duration.Duration
  /** Bound on the wait for the lease (none: wait forever). */
  readonly timeout: Option.Option<Duration.Duration>
  /** Where to serve the health endpoints (`--health-port`, `--health-host`; none: no server). */
  readonly health: Option.Option<{ readonly port: number; readonly host: string | undefined }>
  /** `--permits N`: take one of the N permits of the semaphore NAME (none: the lease NAME).
   * @since 0.5.0 */
  readonly permits: Option.Option<number>
}

/**
 * The safety margin: `duration − renewDeadline`, the time from the declared loss to the earliest
 * takeover by another contender.
 *
 * @since 0.1.0
 * @category grace
 */
export const margin = (options: LeaseOptions.ResolvedLeaseOptions): Duration.Duration =>
  Duration.subtract(options.duration, options.renewDeadline)

/**
 * The default grace: ⌊margin / 2⌋.
 *
 * @since 0.1.0
 * @category grace
 */
export const defaultGrace = (options: LeaseOptions.ResolvedLeaseOptions): Duration.Duration =>
  Duration.millis(Math.floor(Duration.toMillis(margin(options)) / 2))

/**
 * The longest grace accepted: ⌊margin × 3/4⌋ (a quarter of the margin stays for the loss timer,
 * the SIGKILL and clock-rate differences).
 *
 * @since 0.1.0
 * @category grace
 */
export const maxGrace = (options: LeaseOptions.ResolvedLeaseOptions): Duration.Duration =>
  Duration.millis(Math.floor((Duration.toMillis(margin(options)) * 3) / 4))

/** The options `--duration` alone makes (the timing rules do not depend on the key). */
const timingFor = (duration: Duration.Duration) =>
  LeaseOptions.resolve({ namespace: "default", name: "grace", holder: "grace", duration })

/**
 * The shortest whole-second `--duration` whose margin fits `grace`, if one up to the longest
 * allowed duration does.
 *
 * @since 0.1.0
 * @category grace
 */
export const minimumDurationFor = (grace: Duration.Duration): Effect.Effect<Option.Option<Duration.Duration>> =>
  Effect.gen(function*() {
    const fits = (seconds: number) =>
      timingFor(Duration.seconds(seconds)).pipe(
        Effect.map((options) => Duration.isLessThanOrEqualTo(grace, maxGrace(options))),
        Effect.orElseSucceed(() => false)
      )
    const longest = Math.floor(Duration.toSeconds(LeaseOptions.maxDuration))
    if (!(yield* fits(longest))) return Option.none()
    // The margin is about a third of the duration: start just below 4 × grace and walk up.
    let seconds = Math.max(1, Math.floor((Duration.toMillis(grace) * 4) / 1000) - 2)
    while (seconds < longest && !(yield* fits(seconds))) seconds++
    return Option.some(Duration.seconds(seconds))
  })

/**
 * The grace `run` uses: the default for these options, or the `--grace` given (its text in
 * `input`), which must fit the margin.
 *
 * @since 0.1.0
 * @category grace
 */
export const resolveGrace = (
  options: LeaseOptions.ResolvedLeaseOptions,
  input: Option.Option<string>,
  durationText: string
): Effect.Effect<Duration.Duration, ExitCode.CliExit> =>
  Effect.gen(function*() {
    if (Option.isNone(input)) return defaultGrace(options)
    const grace = yield* Durations.parse("--grace", input.value)
    const most = maxGrace(options)
    if (Duration.isLessThanOrEqualTo(grace, most)) return grace
    const f = Durations.format
    const longer = yield* minimumDurationFor(grace)
    const longest = yield* timingFor(LeaseOptions.maxDuration).pipe(Effect.map(maxGrace), Effect.orDie)
    return yield* ExitCode.usage(
      `--grace ${input.value} does not fit the lease's safety margin: with --duration ${durationText} the loss is declared ` +
        `${f(options.renewDeadline)} after the last renewal and another holder may start ${f(options.duration)} after it, so CMD ` +
        `must be gone within ${f(margin(options))} (duration − renewDeadline); --grace may take at most three quarters of that, ` +
        `${f(most)} (the rest is kept for a late loss timer, the SIGKILL landing and clock-rate differences)`,
      Option.match(longer, {
        onSome: (d) =>
          `lower --grace to at most ${f(most)}, or raise --duration to at least ${Duration.toSeconds(d)}s (a crashed holder's lease is then taken over later)`,
        onNone: () =>
          `lower --grace to at most ${f(most)}, or at most ${f(longest)} with the longest --duration (${Duration.format(LeaseOptions.maxDuration)})`
      })
    )
  })

/** The flag a lease option comes from. */
const flagOf = (field: string, flags: RunFlags): { readonly flag: string; readonly fix: string } => {
  switch (field) {
    case "duration":
      return { flag: `--duration ${flags.duration}`, fix: "give --duration in whole seconds, from 1s to 1h (default 20s)" }
    case "holder":
      return {
        flag: "--holder",
        fix: "give --holder a non-empty identity of at most 128 characters without surrounding spaces, or leave it out"
      }
    case "namespace":
      return { flag: "-n/--namespace", fix: "give -n a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters" }
    case "name":
      return { flag: "NAME", fix: "name the lease with lowercase letters, digits, '-' and '.' (a DNS-1123 subdomain)" }
    default:
      return { flag: `--duration ${flags.duration}`, fix: `${field} is derived from --duration: pick another --duration` }
  }
}

/**
 * An invalid lease option as a usage error naming the flag it came from.
 *
 * @since 0.1.0
 * @category errors
 */
export const invalidOption = (error: InvalidLeaseOptions, flags: RunFlags): ExitCode.CliExit => {
  const { fix, flag } = flagOf(error.field, flags)
  return ExitCode.usage(`${flag}: ${error.message}`, fix)
}

/** The random part `uniqueHolder` appends: `_` and five characters. */
const holderSuffixLength = 6

/**
 * A `--holder ID` made unique to this process: `ID_<5 random characters>`. Two `run` processes
 * given the same `--holder` would otherwise share one identity, and a contender adopts a record
 * naming its own identity as its own tenure: both would run CMD at once, with the same token, and
 * the first to end would release the other's lease. With the suffix the second waits (or `--try`
 * answers "held") like any other contender; `ID` stays readable in `status` and `list`. The price:
 * a run can never re-take a lease its crashed predecessor held under the same `--holder` at once
 * (it waits out the duration like everyone else), and a nested `leasekit run --holder
 * "$LEASEKIT_HOLDER"` on the same lease waits for its parent instead of adopting its lease.
 *
 * @since 0.1.0
 * @category constructors
 */
export const uniqueHolder = (id: string, flags: RunFlags): Effect.Effect<string, ExitCode.CliExit> =>
  Effect.gen(function*() {
    if (id.length > LeaseHolder.maxLength - holderSuffixLength) {
      return yield* ExitCode.usage(
        `--holder: must be at most ${LeaseHolder.maxLength - holderSuffixLength} characters (leasekit appends a unique suffix)`,
        "give a shorter --holder, or leave it out"
      )
    }
    yield* LeaseOptions.validateHolder(id).pipe(Effect.mapError((error) => invalidOption(error, flags)))
    let suffix = "_"
    for (let i = 1; i < holderSuffixLength; i++) suffix += "abcdefghijklmnopqrstuvwxyz0123456789"[yield* Random.nextIntBetween(0, 36, { halfOpen: true })]
    return `${id}${suffix}`
  })

/**
 * Checks the flags and resolves the options `run` uses, before anything is sent. The namespace
 * is the one `-n` names or the kubeconfig context's.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (flags: RunFlags, namespace: string): Effect.Effect<RunOptions, ExitCode.CliExit> =>
  Effect.gen(function*() {
    if (flags.command.length === 0) {
      return yield* ExitCode.usage("no command given", `put it after \`--\`: leasekit run ${flags.name} -- CMD [ARGS…]`)
    }
    if (flags.try && flags.wait) return yield* ExitCode.usage("--try and --wait exclude each other", "pass one of them")
    if (flags.try && Option.isSome(flags.timeout)) {
      return yield* ExitCode.usage(
        "--timeout means nothing with --try (it waits only to judge a holder that looks dead, for at most that lease's duration)",
        "drop one of them"
      )
    }
    if (!Number.isInteger(flags.conflictExitCode) || flags.conflictExitCode < 0 || flags.conflictExitCode > 255) {
      return yield* ExitCode.usage(`--conflict-exit-code ${flags.conflictExitCode} is not an exit code`, "pick one from 0 to 255")
    }
    const healthPort = flags.healthPort ?? Option.none()
    const healthHost = flags.healthHost ?? Option.none()
    if (Option.isSome(healthPort) && (!Number.isInteger(healthPort.value) || healthPort.value < 1 || healthPort.value > 65535)) {
      return yield* ExitCode.usage(`--health-port ${healthPort.value} is not a port`, "pick one from 1 to 65535")
    }
    if (Option.isSome(healthHost) && Option.isNone(healthPort)) {
      return yield* ExitCode.usage("--health-host needs --health-port", "add --health-port PORT, or drop --health-host")
    }
    if (Option.isSome(healthHost) && healthHost.value.trim() === "") {
      return yield* ExitCode.usage("--health-host is empty", "give an address such as 0.0.0.0 or 127.0.0.1, or leave it out")
    }
    const permits = flags.permits ?? Option.none()
    if (Option.isSome(permits) && (!Number.isInteger(permits.value) || permits.value < 1 || permits.value > LeaseSemaphore.maxPermits)) {
      return yield* ExitCode.usage(
        `--permits ${permits.value} is not a permit count`,
        `pick a whole number from 1 to ${LeaseSemaphore.maxPermits}`
      )
    }
    if (Option.isSome(permits) && Option.isSome(healthPort)) {
      return yield* ExitCode.usage(
        "--health-port is not available with --permits yet",
        "drop --health-port (probe the command itself), or hold a single lease"
      )
    }
    const duration = yield* Durations.parse("--duration", flags.duration)
    const timeout = yield* Durations.parseOption("--timeout", flags.timeout)
    const resolved = yield* LeaseOptions.resolve({
      namespace,
      name: flags.name,
      duration,
      ...(Option.isSome(flags.holder) ? { holder: yield* uniqueHolder(flags.holder.value, flags) } : {})
    }).pipe(Effect.mapError((error) => invalidOption(error, flags)))
    const grace = yield* resolveGrace(resolved, flags.grace, flags.duration)
    return {
      lease: { namespace, name: flags.name, duration, holder: resolved.holder },
      resolved,
      grace,
      timeout,
      health: Option.map(healthPort, (port) => ({ port, host: Option.getOrUndefined(healthHost) })),
      permits
    }
  })
