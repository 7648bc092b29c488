/**
 * Runs one schedule: the plan for a seed, on a fresh `TestClock` and a fresh memory store, and
 * judges its history.
 *
 * The driver fiber forks every contender (its program wrapped in its own `Clock`, fault store,
 * seeded `Random` and log sink) and a timeline fiber that applies pauses and admin writes on the
 * true clock, then advances the `TestClock` to the end of the schedule in one `adjust` — which
 * wakes every sleep in time order and lets each woken fiber run until it waits again. It then
 * interrupts everything (advancing the clock so finalizers that sleep can finish) and runs the
 * checker.
 *
 * Guarantees: deterministic — same seed, same history (nothing reads real time or `Math.random`;
 * core's `Random` is seeded). Does not guarantee: that a schedule whose teardown hangs is judged
 * (it is reported as `teardown` instead).
 */
import { Clock, Duration, Effect, Exit, Fiber, Logger, Random, References, Scheduler, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../../src/Lease.ts"
import * as LeaseStore from "../../src/LeaseStore.ts"
import { formatKey } from "../../src/LeaseRecord.ts"
import * as Actor from "./Actor.ts"
import type { Violation } from "./Checker.ts"
import * as Checker from "./Checker.ts"
import * as ContenderClock from "./ContenderClock.ts"
import * as FaultStore from "./FaultStore.ts"
import type { Event } from "./History.ts"
import * as History from "./History.ts"
import type { Plan } from "./Plan.ts"
import * as Plans from "./Plan.ts"
import * as Prng from "./Prng.ts"
import * as SemaphoreSimulation from "./SemaphoreSimulation.ts"

export interface Outcome {
  readonly seed: number
  readonly plan: Plan
  readonly events: ReadonlyArray<Event>
  readonly violations: ReadonlyArray<Violation>
  readonly opCounts: Readonly<Record<string, number>>
  readonly faultCounts: Readonly<Record<string, number>>
  /** Whether every fiber stopped at teardown. */
  readonly tornDown: boolean
}

export interface RunOptions {
  /** Record core's own log lines (debug and up) into the history, for traces. */
  readonly logs?: boolean
}

const schedule = (plan: Plan, options: RunOptions) =>
  Effect.gen(function*() {
    const base = yield* Clock.Clock
    const history = History.make(() => base.currentTimeMillisUnsafe())
    const memory = yield* LeaseStore.makeMemory()
    const root = Prng.make(plan.seed)
    const opCounts: Record<string, number> = {}
    const faultCounts: Record<string, number> = {}
    const faultsOn = () => base.currentTimeMillisUnsafe() < plan.quietAt
    const session = yield* Scope.make()
    const gates = new Map<string, ContenderClock.Gate>()
    const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
    const programs: Array<Effect.Effect<void>> = []

    for (const cp of plan.contenders) {
      const gate = ContenderClock.makeGate()
      gates.set(cp.id, gate)
      const clock = ContenderClock.make(base, { rate: cp.rate, wallOffsetMillis: cp.wallOffsetMillis, gate })
      const store = FaultStore.make({
        contender: cp.id,
        inner: memory,
        base,
        gate,
        history,
        prng: root.fork(`faults/${cp.id}`),
        profile: cp.profile,
        faultsOn,
        counts: faultCounts
      })
      // The contender's observers: a store wrapper of their own (faults from a stream of their own),
      // in the same process — the same clock and pause gate.
      const observerStoreName = `${cp.id}.obs`
      const observerStore = FaultStore.make({
        contender: observerStoreName,
        inner: memory,
        base,
        gate,
        history,
        prng: root.fork(`faults/${observerStoreName}`),
        // Observers' watches lag as contenders' do (the observer used to go back in time on a
        // lagging watch — seed 213, RESULTS.md; fixed: it waits for the watch to catch up).
        profile: cp.profile,
        faultsOn,
        counts: faultCounts
      })
      const sink = Logger.make<unknown, void>(({ logLevel, message }) => {
        const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
        history.record({ kind: "log", c: cp.id, level: logLevel, message: text })
      })
      const program = Actor.run({
        plan: cp,
        keys: plan.keys,
        history,
        prng: root.fork(`ops/${cp.id}`),
        session,
        base,
        stopAt: plan.endAt,
        opCounts,
        observerStore,
        observerStoreName,
        peers: plan.contenders.map((other) => other.id)
      }).pipe(
        // Each contender is a process of its own: its own `Lease` service (and memory) over its store.
        Effect.provideServiceEffect(Lease.Lease, Lease.make),
        Effect.provideService(LeaseStore.LeaseStore, store),
        Effect.provideService(Clock.Clock, clock),
        Effect.provideService(Random.Random, Prng.asRandomService(root.fork(`random/${cp.id}`))),
        options.logs === true
          ? (self) =>
            self.pipe(
              Effect.provideService(Logger.CurrentLoggers, new Set([sink])),
              Effect.provideService(References.MinimumLogLevel, "Debug")
            )
          : Effect.provideService(References.MinimumLogLevel, "None")
      )
      programs.push(Effect.provideService(program, References.TracerEnabled, false))
    }

    // The timeline on the true clock: pauses, admin writes, the start of the quiet tail.
    type Happening = { readonly at: number; readonly run: Effect.Effect<void> }
    const happenings: Array<Happening> = []
    for (const cp of plan.contenders) {
      const gate = gates.get(cp.id)!
      for (const p of cp.pauses) {
        happenings.push({
          at: p.at,
          run: Effect.sync(() => {
            faultCounts["pause"] = (faultCounts["pause"] ?? 0) + 1
            if (p.exempt) faultCounts["pause:long"] = (faultCounts["pause:long"] ?? 0) + 1
            history.record({ kind: "pause-begin", c: cp.id, length: p.length, exempt: p.exempt })
            gate.close()
          })
        })
        happenings.push({
          at: p.at + p.length,
          run: Effect.sync(() => {
            history.record({ kind: "pause-end", c: cp.id })
            gate.open()
          })
        })
      }
    }
    let labels = 0
    for (const a of plan.admin) {
      happenings.push({
        at: a.at,
        run: Effect.gen(function*() {
          const key = formatKey(a.key)
          const current = yield* Effect.orDie(memory.get(a.key))
          if (current._tag === "None") {
            history.record({ kind: "admin", key, action: `${a.action} (no object)`, takeover: false, deleted: false, after: undefined })
            return
          }
          const record = current.value
          const { key: _k, version: _v, metadata: _m, ...spec } = record
          faultCounts[`admin:${a.action}`] = (faultCounts[`admin:${a.action}`] ?? 0) + 1
          const wasHeld = (record.holder ?? "") !== ""
          switch (a.action) {
            case "delete": {
              yield* Effect.orDie(memory.remove(record))
              history.record({ kind: "admin", key, action: a.action, takeover: wasHeld, deleted: true, after: undefined })
              return
            }
            case "clear":
            case "set-holder": {
              const after = yield* Effect.orDie(memory.update(record, {
                ...spec,
                holder: a.action === "clear" ? "" : "intruder",
                renewTime: base.currentTimeMillisUnsafe()
              }))
              history.record({ kind: "admin", key, action: a.action, takeover: wasHeld || a.action === "set-holder", deleted: false, after: FaultStore.view(after) })
              return
            }
            case "label": {
              labels++
              const after = yield* Effect.orDie(memory.update(
                { ...record, metadata: { ...record.metadata, labels: { ...record.metadata.labels, touched: String(labels) } } },
                spec
              ))
              history.record({ kind: "admin", key, action: a.action, takeover: false, deleted: false, after: FaultStore.view(after) })
              return
            }
          }
        })
      })
    }
    // The contenders start 1 ms in, from a fiber woken by the TestClock: everything a woken fiber
    // sets off is run to quiescence before the clock moves on, while work started before the first
    // `adjust` is not (a fiber that yields at time 0 would resume only at the next wake-up, as if
    // paused — an artefact, not a schedule).
    happenings.push({
      at: 1,
      run: Effect.forEach(programs, (program) => Effect.flatMap(Effect.forkIn(program, session), (f) => Effect.sync(() => fibers.push(f))), {
        discard: true
      })
    })
    happenings.push({ at: plan.quietAt, run: Effect.sync(() => history.record({ kind: "quiet" })) })
    happenings.sort((a, b) => a.at - b.at)
    fibers.push(yield* Effect.forkIn(Effect.gen(function*() {
      for (const h of happenings) {
        const wait = h.at - base.currentTimeMillisUnsafe()
        if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
        yield* h.run
      }
    }), session))

    yield* TestClock.adjust(Duration.millis(plan.endAt))
    history.record({ kind: "end" })

    // Teardown: stop everything; finalizers may sleep (release retries), so keep the clock going.
    for (const gate of gates.values()) gate.open()
    let stopped = false
    yield* Effect.forkChild(
      Effect.forEach(fibers, Fiber.interrupt, { discard: true }).pipe(
        Effect.andThen(Scope.close(session, Exit.void)),
        Effect.andThen(Effect.sync(() => {
          stopped = true
        }))
      )
    )
    for (let i = 0; i < 20 && !stopped; i++) yield* TestClock.adjust(Duration.minutes(10))
    const endSeq = history.events.findIndex((x) => x.kind === "end")
    const events = history.events.slice(0, endSeq + 1)
    return { events, opCounts, faultCounts, tornDown: stopped }
  })

/** What became of the handoffs the store applied: taken by their successor, by another contender
 * (after the window), or something else (an admin write, the schedule's end). */
const handoffCounts = (events: ReadonlyArray<Event>): Record<string, number> => {
  const counts: Record<string, number> = {}
  const count = (kind: string) => {
    counts[kind] = (counts[kind] ?? 0) + 1
  }
  const pending = new Map<string, string>()
  for (const e of events) {
    if (e.kind === "store-apply" && e.ok) {
      const to = pending.get(e.key)
      if (to !== undefined) {
        pending.delete(e.key)
        const holder = e.deleted ? undefined : e.after?.holder
        count(holder === to ? "handoff:taken-by-successor" : holder === e.c ? "handoff:taken-after-window" : "handoff:other-end")
      }
      if (!e.deleted && e.after?.holder === "" && e.after.handoffTo !== undefined) {
        count(e.after.handoffTo === "ghost" ? "handoff:reserved-for-ghost" : "handoff:reserved")
        pending.set(e.key, e.after.handoffTo)
      }
    } else if (e.kind === "admin" && (e.after !== undefined || e.deleted) && pending.has(e.key)) {
      pending.delete(e.key)
      count("handoff:other-end")
    }
  }
  return counts
}

/** Runs the schedule of `seed` and checks it (a semaphore schedule for one seed in ten). */
export const run = (seed: number, options: RunOptions = {}): Promise<Outcome> => {
  if (SemaphoreSimulation.isSemaphoreSeed(seed)) return SemaphoreSimulation.run(seed, options)
  const plan = Plans.draw(seed)
  return Effect.runPromise(
    schedule(plan, options).pipe(
      Effect.scoped,
      Effect.provide(TestClock.layer()),
      // Microtask dispatch: about twice as fast as `setImmediate`, and no real timer (the
      // TestClock's "busy fiber" warning) can interleave with a run.
      Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler("sync"))
    )
  ).then(({ events, faultCounts, opCounts, tornDown }) => ({
    seed,
    plan,
    events,
    violations: Checker.check(plan, events),
    opCounts: { ...opCounts, ...handoffCounts(events) },
    faultCounts,
    tornDown
  }))
}
