/**
 * What `leasekit demo` shows: a scrolling log of events, a live panel (who holds the lease, as
 * the API server says and as each worker says), and the closing summary table.
 *
 * On a terminal the panel stays at the bottom and is redrawn in place (ANSI cursor movement,
 * lines cut to the terminal's width); elsewhere (a pipe, CI) only log lines are written, and the
 * API server's holder is logged whenever it changes.
 *
 * Guarantees: rendering only — nothing here measures or decides; the summary's figures are the
 * ones it is given. Does not: handle terminal resizes mid-line (the next redraw fixes them).
 *
 * @since 0.1.0
 */
import * as Durations from "../internal/Durations.ts"
import * as LeaseView from "../internal/LeaseView.ts"

/**
 * What the panel shows about one worker.
 *
 * @since 0.1.0
 * @category models
 */
export interface WorkerLine {
  readonly name: string
  readonly pid: number | undefined
  readonly status: "starting" | "waiting" | "holding" | "cooling" | "killed" | "stopped" | "failed"
  readonly token: number | undefined
  readonly sections: number
}

/**
 * One change of holder, measured.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly kind: "handover" | "failover"
  readonly from: string
  readonly to: string
  /** From the release request (handover) or the SIGKILL (failover) to the new holder's acquire. */
  readonly millis: number
  readonly fromToken: number
  readonly toToken: number
}

/**
 * Everything the summary reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  readonly lease: string
  readonly durationSeconds: number
  readonly workers: number
  readonly changes: ReadonlyArray<Change>
  /** Tokens in the order their first critical section started. */
  readonly tokens: ReadonlyArray<number>
  /** Critical sections (tenures in which the holder checked it held the lease). */
  readonly sections: number
  /** Checked steps of all critical sections. */
  readonly steps: number
  readonly overlaps: number
  /** What the exclusion checker found wrong (none expected). */
  readonly violations: ReadonlyArray<string>
  readonly elapsedMillis: number
}

const color = (enabled: boolean) => (code: string) => (text: string) => enabled ? `\x1b[${code}m${text}\x1b[0m` : text

/**
 * A live view on `stream`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Live {
  /** Appends log lines above the panel. */
  readonly log: (line: string) => void
  /** Replaces the panel (terminal only). */
  readonly panel: (lines: ReadonlyArray<string>) => void
  /** Removes the panel for good. */
  readonly close: () => void
  readonly tty: boolean
  readonly paint: {
    readonly bold: (s: string) => string
    readonly dim: (s: string) => string
    readonly green: (s: string) => string
    readonly red: (s: string) => string
    readonly yellow: (s: string) => string
    readonly cyan: (s: string) => string
  }
}

/**
 * The live view on stdout.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (stream: NodeJS.WriteStream = process.stdout): Live => {
  const tty = stream.isTTY === true && process.env["NO_COLOR"] === undefined
  const c = color(tty)
  let panel: ReadonlyArray<string> = []
  let shown = 0
  const width = () => Math.max(20, (stream.columns ?? 100) - 1)
  // Cut to the terminal's width, counting visible characters only (ANSI sequences are kept).
  const cut = (line: string) => {
    let visible = 0
    let out = ""
    for (let i = 0; i < line.length; i++) {
      if (line[i] === "\x1b") {
        const end = line.indexOf("m", i)
        out += line.slice(i, end + 1)
        i = end
        continue
      }
      if (visible >= width()) continue
      out += line[i]
      visible++
    }
    return out
  }
  const erase = () => {
    if (tty && shown > 0) stream.write(`\x1b[${shown}A\x1b[J`)
    shown = 0
  }
  const draw = () => {
    if (!tty) return
    for (const line of panel) stream.write(`${cut(line)}\x1b[K\n`)
    shown = panel.length
  }
  return {
    tty,
    log: (line) => {
      erase()
      stream.write(`${line}\n`)
      draw()
    },
    panel: (lines) => {
      panel = lines
      erase()
      draw()
    },
    close: () => {
      erase()
      panel = []
    },
    paint: { bold: c("1"), dim: c("2"), green: c("32"), red: c("31"), yellow: c("33"), cyan: c("36") }
  }
}

/**
 * `mm:ss.mmm` since the demo started.
 *
 * @since 0.1.0
 * @category formatting
 */
export const clock = (millis: number): string => {
  const m = Math.floor(millis / 60_000)
  const s = (millis % 60_000) / 1000
  return `${String(m).padStart(2, "0")}:${s.toFixed(3).padStart(6, "0")}`
}

/**
 * The panel's lines.
 *
 * @since 0.1.0
 * @category rendering
 */
export const panelLines = (
  live: Live,
  options: {
    readonly lease: string
    readonly durationSeconds: number
    readonly api: LeaseView.LeaseView | undefined
    readonly nameOf: (holder: string) => string
    readonly workers: ReadonlyArray<WorkerLine>
    readonly phase: string
  }
): ReadonlyArray<string> => {
  const { bold, dim, green, red, yellow } = live.paint
  const api = options.api
  const apiText = api === undefined
    ? dim("reading …")
    : api.holder === null
    ? yellow(api.exists ? "free" : "no lease object yet")
    : `${bold(options.nameOf(api.holder))} · token ${bold(String(api.token))} · renewed ${
      Durations.formatMillis((api.renewedSecondsAgo ?? 0) * 1000)
    } ago`
  const rule = dim("─".repeat(72))
  const workers = options.workers.map((w) => {
    const head = `${w.status === "holding" ? green("▶") : " "} ${w.name.padEnd(9)} ${dim(`pid ${String(w.pid ?? "-").padEnd(7)}`)}`
    switch (w.status) {
      case "holding":
        return `${head} ${green(bold(`HOLDS the lease · token ${w.token}`))} · ${w.sections} critical sections`
      case "killed":
        return `${head} ${red("killed (SIGKILL)")}`
      case "cooling":
        return `${head} ${dim("released; pausing before it contends again")}`
      case "failed":
        return `${head} ${red("failed")}`
      default:
        return `${head} ${dim(w.status === "waiting" ? "waiting for the lease (watching it)" : w.status)}`
    }
  })
  return [
    rule,
    `${bold("lease")} ${options.lease} ${dim(`(duration ${options.durationSeconds}s)`)} — API server says holder: ${apiText}`,
    ...workers,
    `${dim("now:")} ${options.phase}`,
    rule
  ]
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * Whether `tokens` strictly increase.
 *
 * @since 0.1.0
 * @category predicates
 */
export const strictlyIncreasing = (tokens: ReadonlyArray<number>): boolean => tokens.every((t, i) => i === 0 || t > tokens[i - 1]!)

/**
 * The closing summary.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderSummary = (live: Live, summary: Summary): string => {
  const { bold, green, red } = live.paint
  const rows = summary.changes.map((c, i) => [
    String(i + 1),
    c.kind,
    c.from,
    c.to,
    Durations.formatMillis(c.millis),
    `${c.fromToken} → ${c.toToken}`,
    c.kind === "failover" ? `${c.from} was SIGKILLed` : `${c.from} released the lease`
  ])
  const table = LeaseView.table(["#", "change", "from", "to", "measured", "token", "how"], rows)
    .split("\n").map((l) => (l === "" ? l : `  ${l}`)).join("\n")
  const kind = (k: Change["kind"]) => summary.changes.filter((c) => c.kind === k).map((c) => c.millis)
  const stats = (values: ReadonlyArray<number>) =>
    values.length === 0 ? "-" : `median ${Durations.formatMillis(median(values))}, max ${Durations.formatMillis(Math.max(...values))}`
  const ok = (good: boolean) => (good ? green("✓") : red("✗"))
  const increasing = strictlyIncreasing(summary.tokens)
  return [
    "",
    bold(`Summary — lease ${summary.lease}, duration ${summary.durationSeconds}s, ${summary.workers} contending worker processes`),
    "",
    table,
    `  handover (graceful release → next holder):  ${stats(kind("handover"))}   the waiters watch the lease and are told at once`,
    `  failover (holder SIGKILLed → next holder):  ${stats(kind("failover"))}   at most the lease duration (${summary.durationSeconds}s) after its last renewal`,
    `  fencing tokens seen in critical sections:   ${summary.tokens.join(" → ")}   ${
      increasing ? "strictly increasing" : "NOT strictly increasing"
    } ${ok(increasing)}`,
    `  critical sections: ${summary.sections} (${summary.steps} checked steps), overlapping between holders: ${summary.overlaps} ${
      ok(summary.overlaps === 0)
    }`,
    ...summary.violations.map((v) => `  ${red(`violation: ${v}`)}`),
    `  demo time: ${Durations.formatMillis(summary.elapsedMillis)}`,
    ""
  ].join("\n")
}
