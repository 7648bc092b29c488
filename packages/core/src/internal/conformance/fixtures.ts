/**
 * What the `LeaseStore` conformance suite's tests share: the records they write, the assertions
 * they make, and the suite's context — fresh keys (deleted again when a test's scope closes) and
 * bounded watches.
 *
 * Guarantees: a fresh key has a random suffix, so tests can share a cluster with other tests and
 * earlier runs; every wait on a watch is bounded by `watchTimeout` and fails the test with the last
 * state seen.
 * Does not: register any test (`records.ts`, `watch.ts` do).
 *
 * @internal
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { LeaseKey, LeaseMetadata, LeaseRecord, LeaseSpec } from "../../LeaseRecord.ts"
import { formatKey, specOf } from "../../LeaseRecord.ts"
import type { LeaseStoreErrorReason, LeaseStoreOperation } from "../../LeaseStore.ts"
import { LeaseStore, LeaseStoreError } from "../../LeaseStore.ts"
import type { SuiteOptions } from "../../testing/LeaseStoreConformance.ts"

export const fixedTimes = {
  acquireTime: 1_700_000_000_123,
  renewTime: 1_700_000_004_567
} as const

export const fullSpec: LeaseSpec = {
  holder: "conformance-holder-1",
  durationSeconds: 15,
  ...fixedTimes,
  transitions: 3
}

export const someMetadata: LeaseMetadata = {
  labels: { "app.kubernetes.io/name": "leasekit-conformance", tier: "test" },
  annotations: { "leasekit.dev/note": "kept across updates", "example.com/empty": "" }
}

export const randomSuffix = Effect.sync(() => globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 10))

export const assertSpec = (record: LeaseRecord, spec: LeaseSpec, what: string) =>
  assert.deepStrictEqual(specOf(record), { ...spec }, `${what}: spec of ${formatKey(record.key)}`)

export const assertMetadata = (record: LeaseRecord, metadata: LeaseMetadata, what: string) => {
  assert.deepStrictEqual(record.metadata.labels ?? {}, metadata.labels ?? {}, `${what}: labels`)
  assert.deepStrictEqual(record.metadata.annotations ?? {}, metadata.annotations ?? {}, `${what}: annotations`)
}

export const assertStoreError = (
  error: unknown,
  expected: { readonly reason: LeaseStoreErrorReason; readonly operation: LeaseStoreOperation; readonly key?: LeaseKey }
) => {
  assert.instanceOf(error, LeaseStoreError)
  assert.strictEqual(error.reason, expected.reason, `reason of: ${error.message}`)
  assert.strictEqual(error.operation, expected.operation, `operation of: ${error.message}`)
  if (expected.key !== undefined) assert.deepStrictEqual(error.key, expected.key)
  assert.isString(error.detail)
  assert.isAbove(error.detail.length, 0, "an error explains itself in `detail`")
}

export type State = Option.Option<LeaseRecord>

export const describeState = (state: State): string =>
  Option.match(state, { onNone: () => "absent", onSome: (r) => `version ${r.version} holder ${JSON.stringify(r.holder)}` })

export const sameState = (a: State, b: State): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value.version === b.value.version

/** The context of one suite: its options resolved, and keys and watches made for its tests. */
export const makeContext = (options: SuiteOptions) => {
  const namespace = options.namespace ?? "default"
  const prefix = options.prefix ?? "conformance"
  const watchTimeout = options.watchTimeout ?? "10 seconds"

  /** A key no other test (or run) uses, deleted again when the test's scope closes. */
  const freshKey = (label: string, ns: string = namespace) =>
    Effect.gen(function*() {
      const key: LeaseKey = { namespace: ns, name: `${prefix}-${label}-${yield* randomSuffix}` }
      const store = yield* LeaseStore
      yield* Effect.addFinalizer(() =>
        store.get(key).pipe(
          Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: (record) => store.remove(record) })),
          Effect.ignore
        )
      )
      return key
    })

  /** Starts watching `key`; `next` takes the next *distinct* state (repeats are tolerated), bounded. */
  const watching = (key: LeaseKey) =>
    Effect.gen(function*() {
      const store = yield* LeaseStore
      const queue = yield* Stream.toQueue(store.watch(key), { capacity: "unbounded" })
      let last: State | undefined
      const take = Queue.take(queue).pipe(
        Effect.timeoutOrElse({
          duration: watchTimeout,
          orElse: () =>
            Effect.die(
              new Error(`watch of ${formatKey(key)} emitted nothing within ${String(watchTimeout)} (last: ${
                last === undefined ? "nothing yet" : describeState(last)
              })`)
            )
        })
      )
      const next: Effect.Effect<State, unknown> = Effect.gen(function*() {
        while (true) {
          const state = yield* take
          if (last !== undefined && sameState(last, state)) continue
          last = state
          return state
        }
      })
      /** The next distinct state must be `expected` (`None` for absent, else a record's version). */
      const expectNext = (expected: State, what: string) =>
        Effect.gen(function*() {
          const state = yield* next
          assert.isTrue(
            sameState(state, expected),
            `${what}: watch of ${formatKey(key)} emitted ${describeState(state)}, expected ${describeState(expected)}`
          )
          return state
        })
      return { next, expectNext } as const
    })

  return { options, namespace, watchTimeout, freshKey, watching } as const
}

/** The context of one suite (see `makeContext`). */
export type Context = ReturnType<typeof makeContext>
