/**
 * What this process has seen of each lease, and when: the basis of expiry.
 *
 * A contender never compares a holder's `renewTime` with its own wall clock (clocks of different
 * machines disagree). Instead it remembers, per lease, the state it last saw and the instant — on
 * its own monotonic clock — at which it first saw that state. The record is expired once it has
 * stayed in that state for the lease duration. This is client-go's rule; it is immune to clock
 * offsets and needs only clock *rates* to be close.
 *
 * The state is the record's *spec* (holder, duration, times, transitions, strategy, preferred
 * holder), not its version: a change of metadata alone — a label, a handoff request — does not
 * restart the observation, so writes that are not the holder's (`Lease.requestHandoff` asking
 * again and again, a label controller) cannot keep a dead holder's lease from expiring. Safe,
 * because every write of a holder changes the spec: an acquisition changes the holder or the
 * transitions counter, a release clears the holder, and every renewal writes a `renewTime`
 * greater than the one it replaces (`tenure.ts` makes it strictly increase even when the wall
 * clock does not; client-go writes the current time in microseconds). So a contender's
 * observation of a holder's last write starts no earlier than that write was sent — what the
 * tenure's watchdog counts from.
 *
 * The memory belongs to one `Lease` service (see `Lease.ts`): every contender, inspection and
 * observer made from that service shares it, so repeated single attempts accumulate observation
 * time, while separate services — separate processes in a simulation, separate tests — never
 * share it. Nothing here is module-level state.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LeaseKey, LeaseRecord } from "../LeaseRecord.ts"
import { formatKey } from "../LeaseRecord.ts"

/** The state last seen (see `fingerprint`) and the monotonic millisecond at which it was first seen. */
export interface Observation {
  readonly state: string
  readonly since: number
}

/** What an observation is keyed on: absence, or the object's incarnation (`uid`) and the spec of
 * the record (never its metadata). The uid keeps apart two incarnations whose specs are equal — a
 * lease deleted (release mode `delete`, tokens restart at 0) and created again by the same
 * identity at a wall-clock millisecond it had already written (a clock stepped back). */
export const fingerprint = (state: Option.Option<LeaseRecord>): string => {
  if (Option.isNone(state)) return "absent"
  const r = state.value
  return JSON.stringify([r.uid, r.holder, r.durationSeconds, r.acquireTime, r.renewTime, r.transitions, r.strategy, r.preferredHolder])
}

/** What one `Lease` service has observed, per lease. */
export type Memory = Map<string, Observation>

/** An empty memory, for a new `Lease` service. */
export const makeMemory = (): Memory => new Map()

/** Monotonic milliseconds from Effect's `Clock` (so `TestClock` drives it). */
export const monotonicMillis: Effect.Effect<number> = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos / 1_000_000n))

/** Records that `state` was seen now; keeps the earlier instant when its spec is unchanged. */
export const observe = (
  map: Memory,
  key: LeaseKey,
  state: Option.Option<LeaseRecord>
): Effect.Effect<Observation> =>
  Effect.map(monotonicMillis, (now) => {
    const id = formatKey(key)
    const seen = fingerprint(state)
    const previous = map.get(id)
    if (previous !== undefined && previous.state === seen) return previous
    const next = { state: seen, since: now }
    map.set(id, next)
    return next
  })
