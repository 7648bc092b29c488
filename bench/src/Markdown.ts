/**
 * The pieces RESULTS.md is written with: Markdown tables and the units every figure prints its
 * numbers in (percentages, MiB, signed differences). Numbers themselves are formatted by
 * `Statistics.fmt`; this module adds no rounding of its own.
 */
import type { Kind } from "./Contenders.ts"
import { fmt } from "./Statistics.ts"

/** A Markdown table. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")

/** A share (0..1) as "N.N %". */
export const pct = (x: number) => `${fmt(x * 100, 1)} %`

export const mib = (x: number, digits = 0) => `${fmt(x, digits)} MiB`

/** A difference with its sign ("+1.5", "−0.3"). */
export const signed = (x: number) => `${x < 0 ? "−" : "+"}${fmt(Math.abs(x), 1)}`

/** "1 file", "3 files". */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

export const capitalized = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** How a contender kind is named in tables. */
export const kindLabel = (kind: Kind) => (kind === "leasekit" ? "leasekit" : "client-go")
