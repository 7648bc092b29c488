/**
 * Lease and election options from `Config` — the environment, unless the application installs
 * another `ConfigProvider`:
 *
 * | variable                         | option                | default                                  |
 * |----------------------------------|-----------------------|------------------------------------------|
 * | `LEASEKIT_NAMESPACE`             | `namespace`           | `POD_NAMESPACE` (Downward API); required |
 * | `LEASEKIT_NAME`                  | `name`                | required                                 |
 * | `LEASEKIT_IDENTITY`              | `holder`              | a fresh `LeaseHolder.make` identity      |
 * | `LEASEKIT_DURATION`              | `duration`            | 20 seconds                               |
 * | `LEASEKIT_RENEW_INTERVAL`        | `renewInterval`       | duration / 3                             |
 * | `LEASEKIT_RENEW_DEADLINE`        | `renewDeadline`       | duration × 2/3                           |
 * | `LEASEKIT_RETRY_PERIOD`          | `retryPeriod`         | min(2 s, renewInterval)                  |
 * | `LEASEKIT_REQUEST_TIMEOUT`       | `requestTimeout`      | see `LeaseOptions`                       |
 * | `LEASEKIT_RELEASE_MODE`          | `releaseMode`         | `clear` (or `delete`)                    |
 * | `LEASEKIT_MAX_CLOCK_SKEW`        | `maxClockSkew`        | off                                      |
 * | `LEASEKIT_MAX_HONOURED_DURATION` | `maxHonouredDuration` | 1 hour                                   |
 * | `LEASEKIT_HANDOFF_WINDOW`        | `handoffWindow`       | duration                                 |
 * | `LEASEKIT_HANDOFF_REQUESTS`      | `handoffRequests`     | `honour` (or `refuse`)                   |
 * | `LEASEKIT_LABELS`                | `labels`              | none; `key=value,key2=value2`            |
 *
 * Durations are written as Effect writes them (`15 seconds`, `1500 millis`) or as Go and kubectl
 * do (`15s`, `500ms`, `1m30s`, `2h`); a bare number is refused (its unit would be a guess). An empty
 * variable counts as unset. `LEASEKIT_NAMESPACE` is also the variable `KubeClient.layerConfig`
 * reads for the client's default namespace: one setting names both. The holder is read from
 * `LEASEKIT_IDENTITY`, not `LEASEKIT_HOLDER`: `leasekit run` sets `LEASEKIT_HOLDER` for the command
 * it runs (the CLI's own identity), and a program under it that took that identity for its own
 * lease would share an identity with the CLI — which silently breaks exclusion.
 *
 * Guarantees: the options are checked as `LeaseOptions.resolve` checks them, all of them, when the
 * `Config` is read; a bad value fails with a `ConfigError` whose message names the variable, the
 * value and the rule (`LEASEKIT_RENEW_DEADLINE = 15s: must be less than duration (10s): …`).
 * The holder identity is not drawn here: each use of the options draws its own, as the option
 * object API does.
 *
 * A module of its own, opt-in: it loads `effect/Config` (and with it Schema), which `Lease` and
 * `LeaderElection` do not, to keep what an application loads at start small. For the same reason
 * the Config-driven election layer is `LeaseConfig.leaderElectionLayer` here rather than a
 * `LeaderElection.layerConfig`: with a default `Config`, it would load `effect/Config` for every
 * user of `LeaderElection`.
 *
 * @since 0.3.0
 */
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Lease from "./Lease.ts"
import * as LeaderElection from "./LeaderElection.ts"
import type { InvalidLeaseOptions, LeaseAcquisitionError } from "./LeaseError.ts"
import * as LeaseOptions from "./LeaseOptions.ts"
import type { LeaseStore } from "./LeaseStore.ts"

/**
 * The environment variable of each option, for a prefix.
 *
 * @since 0.3.0
 * @category models
 */
export type Variables = { readonly [K in keyof Required<LeaseOptions.LeaseOptions>]: string }

/**
 * The variables read for `prefix` (default `LEASEKIT_`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const variables = (prefix = "LEASEKIT_"): Variables => ({
  namespace: `${prefix}NAMESPACE`,
  name: `${prefix}NAME`,
  holder: `${prefix}IDENTITY`,
  duration: `${prefix}DURATION`,
  renewInterval: `${prefix}RENEW_INTERVAL`,
  renewDeadline: `${prefix}RENEW_DEADLINE`,
  retryPeriod: `${prefix}RETRY_PERIOD`,
  requestTimeout: `${prefix}REQUEST_TIMEOUT`,
  releaseMode: `${prefix}RELEASE_MODE`,
  maxClockSkew: `${prefix}MAX_CLOCK_SKEW`,
  maxHonouredDuration: `${prefix}MAX_HONOURED_DURATION`,
  handoffWindow: `${prefix}HANDOFF_WINDOW`,
  handoffRequests: `${prefix}HANDOFF_REQUESTS`,
  labels: `${prefix}LABELS`
})

const goDuration = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/
const goPart = /(\d+(?:\.\d+)?)(ms|s|m|h)/g
const unitMillis: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * Parses a duration as written in an environment variable: Effect's form (`15 seconds`) or Go's
 * (`15s`, `500ms`, `1m30s`). `undefined` when it is neither.
 *
 * @since 0.3.0
 * @category parsing
 */
export const parseDuration = (text: string): Duration.Duration | undefined => {
  const trimmed = text.trim()
  if (goDuration.test(trimmed)) {
    let millis = 0
    for (const [, amount, unit] of trimmed.matchAll(goPart)) millis += Number(amount) * unitMillis[unit!]!
    return Duration.millis(millis)
  }
  return Option.getOrUndefined(Duration.fromInput(trimmed as Duration.Input))
}

/** A `ConfigError` whose message names the variable, its value (`shown`) and the rule. */
const configError = (variable: string, shown: string, rule: string) =>
  new Config.ConfigError(new ConfigProvider.SourceError({ message: `${variable} = ${shown}: ${rule}` }))

const show = (value: unknown): string =>
  value === undefined
    ? "(unset)"
    : Duration.isDuration(value)
    ? Duration.format(value)
    : typeof value === "string"
    ? JSON.stringify(value)
    : String(value)

const optionalString = (variable: string) => Config.option(Config.String(variable)).pipe(Config.map(Option.getOrUndefined))

const optionalDuration = (variable: string): Config.Config<Duration.Duration | undefined> =>
  optionalString(variable).pipe(
    Config.mapEffect((text) => {
      if (text === undefined) return Effect.succeed(undefined)
      const duration = parseDuration(text)
      return duration === undefined
        ? Effect.fail(configError(variable, show(text), "must be a duration such as \"15s\", \"500ms\" or \"15 seconds\""))
        : Effect.succeed(duration)
    })
  )

/**
 * Where `options` reads from, and what it uses for an option that is not set.
 *
 * @since 0.3.0
 * @category models
 */
export interface OptionsConfig {
  /** Prefix of every variable; default `LEASEKIT_`. */
  readonly prefix?: string | undefined
  /** Values for options whose variable is unset (e.g. a name fixed in code). */
  readonly defaults?: Partial<LeaseOptions.LeaseOptions> | undefined
}

/**
 * Lease options read from `Config` (see the module's table) and checked as a whole: every rule of
 * `LeaseOptions.resolve`, with a `ConfigError` naming the variable of the option at fault.
 *
 * ```ts
 * import { Lease } from "@leasekit/core"
 * import * as LeaseConfig from "@leasekit/core/LeaseConfig"
 * import { Effect } from "effect"
 *
 * // LEASEKIT_NAMESPACE=jobs LEASEKIT_NAME=nightly-report LEASEKIT_DURATION=15s
 * const program = Effect.gen(function*() {
 *   const options = yield* LeaseConfig.options()
 *   const lease = yield* Lease.acquire(options)
 *   yield* lease.guard(Effect.log(`token ${lease.token}`))
 * })
 * ```
 *
 * @since 0.3.0
 * @category constructors
 */
export const options = (settings: OptionsConfig = {}): Config.Config<LeaseOptions.LeaseOptions> => {
  const vars = variables(settings.prefix)
  const defaults = settings.defaults ?? {}
  const releaseMode = optionalString(vars.releaseMode).pipe(
    Config.mapEffect((mode) =>
      mode === undefined || mode === "clear" || mode === "delete"
        ? Effect.succeed(mode)
        : Effect.fail(configError(vars.releaseMode, show(mode), "must be \"clear\" or \"delete\""))
    )
  )
  const handoffRequests = optionalString(vars.handoffRequests).pipe(
    Config.mapEffect((policy) =>
      policy === undefined || policy === "honour" || policy === "refuse"
        ? Effect.succeed(policy)
        : Effect.fail(configError(vars.handoffRequests, show(policy), "must be \"honour\" or \"refuse\""))
    )
  )
  const labels = optionalString(vars.labels).pipe(
    Config.mapEffect((text): Effect.Effect<Record<string, string> | undefined, Config.ConfigError> => {
      if (text === undefined || text.trim() === "") return Effect.succeed(undefined)
      const entries: Array<[string, string]> = []
      for (const part of text.split(",")) {
        const eq = part.indexOf("=")
        if (eq === -1) {
          return Effect.fail(configError(vars.labels, show(text), "must be comma-separated key=value pairs, e.g. \"team=billing,tier=batch\""))
        }
        entries.push([part.slice(0, eq).trim(), part.slice(eq + 1).trim()])
      }
      return Effect.succeed(Object.fromEntries(entries))
    })
  )
  return Config.all({
    namespace: optionalString(vars.namespace).pipe(
      Config.flatMap((ns) => ns === undefined ? optionalString("POD_NAMESPACE") : Config.succeed(ns))
    ),
    name: optionalString(vars.name),
    holder: optionalString(vars.holder),
    duration: optionalDuration(vars.duration),
    renewInterval: optionalDuration(vars.renewInterval),
    renewDeadline: optionalDuration(vars.renewDeadline),
    retryPeriod: optionalDuration(vars.retryPeriod),
    requestTimeout: optionalDuration(vars.requestTimeout),
    releaseMode,
    maxClockSkew: optionalDuration(vars.maxClockSkew),
    maxHonouredDuration: optionalDuration(vars.maxHonouredDuration),
    handoffWindow: optionalDuration(vars.handoffWindow),
    handoffRequests,
    labels
  }).pipe(
    Config.mapEffect((read) => {
      const namespace = read.namespace ?? defaults.namespace
      const name = read.name ?? defaults.name
      if (namespace === undefined) {
        return Effect.fail(configError(vars.namespace, show(undefined), "is required (or POD_NAMESPACE, from the Downward API)"))
      }
      if (name === undefined) return Effect.fail(configError(vars.name, show(undefined), "is required"))
      const merged: LeaseOptions.LeaseOptions = {
        ...defaults,
        namespace,
        name,
        ...Object.fromEntries(Object.entries(read).filter(([field, value]) => value !== undefined && field !== "namespace" && field !== "name"))
      }
      // Every rule of `resolve`, with the variable named. The identity it would draw is thrown away.
      return LeaseOptions.resolve({ ...merged, holder: merged.holder ?? "checking" }).pipe(
        Effect.as(merged),
        Effect.mapError((error: InvalidLeaseOptions) => {
          const variable = vars[error.field as keyof Variables] ?? error.field
          return configError(variable, show(error.value), error.rule)
        })
      )
    })
  )
}

/**
 * `LeaderElection.layer` with its options from `Config` (default: `options()`, the `LEASEKIT_*`
 * variables). Fails to build with a `ConfigError` naming the variable of a bad option, and as
 * `LeaderElection.layer` does otherwise.
 *
 * ```ts
 * import * as LeaseConfig from "@leasekit/core/LeaseConfig"
 * import { Effect } from "effect"
 *
 * // LEASEKIT_NAMESPACE=billing LEASEKIT_NAME=invoice-scheduler LEASEKIT_DURATION=15s
 * const Leader = LeaseConfig.leaderElectionLayer((lease) =>
 *   Effect.logInfo(`leading with token ${lease.token}`).pipe(Effect.andThen(Effect.never))
 * )
 * ```
 *
 * @since 0.3.0
 * @category layers
 */
export const leaderElectionLayer = <A, E, R>(
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>,
  config: Config.Config<LeaseOptions.LeaseOptions> = options()
): Layer.Layer<
  LeaderElection.LeaderElection,
  Config.ConfigError | LeaseAcquisitionError | InvalidLeaseOptions,
  LeaseStore | Exclude<R, Scope.Scope>
> => Layer.unwrap(Effect.gen(function*() {
  const resolved = yield* config
  return LeaderElection.layer(resolved, whileLeading)
}))
