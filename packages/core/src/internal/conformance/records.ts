/**
 * The conformance tests of what a `LeaseStore` keeps: reads of absent keys, exact round-trips of
 * every record field, `AlreadyExists` on a second create, compare-and-swap `update` / `remove`
 * (`Conflict` from a stale version, `NotFound` once deleted, a new version per write), labels and
 * annotations kept across updates and set by an update that carries them, `spec.strategy` and
 * `spec.preferredHolder` (when the store keeps them), uids, listing per namespace and across
 * namespaces, and a view with its own request timeout.
 *
 * Guarantees: each test uses fresh keys and deletes what it created (best effort).
 * Does not: check timing, concurrency under load, or transient failures.
 *
 * @internal
 */
import { assert, type Vitest } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { LeaseKey, LeaseMetadata, LeaseRecord, LeaseSpec } from "../../LeaseRecord.ts"
import { formatKey, specOf } from "../../LeaseRecord.ts"
import { LeaseStore } from "../../LeaseStore.ts"
import {
  assertMetadata,
  assertSpec,
  assertStoreError,
  type Context,
  fixedTimes,
  fullSpec,
  sameState,
  someMetadata
} from "./fixtures.ts"

/** Registers the tests of what a store keeps and lists. */
export const recordTests = (it: Vitest.MethodsNonLive<LeaseStore>, ctx: Context): void => {
  const { freshKey, namespace, options } = ctx
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
}

/** Registers the test of a view with its own request timeout (`withRequestTimeout`, if offered). */
export const viewTests = (it: Vitest.MethodsNonLive<LeaseStore>, ctx: Context): void => {
  const { freshKey } = ctx
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
}
