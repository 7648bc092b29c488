/**
 * What a leader election does beyond holding the lease, decoded: whether it asks the leader for the
 * lease (`preferred`) and its step-down (`stepDown`: a health check every `interval`, `failures` in a
 * row, `coolDown`), and the health watch a term runs for it.
 *
 * Guarantees: options are checked as lease options are (the field, the value and the rule):
 * `interval` greater than 0 (default `renewInterval`), `failures` a whole number ≥ 1 (default 3),
 * `coolDown` a duration (default `duration`); a check that does not answer within `interval`, or
 * dies, counts as a failure.
 * Does not: step down (the terms do, once the watch answers).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ElectionOptions } from "../../LeaderElection.ts"
import { InvalidLeaseOptions } from "../../LeaseError.ts"
import type * as LeaseOptions from "../../LeaseOptions.ts"
import { decodeDuration } from "../../LeaseOptions.ts"

/** `StepDownOptions`, decoded and validated. */
export interface StepDown<R> {
  readonly check: Effect.Effect<boolean, never, R>
  readonly interval: Duration.Duration
  readonly failures: number
  readonly coolDown: Duration.Duration
}

/** What the election does beyond holding the lease, resolved. */
export interface Policy<R> {
  readonly preferred: boolean
  readonly stepDown: StepDown<R> | undefined
}

/** Decodes the election's own options (the lease's are the contender's), failing the way lease
 * options do: naming the field, the value and the rule. */
export const resolvePolicy = <R>(
  options: ElectionOptions<R>,
  lease: LeaseOptions.ResolvedLeaseOptions
): Effect.Effect<Policy<R>, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    const stepDown = options.stepDown
    if (stepDown === undefined) return { preferred: options.preferred === true, stepDown: undefined }
    const interval = stepDown.interval === undefined
      ? lease.renewInterval
      : yield* decodeDuration("stepDown.interval", stepDown.interval)
    if (Duration.isZero(interval)) {
      return yield* new InvalidLeaseOptions({ field: "stepDown.interval", value: interval, rule: "must be greater than 0" })
    }
    const failures = stepDown.failures ?? 3
    if (!Number.isInteger(failures) || failures < 1) {
      return yield* new InvalidLeaseOptions({
        field: "stepDown.failures",
        value: failures,
        rule: "must be a whole number of health checks, at least 1"
      })
    }
    const coolDown = stepDown.coolDown === undefined ? lease.duration : yield* decodeDuration("stepDown.coolDown", stepDown.coolDown)
    return { preferred: options.preferred === true, stepDown: { check: stepDown.check, interval, failures, coolDown } }
  })

/**
 * Runs the health check every `interval` while the term lasts; answers the count of failures in a
 * row once it reaches `failures` (the term should end then).
 */
export const watchHealth = <R>(stepDown: StepDown<R>): Effect.Effect<number, never, R> =>
  Effect.gen(function*() {
    let failed = 0
    while (true) {
      yield* Effect.sleep(stepDown.interval)
      const answer = yield* stepDown.check.pipe(Effect.timeoutOption(stepDown.interval), Effect.exit)
      const healthy = answer._tag === "Success" && Option.getOrElse(answer.value, () => false)
      if (healthy) {
        failed = 0
        continue
      }
      failed++
      const why = answer._tag === "Failure"
        ? "died"
        : Option.isNone(answer.value)
        ? `did not answer within ${Duration.format(stepDown.interval)}`
        : "answered unhealthy"
      yield* Effect.logWarning(`health check ${why} (${failed} of ${stepDown.failures} in a row before stepping down)`)
      if (failed >= stepDown.failures) return failed
    }
  })
