/**
 * One contender's view of a lease: judging a record, and one attempt to take it.
 *
 * A record is free when it is absent, names no holder, names us, or has expired — expiry judged
 * only by this contender's own observation (see `observations.ts`), optionally also by
 * `renewTime` when `maxClockSkew` is set. Taking is a single write: `create` for an absent
 * lease, a compare-and-swap `update` otherwise; every taking write increments the transitions
 * counter (the fencing token), also when the record already names us. A lost race is reported as such (the caller
 * re-reads; it never assumes), and a write with an unknown outcome is resolved by reading back.
 *
 * Handoffs: a *free* record carrying `leasekit.io/handoff-to: X` is reserved for X — every other
 * contender judges it `Held` by X until it has observed the record (its spec, see
 * `observations.ts`) for the handoff window, on its own clock, as it judges expiry; X judges it free
 * at once. The window is read defensively: missing or garbage → this contender's `handoffWindow`;
 * capped at `maxHonouredDuration`. The reservation only withholds writes, so it cannot break
 * exclusion; it delays the lease by at most the window when the successor never comes. Every
 * acquiring write removes the handoff annotations (and a pending request), applies
 * `options.labels`, and carries `spec.strategy`/`spec.preferredHolder` as read: leasekit never
 * sets or clears either (the API server allows `preferredHolder` only with `strategy`).
 *
 * Coordinated leases: a record with `spec.strategy` is managed by the API server's coordinator;
 * it is judged `Coordinated` and never written (the attempt answers `Coordinated`, the caller
 * fails with that reason), so leasekit never clears `strategy` or `preferredHolder` there.
 *
 * Semaphores: a record that is part of a semaphore (its head, a permit, a waiter's ticket: see
 * `semaphoreParts.ts`) is never written by a plain contender — the attempt answers `Semaphore`,
 * the caller fails with that reason — and a semaphore's own contender writes only the part its
 * internal flag names.
 *
 * Hostile records (hand-written by an admin) are judged defensively: a missing, zero, negative or
 * fractional `leaseDurationSeconds` is replaced by this contender's own duration; one above
 * `maxHonouredDuration` is capped there, so nothing pins a lease forever; a negative or missing
 * `leaseTransitions` counts as 0, and one at the int32 maximum wraps to 0 on the next change of
 * holder (the API would refuse anything larger).
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LeaseInspection } from "../Lease.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseMetadata, LeaseRecord, LeaseSpec, PendingHandoff } from "../LeaseRecord.ts"
import { handoffRequest, isHeld, pendingHandoff, withoutHandoffAnnotations } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"
import { isTransient, LeaseStoreError } from "../LeaseStore.ts"
import type { Memory } from "./observations.ts"
import { monotonicMillis, observe } from "./observations.ts"
import * as Parts from "./semaphoreParts.ts"

/** How this contender judges the lease right now. A free record reserved for another contender
 * by a handoff is `Held` by that successor (`reserved`) until the window has passed. */
export type Judgement =
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Free"; readonly record: LeaseRecord }
  | { readonly _tag: "Ours"; readonly record: LeaseRecord }
  | { readonly _tag: "Expired"; readonly record: LeaseRecord }
  | {
    readonly _tag: "Held"
    readonly record: LeaseRecord
    readonly holder: string
    readonly expiresIn: Duration.Duration
    readonly reserved: boolean
  }
  | { readonly _tag: "Coordinated"; readonly record: LeaseRecord; readonly strategy: string }

/** The outcome of one attempt. */
export type Attempt =
  | { readonly _tag: "Acquired"; readonly record: LeaseRecord; readonly sentAt: number; readonly sentWall: number }
  | { readonly _tag: "Busy"; readonly record: LeaseRecord; readonly holder: string; readonly expiresIn: Duration.Duration }
  | { readonly _tag: "Raced" }
  | { readonly _tag: "Coordinated"; readonly record: LeaseRecord; readonly strategy: string }
  | { readonly _tag: "Semaphore"; readonly part: Parts.Part }

/** The record's `spec.strategy`, when it has one: the API server coordinates the lease. */
export const strategyOf = (record: LeaseSpec): string | undefined =>
  typeof record.strategy === "string" && record.strategy !== "" ? record.strategy : undefined

/** The reservation window this contender honours for a pending handoff, in milliseconds: the
 * declared one capped at `maxHonouredDuration`, or this contender's `handoffWindow`. */
export const handoffWindowMillis = (pending: PendingHandoff, options: ResolvedLeaseOptions): number =>
  pending.windowSeconds === undefined
    ? Duration.toMillis(options.handoffWindow)
    : Math.min(pending.windowSeconds * 1000, Duration.toMillis(options.maxHonouredDuration))

/** The duration this contender honours for someone else's record, in milliseconds. */
export const honouredDurationMillis = (record: LeaseSpec, options: ResolvedLeaseOptions): number => {
  const seconds = record.durationSeconds
  if (seconds === undefined || !Number.isInteger(seconds) || seconds <= 0) return Duration.toMillis(options.duration)
  return Math.min(seconds * 1000, Duration.toMillis(options.maxHonouredDuration))
}

/** The largest `leaseTransitions` the API accepts (an int32). */
const maxTransitions = 2_147_483_647

/** The counter after a change of holder; wraps to 0 at the int32 maximum rather than write a value
 * the API refuses (which would pin the lease). Fencing tokens restart then, as after a deletion. */
export const nextTransitions = (record: LeaseSpec): number => {
  const current = transitionsOf(record)
  return current >= maxTransitions ? 0 : current + 1
}

/** A record's transitions counter, read defensively. */
export const transitionsOf = (record: LeaseSpec): number =>
  record.transitions !== undefined && Number.isInteger(record.transitions) && record.transitions > 0
    ? record.transitions
    : 0

/** What a judgement tells an inspector or an observer (see `Lease.inspect`). */
export const inspection = (
  options: ResolvedLeaseOptions,
  state: Option.Option<LeaseRecord>,
  judgement: Judgement
): LeaseInspection => ({
  key: options.key,
  record: state,
  holder: Option.flatMap(state, (r) => isHeld(r) ? Option.some(r.holder!) : Option.none()),
  token: Option.map(state, transitionsOf),
  expiresIn: judgement._tag === "Held" && !judgement.reserved ? judgement.expiresIn : Duration.zero,
  honouredDuration: Option.match(state, {
    onNone: () => options.duration,
    onSome: (r) => Duration.millis(honouredDurationMillis(r, options))
  }),
  pendingHandoff: Option.map(Option.flatMap(state, pendingHandoff), (pending) => ({
    to: pending.to,
    remaining: judgement._tag === "Held" && judgement.reserved ? judgement.expiresIn : Duration.zero
  })),
  handoffRequest: Option.flatMap(state, handoffRequest),
  strategy: Option.flatMap(state, (r) => Option.fromUndefinedOr(strategyOf(r)))
})

/** Observes `state` now and judges it. */
export const judge = (
  memory: Memory,
  options: ResolvedLeaseOptions,
  state: Option.Option<LeaseRecord>
): Effect.Effect<Judgement> =>
  Effect.gen(function*() {
    const seen = yield* observe(memory, options.key, state)
    if (Option.isNone(state)) return { _tag: "Absent" } as const
    const record = state.value
    const strategy = strategyOf(record)
    if (strategy !== undefined) return { _tag: "Coordinated", record, strategy } as const
    if (!isHeld(record)) {
      // A handoff reserves the freed lease for its successor: anyone else leaves it alone until it
      // has observed the record free for the window (on its own clock, as with expiry).
      const pending = pendingHandoff(record)
      if (Option.isSome(pending) && pending.value.to !== options.holder) {
        const remaining = seen.since + handoffWindowMillis(pending.value, options) - (yield* monotonicMillis)
        if (remaining > 0) {
          return { _tag: "Held", record, holder: pending.value.to, expiresIn: Duration.millis(remaining), reserved: true } as const
        }
      }
      return { _tag: "Free", record } as const
    }
    if (record.holder === options.holder) return { _tag: "Ours", record } as const
    const duration = honouredDurationMillis(record, options)
    const expiresIn = seen.since + duration - (yield* monotonicMillis)
    if (expiresIn <= 0 || (yield* expiredByRenewTime(record, duration, options))) {
      return { _tag: "Expired", record } as const
    }
    return { _tag: "Held", record, holder: record.holder!, expiresIn: Duration.millis(expiresIn), reserved: false } as const
  })

const expiredByRenewTime = (record: LeaseRecord, durationMillis: number, options: ResolvedLeaseOptions) =>
  Option.match(options.maxClockSkew, {
    onNone: () => Effect.succeed(false),
    onSome: (skew) =>
      record.renewTime === undefined
        ? Effect.succeed(false)
        : Effect.map(
          Clock.currentTimeMillis,
          (now) => record.renewTime! + durationMillis + Duration.toMillis(skew) < now
        )
  })

/** The spec a holder writes when it takes or renews the lease. */
export const holdingSpec = (
  options: ResolvedLeaseOptions,
  now: number,
  acquireTime: number,
  transitions: number
): LeaseSpec => ({
  holder: options.holder,
  durationSeconds: options.durationSeconds,
  acquireTime,
  renewTime: now,
  transitions
})

/** The coordinated-leader-election fields of `record`, carried as read into a write made from it. */
export const carried = (record: LeaseSpec): Pick<LeaseSpec, "strategy" | "preferredHolder"> => ({
  ...(record.strategy === undefined ? {} : { strategy: record.strategy }),
  ...(record.preferredHolder === undefined ? {} : { preferredHolder: record.preferredHolder })
})

/** The spec of an acquisition from `record`: the holding spec, with `strategy` and
 * `preferredHolder` as read (leasekit never sets or clears either). */
export const acquiringSpec = (
  options: ResolvedLeaseOptions,
  record: LeaseRecord | undefined,
  now: number,
  transitions: number
): LeaseSpec => {
  const spec = holdingSpec(options, now, now, transitions)
  if (record === undefined) return spec
  return { ...spec, ...carried(record) }
}

/** The metadata of an acquisition from `record` (absent: a create): the handoff annotations
 * removed, `options.labels` applied over the labels as read. */
export const acquiringMetadata = (options: ResolvedLeaseOptions, record: LeaseRecord | undefined): LeaseMetadata => {
  const current = record?.metadata ?? {}
  const flagged = Parts.flagAnnotations(options)
  const kept = withoutHandoffAnnotations(current.annotations)
  const annotations = Object.keys(flagged).length === 0 ? kept : { ...kept, ...flagged }
  const labels = Object.keys(options.labels).length === 0 ? current.labels : { ...current.labels, ...options.labels }
  return {
    ...(labels === undefined ? {} : { labels }),
    ...(annotations === undefined ? {} : { annotations })
  }
}

/**
 * One attempt: read (unless the state is already known, e.g. from a watch), judge, and write if
 * the lease is free. Fails only with store errors the caller must handle (transient ones after a
 * read-back could not confirm the write).
 */
export const attempt = (
  store: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions,
  known: Option.Option<Option.Option<LeaseRecord>>
): Effect.Effect<Attempt, LeaseStoreError> =>
  Effect.gen(function*() {
    const state = Option.isSome(known) ? known.value : yield* store.get(options.key)
    const judgement = yield* judge(memory, options, state)
    // A semaphore's part is never taken by a plain contender, nor by another semaphore's.
    const refused = Option.isSome(state) ? Parts.refusal(options, state.value) : undefined
    if (refused !== undefined) return { _tag: "Semaphore", part: refused } as const
    if (Option.isNone(state) && Parts.flagOf(options) === undefined) {
      // An absent permit or ticket of an existing semaphore (created on first use): not created here.
      const candidate = Parts.semaphoreOfName(options.key.name)
      if (candidate !== undefined) {
        const head = yield* store.get({ namespace: options.key.namespace, name: candidate.semaphore })
        if (Option.isSome(head) && Parts.partOf(head.value)?.part === "head") return { _tag: "Semaphore", part: candidate } as const
      }
    }
    if (judgement._tag === "Held") {
      return { _tag: "Busy", record: judgement.record, holder: judgement.holder, expiresIn: judgement.expiresIn } as const
    }
    // The API server's coordinator picks this lease's holder: never write it.
    if (judgement._tag === "Coordinated") return judgement
    const sentAt = yield* monotonicMillis
    const sentWall = yield* Clock.currentTimeMillis
    // Every acquisition starts a new tenure with a greater token, also when the record already
    // names us (a lease we lost to the deadline, or one a previous process of ours held): late
    // writes of an earlier tenure must be distinguishable from this one's.
    // The write also ends any handoff (its annotations are removed) and applies `options.labels`.
    const write = judgement._tag === "Absent"
      ? store.create(options.key, acquiringSpec(options, undefined, sentWall, 0), acquiringMetadata(options, undefined))
      : store.update(
        judgement.record,
        acquiringSpec(options, judgement.record, sentWall, nextTransitions(judgement.record)),
        acquiringMetadata(options, judgement.record)
      )
    const writtenFrom = judgement._tag === "Absent" ? undefined : judgement.record.version
    // A create answered NotFound means the namespace does not exist: not a race, an error to
    // report at once. An update answered NotFound means the object was deleted meanwhile: a race.
    const isRace = (error: LeaseStoreError) =>
      judgement._tag === "Absent"
        ? error.reason === "AlreadyExists"
        : error.reason === "Conflict" || error.reason === "NotFound"
    return yield* write.pipe(
      Effect.map((record): Attempt => ({ _tag: "Acquired", record, sentAt, sentWall })),
      Effect.catchIf(isRace, () => Effect.succeed<Attempt>({ _tag: "Raced" })),
      Effect.catchIf(isTransient, (error) =>
        readBack(store, options, writtenFrom, sentWall, error).pipe(
          Effect.map((record): Attempt => ({ _tag: "Acquired", record, sentAt, sentWall }))
        ))
    )
  })

/**
 * Resolves a write whose outcome is unknown: if the record now is *this* write — it names us, at a
 * version other than the one we wrote from, with the `renewTime` this write carried — the write
 * was applied, and its deadline counts from its send. A record naming us that an earlier write of
 * ours left (one that landed late) is not taken for this one: its send was earlier, and a
 * contender may have been watching it since. Otherwise the original error stands.
 */
const readBack = (
  store: LeaseStoreService,
  options: ResolvedLeaseOptions,
  writtenFrom: string | undefined,
  renewTime: number,
  original: LeaseStoreError
): Effect.Effect<LeaseRecord, LeaseStoreError> =>
  store.get(options.key).pipe(
    Effect.mapError(() => original),
    Effect.flatMap((state) =>
      Option.isSome(state) && state.value.holder === options.holder && state.value.version !== writtenFrom &&
        state.value.renewTime === renewTime
        ? Effect.succeed(state.value)
        : Effect.fail(original)
    )
  )
