/**
 * The semaphore checker (`Exclusion.checkSemaphore`) on hand-made journals: it must find nothing in a clean
 * run and must catch what the semaphore scenario is there to catch — more than N inside critical
 * sections at once, two holders of one permit, a stale write accepted by a permit's fenced
 * resource — while tenures of different permits (and one holder's successive permits) are not
 * overlaps. No control plane needed.
 */
import { assert, describe, it } from "@effect/vitest"
import type { LoopEvent } from "@leasekit/testing/ContenderProtocol"
import { checkSemaphore, maxConcurrent, violations } from "@leasekit/testing/Exclusion"
import type { FenceState } from "@leasekit/testing/Fence"
import { normalTiming } from "./scenarios.ts"

/** One tenure of `holder` on `permit` with `token`, believed from `from` to `to`, writing once. */
const tenure = (holder: string, permit: number, token: number, from: number, to: number, write = true): Array<LoopEvent> => [
  { ev: "acquired", t: from - 1, holder, token, round: 0, permit },
  { ev: "valid", t: from, holder, token },
  ...(write
    ? [
      { ev: "write-begin", t: from + 1, holder, token, id: `${holder}#${token}` } as const,
      { ev: "write", t: from + 2, holder, token, id: `${holder}#${token}`, outcome: "accepted", attempts: 1 } as const
    ]
    : []),
  { ev: "valid", t: to, holder, token },
  { ev: "section", t: to, holder, token, start: from, end: to, accepted: write ? 1 : 0, rejected: 0, outcome: "completed" },
  { ev: "releasing", t: to + 1, holder, token, afterLoss: false },
  { ev: "release-ok", t: to + 2, holder, token }
]

const fence = (entries: ReadonlyArray<readonly [string, number]>): FenceState => ({
  resourceVersion: "1",
  token: Math.max(-1, ...entries.map(([, t]) => t)),
  holder: "",
  writes: entries.length,
  log: entries.map(([id, token], i) => ({ id, token, at: i })),
  dropped: 0
})

const judge = (journals: Array<Array<LoopEvent>>, fences: ReadonlyArray<FenceState>) =>
  checkSemaphore({ timing: normalTiming, permits: 2, journals, circumstances: [], fences })

describe("checkSemaphore", () => {
  it("maxConcurrent counts intervals open at one instant", () => {
    const r = maxConcurrent([{ start: 0, end: 10, label: "a" }, { start: 5, end: 15, label: "b" }, { start: 12, end: 20, label: "c" }], 1)
    assert.strictEqual(r.max, 2)
    assert.strictEqual(r.excess.length, 2)
  })

  it("a clean run: two permits held at once, one holder on two permits in turn — no violation", () => {
    const report = judge(
      [
        [...tenure("a", 0, 0, 1_000, 2_000), ...tenure("a", 1, 1, 3_000, 4_000)],
        [...tenure("b", 1, 0, 1_500, 2_500), ...tenure("b", 0, 1, 3_000, 4_000)]
      ],
      [fence([["a#0", 0], ["b#1", 1]]), fence([["b#0", 0], ["a#1", 1]])]
    )
    assert.deepStrictEqual(violations(report), [])
    assert.strictEqual(report.inside?.max, 2)
    assert.strictEqual(report.inside?.served, 2)
    assert.strictEqual(report.sections, 4)
  })

  it("three inside with two permits is a violation; so are two holders of one permit", () => {
    const report = judge(
      [tenure("a", 0, 0, 1_000, 2_000), tenure("b", 1, 0, 1_000, 2_000), tenure("c", 1, 1, 1_500, 2_500)],
      [fence([["a#0", 0]]), fence([["b#0", 0], ["c#1", 1]])]
    )
    const found = violations(report)
    assert.isTrue(found.some((v) => v.startsWith("more than 2 permits held")), found.join("\n"))
    assert.isTrue(found.some((v) => v.startsWith("overlap: b (token 0) and c (token 1)")), found.join("\n"))
  })

  it("a stale write accepted by one permit's resource is a violation naming the permit", () => {
    const report = judge(
      [tenure("a", 0, 0, 1_000, 2_000), tenure("b", 0, 1, 3_000, 4_000, false)],
      [fence([["b#1", 1], ["a#0", 0]]), fence([])]
    )
    assert.isTrue(violations(report).some((v) => v.startsWith("stale write accepted: permit 0:")), violations(report).join("\n"))
  })
})
