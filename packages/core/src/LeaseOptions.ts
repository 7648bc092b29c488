/**
 * Lease options, their defaults, and the rules they must satisfy.
 *
 * Timing follows client-go's leader election, with whole-second durations because the Lease API
 * stores `leaseDurationSeconds` as an integer:
 *
 * | option           | default                       | meaning                                                  |
 * |------------------|-------------------------------|----------------------------------------------------------|
 * | `duration`       | 20 s                          | how long contenders wait on an unchanged record          |
 * | `renewInterval`  | duration / 3                  | time between successful renewals                         |
 * | `renewDeadline`  | duration × 2/3                | the holder gives up when no renewal succeeded this long  |
 * | `retryPeriod`    | min(2 s, renewInterval)       | spacing of retries and of polls when watch is unavailable |
 * | `requestTimeout` | min(5 s, retryPeriod, renewDeadline − renewInterval) | bound on each store call |
 * | `handoffWindow`  | duration                      | how long a handoff reserves the lease for its successor  |
 * | `handoffRequests`| "honour"                      | what a holder does with a request to hand the lease over |
 * | `labels`         | none                          | labels every acquiring write puts on the Lease object    |
 *
 * Rules, checked before any store call: `duration` whole seconds, 1 s to 1 hour;
 * `duration > renewDeadline > renewInterval > 0`; `0 < retryPeriod ≤ renewDeadline`;
 * `0 < requestTimeout ≤ renewDeadline − renewInterval`; `maxHonouredDuration ≥ 1 hour`;
 * namespace a DNS-1123 label (≤ 63); name a DNS-1123 subdomain (≤ 253); holder non-empty,
 * ≤ 128 characters; `handoffWindow` whole seconds, 1 s to 1 hour; `handoffRequests` `"honour"` or
 * `"refuse"`; `labels` Kubernetes label keys (optional DNS-1123 subdomain prefix and `/`, then a
 * name of at most 63 alphanumerics, `-`, `_`, `.`) and values (at most 63 of the same, or empty).
 * A violation fails with `InvalidLeaseOptions` naming the field, the value
 * and the rule.
 *
 * Why the two rules about an hour: a contender honours at most `maxHonouredDuration` of someone
 * else's record (so a hand-written huge duration cannot pin a lease forever). If a holder could
 * declare a longer duration than another contender honours, that contender would take over while
 * the holder still believes it holds the lease. So every leasekit holder declares at most an hour
 * and every leasekit contender honours at least an hour: no two participants with valid options
 * can disagree. A *foreign* holder (e.g. client-go) that declares more than a contender's
 * `maxHonouredDuration` is honoured only up to it — give such fleets a larger
 * `maxHonouredDuration`.
 *
 * Why `requestTimeout ≤ renewDeadline − renewInterval`: a renewal is sent `renewInterval` after
 * the last successful write and must get its answer (or give up on it) before the deadline, or
 * no renewal could ever succeed in time.
 *
 * Guarantees: a `ResolvedLeaseOptions` always satisfies every rule above. Does not guarantee:
 * that the timings suit your network — `renewDeadline - renewInterval` must leave room for a few
 * `requestTimeout`s of retries.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { InvalidLeaseOptions } from "./LeaseError.ts"
import * as LeaseHolder from "./LeaseHolder.ts"
import type { LeaseKey } from "./LeaseRecord.ts"
import * as Parts from "./internal/semaphoreParts.ts"

/**
 * What a caller may set for one lease.
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseOptions {
  readonly namespace: string
  readonly name: string
  /** This contender's identity; default: a fresh `LeaseHolder.make` identity. */
  readonly holder?: string | undefined
  /** Default 20 seconds; whole seconds, from 1 second to 1 hour. */
  readonly duration?: Duration.Input | undefined
  /** Default `duration / 3`. */
  readonly renewInterval?: Duration.Input | undefined
  /** Default `duration × 2/3`. */
  readonly renewDeadline?: Duration.Input | undefined
  /** Default `min(2 s, renewInterval)`. */
  readonly retryPeriod?: Duration.Input | undefined
  /** Default `min(5 s, retryPeriod, renewDeadline − renewInterval)`; at most `renewDeadline − renewInterval`. */
  readonly requestTimeout?: Duration.Input | undefined
  /** `"clear"` (default) empties the holder and keeps the object and its transitions counter;
   * `"delete"` removes the object (fencing tokens then restart from 0). */
  readonly releaseMode?: "clear" | "delete" | undefined
  /** Opt-in: also treat a record as expired once `renewTime + its duration + maxClockSkew` is
   * past by this contender's wall clock, for fast takeover after restarts. Trusts clock offsets
   * to be below `maxClockSkew`. Default: off. */
  readonly maxClockSkew?: Duration.Input | undefined
  /** The longest `leaseDurationSeconds` this contender honours in someone else's record, so a
   * hand-written huge duration cannot pin a lease forever. Default 1 hour; at least 1 hour (the
   * longest `duration` a leasekit holder may declare). */
  readonly maxHonouredDuration?: Duration.Input | undefined
  /** How long a handoff (`HeldLease.handoff`) reserves the released lease for its successor:
   * other contenders judge it busy until they have observed it free for this long. Default
   * `duration`; whole seconds, 1 second to 1 hour. Also the window this contender assumes for a
   * handoff whose record declares none. */
  readonly handoffWindow?: Duration.Input | undefined
  /** What a holder does when it finds a request to hand the lease over (`Lease.requestHandoff`)
   * on its record: `"honour"` (default) hands it off to the requester; `"refuse"` removes the
   * request with its next renewal. */
  readonly handoffRequests?: "honour" | "refuse" | undefined
  /** Labels every acquiring write puts on the Lease object (client-go's `NewWithLabels`). */
  readonly labels?: Readonly<Record<string, string>> | undefined
}

/**
 * Options after defaults and validation.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedLeaseOptions {
  readonly key: LeaseKey
  readonly holder: string
  readonly duration: Duration.Duration
  readonly durationSeconds: number
  readonly renewInterval: Duration.Duration
  readonly renewDeadline: Duration.Duration
  readonly retryPeriod: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly releaseMode: "clear" | "delete"
  readonly maxClockSkew: Option.Option<Duration.Duration>
  readonly maxHonouredDuration: Duration.Duration
  /** @since 0.4.0 */
  readonly handoffWindow: Duration.Duration
  /** @since 0.4.0 */
  readonly handoffRequests: "honour" | "refuse"
  /** @since 0.4.0 */
  readonly labels: Readonly<Record<string, string>>
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  duration: Duration.seconds(20),
  retryPeriod: Duration.seconds(2),
  requestTimeout: Duration.seconds(5),
  maxHonouredDuration: Duration.hours(1)
} as const

/**
 * The longest `duration` a holder may declare, and the least `maxHonouredDuration` a contender may
 * honour: equal, so that no two participants with valid options disagree on how long a silent
 * record is honoured.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxDuration: Duration.Duration = Duration.hours(1)

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/

const invalid = (field: string, value: unknown, rule: string) => new InvalidLeaseOptions({ field, value, rule })

/**
 * Decodes one duration option: finite and not negative, or `InvalidLeaseOptions` naming `field`.
 *
 * @since 0.1.0
 * @category validation
 */
export const decodeDuration = (field: string, input: Duration.Input): Effect.Effect<Duration.Duration, InvalidLeaseOptions> =>
  Option.match(Duration.fromInput(input), {
    onNone: () => Effect.fail(invalid(field, input, "must be a duration such as \"10 seconds\" or a number of milliseconds")),
    onSome: (duration) =>
      !Duration.isFinite(duration)
        ? Effect.fail(invalid(field, input, "must be finite"))
        : Duration.isNegative(duration)
        ? Effect.fail(invalid(field, input, "must not be negative"))
        : Effect.succeed(duration)
  })

const decodeOr = (
  field: string,
  input: Duration.Input | undefined,
  fallback: () => Duration.Duration
): Effect.Effect<Duration.Duration, InvalidLeaseOptions> =>
  input === undefined ? Effect.succeed(fallback()) : decodeDuration(field, input)

const check = (condition: boolean, field: string, value: unknown, rule: string) =>
  condition ? Effect.void : Effect.fail(invalid(field, value, rule))

const { isGreaterThan: gt, isGreaterThanOrEqualTo: gte, isLessThanOrEqualTo: lte } = Duration

/**
 * Only the naming rules: namespace a DNS-1123 label, name a DNS-1123 subdomain.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateKey = (key: LeaseKey): Effect.Effect<LeaseKey, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    yield* check(typeof key.namespace === "string" && key.namespace.length > 0, "namespace", key.namespace, "is required")
    yield* check(key.namespace.length <= 63, "namespace", key.namespace, "must be at most 63 characters")
    yield* check(
      dns1123Label.test(key.namespace),
      "namespace",
      key.namespace,
      "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"
    )
    yield* check(typeof key.name === "string" && key.name.length > 0, "name", key.name, "is required")
    yield* check(key.name.length <= 253, "name", key.name, "must be at most 253 characters")
    yield* check(
      dns1123Subdomain.test(key.name),
      "name",
      key.name,
      "must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"
    )
    return { namespace: key.namespace, name: key.name }
  })

/**
 * Only the holder rule: non-empty, at most 128 characters, no surrounding whitespace.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateHolder = (holder: string): Effect.Effect<string, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    yield* check(typeof holder === "string" && holder.trim().length > 0, "holder", holder, "must not be empty")
    yield* check(holder.length <= LeaseHolder.maxLength, "holder", holder, `must be at most ${LeaseHolder.maxLength} characters`)
    yield* check(holder.trim() === holder, "holder", holder, "must not start or end with whitespace")
    return holder
  })

/**
 * The identity of a handoff's successor (`HeldLease.handoff`, `Lease.requestHandoff`): the holder
 * rule, reported for field `to`.
 *
 * @since 0.4.0
 * @category validation
 */
export const validateSuccessor = (to: string): Effect.Effect<string, InvalidLeaseOptions> =>
  validateHolder(to).pipe(Effect.mapError((error) => invalid("to", error.value, error.rule)))

/**
 * Only the labels rule: Kubernetes label keys and values.
 *
 * @since 0.4.0
 * @category validation
 */
export const validateLabels = (
  labels: Readonly<Record<string, string>>
): Effect.Effect<Readonly<Record<string, string>>, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    yield* check(typeof labels === "object" && labels !== null, "labels", labels, "must be an object of label keys to values")
    const result: Record<string, string> = {}
    for (const [key, value] of Object.entries(labels)) {
      const field = "labels"
      const of = `label ${JSON.stringify(key)}: `
      const slash = key.lastIndexOf("/")
      const prefix = slash === -1 ? undefined : key.slice(0, slash)
      const name = slash === -1 ? key : key.slice(slash + 1)
      if (prefix !== undefined) {
        yield* check(
          prefix.length > 0 && prefix.length <= 253 && dns1123Subdomain.test(prefix),
          field,
          key,
          `${of}the key's prefix (before '/') must be a DNS-1123 subdomain of at most 253 characters`
        )
      }
      yield* check(
        name.length > 0 && name.length <= 63 && labelName.test(name),
        field,
        key,
        `${of}the key's name must be 1 to 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit`
      )
      yield* check(
        typeof value === "string" && (value === "" || (value.length <= 63 && labelName.test(value))),
        field,
        value,
        `${of}the value must be empty or 1 to 63 characters: letters, digits, '-', '_' and '.', starting and ending with a letter or digit`
      )
      result[key] = value
    }
    return result
  })

/**
 * Applies the defaults and checks every rule; draws a fresh holder identity when none is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve = (options: LeaseOptions): Effect.Effect<ResolvedLeaseOptions, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    const key = yield* validateKey({ namespace: options.namespace, name: options.name })
    const holder = yield* (options.holder === undefined ? LeaseHolder.make : validateHolder(options.holder))

    const duration = yield* decodeOr("duration", options.duration, () => defaults.duration)
    const durationMillis = Duration.toMillis(duration)
    yield* check(
      durationMillis >= 1000 && durationMillis % 1000 === 0,
      "duration",
      duration,
      "must be a whole number of seconds, at least 1 second (the Lease API stores integer seconds)"
    )
    const renewInterval = yield* decodeOr(
      "renewInterval",
      options.renewInterval,
      () => Duration.millis(Math.floor(durationMillis / 3))
    )
    const renewDeadline = yield* decodeOr(
      "renewDeadline",
      options.renewDeadline,
      () => Duration.millis(Math.floor((durationMillis * 2) / 3))
    )
    const retryPeriod = yield* decodeOr("retryPeriod", options.retryPeriod, () => Duration.min(defaults.retryPeriod, renewInterval))
    const requestTimeout = yield* decodeOr(
      "requestTimeout",
      options.requestTimeout,
      () => Duration.min(Duration.min(defaults.requestTimeout, retryPeriod), Duration.subtract(renewDeadline, renewInterval))
    )
    yield* check(
      lte(duration, maxDuration),
      "duration",
      duration,
      `must be at most ${Duration.format(maxDuration)}: contenders honour at most ${
        Duration.format(maxDuration)
      } of a record by default, and would take over from a holder that declared more`
    )
    const maxHonouredDuration = yield* decodeOr("maxHonouredDuration", options.maxHonouredDuration, () =>
      defaults.maxHonouredDuration)
    const maxClockSkew = options.maxClockSkew === undefined
      ? Option.none()
      : Option.some(yield* decodeDuration("maxClockSkew", options.maxClockSkew))

    yield* check(gt(renewInterval, Duration.zero), "renewInterval", renewInterval, "must be greater than 0")
    yield* check(
      gt(renewDeadline, renewInterval),
      "renewDeadline",
      renewDeadline,
      `must be greater than renewInterval (${Duration.format(renewInterval)})`
    )
    yield* check(
      gt(duration, renewDeadline),
      "renewDeadline",
      renewDeadline,
      `must be less than duration (${Duration.format(duration)}): the holder must give up before a contender may take over`
    )
    yield* check(gt(retryPeriod, Duration.zero), "retryPeriod", retryPeriod, "must be greater than 0")
    yield* check(
      lte(retryPeriod, renewDeadline),
      "retryPeriod",
      retryPeriod,
      `must be at most renewDeadline (${Duration.format(renewDeadline)})`
    )
    yield* check(gt(requestTimeout, Duration.zero), "requestTimeout", requestTimeout, "must be greater than 0")
    yield* check(
      lte(requestTimeout, Duration.subtract(renewDeadline, renewInterval)),
      "requestTimeout",
      requestTimeout,
      `must be at most renewDeadline − renewInterval (${
        Duration.format(Duration.subtract(renewDeadline, renewInterval))
      }): a renewal sent on schedule must get its answer before the renew deadline`
    )
    yield* check(
      gte(maxHonouredDuration, maxDuration),
      "maxHonouredDuration",
      maxHonouredDuration,
      `must be at least ${
        Duration.format(maxDuration)
      }: a leasekit holder may declare a duration up to that long, and a contender honouring less would take over from it too early`
    )
    if (Option.isSome(maxClockSkew)) {
      yield* check(gte(maxClockSkew.value, Duration.zero), "maxClockSkew", maxClockSkew.value, "must not be negative")
    }
    const handoffWindow = yield* decodeOr("handoffWindow", options.handoffWindow, () => duration)
    const handoffWindowMillis = Duration.toMillis(handoffWindow)
    yield* check(
      handoffWindowMillis >= 1000 && handoffWindowMillis % 1000 === 0 && lte(handoffWindow, maxDuration),
      "handoffWindow",
      handoffWindow,
      `must be a whole number of seconds from 1 second to ${Duration.format(maxDuration)} (it is written as an annotation in seconds)`
    )
    const handoffRequests = options.handoffRequests ?? "honour"
    yield* check(
      handoffRequests === "honour" || handoffRequests === "refuse",
      "handoffRequests",
      handoffRequests,
      "must be \"honour\" or \"refuse\""
    )
    const labels = options.labels === undefined ? {} : yield* validateLabels(options.labels)
    const releaseMode = options.releaseMode ?? "clear"
    yield* check(
      releaseMode === "clear" || releaseMode === "delete",
      "releaseMode",
      releaseMode,
      "must be \"clear\" or \"delete\""
    )

    // A semaphore's own contender (never a public option, see `internal/semaphoreParts.ts`).
    const flag = Parts.flagOf(options)
    return {
      ...(flag === undefined ? {} : { [Parts.partFlag]: flag }),
      key,
      holder,
      duration,
      durationSeconds: durationMillis / 1000,
      renewInterval,
      renewDeadline,
      retryPeriod,
      requestTimeout,
      releaseMode,
      maxClockSkew,
      maxHonouredDuration,
      handoffWindow,
      handoffRequests,
      labels
    }
  })
