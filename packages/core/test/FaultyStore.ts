/**
 * A memory store wrapped for tests: it counts calls per operation and injects faults.
 *
 * A fault is chosen per call by a rule that sees the operation and the spec being written, so a
 * test can fail only one holder's writes (its renewals) while a contender's go through. A fault
 * can be "applied" — the write lands and the caller is told it timed out — the ambiguous outcome
 * real networks produce.
 */
import { Context, Effect, Layer, Option, Ref, Stream } from "effect"
import type { Duration } from "effect"
import * as Lease from "../src/Lease.ts"
import { LeaseStore } from "../src/LeaseStore.ts"
import type { LeaseStoreErrorReason, LeaseStoreOperation, LeaseStoreService } from "../src/LeaseStore.ts"
import { LeaseStoreError, makeMemory } from "../src/LeaseStore.ts"
import type { LeaseSpec } from "../src/LeaseRecord.ts"

export interface Fault {
  /** The failure to report; none: the call goes through (only delayed). */
  readonly reason?: LeaseStoreErrorReason
  /** Apply the write, then report the failure anyway. */
  readonly applied?: boolean
  /** Virtual time before the answer (after applying, when the write is applied). */
  readonly delay?: Duration.Input
  /** (Review) For a call that goes through: perform it at once, answer only after this long — a
   * read whose answer is stale by the time it arrives, a write whose answer is slow. */
  readonly answerAfter?: Duration.Input
  /** (Review) The request stays in flight: the write is applied this long after the call, whatever
   * happened to the caller meanwhile (timed out, interrupted). The caller is answered with
   * `reason` after `delay`, or never when `reason` is absent (the bounded store times it out). */
  readonly lateApply?: Duration.Input
}

/**
 * How `watch` behaves: `normal`; `silent` (answers with the current state, then never again,
 * without failing — a watch that hung); `mute` (never answers at all); `{ lag }` (every event
 * delivered `lag` after the previous one — an overloaded server whose backlog grows).
 */
export type WatchMode = "normal" | "silent" | "mute" | { readonly lag: Duration.Input }

export type FaultRule = (operation: LeaseStoreOperation, spec: LeaseSpec | undefined) => Fault | undefined

export class Probe extends Context.Service<Probe, {
  /** The store without counting or faults: an administrator's direct access. */
  readonly admin: LeaseStoreService
  readonly calls: (operation?: LeaseStoreOperation) => Effect.Effect<number>
  readonly resetCalls: Effect.Effect<void>
  readonly setFaults: (rule: FaultRule | undefined) => Effect.Effect<void>
  /** Applies to watches started from now on. */
  readonly setWatch: (mode: WatchMode) => Effect.Effect<void>
}>()("test/Probe") {}

export const layer = (options: { readonly watch?: boolean } = {}): Layer.Layer<LeaseStore | Probe | Lease.Lease> =>
  Layer.provideMerge(Lease.layer, storeLayer(options))

const storeLayer = (options: { readonly watch?: boolean }): Layer.Layer<LeaseStore | Probe> =>
  Layer.effectContext(Effect.gen(function*() {
    const admin = yield* makeMemory(options)
    const counts = yield* Ref.make(new Map<LeaseStoreOperation, number>())
    const rule = yield* Ref.make<FaultRule | undefined>(undefined)

    const call = <A>(operation: LeaseStoreOperation, spec: LeaseSpec | undefined, effect: Effect.Effect<A, LeaseStoreError>) =>
      Effect.gen(function*() {
        yield* Ref.update(counts, (m) => new Map(m).set(operation, (m.get(operation) ?? 0) + 1))
        const fault = (yield* Ref.get(rule))?.(operation, spec)
        if (fault === undefined) return yield* effect
        if (fault.lateApply !== undefined) {
          yield* Effect.forkDetach(Effect.sleep(fault.lateApply).pipe(Effect.andThen(Effect.ignore(effect))))
          if (fault.reason === undefined) return yield* Effect.never
          if (fault.delay !== undefined) yield* Effect.sleep(fault.delay)
          return yield* Effect.fail(new LeaseStoreError({ operation, reason: fault.reason, detail: "injected fault" }))
        }
        if (fault.answerAfter !== undefined && fault.reason === undefined) {
          const answer = yield* effect
          yield* Effect.sleep(fault.answerAfter)
          return answer
        }
        const pause = fault.delay === undefined ? Effect.void : Effect.sleep(fault.delay)
        if (fault.reason === undefined) return yield* Effect.andThen(pause, effect)
        if (fault.applied === true) yield* Effect.ignore(effect)
        yield* pause
        return yield* Effect.fail(new LeaseStoreError({ operation, reason: fault.reason, detail: "injected fault" }))
      })
    const watchMode = yield* Ref.make<WatchMode>("normal")

    const store: LeaseStoreService = {
      get: (key) => call("get", undefined, admin.get(key)),
      list: (namespace) => call("list", undefined, admin.list(namespace)),
      create: (key, spec, metadata) => call("create", spec, admin.create(key, spec, metadata)),
      update: (record, spec, metadata) => call("update", spec, admin.update(record, spec, metadata)),
      remove: (record) => call("remove", undefined, admin.remove(record)),
      watch: (key) =>
        Stream.unwrap(Effect.map(Ref.get(watchMode), (mode) =>
          mode === "normal" ? admin.watch(key) : mode === "silent"
            ? Stream.concat(Stream.take(admin.watch(key), 1), Stream.never)
            : mode === "mute"
            ? Stream.never
            // every event takes `lag` to deliver, one after the other: a backlog that grows
            : Stream.mapEffect(admin.watch(key), (state) => Effect.as(Effect.sleep(mode.lag), state))
        ))
    }
    const probe = Probe.of({
      admin,
      calls: (operation) =>
        Ref.get(counts).pipe(Effect.map((m) =>
          operation === undefined ? [...m.values()].reduce((a, b) => a + b, 0) : m.get(operation) ?? 0
        )),
      resetCalls: Ref.set(counts, new Map()),
      setFaults: (next) => Ref.set(rule, next),
      setWatch: (mode) => Ref.set(watchMode, mode)
    })
    return Context.make(LeaseStore, store).pipe(Context.add(Probe, probe))
  }))

/** Reads a lease through the admin view; fails the test when it is absent. */
export const read = (key: { namespace: string; name: string }) =>
  Effect.gen(function*() {
    const probe = yield* Probe
    return Option.getOrThrow(yield* probe.admin.get(key))
  })
