/**
 * Summaries of samples: median and p99 (nearest rank) with the number of samples, as every figure
 * reports them.
 */

export interface Summary {
  readonly n: number
  readonly median: number
  readonly p99: number
  readonly min: number
  readonly max: number
  readonly mean: number
}

/** Nearest-rank percentile of sorted samples (`p` in 0..1). */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

export const summarize = (samples: ReadonlyArray<number>): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  return {
    n,
    median: n === 0 ? Number.NaN : n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2,
    p99: percentile(sorted, 0.99),
    min: n === 0 ? Number.NaN : sorted[0]!,
    max: n === 0 ? Number.NaN : sorted[n - 1]!,
    mean: n === 0 ? Number.NaN : sorted.reduce((a, b) => a + b, 0) / n
  }
}

/** A number for a table: `digits` significant decimals, "–" for NaN. */
export const fmt = (value: number, digits = 1): string => {
  if (!Number.isFinite(value)) return "–"
  if (Number.isInteger(value) && Math.abs(value) >= 1) return value.toLocaleString("en-US")
  const abs = Math.abs(value)
  const d = abs >= 100 ? 0 : abs >= 10 ? Math.min(digits, 1) : digits
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })
}

/** "median / p99 (n)" */
export const medianP99 = (s: Summary, digits = 1): string =>
  s.n === 0 ? "–" : `${fmt(s.median, digits)} / ${fmt(s.p99, digits)} (n=${s.n})`
