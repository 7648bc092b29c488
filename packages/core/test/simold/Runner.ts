/**
 * Runs many schedules and sums up what they did: the CI budget and the long mode share it.
 *
 * Guarantees: seeds run one after another in increasing order from `firstSeed`, so a budget is a
 * seed range and a failure names its seed. Stops at the schedule count or the time budget,
 * whichever comes first (a time budget is measured in real time — the only real time the
 * simulator reads, and it never influences a schedule). Does not guarantee: that all violations of
 * a run are kept — the first few failing outcomes are.
 */
import type { Violation } from "./Checker.ts"
import type { Outcome } from "./Simulation.ts"
import * as Simulation from "./Simulation.ts"
import * as Trace from "./Trace.ts"

export interface Budget {
  readonly firstSeed: number
  /** Seeds run are `firstSeed`, `firstSeed + stride`, … (default stride 1). */
  readonly stride?: number
  readonly schedules?: number
  readonly seconds?: number
  /** Stop at the first failing schedule. */
  readonly stopOnFailure?: boolean
  readonly onProgress?: (summary: Summary) => void
}

export interface Summary {
  schedules: number
  firstSeed: number
  lastSeed: number
  contenders: number
  virtualSeconds: number
  events: number
  ops: Record<string, number>
  faults: Record<string, number>
  violations: Record<string, number>
  failing: Array<Failure>
  realMillis: number
}

/** A failing schedule, as plain data (it crosses worker threads). */
export interface Failure {
  readonly seed: number
  readonly properties: ReadonlyArray<string>
  readonly report: string
}

const add = (into: Record<string, number>, from: Readonly<Record<string, number>>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v
}

/** A summary of no schedules. */
export const empty = (firstSeed: number): Summary => ({
  schedules: 0,
  firstSeed,
  lastSeed: firstSeed - 1,
  contenders: 0,
  virtualSeconds: 0,
  events: 0,
  ops: {},
  faults: {},
  violations: {},
  failing: [],
  realMillis: 0
})

export const runMany = async (budget: Budget): Promise<Summary> => {
  const started = performance.now()
  const summary = empty(budget.firstSeed)
  let lastProgress = started
  for (let seed = budget.firstSeed;; seed += budget.stride ?? 1) {
    if (budget.schedules !== undefined && summary.schedules >= budget.schedules) break
    if (budget.seconds !== undefined && performance.now() - started >= budget.seconds * 1000) break
    const outcome = await Simulation.run(seed)
    summary.schedules++
    summary.lastSeed = seed
    summary.contenders += outcome.plan.contenders.length
    summary.virtualSeconds += outcome.plan.endAt / 1000
    summary.events += outcome.events.length
    add(summary.ops, outcome.opCounts)
    add(summary.faults, outcome.faultCounts)
    const failed = outcome.violations.length > 0 || !outcome.tornDown
    for (const v of outcome.violations) summary.violations[v.property] = (summary.violations[v.property] ?? 0) + 1
    if (!outcome.tornDown) summary.violations["teardown"] = (summary.violations["teardown"] ?? 0) + 1
    if (failed && summary.failing.length < 20) {
      const properties = [...new Set(outcome.violations.map((v) => v.property))]
      summary.failing.push({ seed, properties: outcome.tornDown ? properties : [...properties, "teardown"], report: report(outcome) })
    }
    summary.realMillis = performance.now() - started
    if (budget.onProgress !== undefined && (performance.now() - lastProgress > 10_000 || failed)) {
      lastProgress = performance.now()
      budget.onProgress(summary)
    }
    if (failed && budget.stopOnFailure === true) break
  }
  summary.realMillis = performance.now() - started
  return summary
}

const windowOf = (v: Violation) => ({ from: v.from - 1000, to: v.to + 1000 })

/** A failing outcome as a person reads it: seed, properties, and the trace of the first one's window. */
export const report = (outcome: Outcome, maxLines = 150): string => {
  const lines: Array<string> = []
  lines.push(`seed ${outcome.seed}: ${outcome.violations.length} violation(s)${outcome.tornDown ? "" : ", teardown hung"}`)
  const byProperty = new Map<string, Violation>()
  for (const v of outcome.violations) if (!byProperty.has(v.property)) byProperty.set(v.property, v)
  for (const v of byProperty.values()) lines.push(`  [${v.property}] ${v.message}`)
  lines.push(`  plan: ${describePlan(outcome)}`)
  const v = outcome.violations[0]
  if (v !== undefined) {
    const trace = Trace.format(outcome.events, { ...windowOf(v), key: v.key, contenders: v.contenders }).split("\n")
    const shown = trace.length > maxLines ? ["  …", ...trace.slice(trace.length - maxLines)] : trace
    lines.push(`  trace of [${v.property}] (${shown.length} lines; replay: pnpm simulate --seed ${outcome.seed} --trace):`)
    lines.push(...shown.map((l) => `    ${l}`))
  }
  return lines.join("\n")
}

export const describePlan = (outcome: Outcome): string => {
  const p = outcome.plan
  const cs = p.contenders.map((c) => {
    const t = c.timings
    return `${c.id}{D ${t.duration / 1000}s RI ${t.renewInterval}ms RD ${t.renewDeadline}ms retry ${t.retryPeriod}ms RT ${t.requestTimeout}ms${
      t.maxHonouredDuration < 3_600_000 ? ` maxHonoured ${t.maxHonouredDuration / 1000}s` : ""
    }${t.releaseMode === "delete" ? " delete" : ""} rate ${c.rate.toFixed(5)} pauses ${c.pauses.map((x) => `${(x.length / 1000).toFixed(2)}s${x.exempt ? "!" : ""}`).join("/") || "-"}}`
  })
  return `keys ${p.keys.length}, faults ${(p.callFaultRate * 100).toFixed(0)}%, quiet at ${(p.quietAt / 1000).toFixed(1)}s, end ${
    (p.endAt / 1000).toFixed(1)
  }s, admin ${p.admin.map((a) => `${a.action}@${(a.at / 1000).toFixed(1)}s`).join(",") || "-"}\n        ${cs.join("\n        ")}`
}

const table = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `    ${k.padEnd(24)} ${v}`)
    .join("\n")

/** The figures of a run, as the long mode prints them. */
export const figures = (s: Summary): string =>
  [
    `schedules: ${s.schedules} (seeds ${s.firstSeed}–${s.lastSeed}) in ${(s.realMillis / 1000).toFixed(1)} s real, ${
      (s.schedules / Math.max(0.001, s.realMillis / 1000)).toFixed(1)
    } schedules/s`,
    `contenders: ${s.contenders}; virtual time: ${(s.virtualSeconds / 3600).toFixed(1)} h; events: ${s.events}`,
    `operations:\n${table(s.ops)}`,
    `faults injected:\n${table(s.faults)}`,
    `violations: ${Object.keys(s.violations).length === 0 ? "0" : `\n${table(s.violations)}`}`,
    `failing seeds: ${s.failing.length === 0 ? "none" : s.failing.map((f) => `${f.seed} (${f.properties.join(", ")})`).join(", ")}${
      s.failing.length >= 20 ? " …" : ""
    }`
  ].join("\n")

/** Adds `b` into `a` (summaries of disjoint seed sets). */
export const merge = (a: Summary, b: Summary): Summary => {
  const ops = { ...a.ops }
  add(ops, b.ops)
  const faults = { ...a.faults }
  add(faults, b.faults)
  const violations = { ...a.violations }
  add(violations, b.violations)
  return {
    schedules: a.schedules + b.schedules,
    firstSeed: Math.min(a.firstSeed, b.firstSeed),
    lastSeed: Math.max(a.lastSeed, b.lastSeed),
    contenders: a.contenders + b.contenders,
    virtualSeconds: a.virtualSeconds + b.virtualSeconds,
    events: a.events + b.events,
    ops,
    faults,
    violations,
    failing: [...a.failing, ...b.failing].sort((x, y) => x.seed - y.seed).slice(0, 20),
    realMillis: Math.max(a.realMillis, b.realMillis)
  }
}
