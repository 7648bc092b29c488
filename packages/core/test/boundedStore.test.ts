import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { bounded } from "../src/internal/boundedStore.ts"
import type { LeaseStoreService } from "../src/LeaseStore.ts"
import { LeaseStoreError } from "../src/LeaseStore.ts"

const key = { namespace: "jobs", name: "nightly-report" }

/** A store whose every call hangs (a server that accepted the connection and never answers). */
const hanging: LeaseStoreService = {
  get: () => Effect.never,
  list: () => Effect.never,
  create: () => Effect.never,
  update: () => Effect.never,
  remove: () => Effect.never,
  watch: () => Effect.never as never
}

describe("store calls as the algorithm makes them", () => {
  it.effect("a store that does not bound its requests is bounded here: a hanging call fails Timeout at requestTimeout", () =>
    Effect.gen(function*() {
      const fiber = yield* bounded(hanging, Duration.seconds(2)).get(key).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still waiting 1 ms before the timeout")
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.operation, "get")
      assert.include(error.detail, "no answer within 2s")
    }))

  it.effect("a store that bounds its own requests is asked for requestTimeout, and no second timer is added", () =>
    Effect.gen(function*() {
      const asked: Array<number> = []
      const selfBounding: LeaseStoreService = {
        ...hanging,
        withRequestTimeout: (timeout) => {
          asked.push(Duration.toMillis(timeout))
          // This view bounds nothing, so only a timeout added by `bounded` could end the call.
          return hanging
        }
      }
      const store = bounded(selfBounding, Duration.seconds(2))
      assert.deepStrictEqual(asked, [2000])
      const fiber = yield* store.update({ key, version: "1", metadata: {} }, { holder: "a" }).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 minute")
      assert.isUndefined(fiber.pollUnsafe(), "no timeout of the algorithm's own around a self-bounded store")
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("the self-bounded view's own Timeout reaches the caller unchanged", () =>
    Effect.gen(function*() {
      const selfBounding: LeaseStoreService = {
        ...hanging,
        withRequestTimeout: (timeout) => ({
          ...hanging,
          get: () =>
            Effect.sleep(timeout).pipe(Effect.andThen(Effect.fail(
              new LeaseStoreError({ operation: "get", key, reason: "Timeout", detail: `the store's own, ${Duration.format(timeout)}` })
            )))
        })
      }
      const fiber = yield* bounded(selfBounding, Duration.seconds(3)).get(key).pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.detail, "the store's own, 3s")
    }))
})
