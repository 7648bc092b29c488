/**
 * `semaphore` mode's trace: this process's own successful writes to its semaphore, as the API
 * server answered them — which tie each acquisition to its queue entry exactly, and order them by
 * the server, not by client clocks.
 *
 * `appended`: each ticket of this holder the first time a head write of this process carried it
 * (the enqueue), with that write's resourceVersion. `granted`: per `permit:token` (the token is
 * the permit's transitions counter), the resourceVersion of the first write that gave this holder
 * that tenure (the acquisition). A head write that removed another waiter's entry is reported at
 * once as a `removed` event. Writes whose answer was lost are not seen (the trace then lacks them).
 *
 * @internal
 */
import { type LeaseRecord, LeaseSemaphore } from "@leasekit/core"
import type { Event } from "../../ContenderProtocol.ts"

export interface Trace {
  /** The semaphore traced (`undefined`: none, no write is traced). */
  name: string | undefined
  appended: Array<{ readonly ticket: string; readonly version: string }>
  readonly granted: Map<string, string>
}

export const make = (): Trace => ({ name: undefined, appended: [], granted: new Map() })

/** Starts tracing the semaphore `name`, forgetting what was traced before. */
export const reset = (trace: Trace, name: string): void => {
  trace.name = name
  trace.appended = []
  trace.granted.clear()
}

const queueOf = (record: LeaseRecord.LeaseRecord | undefined): Array<{ readonly h?: unknown; readonly w?: unknown }> => {
  try {
    const queue: unknown = JSON.parse(record?.metadata.annotations?.[LeaseSemaphore.Annotations.queue] ?? "[]")
    return Array.isArray(queue) ? queue : []
  } catch {
    return []
  }
}

/** Records one successful write of `holder`; `base`: the record the write was made from (an
 * update's compare-and-swap base). */
export const write = (
  trace: Trace,
  holder: string,
  emit: (event: Event) => void,
  written: LeaseRecord.LeaseRecord,
  base?: LeaseRecord.LeaseRecord
): void => {
  const name = trace.name
  if (name === undefined || !written.key.name.startsWith(name)) return
  if (written.key.name === name) {
    // An enqueue: a ticket of this holder that the write added (absent from its base) — the
    // first append, or a re-append at the end after someone removed the entry.
    const before = queueOf(base)
    const after = queueOf(written)
    const had = new Set(before.map((e) => e.w))
    for (const entry of after) {
      if (entry.h === holder && typeof entry.w === "string" && !had.has(entry.w)) {
        trace.appended.push({ ticket: entry.w, version: written.version })
      }
    }
    // Another waiter's entry this write removed (pruned as judged dead): when it left the queue.
    const has = new Set(after.map((e) => e.w))
    for (const entry of before) {
      if (entry.h !== holder && typeof entry.w === "string" && !has.has(entry.w)) {
        emit({ ev: "removed", ticket: entry.w, version: written.version })
      }
    }
    return
  }
  const index = /^-(\d+)$/.exec(written.key.name.slice(name.length))
  if (index === null || written.holder !== holder) return
  const id = `${index[1]}:${written.transitions ?? 0}`
  if (!trace.granted.has(id)) trace.granted.set(id, written.version)
}
