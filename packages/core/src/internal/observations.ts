/**
 * What this process has seen of each lease, and when: the basis of expiry.
 *
 * A contender never compares a holder's `renewTime` with its own wall clock (clocks of different
 * machines disagree). Instead it remembers, per lease, the version it last saw and the instant —
 * on its own monotonic clock — at which it first saw that version. The record is expired once it
 * has stayed at that version for the lease duration. This is client-go's rule; it is immune to
 * clock offsets and needs only clock *rates* to be close.
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

/** The version last seen and the monotonic millisecond at which it was first seen. */
export interface Observation {
  readonly version: string | undefined
  readonly since: number
}

/** What one `Lease` service has observed, per lease. */
export type Memory = Map<string, Observation>

/** An empty memory, for a new `Lease` service. */
export const makeMemory = (): Memory => new Map()

/** Monotonic milliseconds from Effect's `Clock` (so `TestClock` drives it). */
export const monotonicMillis: Effect.Effect<number> = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos / 1_000_000n))

/** Records that `state` was seen now; keeps the earlier instant when the version is unchanged. */
export const observe = (
  map: Memory,
  key: LeaseKey,
  state: Option.Option<LeaseRecord>
): Effect.Effect<Observation> =>
  Effect.map(monotonicMillis, (now) => {
    const id = formatKey(key)
    const version = Option.isSome(state) ? state.value.version : undefined
    const previous = map.get(id)
    if (previous !== undefined && previous.version === version) return previous
    const next = { version, since: now }
    map.set(id, next)
    return next
  })
