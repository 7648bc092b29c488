/**
 * What `leasekit status` and `leasekit list` show about a lease: one observer's view of a record,
 * in text for people and JSON for scripts.
 *
 * Expiry is shown two ways, because an observer that has just looked cannot know more:
 * - `expiresInSeconds` — the contender's rule (the one leasekit and client-go act on): a record
 *   expires once this observer has seen it unchanged for its duration. A one-shot observer has
 *   seen it for no time yet, so this is an upper bound: a contender starting now would take the
 *   lease over after at most this long, if the holder stops renewing.
 * - `renewTimeExpiresInSeconds` — `renewTime + duration − now` by this machine's wall clock: a
 *   better estimate when clocks are synchronised, negative once the holder is overdue. A lease
 *   whose estimate is negative is shown as `stale` (held, but not renewed in time).
 *
 * Times the holder wrote that lie ahead of this machine's clock (clock skew between the holder and
 * this observer) are shown as such — "12.0s in the future (clock skew?)" — never as a negative age;
 * the JSON keeps the signed figures (`renewedSecondsAgo` < 0).
 *
 * A graceful handoff shows two ways (`LeaseRecord.Annotations`):
 * - `handoff` — a free lease its last holder handed to a successor: reserved for `to` until each
 *   contender has seen it free for the window. A one-shot observer cannot know how long a
 *   contender has seen it, so `reservedForSeconds` is again an estimate by wall clock: the release's
 *   renewTime + the window − now (negative once passed: anyone may take it now). Both `null` when
 *   the release did not say its window (contenders then use their own `handoffWindow`).
 * - `handoffRequest` — a held lease whose holder is asked to hand it over to that contender.
 *
 * Guarantees: the JSON field names and meanings above are stable; times are ISO-8601 UTC; a
 * missing lease is a view with `exists: false`, not an error; the text renderings print every
 * value that comes from the Lease (names, holder identity) through `Printable.printable`, so
 * control characters in them are escaped and cannot forge lines or drive the terminal (JSON is
 * escaped by JSON). Does not guarantee: that the holder still holds the lease by the time the
 * output is read.
 *
 * @since 0.1.0
 */
import type { LeaseKey } from "@leasekit/core/LeaseRecord"
import * as LeaseRecord from "@leasekit/core/LeaseRecord"
import * as Option from "effect/Option"
import * as Durations from "./Durations.ts"
import { printable } from "./Printable.ts"

type Record_ = LeaseRecord.LeaseRecord

/**
 * `absent` (no object), `free` (no holder), `held`, or `stale` (held but overdue by renewTime).
 *
 * @since 0.1.0
 * @category models
 */
export type State = "absent" | "free" | "held" | "stale"

/**
 * One lease as an observer sees it (also the JSON shape).
 *
 * @since 0.1.0
 * @category models
 */
export interface LeaseView {
  readonly namespace: string
  readonly name: string
  readonly exists: boolean
  readonly state: State
  readonly holder: string | null
  /** The fencing token of the current (or last) tenure: `spec.leaseTransitions`. */
  readonly token: number | null
  readonly durationSeconds: number | null
  readonly acquireTime: string | null
  readonly renewTime: string | null
  readonly acquiredSecondsAgo: number | null
  readonly renewedSecondsAgo: number | null
  /** Upper bound, by the contender's rule (see the module comment); null unless held. */
  readonly expiresInSeconds: number | null
  /** By renewTime and this machine's clock; negative when overdue; null unless held. */
  readonly renewTimeExpiresInSeconds: number | null
  /** The object's resourceVersion. */
  readonly version: string | null
  /** A free lease reserved for its last holder's successor (see the module comment); else null. */
  readonly handoff: HandoffView | null
  /** A held lease whose holder is asked to hand it over to this contender; else null. */
  readonly handoffRequest: string | null
}

/**
 * A pending handoff: a free lease reserved for `to`.
 *
 * @since 0.3.0
 * @category models
 */
export interface HandoffView {
  readonly to: string
  /** The window its last holder declared; null when it did not (each contender uses its own). */
  readonly windowSeconds: number | null
  /** By the release's renewTime and this machine's clock; negative once passed; null when unknown. */
  readonly reservedForSeconds: number | null
}

const seconds = (millis: number) => Math.round(millis) / 1000

/**
 * The view of `record` (none: the lease does not exist) at wall-clock `now`, with the
 * contender's `expiresInMillis` judgement when the caller made one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  key: LeaseKey,
  record: Option.Option<Record_>,
  now: number,
  expiresInMillis?: number
): LeaseView => {
  if (Option.isNone(record)) {
    return {
      namespace: key.namespace,
      name: key.name,
      exists: false,
      state: "absent",
      holder: null,
      token: null,
      durationSeconds: null,
      acquireTime: null,
      renewTime: null,
      acquiredSecondsAgo: null,
      renewedSecondsAgo: null,
      expiresInSeconds: null,
      renewTimeExpiresInSeconds: null,
      version: null,
      handoff: null,
      handoffRequest: null
    }
  }
  const r = record.value
  const held = LeaseRecord.isHeld(r)
  const durationSeconds = r.durationSeconds ?? null
  const byRenewTime = held && r.renewTime !== undefined && durationSeconds !== null
    ? seconds(r.renewTime + durationSeconds * 1000 - now)
    : null
  return {
    namespace: key.namespace,
    name: key.name,
    exists: true,
    state: !held ? "free" : byRenewTime !== null && byRenewTime < 0 ? "stale" : "held",
    holder: held ? r.holder! : null,
    token: r.transitions ?? 0,
    durationSeconds,
    acquireTime: r.acquireTime === undefined ? null : new Date(r.acquireTime).toISOString(),
    renewTime: r.renewTime === undefined ? null : new Date(r.renewTime).toISOString(),
    acquiredSecondsAgo: r.acquireTime === undefined ? null : seconds(now - r.acquireTime),
    renewedSecondsAgo: r.renewTime === undefined ? null : seconds(now - r.renewTime),
    expiresInSeconds: held
      ? expiresInMillis !== undefined ? seconds(expiresInMillis) : durationSeconds
      : null,
    renewTimeExpiresInSeconds: byRenewTime,
    version: r.version,
    handoff: Option.getOrNull(Option.map(LeaseRecord.pendingHandoff(r), (pending) => ({
      to: pending.to,
      windowSeconds: pending.windowSeconds ?? null,
      reservedForSeconds: pending.windowSeconds === undefined || r.renewTime === undefined
        ? null
        : seconds(r.renewTime + pending.windowSeconds * 1000 - now)
    }))),
    handoffRequest: Option.getOrNull(LeaseRecord.handoffRequest(r))
  }
}

/**
 * The text of a pending handoff or a handoff request, for `status` (null when there is neither).
 *
 * @since 0.3.0
 * @category rendering
 */
export const handoffText = (view: LeaseView): string | null => {
  if (view.handoff !== null) {
    const { reservedForSeconds, to, windowSeconds } = view.handoff
    const left = reservedForSeconds === null
      ? "for the window each contender sets itself (its handoffWindow; the release did not say)"
      : reservedForSeconds >= 0
      ? `~${Durations.formatMillis(reservedForSeconds * 1000)} more by its renewTime (window ${windowSeconds}s)`
      : `window ${windowSeconds}s passed ${Durations.formatMillis(-reservedForSeconds * 1000)} ago by its renewTime: anyone may take it`
    return `reserved for "${printable(to)}", ${left}`
  }
  if (view.handoffRequest !== null) {
    return `requested by "${printable(view.handoffRequest)}": a leasekit holder hands over at its next renewal, unless it refuses requests`
  }
  return null
}

/**
 * How long ago a time the holder wrote was, by this machine's clock: `4.20s ago`, or — when it lies
 * ahead of this clock — `12.0s in the future (clock skew?)`, never a negative age.
 *
 * @since 0.1.0
 * @category rendering
 */
export const ago = (secondsAgo: number | null): string =>
  secondsAgo === null
    ? "-"
    : secondsAgo < 0
    ? `${Durations.formatMillis(-secondsAgo * 1000)} in the future (clock skew?)`
    : `${Durations.formatMillis(secondsAgo * 1000)} ago`

const stateText: Record<State, string> = {
  absent: "does not exist (free)",
  free: "free (released)",
  held: "held",
  stale: "held, but overdue: not renewed within its duration (the holder may be gone)"
}

/**
 * The text of `leasekit status`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderStatus = (view: LeaseView): string => {
  const rows: Array<[string, string]> = [["Lease", printable(`${view.namespace}/${view.name}`)], ["State", stateText[view.state]]]
  if (view.exists) {
    rows.push(["Holder", view.holder === null ? "-" : printable(view.holder)])
    rows.push(["Token", `${view.token} (leaseTransitions: the fencing token of the ${view.holder === null ? "last" : "current"} tenure)`])
    rows.push(["Acquired", view.acquireTime === null ? "-" : `${view.acquireTime} (${ago(view.acquiredSecondsAgo)})`])
    rows.push(["Renewed", view.renewTime === null ? "-" : `${view.renewTime} (${ago(view.renewedSecondsAgo)})`])
    rows.push(["Duration", view.durationSeconds === null ? "-" : `${view.durationSeconds}s`])
    const handoff = handoffText(view)
    if (handoff !== null) rows.push(["Handoff", handoff])
    if (view.expiresInSeconds !== null) {
      const estimate = view.renewTimeExpiresInSeconds === null
        ? ""
        : view.renewedSecondsAgo !== null && view.renewedSecondsAgo < 0
        ? "no estimate by its renewTime, which lies ahead of this machine's clock (clock skew?); "
        : view.renewTimeExpiresInSeconds >= 0
        ? `~${Durations.formatMillis(view.renewTimeExpiresInSeconds * 1000)} by its renewTime (synchronised clocks); `
        : `overdue by ${Durations.formatMillis(-view.renewTimeExpiresInSeconds * 1000)} by its renewTime; `
      rows.push([
        "Expires",
        `${estimate}a contender starting now takes over after at most ${Durations.formatMillis(view.expiresInSeconds * 1000)} without renewal`
      ])
    }
  }
  const width = Math.max(...rows.map(([label]) => label.length)) + 2
  return rows.map(([label, value]) => `${`${label}:`.padEnd(width)}${value}`).join("\n") + "\n"
}

/**
 * Whether the view shows a holder this observer judges expired: held, and a contender with the
 * observer's options would take it over now (`expiresInSeconds` 0).
 *
 * @since 0.2.0
 * @category rendering
 */
export const isExpired = (view: LeaseView): boolean => view.holder !== null && view.expiresInSeconds === 0

/**
 * What `status --watch` reports a change for: the lease absent, free (and for whom it is reserved
 * by a handoff), held by a holder in a tenure (holder and token), that tenure judged expired, or a
 * handoff requested of it (and by whom). A renewal, a label or any other edit that keeps these is
 * not a change.
 *
 * @since 0.2.0
 * @category rendering
 */
export const tenureOf = (view: LeaseView): string =>
  !view.exists
    ? "absent"
    : view.holder === null
    ? view.handoff === null ? "free" : `free|handoff|${view.handoff.to}`
    : `${isExpired(view) ? "expired" : "held"}|${view.token}|${view.holder}${
      view.handoffRequest === null ? "" : `|request|${view.handoffRequest}`
    }`

/**
 * The line of `status --watch` for a change: when it was seen (by this machine's clock) and what
 * the lease is now.
 *
 * @since 0.2.0
 * @category rendering
 */
export const renderChange = (view: LeaseView, now: number): string => {
  const lease = `lease ${printable(`${view.namespace}/${view.name}`)}`
  const what = !view.exists
    ? `${lease} does not exist (free)`
    : view.holder === null
    ? view.handoff === null
      ? `${lease} is free (released; last token ${view.token})`
      : `${lease} is free, handed off to "${printable(view.handoff.to)}" (reserved for it for a window; last token ${view.token})`
    : isExpired(view)
    ? `${lease}: holder "${printable(view.holder)}" (token ${view.token}) is expired as this observer judges it — ` +
      "not renewed for its duration: a contender may take it over now"
    : view.handoffRequest !== null
    ? `${lease} is held by "${printable(view.holder)}" (token ${view.token}); handoff requested by "${
      printable(view.handoffRequest)
    }"`
    : `${lease} is held by "${printable(view.holder)}" (token ${view.token})`
  return `${new Date(now).toISOString()}  ${what}\n`
}

/**
 * A plain table: columns padded to their widest cell.
 *
 * @since 0.1.0
 * @category rendering
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("   ").trimEnd()
  return [line(header), ...rows.map(line)].join("\n") + "\n"
}

/**
 * The text of `leasekit list`; the namespace column only when listing all namespaces.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderList = (views: ReadonlyArray<LeaseView>, allNamespaces: boolean): string => {
  if (views.length === 0) return ""
  return table(listHeader(allNamespaces), views.map((v) => [...(allNamespaces ? [printable(v.namespace)] : []), ...listCells(v)]))
}

/**
 * The header of `leasekit list`'s table; the namespace column only when listing all namespaces.
 *
 * @since 0.5.0
 * @category rendering
 */
export const listHeader = (allNamespaces: boolean): ReadonlyArray<string> => [
  ...(allNamespaces ? ["NAMESPACE"] : []),
  "NAME",
  "HOLDER",
  "STATE",
  "TOKEN",
  "RENEWED",
  "DURATION"
]

/**
 * A lease's cells in `leasekit list`'s table (without the namespace).
 *
 * @since 0.5.0
 * @category rendering
 */
export const listCells = (v: LeaseView): ReadonlyArray<string> => [
  printable(v.name),
  v.holder === null ? "-" : printable(v.holder),
  v.state,
  String(v.token ?? "-"),
  ago(v.renewedSecondsAgo),
  v.durationSeconds === null ? "-" : `${v.durationSeconds}s`
]
