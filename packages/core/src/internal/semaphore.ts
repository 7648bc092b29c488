/**
 * A semaphore's layout and one process's judgement of it (see `LeaseSemaphore.ts` for the
 * guarantees): names of the head, permits and tickets; reading the head; and the VIEW — from one
 * `list` of the namespace — of which permits are free, who holds the others, and which queue
 * entries are live, each judged by the single-lease judge (`attempt.ts`) on the `Lease` service's
 * observation memory, so a dead holder or waiter expires exactly as a lease would.
 *
 * Eligibility: a waiter whose entry has `rank` live entries ahead of it may take a permit when
 * `rank < free`. Head writes (`writeHead`) are compare-and-swaps from the record as read, keeping
 * everything else; a conflict is retried from a fresh read.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { LeaseAcquisitionError } from "../LeaseError.ts"
import type { ResolvedLeaseOptions } from "../LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "../LeaseRecord.ts"
import { isHeld } from "../LeaseRecord.ts"
import type { LeaseStoreService } from "../LeaseStore.ts"
import { LeaseStoreError } from "../LeaseStore.ts"
import { judge, type Judgement, transitionsOf } from "./attempt.ts"
import type { Memory } from "./observations.ts"
import { annotations, partOf } from "./semaphoreParts.ts"

/** A permit object of the semaphore `name` (by its annotation). */
const isPermitOf = (record: LeaseRecord, name: string): boolean => {
  const part = partOf(record)
  return part !== undefined && part.part === "permit" && part.semaphore === name
}

/** One queue entry: the waiter's identity and its ticket lease's name. */
export interface Entry {
  readonly h: string
  readonly w: string
}

/** The head as read: N and the queue. */
export interface Head {
  readonly record: LeaseRecord
  readonly permits: number
  readonly queue: ReadonlyArray<Entry>
}

export const maxPermits = 1000
export const maxQueue = 1000

export const permitKey = (key: LeaseKey, index: number): LeaseKey => ({ namespace: key.namespace, name: `${key.name}-${index}` })
export const ticketKey = (key: LeaseKey, ticket: string): LeaseKey => ({ namespace: key.namespace, name: ticket })

/** The queue annotation, read defensively: entries that are not `{h, w}` strings are dropped. */
const parseQueue = (raw: string | undefined): ReadonlyArray<Entry> => {
  if (raw === undefined || raw.trim() === "") return []
  try {
    const value: unknown = JSON.parse(raw)
    if (!Array.isArray(value)) return []
    return value.flatMap((entry: unknown) =>
      typeof entry === "object" && entry !== null && typeof (entry as Entry).h === "string" &&
        typeof (entry as Entry).w === "string"
        ? [{ h: (entry as Entry).h, w: (entry as Entry).w }]
        : []
    )
  } catch {
    return []
  }
}

/** The permit count, read defensively: a whole number from 1 to `maxPermits`. */
const parsePermits = (raw: string | undefined): number | undefined => {
  if (raw === undefined || !/^[0-9]{1,4}$/.test(raw.trim())) return undefined
  const n = Number(raw.trim())
  return n >= 1 && n <= maxPermits ? n : undefined
}

/** The permit count a head record declares, if it is a head. */
export const parsePermitCount = (record: LeaseRecord): number | undefined =>
  isHeld(record) ? undefined : parsePermits(record.metadata.annotations?.[annotations.permits])

/** The head, or why the record is not one (a plain lease). */
export const parseHead = (key: LeaseKey, record: LeaseRecord): Effect.Effect<Head, LeaseAcquisitionError> => {
  const permits = parsePermits(record.metadata.annotations?.[annotations.permits])
  if (isHeld(record) || permits === undefined) {
    return Effect.fail(
      new LeaseAcquisitionError({
        key,
        reason: { _tag: "NotASemaphore", ...(isHeld(record) ? { holder: record.holder } : {}) }
      })
    )
  }
  return Effect.succeed({ record, permits, queue: parseQueue(record.metadata.annotations?.[annotations.queue]) })
}

/** The head's metadata with another N and queue, everything else as read. */
export const headMetadata = (record: LeaseRecord, permits: number, queue: ReadonlyArray<Entry>) => ({
  ...record.metadata,
  annotations: { ...record.metadata.annotations, [annotations.permits]: String(permits), [annotations.queue]: JSON.stringify(queue) }
})

/** Creates the head with N permits and an empty queue. */
export const createHead = (store: LeaseStoreService, key: LeaseKey, permits: number) =>
  store.create(key, {}, { annotations: { [annotations.permits]: String(permits), [annotations.queue]: "[]" } })

/** How a permit is judged. */
export interface PermitView {
  readonly index: number
  readonly record: Option.Option<LeaseRecord>
  readonly judgement: Judgement
  /** Absent, released, expired (or naming this contender): takeable. */
  readonly free: boolean
  /** Another semaphore's object under this permit's name (e.g. the head of a semaphore
   * `NAME-1`): never free, never a holder. */
  readonly foreign: boolean
}

/** How a queue entry is judged. */
export interface EntryView {
  readonly entry: Entry
  readonly position: number
  readonly live: boolean
  readonly expiresIn: Duration.Duration
  /** Its ticket record, when it exists. */
  readonly ticket: Option.Option<LeaseRecord>
}

/** One consistent view of the semaphore. */
export interface View {
  readonly head: Head
  /** Every permit object that exists, and every index below N. */
  readonly permits: ReadonlyArray<PermitView>
  readonly entries: ReadonlyArray<EntryView>
  /** Free permits with index < N, in index order. */
  readonly free: ReadonlyArray<number>
}

const isFree = (judgement: Judgement): boolean =>
  judgement._tag === "Absent" || judgement._tag === "Free" || judgement._tag === "Expired" || judgement._tag === "Ours"

/** Reads the semaphore (one `list`) and judges it; `None` when the head is absent. */
export const readView = (
  store: LeaseStoreService,
  memory: Memory,
  options: ResolvedLeaseOptions,
  key: LeaseKey
): Effect.Effect<Option.Option<View>, LeaseStoreError | LeaseAcquisitionError> =>
  Effect.gen(function*() {
    const records = yield* store.list(key.namespace)
    return yield* judgeView(memory, options, key, new Map(records.map((r) => [r.key.name, r])))
  })

/** The records of a namespace that may belong to the semaphore `key` (its head and every name
 * `NAME-…`), by name. */
export const ownRecords = (key: LeaseKey, records: ReadonlyArray<LeaseRecord>): Map<string, LeaseRecord> =>
  new Map(records.filter((r) => r.key.name === key.name || r.key.name.startsWith(`${key.name}-`)).map((r) => [r.key.name, r]))

/** Judges the semaphore from records already read (one list, maybe updated by watches since):
 * `None` when the head is absent. */
export const judgeView = (
  memory: Memory,
  options: ResolvedLeaseOptions,
  key: LeaseKey,
  byName: ReadonlyMap<string, LeaseRecord>
): Effect.Effect<Option.Option<View>, LeaseAcquisitionError> =>
  Effect.gen(function*() {
    const headRecord = byName.get(key.name)
    if (headRecord === undefined) return Option.none()
    const head = yield* parseHead(key, headRecord)
    const prefix = `${key.name}-`
    const indices = new Set<number>()
    for (let i = 0; i < head.permits; i++) indices.add(i)
    // Withdrawn permits (index ≥ N) are found by their annotation, not their name alone.
    for (const [name, record] of byName) {
      const suffix = name.startsWith(prefix) ? name.slice(prefix.length) : ""
      if (/^(0|[1-9][0-9]{0,3})$/.test(suffix) && Number(suffix) < maxPermits && isPermitOf(record, key.name)) {
        indices.add(Number(suffix))
      }
    }
    const permits: Array<PermitView> = []
    for (const index of [...indices].sort((a, b) => a - b)) {
      const pk = permitKey(key, index)
      const record = Option.fromUndefinedOr(byName.get(pk.name))
      const judgement = yield* judge(memory, { ...options, key: pk }, record)
      const foreign = Option.isSome(record) && partOf(record.value) !== undefined && !isPermitOf(record.value, key.name)
      permits.push({ index, record, judgement, foreign, free: index < head.permits && !foreign && isFree(judgement) })
    }
    const entries: Array<EntryView> = []
    for (const [position, entry] of head.queue.entries()) {
      const tk = ticketKey(key, entry.w)
      const ticket = Option.fromUndefinedOr(byName.get(tk.name))
      const judgement = yield* judge(memory, { ...options, key: tk }, ticket)
      // Live: the ticket exists, names the waiter, and has not expired as this process judges.
      const live = Option.isSome(ticket) && ticket.value.holder === entry.h &&
        (judgement._tag === "Held" || judgement._tag === "Ours")
      entries.push({
        entry,
        position,
        live,
        expiresIn: judgement._tag === "Held" ? judgement.expiresIn : live ? options.duration : Duration.zero,
        ticket
      })
    }
    return Option.some({ head, permits, entries, free: permits.filter((p) => p.free).map((p) => p.index) })
  })

/** The token and holder of a held permit, for reports. */
export const holdersOf = (view: View) =>
  view.permits.flatMap((p) =>
    !p.foreign && (p.judgement._tag === "Held" || p.judgement._tag === "Ours")
      ? [{
        permit: p.index,
        holder: p.judgement._tag === "Held" ? p.judgement.holder : p.judgement.record.holder!,
        token: transitionsOf(p.judgement.record),
        expiresIn: p.judgement._tag === "Held" ? p.judgement.expiresIn : Duration.zero,
        withdrawn: p.index >= view.head.permits
      }]
      : []
  )

/** The earliest instant (from now) at which something in the view would be judged expired. */
export const nextExpiry = (view: View): Duration.Duration | undefined => {
  const times = [
    ...view.permits.flatMap((p) => !p.foreign && p.judgement._tag === "Held" && p.index < view.head.permits ? [p.judgement.expiresIn] : []),
    ...view.entries.flatMap((e) => e.live && Option.isSome(e.ticket) ? [e.expiresIn] : [])
  ]
  return times.length === 0 ? undefined : times.reduce((a, b) => Duration.min(a, b))
}

/**
 * A compare-and-swap on the head computed from the head as read, retried from a fresh read on a
 * conflict. `change` answers the new N and queue, or `undefined` to write nothing.
 */
export const writeHead = <A>(
  store: LeaseStoreService,
  key: LeaseKey,
  change: (head: Head) => Effect.Effect<{ readonly permits: number; readonly queue: ReadonlyArray<Entry>; readonly result: A } | { readonly skip: A }, LeaseAcquisitionError>
): Effect.Effect<A, LeaseStoreError | LeaseAcquisitionError> =>
  Effect.gen(function*() {
    for (let tries = 1;; tries++) {
      const state = yield* store.get(key)
      if (Option.isNone(state)) return yield* Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
      const head = yield* parseHead(key, state.value)
      const next = yield* change(head)
      if ("skip" in next) return next.skip
      const written = yield* store.update(head.record, {}, headMetadata(head.record, next.permits, next.queue)).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e.reason === "Conflict" && tries < 50, () => Effect.succeed(false))
      )
      if (written) return next.result
    }
  })

/** A store error for a semaphore operation that cannot go on. */
export const headGone = (key: LeaseKey) =>
  new LeaseStoreError({ operation: "get", key, reason: "NotFound", detail: "the semaphore's head was deleted" })
