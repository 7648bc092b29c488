/**
 * What this process has seen of each lease, and when: the basis of expiry.
 *
 * A contender never compares a holder's `renewTime` with its own wall clock (clocks of different
 * machines disagree). Instead it remembers, per lease, the version it last saw and the instant —
 * on its own monotonic clock — at which it first saw that version. The record is expired once it
 * has stayed at that version for the lease duration. This is client-go's rule; it is immune to
 * clock offsets and needs only clock *rates* to be close.
 *
 * The memory is kept per store instance (one Kubernetes client, one in-memory store), so that
 * repeated single attempts from one process accumulate observation time, while separate stores —
 * separate tests — never share it.
 */
import { Clock, Effect, Option } from "effect"
import type { LeaseKey, LeaseRecord } from "../LeaseRecord.ts"
import { formatKey } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"

/** The version last seen and the monotonic millisecond at which it was first seen. */
export interface Observation {
  readonly version: string | undefined
  readonly since: number
}

const memory = new WeakMap<LeaseStoreService, Map<string, Observation>>()

/** What this process has observed through `store` (the raw store, not a per-call wrapper). */
export type Memory = Map<string, Observation>

export const memoryOf = (store: LeaseStoreService): Memory => {
  let map = memory.get(store)
  if (map === undefined) {
    map = new Map()
    memory.set(store, map)
  }
  return map
}

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
