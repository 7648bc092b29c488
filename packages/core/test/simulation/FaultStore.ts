/**
 * One contender's view of the shared memory store, with faults chosen by the seed.
 *
 * Each contender gets its own wrapper object over ONE shared `LeaseStore.makeMemory` store (so
 * core keeps one observation memory per contender, as separate processes would). During the
 * fault phase each call may get one fault:
 * - `delay-before`: the server applies the call late (a compare-and-swap is checked when it is
 *   applied, as a real API server checks it — against the state at that moment);
 * - `delay-after`: applied at once, the answer arrives late;
 * - `lose-answer`: applied, and the caller gets `Timeout`/`Unavailable`, or no answer at all (its
 *   request timeout fires) — the ambiguous outcome;
 * - `fail`: not applied; `Timeout`/`Unavailable`, or no answer at all.
 * The server side of a faulty call runs in its own fiber on the TRUE clock: a caller that gives up
 * (request timeout, interruption) does not stop a write that is on its way. Watches may `stall`
 * (stop delivering, silently, possibly before the first state), `fail` (`Unavailable`), `end`, or
 * `lag`. Every answer — and every watched state — waits on the contender's pause gate.
 *
 * The wrapper leaves out `withRequestTimeout` (see its doc in `LeaseStore.ts`): core then bounds
 * each call itself, on the contender's own clock.
 *
 * Guarantees: faults are drawn only while `faultsOn()` says so, from the contender's own stream,
 * in call order — deterministic per seed; every call, apply and answer is recorded. Does not
 * guarantee: delays longer than `maxDelayMillis` (so a fault phase ends within a known bound).
 */
import { Clock, Deferred, Duration, Effect, Exit, Stream } from "effect"
import type { Option } from "effect"
import type { LeaseKey, LeaseRecord } from "../../src/LeaseRecord.ts"
import { Annotations, formatKey } from "../../src/LeaseRecord.ts"
import type { LeaseStoreErrorReason, LeaseStoreOperation, LeaseStoreService } from "../../src/LeaseStore.ts"
import { LeaseStoreError } from "../../src/LeaseStore.ts"
import type { Gate } from "./ContenderClock.ts"
import type { History, RecordView } from "./History.ts"
import type { Prng } from "./Prng.ts"

export interface FaultProfile {
  /** Probability that a call made during the fault phase gets a fault. */
  readonly callFaultRate: number
  /** Probability that a watch opened during the fault phase gets a fault. */
  readonly watchFaultRate: number
  /** Upper bound of every injected delay. */
  readonly maxDelayMillis: number
  /** Whether a watch may lag (default true). Off for observers' stores: an observer takes every
   * state a lagging watch delivers for the newest, even one older than its last read — the
   * known observer bug this simulator found (RESULTS.md), reported and left to core. */
  readonly lagWatch?: boolean
}

type Ambiguous = "Timeout" | "Unavailable"

export type CallFault =
  | { readonly _tag: "delay-before"; readonly ms: number }
  | { readonly _tag: "delay-after"; readonly ms: number }
  | { readonly _tag: "lose-answer"; readonly ms: number; readonly reason: Ambiguous; readonly hang: boolean }
  | { readonly _tag: "fail"; readonly ms: number; readonly reason: Ambiguous; readonly hang: boolean }

export type WatchFault =
  | { readonly _tag: "stall"; readonly after: number }
  | { readonly _tag: "fail"; readonly after: number }
  | { readonly _tag: "end"; readonly after: number }
  | { readonly _tag: "lag"; readonly ms: number }

/** Counts of what was injected, by kind. */
export type FaultCounts = Record<string, number>

export const view = (record: LeaseRecord): RecordView => {
  const annotations = record.metadata.annotations ?? {}
  const to = annotations[Annotations.handoffTo]
  const window = annotations[Annotations.handoffWindowSeconds]
  const request = annotations[Annotations.handoffRequest]
  return {
    holder: record.holder ?? "",
    transitions: record.transitions ?? 0,
    version: record.version,
    durationSeconds: record.durationSeconds,
    ...(to === undefined ? {} : { handoffTo: to, handoffWindowSeconds: window === undefined ? undefined : Number(window) }),
    ...(request === undefined ? {} : { handoffRequest: request }),
    ...semaphoreHead(annotations)
  }
}

/** A semaphore head's N and queue, as the trace and the semaphore checker read them. */
const semaphoreHead = (annotations: Readonly<Record<string, string>>): Pick<RecordView, "semPermits" | "semQueue"> => {
  const permits = annotations["leasekit.io/semaphore-permits"]
  if (permits === undefined) return {}
  let queue: Array<{ h: string; w: string }> = []
  try {
    const parsed: unknown = JSON.parse(annotations["leasekit.io/semaphore-queue"] ?? "[]")
    if (Array.isArray(parsed)) queue = parsed.filter((e): e is { h: string; w: string } => typeof e?.h === "string" && typeof e?.w === "string")
  } catch {
    queue = []
  }
  return { semPermits: Number(permits), semQueue: queue }
}

const describeCall = (fault: CallFault | undefined): string =>
  fault === undefined
    ? "-"
    : fault._tag === "delay-before" || fault._tag === "delay-after"
    ? `${fault._tag} ${fault.ms.toFixed(0)}ms`
    : `${fault._tag} ${fault.reason}${fault.hang ? " (no answer)" : ""} after ${fault.ms.toFixed(0)}ms`

export interface FaultStoreOptions {
  readonly contender: string
  readonly inner: LeaseStoreService
  readonly base: Clock.Clock
  readonly gate: Gate
  readonly history: History
  readonly prng: Prng
  readonly profile: FaultProfile
  readonly faultsOn: () => boolean
  readonly counts: FaultCounts
}

export const make = (options: FaultStoreOptions): LeaseStoreService => {
  const { base, counts, contender: c, gate, history, inner, prng, profile } = options
  const count = (kind: string) => {
    counts[kind] = (counts[kind] ?? 0) + 1
  }
  const delay = () => prng.between(0, profile.maxDelayMillis)
  const ambiguous = (): Ambiguous => (prng.chance(0.5) ? "Timeout" : "Unavailable")

  const drawCall = (write: boolean): CallFault | undefined => {
    if (!options.faultsOn() || !prng.chance(profile.callFaultRate)) return undefined
    const kind = prng.weighted<CallFault["_tag"]>([
      [3, "delay-before"],
      [3, "delay-after"],
      [write ? 3 : 0, "lose-answer"],
      [3, "fail"]
    ])
    switch (kind) {
      case "delay-before":
      case "delay-after":
        return { _tag: kind, ms: delay() }
      case "lose-answer":
      case "fail":
        return { _tag: kind, ms: prng.chance(0.5) ? 0 : delay(), reason: ambiguous(), hang: prng.chance(0.4) }
    }
  }

  const serverSleep = (ms: number) => Effect.provideService(Effect.sleep(Duration.millis(ms)), Clock.Clock, base)

  const call = <A>(
    operation: LeaseStoreOperation,
    key: LeaseKey,
    holder: string | undefined,
    apply: Effect.Effect<A, LeaseStoreError>,
    after: (a: A) => RecordView | undefined
  ): Effect.Effect<A, LeaseStoreError> =>
    Effect.suspend(() => {
      const id = history.nextId()
      const write = operation !== "get" && operation !== "list"
      const fault = drawCall(write)
      if (fault !== undefined) count(`${operation}:${fault._tag}`)
      const k = formatKey(key)
      history.record({ kind: "store-call", c, call: id, op: operation, key: k, holder, fault: describeCall(fault) })
      const applied = Effect.tap(Effect.exit(apply), (exit) =>
        Effect.sync(() => {
          if (!write) return
          const ok = Exit.isSuccess(exit)
          history.record({
            kind: "store-apply",
            c,
            call: id,
            op: operation,
            key: k,
            ok,
            detail: ok ? "applied" : exit.cause.toString().slice(0, 120),
            after: ok ? after(exit.value) : undefined,
            deleted: ok && operation === "remove",
            holder
          })
        }))
      if (fault === undefined) {
        return Effect.flatMap(applied, (exit) => Effect.andThen(gate.pass, exit))
      }
      const answer = Deferred.makeUnsafe<A, LeaseStoreError>()
      const fail = (reason: LeaseStoreErrorReason) =>
        Exit.fail(new LeaseStoreError({ operation, key, reason, detail: `injected: ${describeCall(fault)}` }))
      const server: Effect.Effect<void> = Effect.gen(function*() {
        switch (fault._tag) {
          case "delay-before": {
            yield* serverSleep(fault.ms)
            Deferred.doneUnsafe(answer, yield* applied)
            return
          }
          case "delay-after": {
            const exit = yield* applied
            yield* serverSleep(fault.ms)
            Deferred.doneUnsafe(answer, exit)
            return
          }
          case "lose-answer": {
            yield* serverSleep(fault.ms)
            yield* applied
            if (!fault.hang) Deferred.doneUnsafe(answer, fail(fault.reason))
            return
          }
          case "fail": {
            yield* serverSleep(fault.ms)
            if (!fault.hang) Deferred.doneUnsafe(answer, fail(fault.reason))
            return
          }
        }
      })
      return Effect.gen(function*() {
        yield* Effect.forkDetach(server)
        const exit = yield* Effect.exit(Deferred.await(answer))
        yield* gate.pass
        history.record({
          kind: "store-answer",
          c,
          call: id,
          op: operation,
          detail: Exit.isSuccess(exit) ? "ok" : exit.cause.toString().slice(0, 120)
        })
        return yield* exit
      })
    })

  const drawWatch = (): WatchFault | undefined => {
    if (!options.faultsOn() || !prng.chance(profile.watchFaultRate)) return undefined
    const kind = prng.weighted<WatchFault["_tag"]>([[3, "stall"], [2, "fail"], [1, "end"], [profile.lagWatch === false ? 0 : 2, "lag"]])
    return kind === "lag" ? { _tag: kind, ms: delay() } : { _tag: kind, after: prng.int(0, 3) }
  }

  const watch = (key: LeaseKey): Stream.Stream<Option.Option<LeaseRecord>, LeaseStoreError> =>
    Stream.unwrap(Effect.sync(() => {
      const fault = drawWatch()
      if (fault !== undefined) count(`watch:${fault._tag}`)
      history.record({
        kind: "watch-open",
        c,
        key: formatKey(key),
        fault: fault === undefined ? "-" : fault._tag === "lag" ? `lag ${fault.ms.toFixed(0)}ms` : `${fault._tag} after ${fault.after}`
      })
      const states = inner.watch(key)
      const faulty = fault === undefined
        ? states
        : fault._tag === "stall"
        ? Stream.concat(Stream.take(states, fault.after), Stream.never)
        : fault._tag === "fail"
        ? Stream.concat(
          Stream.take(states, fault.after),
          Stream.fail(new LeaseStoreError({ operation: "watch", key, reason: "Unavailable", detail: "injected: watch disconnected" }))
        )
        : fault._tag === "end"
        ? Stream.take(states, fault.after)
        : Stream.mapEffect(states, (state) => Effect.as(serverSleep(fault.ms), state))
      return Stream.mapEffect(faulty, (state) => Effect.as(gate.pass, state))
    }))

  return {
    get: (key) => call("get", key, undefined, inner.get(key), () => undefined),
    list: (namespace) => Effect.andThen(inner.list(namespace), (records) => Effect.as(gate.pass, records)),
    create: (key, spec, metadata) => call("create", key, spec.holder, inner.create(key, spec, metadata), view),
    update: (record, spec, metadata) => call("update", record.key, spec.holder, inner.update(record, spec, metadata), view),
    remove: (record) => call("remove", record.key, undefined, inner.remove(record), () => undefined),
    watch
  }
}
