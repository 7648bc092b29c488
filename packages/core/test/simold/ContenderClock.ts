/**
 * A contender's own clock, derived from the shared `TestClock`: rate drift, a wall-clock offset,
 * and process pauses.
 *
 * - Rate: the contender's clocks run at rate `r` (|r − 1| ≤ δ): its monotonic and wall time
 *   advance `r` milliseconds per true millisecond, and `sleep(d)` ends after `d / r` true
 *   milliseconds.
 * - Offset: its wall clock (`currentTimeMillis`) is shifted by a constant, as machines' clocks
 *   are; the algorithm must not care (it judges expiry on its own monotonic clock).
 * - Pause (a GC pause, SIGSTOP): while the contender's `Gate` is closed, no sleep of its fibers
 *   completes and no store answer reaches it (the fault store waits on the same gate). Time runs
 *   on; when the gate opens, everything that came due wakes at once.
 *
 * Provided with `Effect.provideService(Clock.Clock, clock)` around the contender's whole program;
 * forked fibers inherit it, so core's `Effect.sleep`, `timeoutOrElse`, `Schedule.spaced` and
 * `Clock.monotonicTimeNanos` all run on it.
 *
 * Guarantees: with the gate open, everything stays on the `TestClock`'s timeline, so a run is
 * deterministic. Does not guarantee: that a fiber already running when the gate closes stops —
 * a pause takes effect at the next sleep or store answer, as a real pause takes effect at the
 * next instruction (the difference is invisible in virtual time).
 */
import { Clock, Duration, Effect, Latch } from "effect"

/** The pause switch of one contender. */
export interface Gate {
  readonly isOpen: () => boolean
  readonly close: () => void
  readonly open: () => void
  /** Completes at once when open, else when next opened. */
  readonly pass: Effect.Effect<void>
}

export const makeGate = (): Gate => {
  const latch = Latch.makeUnsafe(true)
  let open = true
  const passClosed = latch.await
  return {
    isOpen: () => open,
    close: () => {
      open = false
      latch.closeUnsafe()
    },
    open: () => {
      open = true
      latch.openUnsafe()
    },
    pass: Effect.suspend(() => (open ? Effect.void : passClosed))
  }
}

export interface ContenderClockOptions {
  readonly rate: number
  readonly wallOffsetMillis: number
  readonly gate: Gate
}

export const make = (base: Clock.Clock, options: ContenderClockOptions): Clock.Clock => {
  const { gate, rate, wallOffsetMillis } = options
  const millis = () => wallOffsetMillis + base.currentTimeMillisUnsafe() * rate
  const nanos = () => BigInt(Math.round(millis() * 1_000_000))
  const monotonic = () => BigInt(Math.round(Number(base.monotonicTimeNanosUnsafe()) * rate))
  return {
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: monotonic,
    monotonicTimeNanos: Effect.sync(monotonic),
    sleep: (duration) => {
      const ms = Duration.toMillis(duration)
      return Effect.andThen(base.sleep(Duration.millis(Number.isFinite(ms) ? ms / rate : ms)), gate.pass)
    }
  }
}
