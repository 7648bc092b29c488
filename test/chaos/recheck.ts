/**
 * Runs the checker again over kept journals (a folder printed by a run with `--keep`, or by a
 * failed one): `node test/chaos/recheck.ts /tmp/leasekit-chaos-XXXX [--verbose]`. Needs no control
 * plane: each scenario folder holds the journals, `runner.jsonl`, the fenced resource's final
 * state (`fence.json`) and the timing (`timing.json`).
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type * as ContenderProtocol from "@leasekit/testing/ContenderProtocol"
import * as Exclusion from "@leasekit/testing/Exclusion"
import type { FenceState } from "@leasekit/testing/Fence"
import { readLines } from "./journal.ts"
import type { ScenarioResult } from "./scenarios.ts"
import { scenarios, table } from "./scenarios.ts"

const dir = process.argv[2]
if (dir === undefined || !Fs.existsSync(dir)) {
  console.error("usage: node test/chaos/recheck.ts <folder of a chaos run> [--verbose]")
  process.exit(2)
}
const results: Array<ScenarioResult> = []
for (const scenario of scenarios) {
  const folder = Path.join(dir, scenario.name)
  if (!Fs.existsSync(Path.join(folder, "fence.json"))) continue
  const files = Fs.readdirSync(folder).filter((f) => f.endsWith(".jsonl") && f !== "runner.jsonl")
  const journals = files.map((f) => readLines<ContenderProtocol.LoopEvent>(Path.join(folder, f)))
  const circumstances = readLines<Exclusion.Circumstance>(Path.join(folder, "runner.jsonl"))
  const timing = JSON.parse(Fs.readFileSync(Path.join(folder, "timing.json"), "utf8")) as Exclusion.Timing
  const fence = JSON.parse(Fs.readFileSync(Path.join(folder, "fence.json"), "utf8")) as FenceState | Array<FenceState>
  const report = scenario.permits === undefined
    ? Exclusion.check({ timing, journals, circumstances, fence: fence as FenceState })
    : Exclusion.checkSemaphore({ timing, permits: scenario.permits, journals, circumstances, fences: fence as Array<FenceState> })
  const times = journals.flat().map((e) => e.t)
  results.push({
    scenario,
    report,
    violations: Exclusion.violations(report),
    orphans: [],
    seconds: times.length === 0 ? 0 : (Math.max(...times) - Math.min(...times)) / 1000,
    dir: folder
  })
}
console.log(table(results))
for (const r of results) {
  for (const v of r.violations) console.log(`VIOLATION ${r.scenario.name}: ${v}`)
  for (const s of r.report.stuck) console.log(`stuck ${r.scenario.name}: ${s}`)
  for (const p of r.report.pauses.other) console.log(`pause ${r.scenario.name}: ${p}`)
  if (process.argv.includes("--verbose")) console.log(r.scenario.name, JSON.stringify(r.report, null, 2))
}
