/**
 * `run`'s callback as the core's guarded work: an effect that starts the callback when the guard
 * starts the work and succeeds once the callback's promise has settled. The core ends a tenure for
 * guarded work by interrupting it and writes only after that: on interruption `stop` tells the
 * callback to stop (it answers whether to wait for it), and the callback is waited for, at most
 * `bound` — the time the lease already gives guarded work to notice the end of a tenure — so that a
 * callback ignoring its signal cannot hold a release up for ever (that is logged; it still runs).
 */
import { Duration, Effect, Option } from "effect"

export interface Callback<T> {
  /** The guarded work. */
  readonly work: Effect.Effect<void>
  /** The callback's promise, once the work started it. */
  readonly started: () => Promise<T> | undefined
}

export const make = <T>(
  start: () => Promise<T> | T,
  stop: Effect.Effect<boolean>,
  bound: Duration.Duration,
  label: string
): Callback<T> => {
  let running: Promise<T> | undefined
  const work = Effect.callback<void>((resume) => {
    running = new Promise<T>((resolve) => resolve(start()))
    const settled = running.then(() => undefined, () => undefined)
    void settled.then(() => resume(Effect.void))
    return Effect.gen(function*() {
      if (!(yield* stop)) return
      if (Option.isNone(yield* Effect.timeoutOption(Effect.promise(() => settled), bound))) {
        yield* Effect.logWarning(`${label} did not stop within ${Duration.format(bound)} (the renew deadline) of its signal ` +
          "aborting; no longer waiting for it (it still runs)")
      }
    })
  })
  return { work, started: () => running }
}
