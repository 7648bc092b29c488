/**
 * What `leasekit status` and `leasekit list` show about a semaphore (`LeaseSemaphore`): its
 * permit count, who holds which permit (with the permit's fencing token, when this observer would
 * judge it expired, and whether a `resize` withdrew it) and who waits, in queue order — in text
 * for people and JSON for scripts.
 *
 * A semaphore is several Lease objects: its head `NAME` (annotation
 * `leasekit.io/semaphore-permits`: N, and the queue), its permits `NAME-<i>` (annotation
 * `leasekit.io/permit-of`) and its waiters' tickets `NAME-w-<hex>` (`leasekit.io/waiter-of`).
 * `status NAME` on the head shows the whole semaphore (`LeaseSemaphore.inspect`, judged as a
 * contender would judge it); `list` folds the permits and tickets of a semaphore whose head it
 * lists into one row (`fold`), judged from that one list (no observation: a ticket counts as a
 * waiter while it is held).
 *
 * Guarantees: the JSON field names below are stable; every value from a Lease (names, holder
 * identities) goes through `Printable.printable` in text. Does not guarantee: that the answer
 * still holds a moment later.
 *
 * @since 0.5.0
 */
import type { LeaseRecord } from "@leasekit/core/LeaseRecord"
import * as LeaseRecordModule from "@leasekit/core/LeaseRecord"
import type * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Duration from "effect/Duration"
import * as Durations from "./Durations.ts"
import * as LeaseView from "./LeaseView.ts"
import { printable } from "./Printable.ts"

/**
 * The annotations that mark a semaphore's objects (the core's `LeaseSemaphore.Annotations`,
 * repeated here so that `list` does not load the semaphore's code).
 *
 * @since 0.5.0
 * @category constants
 */
export const Annotations = {
  permits: "leasekit.io/semaphore-permits",
  queue: "leasekit.io/semaphore-queue",
  permitOf: "leasekit.io/permit-of",
  waiterOf: "leasekit.io/waiter-of"
} as const

/**
 * Whether `record` is the head of a semaphore.
 *
 * @since 0.5.0
 * @category predicates
 */
export const isHead = (record: LeaseRecord): boolean => record.metadata.annotations?.[Annotations.permits] !== undefined

/**
 * One permit holder (JSON shape).
 *
 * @since 0.5.0
 * @category models
 */
export interface HolderView {
  readonly permit: number
  readonly holder: string
  /** The permit's fencing token (its own sequence: tokens increase per permit). */
  readonly token: number
  /** Until this observer would judge the permit expired, unless renewed; 0: expired. */
  readonly expiresInSeconds: number
  /** The permit's index is N or more (a `resize` lowered N): kept until released. */
  readonly withdrawn: boolean
}

/**
 * One waiter (JSON shape).
 *
 * @since 0.5.0
 * @category models
 */
export interface WaiterView {
  /** 0 for the first entry of the queue. */
  readonly position: number
  readonly holder: string
  readonly ticket: string
  readonly expiresInSeconds: number
  /** Its ticket is held and not expired: it counts for the order. */
  readonly live: boolean
}

/**
 * A semaphore as `status` shows it (also the JSON shape).
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreView {
  readonly kind: "semaphore"
  readonly namespace: string
  readonly name: string
  /** N; 0 when the semaphore does not exist. */
  readonly permits: number
  /** Permits below N that are held and not expired. */
  readonly held: number
  /** Permits below N that anyone may take (free, absent or expired). */
  readonly free: number
  readonly holders: ReadonlyArray<HolderView>
  readonly waiting: ReadonlyArray<WaiterView>
}

const seconds = (d: Duration.Duration) => Math.round(Duration.toMillis(d)) / 1000

/**
 * The view of a semaphore's state.
 *
 * @since 0.5.0
 * @category constructors
 */
export const make = (state: LeaseSemaphore.SemaphoreState): SemaphoreView => {
  const holders = state.holders.map((h): HolderView => ({
    permit: h.permit,
    holder: h.holder,
    token: h.token,
    expiresInSeconds: seconds(h.expiresIn),
    withdrawn: h.withdrawn
  }))
  const held = holders.filter((h) => !h.withdrawn && h.permit < state.permits && h.expiresInSeconds > 0).length
  return {
    kind: "semaphore",
    namespace: state.key.namespace,
    name: state.key.name,
    permits: state.permits,
    held,
    free: Math.max(0, state.permits - held),
    holders,
    waiting: state.waiting.map((w): WaiterView => ({
      position: w.position,
      holder: w.holder,
      ticket: w.ticket,
      expiresInSeconds: seconds(w.expiresIn),
      live: w.live
    }))
  }
}

const inSeconds = (s: number) => s <= 0 ? "expired" : `≤ ${Durations.formatMillis(s * 1000)}`

/**
 * The text of `leasekit status` for a semaphore.
 *
 * @since 0.5.0
 * @category rendering
 */
export const renderStatus = (view: SemaphoreView): string => {
  const rows: Array<[string, string]> = [["Semaphore", printable(`${view.namespace}/${view.name}`)]]
  if (view.permits === 0) {
    rows.push(["State", "does not exist"])
  } else {
    const withdrawn = view.holders.filter((h) => h.withdrawn).length
    rows.push([
      "Permits",
      `${view.permits} (${view.held} held, ${view.free} free${withdrawn > 0 ? `; ${withdrawn} withdrawn, still held until released` : ""})`
    ])
    const live = view.waiting.filter((w) => w.live).length
    rows.push(["Waiting", `${live}${view.waiting.length > live ? ` (+ ${view.waiting.length - live} dead entries)` : ""}`])
  }
  const width = Math.max(...rows.map(([label]) => label.length)) + 2
  let text = rows.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`).join("\n") + "\n"
  if (view.holders.length > 0) {
    text += "\nHolders:\n" + indent(LeaseView.table(
      ["PERMIT", "HOLDER", "TOKEN", "EXPIRES IN", "WITHDRAWN"],
      view.holders.map((h) => [String(h.permit), printable(h.holder), String(h.token), inSeconds(h.expiresInSeconds), h.withdrawn ? "yes" : "no"])
    ))
  }
  if (view.waiting.length > 0) {
    text += "\nQueue (in order):\n" + indent(LeaseView.table(
      ["POSITION", "HOLDER", "LIVE", "EXPIRES IN"],
      view.waiting.map((w) => [String(w.position), printable(w.holder), w.live ? "yes" : "no", inSeconds(w.expiresInSeconds)])
    ))
  }
  return text
}

const indent = (text: string) => text.split("\n").map((l) => (l === "" ? l : `  ${l}`)).join("\n")

/**
 * What `status --watch` reports a change for: N, who holds which permit in which tenure (token),
 * expired or withdrawn, and the live waiters in order. Renewals change none of it.
 *
 * @since 0.5.0
 * @category rendering
 */
export const changeOf = (view: SemaphoreView): string =>
  JSON.stringify([
    view.permits,
    view.holders.map((h) => [h.permit, h.holder, h.token, h.withdrawn, h.expiresInSeconds <= 0]),
    view.waiting.filter((w) => w.live).map((w) => w.holder)
  ])

/**
 * The line of `status --watch` for a change of a semaphore.
 *
 * @since 0.5.0
 * @category rendering
 */
export const renderChange = (view: SemaphoreView, now: number): string => {
  const name = `semaphore ${printable(`${view.namespace}/${view.name}`)}`
  if (view.permits === 0) return `${new Date(now).toISOString()}  ${name} does not exist\n`
  const holders = view.holders.length === 0
    ? "none held"
    : "held: " + view.holders.map((h) =>
      `${h.permit} "${printable(h.holder)}" (token ${h.token}${h.withdrawn ? ", withdrawn" : ""}${h.expiresInSeconds <= 0 ? ", expired" : ""})`
    ).join(", ")
  const live = view.waiting.filter((w) => w.live)
  const waiting = live.length === 0 ? "nobody waiting" : `waiting: ${live.map((w) => `"${printable(w.holder)}"`).join(", ")}`
  return `${new Date(now).toISOString()}  ${name}: ${view.permits} permits; ${holders}; ${waiting}\n`
}

/**
 * A semaphore as one row of `leasekit list` (also its JSON shape there), judged from one list.
 *
 * @since 0.5.0
 * @category models
 */
export interface SemaphoreRow {
  readonly kind: "semaphore"
  readonly namespace: string
  readonly name: string
  readonly permits: number
  /** Permits (below N or withdrawn) that name a holder. */
  readonly holders: ReadonlyArray<{ readonly permit: number; readonly holder: string; readonly token: number; readonly withdrawn: boolean }>
  /** Queue entries whose ticket is held by the waiter. */
  readonly waiting: number
  readonly durationSeconds: number | null
  readonly renewedSecondsAgo: number | null
}

/** The queue of a head (`[]` when it is absent or not the expected JSON). */
const queueOf = (head: LeaseRecord): ReadonlyArray<{ readonly h: string; readonly w: string }> => {
  try {
    const parsed: unknown = JSON.parse(head.metadata.annotations?.[Annotations.queue] ?? "[]")
    return Array.isArray(parsed)
      ? parsed.filter((e): e is { h: string; w: string } => typeof e?.h === "string" && typeof e?.w === "string")
      : []
  } catch {
    return []
  }
}

/**
 * One row of `leasekit list`: a lease, or a semaphore folded into one row.
 *
 * @since 0.5.0
 * @category models
 */
export type ListItem = { readonly _tag: "Lease"; readonly record: LeaseRecord } | { readonly _tag: "Semaphore"; readonly row: SemaphoreRow }

/**
 * The records of one `list`, with every semaphore folded into one row: its head becomes a
 * `SemaphoreRow`, its permits and tickets (whose semaphore's head is in the list) are left out;
 * every other record stays a lease, in the list's order.
 *
 * @since 0.5.0
 * @category constructors
 */
export const fold = (records: ReadonlyArray<LeaseRecord>, now: number): Array<ListItem> => {
  const id = (namespace: string, name: string) => `${namespace}/${name}`
  const heads = new Map(records.filter(isHead).map((r) => [id(r.key.namespace, r.key.name), r]))
  const partOf = (r: LeaseRecord): string | undefined => {
    const of = r.metadata.annotations?.[Annotations.permitOf] ?? r.metadata.annotations?.[Annotations.waiterOf]
    return of !== undefined && heads.has(id(r.key.namespace, of)) ? id(r.key.namespace, of) : undefined
  }
  const byKey = new Map(records.map((r) => [id(r.key.namespace, r.key.name), r]))
  return records.flatMap((r): Array<ListItem> => {
    if (partOf(r) !== undefined) return []
    if (!isHead(r)) return [{ _tag: "Lease" as const, record: r }]
    const permits = Number(r.metadata.annotations?.[Annotations.permits] ?? "0")
    const permitRecords = records.filter((p) =>
      p.key.namespace === r.key.namespace && p.metadata.annotations?.[Annotations.permitOf] === r.key.name
    )
    const holders = permitRecords.flatMap((p) => {
      const index = Number(p.key.name.slice(r.key.name.length + 1))
      return LeaseRecordModule.isHeld(p) && Number.isInteger(index)
        ? [{ permit: index, holder: p.holder!, token: p.transitions ?? 0, withdrawn: index >= permits }]
        : []
    }).sort((a, b) => a.permit - b.permit)
    const waiting = queueOf(r).filter((e) => byKey.get(id(r.key.namespace, e.w))?.holder === e.h).length
    const renewed = permitRecords.flatMap((p) => (LeaseRecordModule.isHeld(p) && p.renewTime !== undefined ? [p.renewTime] : []))
    const durations = new Set(permitRecords.flatMap((p) => (p.durationSeconds === undefined ? [] : [p.durationSeconds])))
    return [{
      _tag: "Semaphore" as const,
      row: {
        kind: "semaphore" as const,
        namespace: r.key.namespace,
        name: r.key.name,
        permits,
        holders,
        waiting,
        durationSeconds: durations.size === 1 ? [...durations][0]! : null,
        renewedSecondsAgo: renewed.length === 0 ? null : Math.round(now - Math.max(...renewed)) / 1000
      }
    }]
  })
}

/**
 * The cells of a semaphore's row in `list`'s table (NAME, HOLDER, STATE, TOKEN, RENEWED, DURATION).
 *
 * @since 0.5.0
 * @category rendering
 */
export const listCells = (row: SemaphoreRow): ReadonlyArray<string> => {
  const held = row.holders.filter((h) => !h.withdrawn).length
  return [
    printable(row.name),
    `${held} of ${row.permits} permits held${row.waiting > 0 ? `, ${row.waiting} waiting` : ""}`,
    "semaphore",
    "-",
    LeaseView.ago(row.renewedSecondsAgo),
    row.durationSeconds === null ? "-" : `${row.durationSeconds}s`
  ]
}
