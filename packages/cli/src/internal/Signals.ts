/**
 * Taking process signals over for a while: for as long as a scope lasts, the signals named go to
 * one handler alone — the handlers installed before (the runtime's, which interrupt leasekit and
 * exit 130 on SIGINT and SIGTERM) are set aside, and put back, in their order, when the scope
 * closes. `run` passes signals on to CMD this way (`SignalForwarding.ts`), `status --watch` ends on
 * SIGINT and SIGTERM with exit 0.
 *
 * Guarantees: between the install and the scope's close, no earlier handler of these signals runs;
 * afterwards exactly those run again. Does not: queue a signal for later — one that arrives before
 * the install is handled by whatever handled it then.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * For the lifetime of the scope, `on(signal)` alone handles each of `signals`; the previous
 * handlers are put back when the scope closes.
 *
 * @since 0.2.0
 * @category signals
 */
export const intercept = (
  signals: ReadonlyArray<NodeJS.Signals>,
  on: (signal: NodeJS.Signals) => void
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.asVoid(Effect.acquireRelease(
    Effect.sync(() =>
      signals.map((sig) => {
        const previous = process.rawListeners(sig) as Array<(...args: Array<unknown>) => void>
        process.removeAllListeners(sig)
        const handler = () => on(sig)
        process.on(sig, handler)
        return { sig, previous, handler }
      })
    ),
    (installed) =>
      Effect.sync(() => {
        for (const { handler, previous, sig } of installed) {
          process.off(sig, handler)
          for (const listener of previous) process.on(sig, listener)
        }
      })
  ))
