/**
 * Review of issue 15 (Operability): the leader label's schedule. Each test here is expected to
 * FAIL against the reviewed code; it states the claim it breaks.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as LabelSchedule from "../src/internal/labelSchedule.ts"

const renewInterval = Duration.seconds(1)
const renewDeadline = Duration.seconds(2)
const requestTimeout = Duration.millis(400)
const threshold = LabelSchedule.thresholdOf({ renewDeadline, renewInterval, requestTimeout })
const now = Clock.currentTimeMillis

describe("review 15: leader label", () => {
  it.effect(
    "interrupted (release) while a re-label write is in flight after an earlier removal, it still removes the label",
    () =>
      Effect.gen(function*() {
        // The API server's view of the label on this pod.
        let labelled = false
        let deadline = 2_000
        /** Once set, a label write reaches the API server (is applied) but its answer never comes back. */
        let answerLost = false
        const log: Array<string> = []
        const remaining = Effect.map(now, (t) => Duration.millis(Math.max(0, deadline - t)))
        const fiber = yield* Effect.forkChild(LabelSchedule.maintain(remaining, {
          label: () =>
            Effect.gen(function*() {
              log.push("label")
              if (answerLost) {
                labelled = true
                return yield* Effect.never
              }
              yield* Effect.sleep("20 millis")
              labelled = true
            }),
          unlabel: () =>
            Effect.gen(function*() {
              log.push("unlabel")
              yield* Effect.sleep("20 millis")
              labelled = false
            }),
          failed: () => Effect.void
        }, { threshold, requestTimeout, retryPeriod: Duration.millis(400), recheck: Duration.millis(100) }))
        yield* TestClock.adjust("50 millis")
        assert.isTrue(labelled)
        // No renewal on schedule: the label comes off at remaining = threshold (1 400 ms): known "No".
        yield* TestClock.adjust("1450 millis")
        assert.isFalse(labelled)
        // A late renewal succeeds: the label goes back on — the PATCH reaches the API server, its
        // answer is still on the way.
        answerLost = true
        deadline = (yield* now) + 2_000
        yield* TestClock.adjust("150 millis")
        assert.deepStrictEqual(log, ["label", "unlabel", "label"])
        assert.isTrue(labelled, "the re-label landed")
        // Release: the guarded work is interrupted; its finalizer must take the label off
        // ("Interrupted, it removes the label unless it knows it is absent") before the release write.
        const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(interrupting)
        assert.isFalse(
          labelled,
          `the pod still carries the label after the maintainer stopped (writes: ${log.join(", ")}): the finalizer ` +
            `trusted "known = No" although a label write was in flight when it was interrupted`
        )
      })
  )
})
