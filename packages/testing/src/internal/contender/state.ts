/**
 * The state of one contender process, shared by its command loop and its modes: who it is, how
 * it speaks, what its store calls measured, and the handoff in progress.
 *
 * One `State` lives as long as the process (`main.ts` makes it once); nothing here is kept at
 * module level. It guarantees only that every event goes out as one line on stdout, in the order
 * `emit` was called; it does not synchronise anything (the process has one JavaScript thread).
 *
 * @internal
 */
import type { Event } from "../../ContenderProtocol.ts"
import { encodeEvent } from "../../ContenderProtocol.ts"
import type * as InstrumentedStore from "./instrumentedStore.ts"
import type * as SemaphoreTrace from "./semaphoreTrace.ts"
import type * as Usage from "./usage.ts"

export interface State {
  /** This process's holder identity (the same for every lease it takes). */
  readonly holder: string
  /** Writes one event line to stdout. */
  readonly emit: (event: Event) => void
  /** Store calls counted and renewals timed (`instrumentedStore.ts`). */
  readonly store: InstrumentedStore.Stats
  /** `semaphore` mode: this process's writes to its semaphore (`semaphoreTrace.ts`). */
  readonly semaphoreTrace: SemaphoreTrace.Trace
  /** CPU, memory, GC and event-loop samplers (`usage.ts`). */
  readonly usage: Usage.Usage
  /** The contender a `handoff` command hands the lease to: set just before the mode is stopped. */
  handoffTo: string | undefined
  /** `loop` mode: a self-pause armed by the `pause` command (consumed by the loop). */
  selfPause: boolean
}

/** Writes `event` as one line to stdout. */
export const emitToStdout = (event: Event): void => {
  process.stdout.write(encodeEvent(event) + "\n")
}
