/**
 * `run`'s callback as the core's guarded work: an effect that starts the callback when the guard
 * starts the work and succeeds once the callback's promise has settled. The core ends a tenure for
 * guarded work by interrupting it and writes only after that: on interruption `stop` tells the
 * callback to stop (aborts its signal) and the callback is waited for, at most `bound` — the time
 * the lease already gives guarded work to notice the end of a tenure — so that a callback ignoring
 * its signal cannot hold a release up for ever (that is logged; it still runs).
 *
 * A callback that itself releases (or closes) the instance it runs under is neither stopped nor
 * waited for: it waits for that release. The core cannot tell such a release from any other (it
 * reaches the core from a fiber of its own, not the guarded one), so the callback's async context
 * carries a marker, which `markCaller` sets.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { AsyncLocalStorage } from "node:async_hooks"

interface Marker {
  /** The instance whose `run` called the callback. */
  readonly owner: object
  /** The callback released or closed `owner`. */
  released: boolean
}

/** The markers of the callbacks the current async context is inside, innermost last. */
const callers = new AsyncLocalStorage<ReadonlyArray<Marker>>()

/** Marks the callbacks of `owner` that the current async context is inside: this is their release. */
export const markCaller = (owner: object): void => {
  for (const marker of callers.getStore() ?? []) if (marker.owner === owner) marker.released = true
}

export interface Callback<T> {
  /** The guarded work. */
  readonly work: Effect.Effect<void>
  /** The callback's promise, once the work started it. */
  readonly started: () => Promise<T> | undefined
  /** Whether the callback released (or closed) its instance itself. */
  readonly released: () => boolean
}

export const make = <T>(
  owner: object,
  start: () => Promise<T> | T,
  stop: Effect.Effect<void>,
  bound: Duration.Duration,
  label: string
): Callback<T> => {
  const marker: Marker = { owner, released: false }
  let running: Promise<T> | undefined
  const work = Effect.callback<void>((resume) => {
    running = new Promise<T>((resolve) => resolve(callers.run([...callers.getStore() ?? [], marker], start)))
    const settled = running.then(() => undefined, () => undefined)
    void settled.then(() => resume(Effect.void))
    return Effect.gen(function*() {
      if (marker.released) return
      yield* stop
      if (Option.isNone(yield* Effect.timeoutOption(Effect.promise(() => settled), bound))) {
        yield* Effect.logWarning(`${label} did not stop within ${Duration.format(bound)} (the renew deadline) of its signal ` +
          "aborting; no longer waiting for it (it still runs)")
      }
    })
  })
  return { work, started: () => running, released: () => marker.released }
}
