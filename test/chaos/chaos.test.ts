/**
 * The chaos scenarios as tests (see `scenarios.ts`): each runs N ≥ 4 contender processes against
 * one real control plane while one kind of fault is injected, and the independent checker must
 * find no overlap between holders, no stale write accepted by the fenced resource, no token going
 * backwards, no takeover before the lease expired, no stuck lease and no orphan process — plus
 * what the scenario is about (the holder kept its lease through a short API server restart, paused
 * holders found out or were fenced, …).
 *
 * Mode: `LEASEKIT_CHAOS_MODE=long` soaks (several minutes per scenario); anything else is the quick
 * mode for CI. `LEASEKIT_CHAOS_ONLY=a,b` selects scenarios. The table is printed at the end and
 * written to `LEASEKIT_CHAOS_OUT` when set. Run through `node test/chaos/main.ts [--long]`.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll } from "vitest"
import type { Mode, Scenario, ScenarioResult } from "./scenarios.ts"
import { runScenario, scenarios, table } from "./scenarios.ts"

const mode: Mode = process.env["LEASEKIT_CHAOS_MODE"] === "long" ? "long" : "quick"
const only = process.env["LEASEKIT_CHAOS_ONLY"]?.split(",").map((s) => s.trim()).filter((s) => s !== "")
const selected = scenarios.filter((s) => only === undefined || only.includes(s.name))
const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-chaos-"))
const results: Array<ScenarioResult> = []
let keep = process.env["LEASEKIT_CHAOS_KEEP"] === "1"

afterAll(() => {
  if (results.length === 0) return
  const text = table(results)
  console.log(`\nchaos (${mode})\n\n${text}\n`)
  const out = process.env["LEASEKIT_CHAOS_OUT"]
  if (out !== undefined && out !== "") Fs.writeFileSync(out, text + "\n")
  if (keep) console.log(`journals kept in ${dir}`)
  else Fs.rmSync(dir, { recursive: true, force: true })
})

/** What each scenario is about, beyond the invariants every scenario must keep. */
const expectations: Record<string, (result: ScenarioResult) => void> = {
  "sigkill-holder": (r) => {
    assert.isAtLeast(r.report.faults, 1, "no holder was killed")
  },
  "sigstop-holder": (r) => {
    assert.isAtLeast(r.report.pauses.total, 1, "no holder was paused")
    assert.deepStrictEqual(r.report.pauses.other, [], "every paused holder found out or was fenced")
    assert.strictEqual(r.report.pauses.foundOut + r.report.pauses.fenced, r.report.pauses.total)
  },
  "apiserver-restart-short": (r) => {
    assert.isAtLeast(r.report.outages.length, 1, "the API server was not restarted")
    for (const outage of r.report.outages) {
      assert.isBelow(outage.millis, r.scenario.timing.renewDeadlineMillis, "the restart took longer than renewDeadline")
      assert.notStrictEqual(outage.holderKept, false, "the holder lost its lease over a restart shorter than renewDeadline")
    }
  },
  "apiserver-down-long": (r) => {
    assert.isAtLeast(r.report.outages.length, 1, "the API server was not stopped")
    assert.isAtLeast(r.report.lossDeclaredAfterMillis.length, 1, "the holder did not declare a deadline loss")
    for (const after of r.report.lossDeclaredAfterMillis) {
      assert.isAtLeast(after, r.scenario.timing.renewDeadlineMillis - 50, "loss declared before the deadline")
      assert.isBelow(after, r.scenario.timing.durationSeconds * 1000, "loss declared after the lease could expire")
    }
  },
  "etcd-restart": (r) => {
    assert.isAtLeast(r.report.outages.length, 1, "etcd was not restarted")
  },
  "latency-holder": (r) => {
    assert.isAtLeast(r.report.faults, 1)
    assert.isAtLeast(r.report.losses["DeadlineExceeded"] ?? 0, 1, "the slowed holder never declared a deadline loss")
  },
  "blackhole-holder": (r) => {
    assert.isAtLeast(r.report.faults, 1)
    assert.isAtLeast(r.report.losses["DeadlineExceeded"] ?? 0, 1, "the partitioned holder never declared a deadline loss")
  },
  "connection-resets": (r) => {
    assert.isAtLeast(r.report.faults, 1)
  },
  "hostile-records": (r) => {
    assert.isAtLeast(r.report.adminWrites, 1)
  },
  "semaphore": (r) => {
    assert.isAtLeast(r.report.faults, 1, "no permit holder was killed or paused")
    assert.isDefined(r.report.inside, "judged as a semaphore")
    assert.isAtMost(r.report.inside!.max, r.scenario.permits!, "more contenders inside critical sections than permits")
    // The permits are shared: at some instant more than one contender was inside.
    assert.isAtLeast(r.report.inside!.max, 2, "never more than one permit held at once")
    assert.deepStrictEqual(r.report.pauses.other, [], "every paused holder found out or was fenced")
    // The queue turns: more contenders than permits got one (not only the first N, again and again).
    assert.isAbove(r.report.inside!.served, r.scenario.permits!, "only the first holders were ever served")
  }
}

const timeoutOf = (scenario: Scenario) => (scenario.budget[mode] + 300) * 1000

layer(ControlPlane.layer({ namespace: "leasekit-chaos", audit: false }), { excludeTestServices: true, timeout: "3 minutes" })(
  `chaos (${mode})`,
  (it) => {
    for (const scenario of selected) {
      it.effect(
        `${scenario.name}: ${scenario.faults}`,
        () =>
          Effect.gen(function*() {
            const cp = yield* ControlPlane.ControlPlane
            const result = yield* runScenario(cp, scenario, { mode, dir })
            results.push(result)
            yield* Effect.sync(() => {
              assert.deepStrictEqual(result.violations, [], `violations (journals in ${result.dir})`)
              assert.deepStrictEqual(result.orphans, [], "contender processes outlived the scenario")
              assert.deepStrictEqual(result.report.stuck, [], "the lease was stuck")
              assert.isAtLeast(result.report.sections, 2, "critical sections ran")
              expectations[scenario.name]?.(result)
            }).pipe(Effect.tapCause(() => Effect.sync(() => {
              keep = true
            })))
          }),
        timeoutOf(scenario)
      )
    }
  }
)
