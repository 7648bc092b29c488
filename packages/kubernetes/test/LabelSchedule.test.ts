/**
 * The leader label's schedule against the loss deadline (`internal/labelSchedule.ts`), on
 * `TestClock`: a fake lease whose `remaining` follows a deadline the test moves (a renewal), and
 * label operations that record when they ran and can hang (a blackholed API server).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as LabelSchedule from "../src/internal/labelSchedule.ts"

/** Lease timings like the defaults of a 3 s lease: renew every 1 s, deadline 2 s, requests 400 ms. */
const renewInterval = Duration.seconds(1)
const renewDeadline = Duration.seconds(2)
const requestTimeout = Duration.millis(400)
const threshold = LabelSchedule.thresholdOf({ renewDeadline, renewInterval, requestTimeout })

interface Harness {
  /** Label writes as `[what, start ms, outcome]`. */
  readonly log: Array<readonly [string, number]>
  /** The state of the label as the API server has it. */
  labelled: boolean
  /** Monotonic ms of the loss deadline. */
  deadline: number
  /** While true, writes never answer (a blackhole). */
  hang: boolean
}

const harness = (): Harness => ({ log: [], labelled: false, deadline: 2_000, hang: false })

const now = Clock.currentTimeMillis

const run = (h: Harness) => {
  const remaining = Effect.map(now, (t) => Duration.millis(Math.max(0, h.deadline - t)))
  const write = (what: "label" | "unlabel") => (_timeout: Duration.Duration) =>
    Effect.gen(function*() {
      h.log.push([what, yield* now])
      if (h.hang) return yield* Effect.never
      yield* Effect.sleep("20 millis")
      h.labelled = what === "label"
    })
  return LabelSchedule.maintain(remaining, {
    label: write("label"),
    unlabel: write("unlabel"),
    failed: () => Effect.void
  }, { threshold, requestTimeout, retryPeriod: Duration.millis(400), recheck: Duration.millis(100) })
}

/** A renewal that succeeds at the current instant (sent now): the deadline moves to now + 2 s. */
const renew = (h: Harness) => Effect.map(now, (t) => void (h.deadline = t + Duration.toMillis(renewDeadline)))

/** Interrupts the loop, letting the clock run while its finalizer removes the label. */
const stop = (fiber: Fiber.Fiber<never>) =>
  Effect.gen(function*() {
    const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
    yield* TestClock.adjust("1 second")
    yield* Fiber.join(interrupting)
  })

describe("leader label schedule", () => {
  it("the threshold is renewDeadline − renewInterval − requestTimeout, at most half of renewDeadline − renewInterval", () => {
    assert.strictEqual(Duration.toMillis(threshold), 600)
    // client-go-like defaults for a 20 s lease: 13.33 s, 6.67 s, 2 s.
    const defaults = LabelSchedule.thresholdOf({
      renewDeadline: Duration.millis(13_333),
      renewInterval: Duration.millis(6_666),
      requestTimeout: Duration.seconds(2)
    })
    assert.strictEqual(Duration.toMillis(defaults), 4_667)
    // A request timeout as large as allowed: half the window.
    const wide = LabelSchedule.thresholdOf({ renewDeadline, renewInterval, requestTimeout: Duration.seconds(1) })
    assert.strictEqual(Duration.toMillis(wide), 500)
  })

  it.effect("labels at once and keeps the label across renewals on schedule (no removal while renewals succeed)", () =>
    Effect.gen(function*() {
      const h = harness()
      const fiber = yield* Effect.forkChild(run(h))
      yield* TestClock.adjust("50 millis")
      assert.isTrue(h.labelled)
      // Renewals every second, each answered after 300 ms (within requestTimeout).
      for (let i = 0; i < 5; i++) {
        // Sent renewInterval after the last one (remaining = 1 s), answered 300 ms later.
        const sentAt = h.deadline - 1_000
        yield* TestClock.adjust(Duration.millis(sentAt - (yield* now)))
        yield* TestClock.adjust("300 millis")
        h.deadline = sentAt + 2_000
      }
      assert.deepStrictEqual(h.log.map(([what]) => what), ["label"])
      assert.isTrue(h.labelled)
      yield* stop(fiber)
    }))

  it.effect("removes the label once a renewal is overdue, before the deadline, and puts it back after the next renewal", () =>
    Effect.gen(function*() {
      const h = harness()
      const fiber = yield* Effect.forkChild(run(h))
      yield* TestClock.adjust("50 millis")
      assert.isTrue(h.labelled)
      // No renewal: remaining reaches the threshold (600 ms) at 1 400 ms.
      yield* TestClock.adjust("1500 millis")
      assert.isFalse(h.labelled, "removed once remaining fell below the threshold")
      const removal = h.log.find(([what]) => what === "unlabel")!
      assert.isAtLeast(removal[1], 2_000 - 600)
      assert.isBelow(removal[1] + 20, h.deadline, "the removal is answered before the loss deadline")
      // A renewal succeeds late (still before the deadline): the label goes back on.
      yield* renew(h)
      yield* TestClock.adjust("200 millis")
      assert.isTrue(h.labelled)
      assert.deepStrictEqual(h.log.map(([what]) => what), ["label", "unlabel", "label"])
      yield* stop(fiber)
    }))

  it.effect("a removal that gets no answer is given up by the deadline and tried again until then", () =>
    Effect.gen(function*() {
      const h = harness()
      const fiber = yield* Effect.forkChild(run(h))
      yield* TestClock.adjust("50 millis")
      h.hang = true
      const started = yield* now
      yield* TestClock.adjust("3000 millis")
      const removals = h.log.filter(([what]) => what === "unlabel").map(([, at]) => at)
      assert.isAtLeast(removals.length, 2, "tried more than once")
      assert.isAtLeast(removals[0]!, 1_400)
      // Every attempt started before the deadline was bounded by the time left.
      for (const at of removals.filter((at) => at < 2_000)) assert.isAtLeast(at, started)
      yield* stop(fiber)
    }))

  it.effect("a label write still unanswered when renewals fall behind is given up when the threshold is reached", () =>
    Effect.gen(function*() {
      const h = harness()
      h.hang = true
      const fiber = yield* Effect.forkChild(run(h))
      // The first label write hangs; it must be abandoned at 1 400 ms (remaining = threshold).
      yield* TestClock.adjust("1450 millis")
      const kinds = h.log.map(([what]) => what)
      assert.strictEqual(kinds[0], "label")
      assert.include(kinds, "unlabel", "the unanswered label write was given up and a removal followed")
      yield* stop(fiber)
    }))

  it.effect("interrupted (release, loss), it removes the label before it ends", () =>
    Effect.gen(function*() {
      const h = harness()
      const fiber = yield* Effect.forkChild(run(h))
      yield* TestClock.adjust("50 millis")
      assert.isTrue(h.labelled)
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(interrupting)
      assert.isFalse(h.labelled)
      assert.deepStrictEqual(h.log.map(([what]) => what), ["label", "unlabel"])
    }))

  it.effect("a pod that may still carry a label from before (Unknown at start) is unlabelled when renewals are behind", () =>
    Effect.gen(function*() {
      const h = harness()
      h.labelled = true
      h.deadline = 500 // below the threshold from the start
      const fiber = yield* Effect.forkChild(run(h))
      yield* TestClock.adjust("50 millis")
      assert.isFalse(h.labelled)
      assert.deepStrictEqual(h.log.map(([what]) => what), ["unlabel"])
      yield* stop(fiber)
    }))
})
