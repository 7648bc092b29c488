/**
 * Figure 9's missed goals explained from the run's own numbers: the throughput against the floor
 * (what was measured, how loaded the machine was, and the hypothesis not yet measured), and the
 * order of service (the design's bound, requeued waiters and their cause in core, overtakes).
 * Paragraphs only; the goals are judged in `../Semaphore.ts`.
 */
import type { Explanation } from "../../Goal.ts"
import type { Results } from "../../Results.ts"
import { fmt } from "../../Statistics.ts"

/** The 1-minute load average when figure 9 last started, and at the end of that run. */
const figure9Load = (r: Results): { readonly start: number | undefined; readonly end: number | undefined } => {
  const at = r.loads.findLastIndex((l) => l.figure.startsWith("figure 9"))
  if (at < 0) return { start: undefined, end: undefined }
  return { start: r.loads[at]!.load[0], end: r.loads.slice(at + 1).find((l) => l.figure === "end")?.load[0] }
}

const loadSentence = (r: Results): string => {
  const { end, start } = figure9Load(r)
  return `The 1-minute load average was ${start === undefined ? "–" : fmt(start, 2)} when the figure started and ` +
    `${end === undefined ? "–" : fmt(end, 2)} when the run ended, on ${r.machine.cores} cores (it counts the figure's own up to ` +
    `${Math.max(...(r.semaphore?.runs ?? []).map((x) => x.contenders), 2)} contender processes and the control plane, and whatever else ran).`
}

/** Figure 9's throughput goals: what the run shows, and what is only a hypothesis. */
export const throughput: Explanation = (r) => {
  const f = r.semaphore
  if (f === undefined) return []
  const rate = (n: number) => f.runs.find((x) => x.permits === n)?.perSecond ?? Number.NaN
  return [
    `Measured: one plain lease with 2 contenders ${fmt(f.floor.perSecond)}/s; the semaphore ${f.runs.map((x) => `N = ${x.permits} ` +
      `(${x.contenders} contenders) ${fmt(x.perSecond)}/s`).join(", ")}. ${loadSentence(r)} Quick runs take a few seconds ` +
      "per N, so these ratios are indicative only.",
    "",
    "Not measured yet (hypothesis for the next run, with the audit log's writes per acquisition as figure 4 counts them): " +
      "a queued acquisition writes the waiter's ticket (create), the head twice (enqueue, leave — compare-and-swaps on ONE " +
      "object shared by all 2N contenders, retried on conflict), the permit, and deletes the ticket, where a plain " +
      `lease writes twice; more contenders means more conflicts on the head, which would explain N = 3 and N = 10 ` +
      `(${fmt(rate(3))}/s, ${fmt(rate(10))}/s) below N = 1 (${fmt(rate(1))}/s) with a critical section of 0 ms. ` +
      `Acquisitions without queueing (nobody live queued, no ticket): ${f.runs.map((x) => `${x.unqueued ?? "–"} at N = ${x.permits}`).join(", ")}. ` +
      "Fixes to try: batch the leave into the permit's acquisition, or a longer critical section (holdMs) where permits, " +
      "not the head, are the bottleneck."
  ]
}

/** Figure 9's order goals: the design's bound (jump), and waiters removed from the queue. */
export const order: Explanation = (r) => {
  const f = r.semaphore
  if (f === undefined) return []
  const exact = f.runs.filter((x) => x.maxJump !== undefined)
  if (exact.length === 0) {
    return [
      `Measured: the most later-enqueued waiters served before one waiter were ${f.runs.map((x) => `${x.maxOvertakes} at N = ${x.permits}`).join(", ")}, ` +
        "matched to acquisitions by time (results written before figure 9 read the server's order)."
    ]
  }
  const over = exact.filter((x) => x.maxJump! > x.permits - 1 || (x.barged ?? 0) > 0)
  return [
    `In the server's order, the most waiters still queued ahead of an acquisition when its permit was written were ${
      exact.map((x) => `${x.maxJump} at N = ${x.permits} (bound ${x.permits - 1})`).join(", ")
    }; acquisitions without queueing ahead of a waiter: ${exact.map((x) => `${x.barged} of ${x.unqueued}`).join(", ")}. ` +
      (over.length === 0
        ? "The eligibility rule (`rank < free`) held: no acquisition went ahead of more waiters than the design allows."
        : `Above the design's bound at N = ${over.map((x) => x.permits).join(", ")}: a reproduction is needed (the raw events are beside the contender logs).`),
    "",
    `Waiters removed from the queue while they waited and queued again at the end: ${exact.map((x) => `${x.requeued} of ${x.queued} at N = ${x.permits}`).join(", ")}. ` +
      "Cause (core, `internal/semaphoreContender.ts`): a waiter judges every queue entry whose ticket it has not listed as dead " +
      "(tickets are not watched; it lists every retryPeriod), and when it is served its leave prunes the entries it last " +
      "judged dead — so waiters that enqueued after its last list, alive, lose their place. The unit test \"a served waiter's " +
      "leave never removes a live waiter that enqueued after its last list\" (packages/core/test/LeaseSemaphore.test.ts) " +
      "reproduces it on the memory store. Fix to make in core: judge an entry whose ticket is absent from a list older than " +
      "the entry as unknown (alive), not dead — e.g. prune only entries whose ticket was seen expired or was absent from a " +
      "list made after the entry was seen in the head.",
    "",
    `Overtakes (first enqueued later, served earlier): at most ${exact.map((x) => `${x.maxOvertakes} at N = ${x.permits}`).join(", ")}. ` +
      "The design does not bound them by N − 1 — it promises no order among waiters eligible together, and a waiter that " +
      "loses those races in several rounds is overtaken in each — and a requeued waiter is overtaken by everyone it lost its " +
      `place to. Among waiters never requeued: at most ${exact.map((x) => `${x.maxOvertakesNotRequeued ?? "–"} at N = ${x.permits}`).join(", ")}.`
  ]
}
