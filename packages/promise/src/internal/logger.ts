/**
 * leasekit's log lines, handed to a logger of the caller's (`IntervalLeaseOptions.logger`): each
 * line at or above the chosen level goes to the method of its level, with the lease's attributes
 * (`lease.namespace`, `lease.name`, `lease.holder` — the names of `@leasekit/core/LeaseTelemetry`)
 * and, when there is one, the cause as `error`. A logger that throws loses that line, nothing else:
 * logging never delays or fails renewal.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"

import type { LeaseLogger, LeaseLogLevel } from "../IntervalLease.ts"

const minimum: Record<LeaseLogLevel, LogLevel.LogLevel> = { debug: "Debug", info: "Info", warn: "Warn", error: "Error" }

const methodOf = (level: LogLevel.LogLevel): keyof LeaseLogger | undefined => {
  switch (level) {
    case "Fatal":
    case "Error":
      return "error"
    case "Warn":
      return "warn"
    case "Info":
      return "info"
    case "Debug":
    case "Trace":
      return "debug"
    default:
      return undefined
  }
}

const text = (message: unknown): string =>
  Array.isArray(message) ? message.map(text).join(" ") : typeof message === "string" ? message : String(message)

/** Runs `effect` (and every fiber it forks) with its logs going to `logger` only. */
export const provide = (logger: LeaseLogger, level: LeaseLogLevel = "info") => {
  const forward = Logger.make((options) => {
    const method = methodOf(options.logLevel)
    const write = method === undefined ? undefined : logger[method]
    if (write === undefined) return
    const attributes: Record<string, unknown> = { ...options.fiber.getRef(References.CurrentLogAnnotations) }
    if (Cause.hasFails(options.cause) || Cause.hasDies(options.cause)) attributes["error"] = Cause.squash(options.cause)
    try {
      write.call(logger, text(options.message), attributes)
    } catch {
      // the caller's logger failed: this line is lost, the lease is not affected
    }
  })
  const loggers: ReadonlySet<Logger.Logger<unknown, unknown>> = new Set([forward])
  return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.provideService(References.CurrentLoggers, loggers),
      Effect.provideService(References.MinimumLogLevel, minimum[level])
    )
}
