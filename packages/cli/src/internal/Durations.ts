/**
 * Durations as people type and read them on a command line: the one place a duration flag is
 * declared (`flag`: `--NAME DURATION`) and parsed (`parse`, `parseOption`), and durations are
 * formatted for people (`format`, `formatMillis`).
 *
 * A flag is declared as text and parsed by the command's handler, so that a bad value is a
 * usage error in leasekit's words (exit 64, the flag, the value and how to write it) and the
 * command line is parsed without loading the handler. Parsing accepts `500ms`, `20s`, `5m`, `1h`, combinations such as `1m30s`, a bare number of
 * seconds (`20`, as flock's `-w`), and Effect's long form (`"20 seconds"`). Formatting is compact
 * and keeps the precision that matters at each scale: `12ms`, `3.62s`, `4m05s`, `2h03m`.
 *
 * Guarantees: a parsed duration is finite and not negative; anything else is a usage error
 * naming the flag and the value. Does not: enforce a lease's own rules (whole seconds for
 * `--duration`) — the core validates those and names the rule.
 *
 * @since 0.1.0
 */
import * as Flag from "effect/cli/Flag"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ExitCode from "./ExitCode.ts"

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const compact = /^(\d+(?:\.\d+)?(?:ms|s|m|h))+$/
const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/g

/**
 * Parses a duration given to `flag`, failing with a usage error.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (flag: string, input: string): Effect.Effect<Duration.Duration, ExitCode.CliExit> => {
  const text = input.trim()
  if (/^\d+(\.\d+)?$/.test(text)) return Effect.succeed(Duration.millis(Math.round(Number(text) * 1000)))
  if (compact.test(text)) {
    let millis = 0
    for (const [, amount, unit] of text.matchAll(part)) millis += Number(amount) * units[unit!]!
    return Effect.succeed(Duration.millis(Math.round(millis)))
  }
  const long = Duration.fromInput(text as Duration.Input)
  if (Option.isSome(long) && Duration.isFinite(long.value) && !Duration.isNegative(long.value)) {
    return Effect.succeed(long.value)
  }
  return Effect.fail(
    ExitCode.usage(
      `${flag} ${JSON.stringify(input)} is not a duration`,
      `write it like 500ms, 20s, 5m, 1h or 1m30s (a bare number means seconds)`
    )
  )
}

/**
 * Declares the duration flag `--NAME DURATION`: with a `default` (its text, parsed like a value
 * given) the flag is that text when absent; without one it is optional.
 *
 * @since 0.1.0
 * @category flags
 */
export function flag(name: string, options: { readonly description: string; readonly default: string }): Flag.Flag<string>
export function flag(name: string, options: { readonly description: string }): Flag.Flag<Option.Option<string>>
export function flag(
  name: string,
  options: { readonly description: string; readonly default?: string }
): Flag.Flag<string> | Flag.Flag<Option.Option<string>> {
  const declared = Flag.String(name).pipe(Flag.withMetavar("DURATION"), Flag.withDescription(options.description))
  return options.default === undefined ? Flag.optional(declared) : Flag.withDefault(declared, options.default)
}

/**
 * Parses an optional duration flag's text (`flag`'s without a default), failing with a usage
 * error as `parse` does.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseOption = (
  flag: string,
  input: Option.Option<string>
): Effect.Effect<Option.Option<Duration.Duration>, ExitCode.CliExit> =>
  Option.isNone(input) ? Effect.succeedNone : Effect.asSome(parse(flag, input.value))

/**
 * Formats milliseconds compactly: `12ms`, `3.62s`, `42.1s`, `4m05s`, `2h03m`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatMillis = (millis: number): string => {
  const sign = millis < 0 ? "-" : ""
  const ms = Math.abs(millis)
  if (ms < 1000) return `${sign}${Math.round(ms)}ms`
  if (ms < 10_000) return `${sign}${(ms / 1000).toFixed(2)}s`
  if (ms < 60_000) return `${sign}${(ms / 1000).toFixed(1)}s`
  if (ms < 3_600_000) {
    const minutes = Math.floor(ms / 60_000)
    return `${sign}${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`
  }
  const hours = Math.floor(ms / 3_600_000)
  return `${sign}${hours}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, "0")}m`
}

/**
 * Formats a `Duration` like `formatMillis`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (duration: Duration.Duration): string => formatMillis(Duration.toMillis(duration))
