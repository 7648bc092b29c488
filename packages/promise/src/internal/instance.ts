/**
 * What every instance of this package (`IntervalLease`, `Semaphore`) sets up in its constructor,
 * and checks the same way: the lease duration in whole seconds, the core's options (resolved once,
 * so the holder identity is fixed), the runtime (its own unless one is passed in), the logger and
 * log annotations every call runs with, and the Promise boundary (`Calls`). Nothing is sent and no
 * kubeconfig is read.
 */
import * as LeaseOptions from "@leasekit/core/LeaseOptions"
import * as LeaseTelemetry from "@leasekit/core/LeaseTelemetry"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { InvalidLeaseOptionsError, type LeaseLocation } from "../LeaseError.ts"
import * as LeaseRuntime from "../LeaseRuntime.ts"
import { Calls } from "./calls.ts"
import * as Convert from "./errors.ts"
import type { LeaseLogger, LeaseLogLevel } from "../IntervalLease.ts"
import * as Logging from "./logger.ts"

/** The options every instance takes besides its own. */
export interface Common {
  readonly durationSeconds: number
  readonly holder?: string | undefined
  readonly kubeconfig?: string | undefined
  readonly context?: string | undefined
  readonly runtime?: LeaseRuntime.LeaseRuntime | undefined
  readonly logger?: LeaseLogger | undefined
  readonly logLevel?: LeaseLogLevel | undefined
}

export interface Instance {
  /** The timing options as given, with the duration (for `Lease.inspect` and contenders). */
  readonly timing: Omit<LeaseOptions.LeaseOptions, "namespace" | "name" | "holder"> & { readonly duration: Duration.Duration }
  readonly options: LeaseOptions.ResolvedLeaseOptions
  readonly runtime: LeaseRuntime.LeaseRuntime
  /** Gives an effect the instance's logger and log annotations (every call, and `run`'s callback). */
  readonly around: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly calls: Calls
}

export const invalid = (location: LeaseLocation, field: string, value: unknown, rule: string): InvalidLeaseOptionsError =>
  new InvalidLeaseOptionsError({ ...location, field, value, rule })

/** Checks and resolves the options of the instance at `location` on the Lease `name` (throwing
 * `InvalidLeaseOptionsError`). */
export const make = (
  location: LeaseLocation,
  name: string,
  common: Common,
  timing: Omit<LeaseOptions.LeaseOptions, "namespace" | "name" | "holder" | "duration">
): Instance => {
  const { durationSeconds, holder, kubeconfig, context, runtime, logger, logLevel } = common
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1) {
    const rule = "must be a whole number of seconds, at least 1 (the Lease API stores integer seconds)"
    throw invalid(location, "durationSeconds", durationSeconds, rule)
  }
  const withDuration = { ...timing, duration: Duration.seconds(durationSeconds) }
  const resolved = Effect.runSyncExit(LeaseOptions.resolve({ ...withDuration, namespace: location.namespace, name, holder }))
  if (Exit.isFailure(resolved)) {
    const error = Cause.findErrorOption(resolved.cause)
    throw Option.isSome(error) ? Convert.fromInvalidOptions(location, error.value) : Cause.squash(resolved.cause)
  }
  const options = resolved.value
  const own = runtime ?? LeaseRuntime.make({ kubeconfig, context })
  const annotations = LeaseTelemetry.spanAttributes(options.key, options.holder)
  const withLogger = logger === undefined ? undefined : Logging.provide(logger, logLevel)
  const around = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
    const annotated = Effect.annotateLogs(effect, annotations)
    return withLogger === undefined ? annotated : withLogger(annotated)
  }
  return { timing: withDuration, options, runtime: own, around, calls: new Calls(own, runtime === undefined, location, around) }
}
