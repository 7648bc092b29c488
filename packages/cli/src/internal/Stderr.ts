/**
 * leasekit's own lines on stderr, written so that stderr can never stop leasekit.
 *
 * Node writes to a pipe on stderr synchronously: when the reader stalls (a full pipe: a log
 * collector that stopped reading), `process.stderr.write` blocks the whole event loop — renewals,
 * the loss timer, the SIGKILL after the grace — and a closed pipe (EPIPE) crashes the process.
 * For a lock holder either is a safety problem: the command would not be stopped in time. So the
 * lines leasekit prints while it holds a lease (progress, warnings, "stopping the command") go
 * through here: a queue drained by asynchronous writes (libuv's thread pool), one write in flight
 * at a time — a stalled stderr blocks one pool thread, never the event loop or the DNS lookups
 * that share the pool — and at most `capacity` lines waiting; more are dropped, and the number
 * dropped is said once stderr drains. Write errors (EPIPE) are ignored.
 *
 * Guarantees: `line` never blocks and never throws. Does not: deliver every line (a stalled or
 * closed stderr loses them), or order them with writes made elsewhere (`flush` before a final,
 * synchronous message keeps the order when stderr is not stalled).
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"

/** Lines that may wait for stderr before further ones are dropped. */
const capacity = 64

const queue: Array<string> = []
let inFlight = false
let dropped = 0

const drain = (): void => {
  if (inFlight) return
  if (dropped > 0 && queue.length < capacity) {
    queue.push(`leasekit: (${dropped} line${dropped === 1 ? "" : "s"} not shown: stderr was not being read)\n`)
    dropped = 0
  }
  const next = queue.shift()
  if (next === undefined) return
  inFlight = true
  Fs.write(2, next, () => {
    inFlight = false
    drain()
  })
}

/**
 * Queues `text` (a whole line, with its newline) for stderr.
 *
 * @since 0.1.0
 * @category writing
 */
export const line = (text: string): void => {
  if (queue.length >= capacity) {
    dropped++
    return
  }
  queue.push(text)
  drain()
}

/**
 * Writes what is queued now, synchronously — unless a write is in flight (stderr stalled or slow),
 * then nothing: a final message must not wait for a reader that may never come.
 *
 * @since 0.1.0
 * @category writing
 */
export const flush = (): void => {
  if (inFlight) return
  const text = queue.splice(0).join("")
  if (text === "") return
  try {
    Fs.writeSync(2, text)
  } catch {
    // stderr closed or not writable now: the lines are lost, as `line` promises nothing more
  }
}
