/**
 * Small SVG line plots for RESULTS.md — axes (linear or log), ticks, a grid, a legend, and series
 * drawn as lines, steps (distribution functions) or markers. Self-contained: no dependency, no
 * fonts beyond the viewer's sans-serif.
 */

export interface Series {
  readonly label: string
  readonly color: string
  readonly points: ReadonlyArray<readonly [number, number]>
  readonly dashed?: boolean
  readonly markers?: boolean
  /** Draw as a step function (for cumulative distributions). */
  readonly steps?: boolean
}

export interface PlotOptions {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly xLog?: boolean
  readonly yLog?: boolean
  readonly xDomain?: readonly [number, number]
  readonly yDomain?: readonly [number, number]
  readonly series: ReadonlyArray<Series>
  /** Horizontal reference lines, e.g. a goal. */
  readonly hLines?: ReadonlyArray<{ readonly y: number; readonly label: string }>
  readonly vLines?: ReadonlyArray<{ readonly x: number; readonly label: string }>
  readonly width?: number
  readonly height?: number
}

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const niceStep = (span: number, count: number) => {
  const raw = span / Math.max(1, count)
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const residual = raw / magnitude
  return (residual > 5 ? 10 : residual > 2 ? 5 : residual > 1 ? 2 : 1) * magnitude
}

const ticksOf = (lo: number, hi: number, log: boolean): Array<number> => {
  if (log) {
    const out: Array<number> = []
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      const v = 10 ** e
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v)
    }
    return out
  }
  const step = niceStep(hi - lo, 6)
  const out: Array<number> = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

const label = (v: number): string => {
  if (v === 0) return "0"
  const abs = Math.abs(v)
  if (abs >= 1e6) return `${v / 1e6}M`
  if (abs >= 1e3) return `${v / 1e3}k`
  if (abs < 0.01) return v.toExponential(0)
  return String(Number(v.toPrecision(3)))
}

export const render = (options: PlotOptions): string => {
  const width = options.width ?? 760
  const height = options.height ?? 420
  const margin = { left: 70, right: 20, top: 40, bottom: 55 }
  const legendWidth = 250
  const plotW = width - margin.left - margin.right - legendWidth
  const plotH = height - margin.top - margin.bottom
  const all = options.series.flatMap((s) => s.points)
  const xs = all.map((p) => p[0]).filter((x) => !options.xLog || x > 0)
  const ys = all.map((p) => p[1]).filter((y) => !options.yLog || y > 0)
  const [xLo, xHi] = options.xDomain ?? [Math.min(...xs), Math.max(...xs)]
  const [yLo, yHi] = options.yDomain ?? [options.yLog ? Math.min(...ys) : Math.min(0, ...ys), Math.max(...ys)]
  const scale = (lo: number, hi: number, log: boolean, size: number, flip: boolean) => (v: number) => {
    const t = log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1) : (v - lo) / (hi - lo || 1)
    const c = Math.max(-0.05, Math.min(1.05, t))
    return flip ? size * (1 - c) : size * c
  }
  const sx = scale(xLo, xHi, options.xLog ?? false, plotW, false)
  const sy = scale(yLo, yHi, options.yLog ?? false, plotH, true)
  const parts: Array<string> = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(options.title)}</text>`,
    `<g transform="translate(${margin.left},${margin.top})">`
  )
  for (const t of ticksOf(xLo, xHi, options.xLog ?? false)) {
    const x = sx(t).toFixed(1)
    parts.push(
      `<line x1="${x}" x2="${x}" y1="0" y2="${plotH}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${plotH + 18}" text-anchor="middle">${label(t)}</text>`
    )
  }
  for (const t of ticksOf(yLo, yHi, options.yLog ?? false)) {
    const y = sy(t).toFixed(1)
    parts.push(
      `<line x1="0" x2="${plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="-8" y="${y}" text-anchor="end" dominant-baseline="middle">${label(t)}</text>`
    )
  }
  parts.push(
    `<rect x="0" y="0" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${plotW / 2}" y="${plotH + 42}" text-anchor="middle">${escape(options.xLabel)}</text>`,
    `<text transform="translate(-52,${plotH / 2}) rotate(-90)" text-anchor="middle">${escape(options.yLabel)}</text>`
  )
  for (const h of options.hLines ?? []) {
    const y = sy(h.y).toFixed(1)
    parts.push(
      `<line x1="0" x2="${plotW}" y1="${y}" y2="${y}" stroke="#c00" stroke-dasharray="2,3"/>`,
      `<text x="${plotW - 4}" y="${Number(y) - 4}" text-anchor="end" fill="#c00">${escape(h.label)}</text>`
    )
  }
  for (const [i, v] of (options.vLines ?? []).entries()) {
    const x = sx(v.x).toFixed(1)
    parts.push(
      `<line x1="${x}" x2="${x}" y1="0" y2="${plotH}" stroke="#c00" stroke-dasharray="2,3"/>`,
      Number(x) > plotW * 0.7
        ? `<text x="${Number(x) - 4}" y="${plotH - 8 - i * 16}" text-anchor="end" fill="#c00">${escape(v.label)}</text>`
        : `<text x="${Number(x) + 4}" y="${plotH - 8 - i * 16}" fill="#c00">${escape(v.label)}</text>`
    )
  }
  options.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => (!options.xLog || x > 0) && (!options.yLog || y > 0))
    if (pts.length > 0) {
      let d = ""
      pts.forEach(([x, y], j) => {
        const px = sx(x).toFixed(1)
        const py = sy(y).toFixed(1)
        if (j === 0) d += `M${px},${py}`
        else if (s.steps) d += `H${px}V${py}`
        else d += `L${px},${py}`
      })
      parts.push(
        `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6,4"` : ""}/>`
      )
      if (s.markers) {
        for (const [x, y] of pts) {
          parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3.5" fill="${s.color}"/>`)
        }
      }
    }
    const ly = 10 + i * 20
    parts.push(
      `<line x1="${plotW + 15}" x2="${plotW + 45}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${
        s.dashed ? ` stroke-dasharray="6,4"` : ""
      }/>`,
      `<text x="${plotW + 50}" y="${ly}" dominant-baseline="middle">${escape(s.label)}</text>`
    )
  })
  parts.push("</g>", "</svg>")
  return parts.join("\n") + "\n"
}

/** The points of an empirical cumulative distribution function (fraction ≤ x). */
export const ecdf = (samples: ReadonlyArray<number>): Array<readonly [number, number]> => {
  const sorted = [...samples].sort((a, b) => a - b)
  if (sorted.length === 0) return []
  return [[sorted[0]!, 0] as const, ...sorted.map((x, i) => [x, (i + 1) / sorted.length] as const)]
}

/**
 * Cumulative distributions of durations in ms on a log x axis, one step series per sample set
 * (samples under 0.1 ms drawn at 0.1 ms), over whole decades covering every sample (at least
 * 0.1 to 10 ms), y from 0 to 1.
 */
export const distributions = (options: {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<{ readonly label: string; readonly color: string; readonly samples: ReadonlyArray<number> }>
  readonly vLines?: PlotOptions["vLines"]
}): string => {
  const all = options.series.flatMap((x) => x.samples)
  return render({
    title: options.title,
    xLabel: options.xLabel,
    yLabel: options.yLabel,
    xLog: true,
    xDomain: [Math.max(0.1, 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all))))), 10 ** Math.ceil(Math.log10(Math.max(10, ...all)))],
    yDomain: [0, 1],
    series: options.series.map((x) => ({ label: x.label, color: x.color, points: ecdf(x.samples.map((v) => Math.max(v, 0.1))), steps: true })),
    ...(options.vLines === undefined ? {} : { vLines: options.vLines }),
    width: 900
  })
}
