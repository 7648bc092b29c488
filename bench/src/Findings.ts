/**
 * The causes of missed goals and what would fix them, as found by profiling and by reading the
 * numbers of this run. RESULTS.md includes the paragraph of every goal missed in the run it
 * describes; the measured numbers in it come from that run.
 */
import type { Goal, Results } from "./Report.ts"

type Explanation = (r: Results, goal: Goal) => ReadonlyArray<string>

const explanations: ReadonlyArray<{ readonly id: RegExp; readonly explain: Explanation }> = []

export const explain = (r: Results, goals: ReadonlyArray<Goal>): Array<string> => {
  const out: Array<string> = []
  for (const goal of goals.filter((g) => g.met === false)) {
    const entry = explanations.find((e) => e.id.test(goal.id))
    out.push(`### Missed: ${goal.goal} (measured ${goal.measured})`, "")
    out.push(...(entry === undefined ? ["No analysis recorded for this goal yet."] : entry.explain(r, goal)), "")
  }
  return out
}
