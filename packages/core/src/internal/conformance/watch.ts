/**
 * The conformance tests of `LeaseStore.watch`: the current state first, later states in order,
 * other keys ignored (even ones whose name extends the watched name), two watches seeing the same
 * states — or, for a store that does not watch, a prompt failure with `Unsupported` or `Forbidden`
 * (the two reasons on which the algorithm falls back to polling).
 *
 * Guarantees: every wait on a watch is bounded, so a broken watch fails a test instead of hanging it.
 * Does not: check how fast a watch delivers.
 *
 * @internal
 */
import { assert, type Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { LeaseKey } from "../../LeaseRecord.ts"
import { specOf } from "../../LeaseRecord.ts"
import { LeaseStore, LeaseStoreError } from "../../LeaseStore.ts"
import { assertMetadata, assertSpec, type Context, describeState, fullSpec, sameState, someMetadata } from "./fixtures.ts"

/** Registers the test of a store that does not watch (`watch: false`). */
export const noWatchTests = (it: Vitest.MethodsNonLive<LeaseStore>, ctx: Context): void => {
  const { freshKey, watchTimeout } = ctx
  it.effect("watch fails promptly with Unsupported or Forbidden (callers then poll)", () =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const key = yield* freshKey("nowatch")
      const result = yield* store.watch(key).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.timeoutOrElse({
          duration: watchTimeout,
          orElse: () => Effect.die(new Error(`watch neither failed nor ended within ${String(watchTimeout)}`))
        })
      )
      assert.instanceOf(result, LeaseStoreError)
      assert.include(["Unsupported", "Forbidden"], result.reason, `reason of: ${result.message}`)
      assert.strictEqual(result.operation, "watch")
    }))
}

/** Registers the tests of a store that watches. */
export const watchTests = (it: Vitest.MethodsNonLive<LeaseStore>, ctx: Context): void => {
  const { freshKey, namespace, watching } = ctx
  it.effect("watch of an absent lease emits None, then create, update and delete in order", () =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const key = yield* freshKey("watch")
      const watch = yield* watching(key)
      yield* watch.expectNext(Option.none(), "initial state")

      const created = yield* store.create(key, fullSpec, someMetadata)
      const seenCreated = yield* watch.expectNext(Option.some(created), "after create")
      assertSpec(Option.getOrThrow(seenCreated), fullSpec, "watched record after create")
      assertMetadata(Option.getOrThrow(seenCreated), someMetadata, "watched record after create")

      const updated = yield* store.update(created, { ...fullSpec, holder: "watched-2", transitions: 4 })
      const seenUpdated = yield* watch.expectNext(Option.some(updated), "after update")
      assertSpec(Option.getOrThrow(seenUpdated), specOf(updated), "watched record after update")

      const renewed = yield* store.update(updated, { ...specOf(updated), renewTime: 1_700_000_020_000 })
      yield* watch.expectNext(Option.some(renewed), "after a second update")

      yield* store.remove(renewed)
      yield* watch.expectNext(Option.none(), "after delete")

      const recreated = yield* store.create(key, { holder: "reborn" })
      yield* watch.expectNext(Option.some(recreated), "after re-create")
    }))

  it.effect("watch of an existing lease starts with its current state", () =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const key = yield* freshKey("watch-existing")
      const created = yield* store.create(key, fullSpec, someMetadata)
      const current = yield* store.update(created, { ...fullSpec, holder: "current" })
      const watch = yield* watching(key)
      const first = yield* watch.expectNext(Option.some(current), "initial state")
      assertSpec(Option.getOrThrow(first), specOf(current), "initial watched record")

      const next = yield* store.update(current, { ...fullSpec, holder: "after-watch-began" })
      yield* watch.expectNext(Option.some(next), "after update")
    }))

  it.effect("watch ignores other leases, even ones whose name extends the watched name", () =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const key = yield* freshKey("watch-only")
      const lookalike: LeaseKey = { namespace, name: `${key.name}-x` }
      yield* Effect.addFinalizer(() =>
        store.get(lookalike).pipe(
          Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (r) => store.remove(r) })),
          Effect.ignore
        )
      )
      const watch = yield* watching(key)
      yield* watch.expectNext(Option.none(), "initial state")
      const noise = yield* store.create(lookalike, { holder: "noise" })
      yield* store.update(noise, { holder: "more-noise" })
      const mine = yield* store.create(key, { holder: "mine" })
      yield* watch.expectNext(Option.some(mine), "the first event is the watched lease's own")
    }))

  it.effect("two watches of one lease see the same states", () =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const key = yield* freshKey("watch-two")
      const w1 = yield* watching(key)
      const w2 = yield* watching(key)
      yield* w1.expectNext(Option.none(), "first watch, initial")
      yield* w2.expectNext(Option.none(), "second watch, initial")
      const created = yield* store.create(key, { holder: "one" })
      const updated = yield* store.update(created, { holder: "two" })
      // Each watch may skip the intermediate state but must end on the latest, in order.
      for (const w of [w1, w2]) {
        const first = yield* w.next
        if (Option.isSome(first) && first.value.version === created.version) {
          yield* w.expectNext(Option.some(updated), "after the second write")
        } else {
          assert.isTrue(sameState(first, Option.some(updated)), `unexpected state ${describeState(first)}`)
        }
      }
    }))
}
