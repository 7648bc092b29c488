/**
 * A semaphore's state as `LeaseSemaphore.inspect` and `observe` report it: made from a judged view
 * (`stateOf`), and what identifies a report (`identity`: the state without its countdowns, so that
 * `observe` reports a change, not the passing of time).
 *
 * Guarantees: an absent semaphore is `permits: 0` with no holders and no waiters; a waiter that is
 * not live reports `expiresIn` zero.
 * Does not: read or judge anything (`semaphore.ts` does).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type { LeaseKey } from "../LeaseRecord.ts"
import type { SemaphoreState } from "../LeaseSemaphore.ts"
import * as Layout from "./semaphore.ts"

/** The state of the semaphore `key` from its judged view (none: it does not exist). */
export const stateOf = (key: LeaseKey, view: Option.Option<Layout.View>): SemaphoreState =>
  Option.match(view, {
    onNone: () => ({ key, permits: 0, holders: [], waiting: [] }),
    onSome: (v) => ({
      key,
      permits: v.head.permits,
      holders: Layout.holdersOf(v),
      waiting: v.entries.map((e) => ({
        holder: e.entry.h,
        ticket: e.entry.w,
        position: e.position,
        expiresIn: e.live ? e.expiresIn : Duration.zero,
        live: e.live
      }))
    })
  })

/** What identifies a report: the state without its countdowns. */
export const identity = (state: SemaphoreState): string =>
  JSON.stringify([
    state.permits,
    state.holders.map((h) => [h.permit, h.holder, h.token, h.withdrawn]),
    state.waiting.map((w) => [w.ticket, w.live])
  ])
