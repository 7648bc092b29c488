/**
 * The chaos run as a plain program (the vitest entry `chaos.test.ts` runs the same scenarios):
 *
 *   node test/chaos/run.ts [--long] [--only sigkill-holder,etcd-restart] [--keep] [--out file.md]
 *
 * Starts one local control plane, runs the scenarios one after another, prints the table and every
 * violation, and exits 1 if there was any (overlap, stale write accepted, token regression, early
 * takeover, lost or phantom write, orphan process). Journals and logs stay in the printed folder
 * with `--keep` or after a failure. Ctrl-C interrupts: faults are undone, contenders killed, the
 * control plane stopped.
 */
import { ControlPlane } from "@leasekit/testing"
import { Effect, Fiber } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { Mode, ScenarioResult } from "./scenarios.ts"
import { runScenario, scenarios, table } from "./scenarios.ts"

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(name)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const mode: Mode = flag("--long") ? "long" : "quick"
const only = option("--only")?.split(",").map((s) => s.trim()).filter((s) => s !== "")
const unknown = (only ?? []).filter((name) => !scenarios.some((s) => s.name === name))
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; known: ${scenarios.map((s) => s.name).join(", ")}`)
  process.exit(2)
}
const selected = scenarios.filter((s) => only === undefined || only.includes(s.name))
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-chaos-"))

const program = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  console.log(`chaos (${mode}): ${selected.length} scenarios; journals in ${dir}`)
  const results: Array<ScenarioResult> = []
  for (const scenario of selected) {
    results.push(yield* runScenario(cp, scenario, { mode, dir, onProgress: (line) => console.log(line) }))
  }
  return results
}).pipe(Effect.provide(ControlPlane.layer({ namespace: "leasekit-chaos", audit: false })))

const fiber = Effect.runFork(program)
process.once("SIGINT", () => Effect.runFork(Fiber.interrupt(fiber)))
process.once("SIGTERM", () => Effect.runFork(Fiber.interrupt(fiber)))
fiber.addObserver((exit) => {
  if (exit._tag === "Failure") {
    console.error(String(exit.cause))
    console.error(`journals kept in ${dir}`)
    process.exit(1)
  }
  const results = exit.value
  const text = table(results)
  console.log(`\n${text}\n`)
  const out = option("--out")
  if (out !== undefined) Fs.writeFileSync(out, text + "\n")
  const bad = results.filter((r) => r.violations.length > 0 || r.orphans.length > 0)
  for (const r of results) {
    for (const v of r.violations) console.log(`VIOLATION ${r.scenario.name}: ${v}`)
    for (const s of r.report.stuck) console.log(`stuck ${r.scenario.name}: ${s}`)
    for (const p of r.orphans) console.log(`ORPHAN ${r.scenario.name}: pid ${p}`)
  }
  if (bad.length > 0 || flag("--keep")) console.log(`journals kept in ${dir}`)
  else Fs.rmSync(dir, { recursive: true, force: true })
  process.exit(bad.length > 0 ? 1 : 0)
})
