import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import { specOf } from "../src/LeaseRecord.ts"
import * as FaultyStore from "./FaultyStore.ts"
import { Probe, read } from "./FaultyStore.ts"

const key = { namespace: "jobs", name: "singleton" }
const advance = (seconds: number) => Effect.repeat(TestClock.adjust("1 second"), { times: seconds - 1 })

describe("LeaderElection", () => {
  it.effect("run leads, loses, and leads again", () =>
    Effect.gen(function*() {
      const probe = yield* Probe
      const terms = yield* Ref.make<Array<{ token: number; at: number }>>([])
      const leader = yield* LeaderElection.run({ ...key, holder: "me" }, (lease) =>
        Clock.currentTimeMillis.pipe(
          Effect.flatMap((at) => Ref.update(terms, (t) => [...t, { token: lease.token, at }])),
          Effect.andThen(Effect.never)
        )).pipe(Effect.forkChild)
      yield* TestClock.adjust(0)
      assert.deepStrictEqual((yield* Ref.get(terms)).map((t) => t.token), [0])

      // Someone takes the lease over (and then dies without renewing).
      const record = yield* read(key)
      yield* probe.admin.update(record, { ...specOf(record), holder: "usurper", transitions: 1 })
      yield* advance(7)
      assert.strictEqual((yield* Ref.get(terms)).length, 1, "lost at the next renewal, waiting again")

      yield* advance(20)
      const seen = yield* Ref.get(terms)
      assert.deepStrictEqual(seen.map((t) => t.token), [0, 2], "leads again with a greater token")
      assert.strictEqual((yield* read(key)).holder, "me")
      yield* Fiber.interrupt(leader)
      assert.strictEqual((yield* read(key)).holder, "", "released when the election stops")
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("run returns the result of whileLeading and releases", () =>
    Effect.gen(function*() {
      const result = yield* LeaderElection.run({ ...key, holder: "me" }, (lease) => Effect.succeed(`token ${lease.token}`))
      assert.strictEqual(result, "token 0")
      assert.strictEqual((yield* read(key)).holder, "")
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("layer runs a singleton in the background for as long as the layer lives", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<number>()
      const singleton = LeaderElection.layer({ ...key, holder: "me" }, (lease) =>
        Deferred.succeed(started, lease.token).pipe(Effect.andThen(Effect.never)))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(singleton)
        assert.strictEqual(yield* Deferred.await(started), 0)
        assert.strictEqual((yield* read(key)).holder, "me")
      }))
      assert.strictEqual((yield* read(key)).holder, "", "released when the layer is released")
    }).pipe(Effect.provide(FaultyStore.layer())))
})
