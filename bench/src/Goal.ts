/**
 * A goal of an issue judged on one run's results, and how RESULTS.md explains the goals a run
 * missed. Each figure module judges its own goals and attaches to each the explanation that
 * applies when it is missed (a paragraph generated from the same run's numbers: the cause found by
 * profiling and the fix, or what the numbers show). This module does not know any figure: it only
 * renders the explanations of the missed goals in the order the report lists the goals, each
 * explanation once ("Same cause and fix as above." for the next goal it covers).
 */
import type { Results } from "./Results.ts"

/** The paragraph(s) that explain a missed goal, from the run's own numbers. */
export type Explanation = (r: Results, goal: Goal) => ReadonlyArray<string>

export interface Goal {
  readonly id: string
  readonly goal: string
  readonly measured: string
  /** `undefined`: not measured in this run. */
  readonly met: boolean | undefined
  /** Why it is missed, when it is (absent: no analysis recorded). */
  readonly explain?: Explanation | undefined
}

/** "**met**", "**MISSED**" or "not measured". */
export const verdict = (met: boolean | undefined) => (met === undefined ? "not measured" : met ? "**met**" : "**MISSED**")

/** A heading and the explanation of every missed goal, each explanation written once. */
export const explainMissed = (r: Results, goals: ReadonlyArray<Goal>): Array<string> => {
  const out: Array<string> = []
  const done = new Set<Explanation>()
  for (const goal of goals.filter((g) => g.met === false)) {
    out.push(`### Missed: ${goal.goal} (measured ${goal.measured})`, "")
    if (goal.explain === undefined) out.push("No analysis recorded for this goal.", "")
    else if (done.has(goal.explain)) out.push("Same cause and fix as above.", "")
    else {
      done.add(goal.explain)
      out.push(...goal.explain(r, goal), "")
    }
  }
  return out
}
