/**
 * When the leader label is put on and taken off, against a held lease's loss deadline — the pure
 * schedule of `LeaderLabel`, over two operations (`label`, `unlabel`) so that it runs on
 * `TestClock` in unit tests.
 *
 * The rule: the label is wanted while `lease.remaining` (time left to the loss deadline) is above
 * `threshold`, and unwanted at or below it. Renewals are sent `renewInterval` after the last
 * successful one, so `remaining` is `renewDeadline − renewInterval` when a renewal is sent and
 * jumps back to about `renewDeadline` when it succeeds. `threshold` is that value less the
 * renewal's own `requestTimeout` (at most half of it): once `remaining` is below it, the
 * scheduled renewal has had its full request time and has not succeeded. Then the label is
 * removed, each attempt bounded by the time left (given up by the deadline, tried again until
 * then); after the next successful renewal it is put back. Labelling is bounded by the time left
 * until `remaining` reaches `threshold`, so that it is never still in flight once it is unwanted.
 *
 * The loop keeps what it knows of the label: `Yes` (a label write was answered), `No` (a removal
 * was answered), `Unknown` (at start — a restarted container may find its pod still labelled —
 * after any write that failed or timed out, and while a label write is in flight: it may have
 * landed). Interrupted, it removes the
 * label unless it knows it is absent, bounded by `requestTimeout`, and logs a failure.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** What the loop knows of the label on its pod. */
export type Known = "Yes" | "No" | "Unknown"

/** The timing of one maintainer, from the lease's resolved options. */
export interface Timing {
  /** Below this much `remaining`, the label is removed. */
  readonly threshold: Duration.Duration
  /** Bound of one label request. */
  readonly requestTimeout: Duration.Duration
  /** Spacing of retries after a failed label write. */
  readonly retryPeriod: Duration.Duration
  /** How often `remaining` is looked at while the label is off (to put it back soon after a renewal). */
  readonly recheck: Duration.Duration
}

/**
 * The threshold for lease timings: `renewDeadline − renewInterval − requestTimeout`, or half of
 * `renewDeadline − renewInterval` when that is larger (a `requestTimeout` close to its maximum).
 */
export const thresholdOf = (options: {
  readonly renewDeadline: Duration.Duration
  readonly renewInterval: Duration.Duration
  readonly requestTimeout: Duration.Duration
}): Duration.Duration => {
  const window = Duration.subtract(options.renewDeadline, options.renewInterval)
  return Duration.max(Duration.subtract(window, options.requestTimeout), Duration.divideUnsafe(window, 2))
}

/** What the loop does with the label, each bounded by the timeout given. */
export interface Operations<E> {
  /** Puts the label on this pod (after taking it off every other pod that carries it). */
  readonly label: (timeout: Duration.Duration) => Effect.Effect<void, E>
  /** Takes the label off this pod. */
  readonly unlabel: (timeout: Duration.Duration) => Effect.Effect<void, E>
  /** Reports a failed write (to a log). */
  readonly failed: (what: "label" | "unlabel", error: E | "timeout") => Effect.Effect<void>
  /** Reports what is known after every change (tests, logs). */
  readonly changed?: ((known: Known) => Effect.Effect<void>) | undefined
}

/**
 * Keeps the label in step with `remaining` until interrupted; then removes it (unless known to be
 * absent). Never fails.
 */
export const maintain = <E>(
  remaining: Effect.Effect<Duration.Duration>,
  ops: Operations<E>,
  timing: Timing
): Effect.Effect<never> =>
  Effect.suspend(() => {
    let known: Known = "Unknown"
    const set = (next: Known) =>
      Effect.suspend(() => {
        const before = known
        known = next
        return before === next || ops.changed === undefined ? Effect.void : ops.changed(next)
      })
    /** One write bounded by `timeout`; answers whether it was answered with success. */
    const write = (what: "label" | "unlabel", timeout: Duration.Duration) =>
      // A label write may land even if its answer never comes back (interrupted, timed out): from
      // the moment it is sent, the label is no longer known to be absent — an interruption now
      // must still remove it at the end.
      (what === "label" ? Effect.andThen(set("Unknown"), ops.label(timeout)) : ops.unlabel(timeout)).pipe(
        Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail("timeout" as const) }),
        Effect.matchEffect({
          onSuccess: () => Effect.as(set(what === "label" ? "Yes" : "No"), true),
          // It may have landed: known no longer.
          onFailure: (error) => Effect.as(Effect.andThen(set("Unknown"), ops.failed(what, error)), false)
        })
      )
    const millis = (d: Duration.Duration) => Duration.toMillis(d)
    const thresholdMs = millis(timing.threshold)

    const step: Effect.Effect<void> = Effect.gen(function*() {
      const left = millis(yield* remaining)
      if (left > thresholdMs) {
        if (known !== "Yes") {
          const ok = yield* write("label", Duration.millis(left - thresholdMs))
          if (!ok) {
            const now = millis(yield* remaining)
            yield* Effect.sleep(Duration.millis(Math.max(0, Math.min(millis(timing.retryPeriod), now - thresholdMs))))
          }
          return
        }
        // Look again when `remaining` would reach the threshold; a renewal will have moved it.
        return yield* Effect.sleep(Duration.millis(left - thresholdMs))
      }
      if (known !== "No") {
        // Bounded by the deadline; once it has passed the guard stops this loop (its finalizer
        // tries once more).
        const bound = left > 0 ? Math.min(left, millis(timing.requestTimeout)) : millis(timing.requestTimeout)
        const ok = yield* write("unlabel", Duration.millis(bound))
        if (ok) return
      }
      yield* Effect.sleep(timing.recheck)
    })

    const removeAtEnd = Effect.suspend(() =>
      known === "No" ? Effect.void : Effect.asVoid(write("unlabel", timing.requestTimeout))
    )
    return Effect.forever(step).pipe(Effect.ensuring(removeAtEnd))
  })
