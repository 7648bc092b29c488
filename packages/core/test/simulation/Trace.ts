/**
 * Readable traces: one line per event — true time, who, what.
 *
 * Guarantees: the text is a function of the events alone (no wall-clock, no addresses), so the
 * same seed prints the same trace (the determinism test compares these). Does not guarantee: that
 * every field of every event is shown — only what a reader needs to follow the story.
 */
import type { Event, RecordView } from "./History.ts"

const time = (ms: number) => `${(ms / 1000).toFixed(3).padStart(9)}s`
const rec = (r: RecordView | undefined) =>
  r === undefined ? "-" : `{holder ${r.holder === "" ? "∅" : r.holder}, token ${r.transitions}, v${r.version}${
    r.handoffTo === undefined ? "" : `, reserved for ${r.handoffTo} ${r.handoffWindowSeconds}s`
  }${r.handoffRequest === undefined ? "" : `, asked by ${r.handoffRequest}`}${
    r.semPermits === undefined ? "" : `, N ${r.semPermits}, queue [${(r.semQueue ?? []).map((e) => `${e.h}:${e.w.slice(-8)}`).join(" ")}]`
  }}`

export const describe = (e: Event): string => {
  switch (e.kind) {
    case "acquire-call":
      return `${e.op} #${e.attempt} ${e.key} ${e.detail}`.trimEnd()
    case "acquire-done":
      return `${e.key} acquisition #${e.attempt} → ${e.outcome} ${e.detail}`
    case "tenure-start":
      return `HOLDS ${e.key} tenure #${e.tenure} token ${e.token} (via ${e.via})`
    case "step":
      return `step ${e.key} tenure #${e.tenure} token ${e.token}`
    case "lost":
      return `LOST ${e.key} tenure #${e.tenure}: ${e.reason}`
    case "release-begin":
      return `${e.how === "release" ? "release()" : e.how === "handoff" ? `handoff(${e.to})` : "closing scope"} ${e.key} tenure #${e.tenure}`
    case "release-end":
      return `release() ${e.key} tenure #${e.tenure} → ${e.ok ? "ok" : e.detail}`
    case "tenure-close":
      return `ended ${e.key} tenure #${e.tenure}: ${e.detail}`
    case "renew-call":
      return `renew() ${e.key} tenure #${e.tenure}`
    case "renew-end":
      return `renew() ${e.key} tenure #${e.tenure} → ${e.ok ? "ok" : e.detail}`
    case "guard-end":
      return `guard ${e.key} tenure #${e.tenure} → ${e.detail}`
    case "op":
      return e.detail
    case "handle-open":
      return `contender handle #${e.handle} ${e.key} made`
    case "handle-close":
      return `contender handle #${e.handle} ${e.key} closed`
    case "handle-event":
      return `handle #${e.handle} event ${e.tag} token ${e.token}${e.reason === "" ? "" : ` (${e.reason})`}`
    case "current":
      return `handle #${e.handle} current → ${e.tenure === undefined ? "none" : `tenure #${e.tenure} token ${e.token} isHeld ${e.isHeld}`}`
    case "status":
      return `election #${e.election} ${e.key} status ${e.tag}${e.token === undefined ? "" : ` token ${e.token}`}${e.holder === undefined ? "" : ` holder ${e.holder}`}`
    case "observer-start":
      return `observer #${e.observer} ${e.key} started (store calls as ${e.store})`
    case "observer-end":
      return `observer #${e.observer} ${e.key} stopped: ${e.detail}`
    case "report":
      return `${e.source}${e.observer === undefined ? "" : ` #${e.observer}`} reports ${e.key}: ${e.holder === "" ? "no holder" : `holder ${e.holder}`}${
        e.token === undefined ? "" : ` token ${e.token}`
      }${e.live ? "" : " (not live)"}`
    case "store-call":
      return `  → ${e.op} ${e.key}${e.holder === undefined ? "" : ` holder=${e.holder === "" ? "∅" : e.holder}`} [call ${e.call}]${
        e.fault === "-" ? "" : ` FAULT ${e.fault}`
      }`
    case "store-apply":
      return `  ⇒ server ${e.op} [call ${e.call}] ${e.ok ? `applied ${e.deleted ? "(deleted)" : rec(e.after)}` : `refused: ${e.detail}`}`
    case "store-answer":
      return `  ← answer [call ${e.call}] ${e.detail}`
    case "watch-open":
      return `  watch ${e.key}${e.fault === "-" ? "" : ` FAULT ${e.fault}`}`
    case "pause-begin":
      return `PAUSED for ${(e.length / 1000).toFixed(3)}s${e.exempt ? " (longer than its allowance: exempt)" : ""}`
    case "pause-end":
      return `resumed`
    case "admin":
      return `ADMIN ${e.action} ${e.key} → ${e.deleted ? "deleted" : rec(e.after)}${e.takeover ? " (takeover: flagged)" : ""}`
    case "sem":
      return `SEM ${e.what}${e.attempt === undefined ? "" : ` #${e.attempt}`}${e.tenure === undefined ? "" : ` tenure #${e.tenure}`}${
        e.permit === undefined ? "" : ` permit ${e.permit}`
      }${e.token === undefined ? "" : ` token ${e.token}`}${e.blocking === undefined ? "" : e.blocking ? " blocking" : " try"} ${e.detail}`.trimEnd()
    case "quiet":
      return `--- faults stop: quiet tail begins ---`
    case "end":
      return `--- end of schedule ---`
    case "log":
      return `  log ${e.level}: ${e.message}`
  }
}

const who = (e: Event): string => ("c" in e ? e.c : e.kind === "admin" ? "admin" : "")

export const line = (e: Event): string => `${time(e.t)}  ${who(e).padEnd(5)} ${describe(e)}`

export interface TraceFilter {
  readonly from?: number
  readonly to?: number
  readonly key?: string | undefined
  readonly contenders?: ReadonlyArray<string>
}

/** The lines of `events` within the filter: the window, and events about the key or the contenders. */
export const format = (events: ReadonlyArray<Event>, filter: TraceFilter = {}): string => {
  const from = filter.from ?? Number.NEGATIVE_INFINITY
  const to = filter.to ?? Number.POSITIVE_INFINITY
  return events
    .filter((e) => e.t >= from && e.t <= to)
    .filter((e) => {
      if (filter.key === undefined && filter.contenders === undefined) return true
      const key = "key" in e ? e.key : undefined
      const c = who(e)
      if (e.kind === "quiet" || e.kind === "end") return true
      if (filter.contenders !== undefined && filter.contenders.includes(c)) return filter.key === undefined || key === undefined || key === filter.key
      return filter.key !== undefined && key === filter.key && e.kind !== "step"
    })
    .map(line)
    .join("\n")
}
