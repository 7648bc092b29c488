/**
 * Asking a holder to hand its lease over (`Lease.requestHandoff`).
 *
 * A request is one compare-and-swap that adds the `handoff-request` annotation to a held record
 * and writes its spec back exactly as read: it changes nothing any contender judges (expiry is
 * observed on the spec alone, see `observations.ts`), and the holder — whose next renewal then
 * conflicts and reads the record back — decides what to do with it (see `tenure.ts`).
 *
 * Guarantees: nothing is written for a free, absent or coordinated lease, for one the requested
 * contender holds already, nor when the same request is already there — so repeating a request
 * writes it at most once per holder tenure (the successor's acquisition removes it). Does not
 * guarantee: that the holder honours it (it may refuse, be dead, or drop a request it has seen for
 * longer than its duration).
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { HandoffRequestResult } from "../Lease.ts"
import type { LeaseKey } from "../LeaseRecord.ts"
import { Annotations, handoffRequest, isHeld, specOf } from "../LeaseRecord.ts"
import type { LeaseStoreError, LeaseStoreService } from "../LeaseStore.ts"
import { strategyOf } from "./attempt.ts"

/** How many lost races in a row a request accepts before failing with the `Conflict`. */
const maxRaces = 3

/** Asks the holder of `key` to hand the lease to `to`; `store` is bounded by the caller. */
export const request = (
  store: LeaseStoreService,
  key: LeaseKey,
  to: string
): Effect.Effect<HandoffRequestResult, LeaseStoreError> =>
  Effect.gen(function*() {
    for (let races = 1;; races++) {
      const state = yield* store.get(key)
      if (Option.isNone(state)) return { _tag: "Free", record: state } as const
      const record = state.value
      const strategy = strategyOf(record)
      if (strategy !== undefined) return { _tag: "Coordinated", strategy } as const
      if (!isHeld(record)) return { _tag: "Free", record: state } as const
      const holder = record.holder!
      if (holder === to) return { _tag: "HeldBy", holder } as const
      const existing = handoffRequest(record)
      if (Option.isSome(existing) && existing.value === to) return { _tag: "Requested", holder, record } as const
      const written = yield* store.update(record, specOf(record), {
        ...record.metadata,
        annotations: { ...record.metadata.annotations, [Annotations.handoffRequest]: to }
      }).pipe(
        Effect.map(Option.some),
        Effect.catchIf((e) => (e.reason === "Conflict" || e.reason === "NotFound") && races < maxRaces, () =>
          Effect.succeed(Option.none()))
      )
      if (Option.isSome(written)) {
        yield* Effect.logInfo(`asked ${JSON.stringify(holder)} to hand the lease over to ${JSON.stringify(to)}`)
        return { _tag: "Requested", holder, record: written.value } as const
      }
    }
  })
