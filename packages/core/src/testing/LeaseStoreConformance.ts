/**
 * The conformance suite every `LeaseStore` implementation must pass.
 *
 * `suite(name, layer, options)` registers, with `@effect/vitest`, one test per guarantee stated in
 * `LeaseStore.ts`: reads of absent keys, exact round-trips of every record field, `AlreadyExists`
 * on a second create, compare-and-swap `update` / `remove` (`Conflict` from a stale version,
 * `NotFound` once deleted, a new version per write), labels and annotations kept across updates
 * and set by an update that carries them (leasekit's handoff annotations), `spec.strategy` and
 * `spec.preferredHolder` round-tripped (when the store keeps them: `coordinatedLeaderElection`),
 * listing per namespace and across namespaces, and `watch` (current state first, later states in
 * order, other keys ignored). The memory store runs it in unit tests; the Kubernetes store runs it
 * against a real API server.
 *
 * Guarantees: every test uses its own lease names (a random suffix), so the suite can share a
 * cluster with other tests and with earlier runs; each test deletes what it created (best effort);
 * every wait on a watch is bounded, so a broken watch fails a test instead of hanging it. Does not
 * check: timing, concurrency under load, or what a store does on transient failures — those belong
 * to the algorithm's tests and to fault-injection suites.
 *
 * @since 0.1.0
 */
import { assert, layer as layerTest } from "@effect/vitest"
import type * as Layer from "effect/Layer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import type { LeaseKey, LeaseMetadata, LeaseRecord, LeaseSpec } from "../LeaseRecord.ts"
import { formatKey, specOf } from "../LeaseRecord.ts"
import type { LeaseStoreErrorReason, LeaseStoreOperation } from "../LeaseStore.ts"
import { LeaseStore, LeaseStoreError } from "../LeaseStore.ts"

/**
 * Options of the conformance suite.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** The namespace the leases are created in. Default `"default"`; on a real cluster it must exist. */
  readonly namespace?: string
  /**
   * A second, existing namespace. When given, the listing tests also check that a namespace's list
   * leaves out the other namespace's leases and that the all-namespaces list has both.
   */
  readonly otherNamespace?: string
  /**
   * Whether the store is expected to watch. `true` (the default) runs the watch tests; `false`
   * instead checks that `watch` fails promptly with `Unsupported` or `Forbidden`, the two reasons
   * on which the algorithm falls back to polling.
   */
  readonly watch?: boolean
  /** Upper bound for each wait on a watch event. Default 10 seconds. */
  readonly watchTimeout?: Duration.Input
  /** Prefix of the lease names the suite creates. Default `"conformance"`. */
  readonly prefix?: string
  /** Passed to `@effect/vitest`'s `layer`: how long building and releasing the layer may take. */
  readonly layerTimeout?: Duration.Input
  /** Passed to `@effect/vitest`'s `layer`: share layer builds (e.g. one control plane) with other suites. */
  readonly memoMap?: Layer.MemoMap
  /**
   * Whether the store keeps `spec.strategy` and `spec.preferredHolder` (Kubernetes coordinated
   * leader election: the memory store, and API servers that serve those fields). When true, a test
   * checks that both round-trip through `create` and `update`, and that an update whose spec leaves
   * them out removes them. Default false (API servers before coordinated leader election drop them).
   * @since 0.4.0
   */
  readonly coordinatedLeaderElection?: boolean
}

const fixedTimes = {
  acquireTime: 1_700_000_000_123,
  renewTime: 1_700_000_004_567
} as const

const fullSpec: LeaseSpec = {
  holder: "conformance-holder-1",
  durationSeconds: 15,
  ...fixedTimes,
  transitions: 3
}

const someMetadata: LeaseMetadata = {
  labels: { "app.kubernetes.io/name": "leasekit-conformance", tier: "test" },
  annotations: { "leasekit.dev/note": "kept across updates", "example.com/empty": "" }
}

const randomSuffix = Effect.sync(() => globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 10))

const assertSpec = (record: LeaseRecord, spec: LeaseSpec, what: string) =>
  assert.deepStrictEqual(specOf(record), { ...spec }, `${what}: spec of ${formatKey(record.key)}`)

const assertMetadata = (record: LeaseRecord, metadata: LeaseMetadata, what: string) => {
  assert.deepStrictEqual(record.metadata.labels ?? {}, metadata.labels ?? {}, `${what}: labels`)
  assert.deepStrictEqual(record.metadata.annotations ?? {}, metadata.annotations ?? {}, `${what}: annotations`)
}

const assertStoreError = (
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

type State = Option.Option<LeaseRecord>

const describeState = (state: State): string =>
  Option.match(state, { onNone: () => "absent", onSome: (r) => `version ${r.version} holder ${JSON.stringify(r.holder)}` })

const sameState = (a: State, b: State): boolean =>
  Option.isNone(a) ? Option.isNone(b) : Option.isSome(b) && a.value.version === b.value.version

/**
 * Registers the conformance tests for the store built by `layer`. The layer is built once for the
 * whole suite; the tests run against the live clock.
 *
 * @since 0.1.0
 * @category testing
 */
export const suite = <E>(name: string, layer: Layer.Layer<LeaseStore, E>, options: SuiteOptions = {}): void => {
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

  layerTest(layer, {
    excludeTestServices: true,
    ...(options.layerTimeout === undefined ? {} : { timeout: options.layerTimeout }),
    ...(options.memoMap === undefined ? {} : { memoMap: options.memoMap })
  })(`LeaseStore conformance: ${name}`, (it) => {
    it.effect("get of an absent lease is None", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("absent")
        assert.isTrue(Option.isNone(yield* store.get(key)))
      }))

    it.effect("create returns the record with every field round-tripped exactly", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("create")
        const created = yield* store.create(key, fullSpec, someMetadata)
        assert.deepStrictEqual(created.key, key)
        assert.isString(created.version)
        assert.isAbove(created.version.length, 0, "a record has a version")
        assertSpec(created, fullSpec, "create's answer")
        assertMetadata(created, someMetadata, "create's answer")

        const read = yield* store.get(key)
        assert.isTrue(Option.isSome(read), "the created lease can be read")
        const record = Option.getOrThrow(read)
        assert.deepStrictEqual(record.key, key)
        assert.strictEqual(record.version, created.version, "a read without writes sees the same version")
        assertSpec(record, fullSpec, "get")
        assertMetadata(record, someMetadata, "get")
      }))

    it.effect("fields never written stay absent, and a released holder (\"\") stays \"\"", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const sparseKey = yield* freshKey("sparse")
        const sparse = yield* store.create(sparseKey, { holder: "only-a-holder" })
        assertSpec(sparse, { holder: "only-a-holder" }, "create with only a holder")
        assertSpec(Option.getOrThrow(yield* store.get(sparseKey)), { holder: "only-a-holder" }, "get")
        assertMetadata(sparse, {}, "create without metadata")

        const emptyKey = yield* freshKey("empty")
        const empty = yield* store.create(emptyKey, {})
        assertSpec(Option.getOrThrow(yield* store.get(emptyKey)), {}, "create with an empty spec")
        assert.deepStrictEqual(empty.key, emptyKey)

        const releasedKey = yield* freshKey("released")
        const released = { holder: "", durationSeconds: 1, transitions: 0, ...fixedTimes }
        yield* store.create(releasedKey, released)
        assertSpec(Option.getOrThrow(yield* store.get(releasedKey)), released, "a released lease (client-go's shape)")
      }))

    it.effect("create of an existing lease fails with AlreadyExists and changes nothing", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("twice")
        const first = yield* store.create(key, fullSpec)
        const error = yield* Effect.flip(store.create(key, { holder: "someone-else", durationSeconds: 5 }))
        assertStoreError(error, { reason: "AlreadyExists", operation: "create", key })
        const current = Option.getOrThrow(yield* store.get(key))
        assert.strictEqual(current.version, first.version)
        assertSpec(current, fullSpec, "after the failed second create")
      }))

    it.effect("update from the current version succeeds with a new version and replaces the spec", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("update")
        const created = yield* store.create(key, fullSpec)
        const nextSpec: LeaseSpec = { holder: "conformance-holder-2", durationSeconds: 7, renewTime: 1_700_000_009_001 }
        const updated = yield* store.update(created, nextSpec)
        assert.deepStrictEqual(updated.key, key)
        assert.notStrictEqual(updated.version, created.version, "every successful write yields a new version")
        assertSpec(updated, nextSpec, "update's answer (fields left out of the spec are gone)")
        const read = Option.getOrThrow(yield* store.get(key))
        assert.strictEqual(read.version, updated.version)
        assertSpec(read, nextSpec, "get after update")

        const again = yield* store.update(updated, { ...nextSpec, renewTime: 1_700_000_011_002 })
        assert.notStrictEqual(again.version, updated.version)
        assert.notStrictEqual(again.version, created.version)
        assert.strictEqual(again.renewTime, 1_700_000_011_002)
      }))

    it.effect("update from a stale version fails with Conflict and changes nothing", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("stale")
        const created = yield* store.create(key, fullSpec)
        const winner = yield* store.update(created, { ...fullSpec, holder: "winner" })
        const error = yield* Effect.flip(store.update(created, { ...fullSpec, holder: "loser" }))
        assertStoreError(error, { reason: "Conflict", operation: "update", key })
        const current = Option.getOrThrow(yield* store.get(key))
        assert.strictEqual(current.version, winner.version)
        assert.strictEqual(current.holder, "winner")
      }))

    it.effect("update of a deleted lease fails with NotFound", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("gone")
        const created = yield* store.create(key, fullSpec)
        yield* store.remove(created)
        const error = yield* Effect.flip(store.update(created, fullSpec))
        assertStoreError(error, { reason: "NotFound", operation: "update", key })
        assert.isTrue(Option.isNone(yield* store.get(key)), "a failed update does not re-create the lease")
      }))

    it.effect("update keeps the labels and annotations the record has", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("meta")
        const created = yield* store.create(key, fullSpec, someMetadata)
        const updated = yield* store.update(created, { ...fullSpec, holder: "next" })
        assertMetadata(updated, someMetadata, "update's answer")
        const twice = yield* store.update(updated, { holder: "" })
        assertMetadata(twice, someMetadata, "second update's answer")
        assertMetadata(Option.getOrThrow(yield* store.get(key)), someMetadata, "get after updates")
      }))

    it.effect("update with metadata sets the labels and annotations to it (added, changed and removed)", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("setmeta")
        const created = yield* store.create(key, fullSpec, someMetadata)
        const handedOff: LeaseMetadata = {
          labels: { ...someMetadata.labels, team: "handoff" },
          annotations: {
            "example.com/empty": "",
            "leasekit.io/handoff-to": "conformance-successor",
            "leasekit.io/handoff-window-seconds": "15"
          }
        }
        const updated = yield* store.update(created, { ...fullSpec, holder: "" }, handedOff)
        assertMetadata(updated, handedOff, "update's answer")
        assertMetadata(Option.getOrThrow(yield* store.get(key)), handedOff, "get after the update")
        // And back: the handoff annotations removed again, the rest kept as the record has it.
        const cleared: LeaseMetadata = { labels: handedOff.labels!, annotations: { "example.com/empty": "" } }
        const taken = yield* store.update(updated, { ...fullSpec, holder: "conformance-successor", transitions: 4 }, cleared)
        assertMetadata(taken, cleared, "second update's answer")
        const renewed = yield* store.update(taken, { ...fullSpec, holder: "conformance-successor", transitions: 4 })
        assertMetadata(renewed, cleared, "an update without metadata keeps what the record has")
        assertMetadata(Option.getOrThrow(yield* store.get(key)), cleared, "get after the updates")
      }))

    if (options.coordinatedLeaderElection === true) {
      it.effect("strategy and preferredHolder round-trip through create and update; a spec without them removes them", () =>
        Effect.gen(function*() {
          const store = yield* LeaseStore
          const key = yield* freshKey("coordinated")
          const coordinated: LeaseSpec = { ...fullSpec, strategy: "OldestEmulationVersion", preferredHolder: "conformance-holder-2" }
          const created = yield* store.create(key, coordinated)
          assertSpec(created, coordinated, "create's answer")
          const preferring: LeaseSpec = { ...fullSpec, holder: "", preferredHolder: "conformance-successor" }
          const updated = yield* store.update(created, preferring, someMetadata)
          assertSpec(updated, preferring, "update's answer")
          assertSpec(Option.getOrThrow(yield* store.get(key)), preferring, "get after the update")
          const plain: LeaseSpec = { ...fullSpec, holder: "conformance-successor", transitions: 4 }
          const cleared = yield* store.update(updated, plain)
          assertSpec(cleared, plain, "an update without them removes them")
          assertMetadata(cleared, someMetadata, "and keeps the metadata")
        }))
    }

    it.effect("a uid, when the store gives one, is kept by every update and differs once the lease is re-created", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("uid")
        const created = yield* store.create(key, fullSpec)
        const updated = yield* store.update(created, { ...fullSpec, holder: "next" })
        const read = Option.getOrThrow(yield* store.get(key))
        assert.strictEqual(updated.uid, created.uid, "update keeps the uid")
        assert.strictEqual(read.uid, created.uid, "get answers the same uid")
        if (created.uid === undefined) return
        yield* store.remove(updated)
        // The same spec again: only the uid tells the two incarnations apart (expiry is observed on it).
        const again = yield* store.create(key, fullSpec)
        assert.notStrictEqual(again.uid, created.uid, "a re-created lease is another incarnation")
      }))

    it.effect("remove: a stale version fails with Conflict, the current one deletes, an absent lease is NotFound", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const key = yield* freshKey("remove")
        const created = yield* store.create(key, fullSpec)
        const updated = yield* store.update(created, { ...fullSpec, holder: "newer" })

        const conflict = yield* Effect.flip(store.remove(created))
        assertStoreError(conflict, { reason: "Conflict", operation: "remove", key })
        assert.isTrue(Option.isSome(yield* store.get(key)), "a conflicting remove deletes nothing")

        yield* store.remove(updated)
        assert.isTrue(Option.isNone(yield* store.get(key)), "removed")

        const notFound = yield* Effect.flip(store.remove(updated))
        assertStoreError(notFound, { reason: "NotFound", operation: "remove", key })

        const again = yield* store.create(key, { holder: "after-delete" })
        assert.strictEqual(again.holder, "after-delete", "a removed name can be created again")
      }))

    it.effect("list returns the leases of a namespace, and of all namespaces", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const a = yield* store.create(yield* freshKey("list-a"), fullSpec, someMetadata)
        const b = yield* store.create(yield* freshKey("list-b"), { holder: "b" })
        const other = options.otherNamespace === undefined
          ? undefined
          : yield* store.create(yield* freshKey("list-other", options.otherNamespace), { holder: "other" })

        const inNamespace = yield* store.list(namespace)
        for (const record of inNamespace) {
          assert.strictEqual(record.key.namespace, namespace, `list(${namespace}) returned ${formatKey(record.key)}`)
        }
        const find = (records: ReadonlyArray<LeaseRecord>, key: LeaseKey) =>
          records.find((r) => r.key.namespace === key.namespace && r.key.name === key.name)
        for (const expected of [a, b]) {
          const found = find(inNamespace, expected.key)
          assert.isDefined(found, `list(${namespace}) contains ${formatKey(expected.key)}`)
          assert.strictEqual(found!.version, expected.version)
          assertSpec(found!, specOf(expected), "listed record")
          assertMetadata(found!, expected.metadata, "listed record")
        }

        const all = yield* store.list(undefined)
        for (const expected of [a, b, ...(other === undefined ? [] : [other])]) {
          assert.isDefined(find(all, expected.key), `list(all) contains ${formatKey(expected.key)}`)
        }
        if (other !== undefined) {
          assert.isUndefined(find(inNamespace, other.key), `list(${namespace}) leaves out ${formatKey(other.key)}`)
          const otherList = yield* store.list(other.key.namespace)
          assert.isDefined(find(otherList, other.key))
          assert.isUndefined(find(otherList, a.key))
        }
      }))

    if (options.watch === false) {
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
      return
    }

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

    it.effect("a view with its own request timeout (withRequestTimeout, if offered) is the same store", () =>
      Effect.gen(function*() {
        const store = yield* LeaseStore
        const view = store.withRequestTimeout?.(Duration.seconds(3))
        if (view === undefined) return
        const key = yield* freshKey("timeout-view")
        const created = yield* view.create(key, { holder: "through-the-view" })
        assert.isTrue(sameState(yield* store.get(key), Option.some(created)), "a write through the view is the store's")
        const updated = yield* store.update(created, { holder: "through-the-store" })
        assert.isTrue(sameState(yield* view.get(key), Option.some(updated)), "the view reads the store's writes")
        const stale = yield* Effect.flip(view.update(created, { holder: "stale" }))
        assertStoreError(stale, { reason: "Conflict", operation: "update", key })
        assert.isDefined(view.withRequestTimeout, "a view can be re-bounded too")
      }))
  })
}

