/**
 * Observing a lease without contending: who holds it, and when this observer judges it expired.
 *
 * The observer reads the lease, then follows it through the store's watch (polling every
 * `retryPeriod` where watching is not allowed), judging every state exactly as a contender with
 * the same options would (`attempt.ts`'s `judge`, on the `Lease` service's memory). It emits an
 * inspection when the record changes (a new version), and when the holder's record expires as
 * this observer judges it — at the instant it computed, not on the next event.
 *
 * Staleness bound: a report lags the store by at most `renewInterval + requestTimeout` while the
 * watch is live (a state from the watch is trusted for at most `renewInterval` after the last read,
 * then read afresh, and a read takes at most `requestTimeout`), and by at most
 * `retryPeriod + requestTimeout` while polling. Within that bound, a holder it reports did hold
 * the lease (its write had landed) — but it may already have released it or lost it to its
 * deadline since.
 *
 * A watch can lag behind a read (an overloaded server delivers events late, in order): after a
 * read, states from the watch are not used until the watch has delivered the state that was read
 * (it caught up) — the backlog before it is older than what was read. Until then the observer
 * relies on its reads, so the bound above still holds.
 *
 * Does not guarantee: that every intermediate state is reported (a watch delivers the newest;
 * states in between can be skipped), nor that a holder it reports still holds the lease now.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { LeaseInspection } from "../Lease.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import type { LeaseStoreError, LeaseStoreService } from "../LeaseStore.ts"
import { isTransient } from "../LeaseStore.ts"
import { inspection, judge } from "./attempt.ts"
import type { Memory } from "./observations.ts"
import { monotonicMillis } from "./observations.ts"
import { nextWakeup, startableWatch, type Wakeup } from "./waiting.ts"

/** A state's version, for comparing what the watch delivered with what was read. */
const versionOf = (state: Option.Option<LeaseRecord>): string =>
  Option.match(state, { onNone: () => "absent", onSome: (record) => `v${record.version ?? ""}` })

/** What identifies a report: a new version, or the same version judged expired (or, free and
 * reserved for a handoff's successor, its window passed). */
const identity = (report: LeaseInspection): string =>
  `${Option.match(report.record, { onNone: () => "absent", onSome: (r) => r.version })}|${
    Duration.isZero(report.expiresIn) ? "expired" : "live"
  }|${Option.match(report.pendingHandoff, { onNone: () => "", onSome: (p) => Duration.isZero(p.remaining) ? "open" : "reserved" })}`

/** Observes one lease (see the module header). `store` is the request-bounded view. */
export const observe = (
  store: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions
): Stream.Stream<LeaseInspection, LeaseStoreError> =>
  Stream.callback<LeaseInspection, LeaseStoreError>((out) =>
    Effect.gen(function*() {
      const wakeups = yield* Queue.sliding<Wakeup>(1)
      const watch = yield* startableWatch(store, memory, options, wakeups)
      const renewIntervalMillis = Duration.toMillis(options.renewInterval)
      // Transient failures are retried; a refusal (forbidden, missing namespace) ends the stream.
      const read = store.get(options.key).pipe(
        Effect.retry({ schedule: Schedule.spaced(options.retryPeriod), while: isTransient })
      )
      let state: Option.Option<LeaseRecord> = yield* read
      let lastRead = yield* monotonicMillis
      /** The version of the last state the watch delivered. */
      let lastWatched: string | undefined = undefined
      /** The version of a read the watch has not delivered yet: until it does, the watch lags
       * behind the read (a backlog), and its states may be older than what was read. */
      let behind: string | undefined = versionOf(state)
      let live = yield* watch.start
      let reported: string | undefined = undefined
      while (true) {
        const judgement = yield* judge(memory, options, state)
        const report = inspection(options, state, judgement)
        const id = identity(report)
        if (id !== reported) {
          reported = id
          yield* Queue.offer(out, report)
        }
        // A state is trusted for renewInterval after the last read with a live watch, retryPeriod polling.
        const trusted = lastRead + (live ? renewIntervalMillis : Duration.toMillis(options.retryPeriod))
        const untilRead = Math.max(0, trusted - (yield* monotonicMillis))
        const maxWait = judgement._tag === "Held"
          ? Math.min(Duration.toMillis(judgement.expiresIn), untilRead)
          : untilRead
        const wakeup = yield* nextWakeup(wakeups, Duration.millis(maxWait))
        if (wakeup._tag === "Changed") {
          lastWatched = versionOf(wakeup.state)
          if (behind === undefined) state = wakeup.state
          else if (lastWatched === behind) behind = undefined
          continue
        }
        if (wakeup._tag === "WatchLost") live = false
        // The expiry instant passed (judge again, same state), or the trust window ended: read.
        if (wakeup._tag === "WatchLost" || (yield* monotonicMillis) >= trusted) {
          lastRead = yield* monotonicMillis
          state = yield* read
          // An absent object has no version: an absence the watch delivered earlier may be an
          // earlier one (deleted, created, deleted again), so a read of an absent object always
          // waits for the watch to deliver an absence after it.
          behind = Option.isSome(state) && versionOf(state) === lastWatched ? undefined : versionOf(state)
        }
      }
    })
  )
