/**
 * The state of one contender process, shared by its command loop and its modes: who it is, how
 * it speaks, what its store calls measured, and the handoff in progress.
 *
 * One `State` lives as long as the process (`main.ts` makes it once); nothing here is kept at
 * module level. It guarantees that every event goes out as one line on stdout, in the order `emit`
 * was called, and is in the kernel's pipe buffer when `emit` returns — a contender that is SIGKILLed
 * right after emitting an event and acting on it has that event heard (the chaos journal's claim:
 * the last line of a killed contender is its last action). When the reader falls behind and the
 * pipe is full, `emit` waits, as the old journal's `appendFileSync` did; `process.stdout.write`
 * would instead queue the line in this process's memory, lost with it. It does not synchronise
 * anything else (the process has one JavaScript thread).
 *
 * @internal
 */
import type { Event } from "../../ContenderProtocol.ts"
import { encodeEvent } from "../../ContenderProtocol.ts"
import type * as InstrumentedStore from "./instrumentedStore.ts"
import type * as SemaphoreTrace from "./semaphoreTrace.ts"
import type * as Usage from "./usage.ts"
import * as Fs from "node:fs"

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

/** Writes `event` as one line to stdout, synchronously (see the module's comment). */
export const emitToStdout = (event: Event): void => {
  let data = Buffer.from(encodeEvent(event) + "\n")
  while (data.length > 0) {
    try {
      data = data.subarray(Fs.writeSync(1, data))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error
      // The reader is behind and the pipe is full: wait for it, as a blocking write would.
      Atomics.wait(pause, 0, 0, 1)
    }
  }
}

/** What `emitToStdout` sleeps on (1 ms at a time) while stdout is full. */
const pause = new Int32Array(new SharedArrayBuffer(4))
