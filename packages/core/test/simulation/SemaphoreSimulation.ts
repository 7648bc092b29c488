/**
 * Semaphore schedules: the deterministic simulation of `LeaseSemaphore` (one schedule in ten of
 * the budget — `isSemaphoreSeed`), on the same harness as the lease schedules: `TestClock`, the
 * memory store behind each contender's fault store (delays, lost answers, transient failures,
 * watch faults), process pauses, clock-rate drift and wall-clock offsets, all drawn by
 * `Plan.draw` for the seed (with a shorter fault phase); then, for the semaphore, N (1–3, fewer
 * than the contenders), resizes during the fault phase
 * (done by an admin process through `LeaseSemaphore.resize`, up and down, so withdrawn permits
 * drain), and CRASHES: a contender whose gate closes for good (it never runs, renews or answers
 * again) while holding a permit or waiting in the queue.
 *
 * Each contender loops, until the schedule ends: think, then one acquisition on a
 * `LeaseSemaphore.contender` handle of its own (in a scope that lasts the operation) — `acquire`
 * plain, with a timeout, or interrupted after a while, or `tryAcquire`, or the one-shot
 * `LeaseSemaphore.acquire` — and, holding a permit, 1–3 sections of thinking or guarded work
 * (atomic steps recorded with the permit, the tenure and its token), ending with `release` (on the
 * handle, sometimes while guarded work runs) or by closing the scope. Every permit gets a fiber
 * recording its loss and one recording when it is seen withdrawn.
 *
 * Guarantees: deterministic, as the lease schedules (the same seed gives the same history). Does
 * not guarantee: that any particular fault or crash hits anything — the schedule decides.
 */
import { Clock, Duration, Effect, Exit, Fiber, Logger, Random, References, Scheduler, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../../src/Lease.ts"
import type { LeaseKey } from "../../src/LeaseRecord.ts"
import * as LeaseSemaphore from "../../src/LeaseSemaphore.ts"
import * as LeaseStore from "../../src/LeaseStore.ts"
import * as ContenderClock from "./ContenderClock.ts"
import * as FaultStore from "./FaultStore.ts"
import * as History from "./History.ts"
import type { ContenderPlan, Plan } from "./Plan.ts"
import * as Plans from "./Plan.ts"
import * as Prng from "./Prng.ts"
import * as SemaphoreChecker from "./SemaphoreChecker.ts"
import type { Outcome, RunOptions } from "./Simulation.ts"

/** The semaphore every semaphore schedule uses. */
export const semaphoreKey: LeaseKey = { namespace: "sim", name: "sem" }

/** One seed in ten is a semaphore schedule. */
export const isSemaphoreSeed = (seed: number): boolean => seed % 10 === 0

export interface Resize {
  readonly at: number
  readonly to: number
}

/** A lease plan (contenders, timings, faults, pauses, timeline) plus the semaphore's. */
export interface SemaphorePlan extends Plan {
  readonly permits: number
  readonly resizes: ReadonlyArray<Resize>
  /** Contender id → the true time it crashes (before the quiet tail). */
  readonly crashes: ReadonlyMap<string, number>
}

export const draw = (seed: number): SemaphorePlan => {
  const drawn = Plans.draw(seed)
  const prng = Prng.make(seed).fork("semaphore")
  // A shorter fault phase than the lease schedules' (a semaphore operation costs several lease
  // operations): 1.5–3 of the longest durations, then the same settling and quiet tail.
  const maxD = Math.max(...drawn.contenders.map((c) => c.timings.duration))
  const quietAt = Math.round(maxD * prng.between(1.5, 3) + 5_000)
  const maxRT = Math.max(...drawn.contenders.map((c) => c.timings.requestTimeout))
  const maxRetry = Math.max(...drawn.contenders.map((c) => c.timings.retryPeriod))
  const settledAt = quietAt + maxD + 3 * maxRT + maxRetry + 2000
  const shortened = {
    ...drawn,
    contenders: drawn.contenders.map((cp) => ({ ...cp, pauses: cp.pauses.filter((p) => p.at + p.length < quietAt - 1000) })),
    quietAt,
    settledAt
  }
  const bound = Math.max(...shortened.contenders.map((c) => Plans.livenessBound(shortened, c.timings)))
  const base: Plan = { ...shortened, endAt: settledAt + Math.round(1.25 * bound) }
  // Fewer permits than contenders, mostly 1 or 2: waiters queue.
  const permits = prng.weighted([[3, 1], [3, 2], [1, 3]].filter(([, n]) => n! < base.contenders.length) as Array<[number, number]>)
  const resizes: Array<Resize> = []
  const resizeCount = prng.weighted([[3, 0], [2, 1], [1, 2]])
  for (let i = 0; i < resizeCount; i++) {
    resizes.push({ at: Math.round(prng.between(1000, base.quietAt - 1000)), to: prng.int(1, 4) })
  }
  resizes.sort((a, b) => a.at - b.at)
  const crashes = new Map<string, number>()
  const contenders: Array<ContenderPlan> = base.contenders.map((cp) => {
    if (!prng.chance(0.2) || crashes.size >= base.contenders.length - 1) return cp
    const at = Math.round(prng.between(1000, base.quietAt - 1000))
    crashes.set(cp.id, at)
    // A pause that would end after the crash would bring the contender back: drop it.
    return { ...cp, pauses: cp.pauses.filter((p) => p.at + p.length < at) }
  })
  // Admin writes outside the protocol are the lease schedules' business; here the admin resizes.
  return { ...base, keys: [semaphoreKey], admin: [], contenders, permits, resizes, crashes }
}

interface ActorContext {
  readonly plan: ContenderPlan
  readonly permits: number
  readonly history: History.History
  readonly prng: Prng.Prng
  readonly session: Scope.Scope
  readonly base: Clock.Clock
  readonly stopAt: number
  readonly opCounts: Record<string, number>
}

const describe = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (failure !== undefined && failure._tag === "Fail") {
    const error = failure.error
    if (typeof error === "object" && error !== null && "_tag" in error) {
      const reason = "reason" in error && typeof error.reason === "object" && error.reason !== null && "_tag" in error.reason
        ? `(${String(error.reason._tag)})`
        : ""
      return `${String(error._tag)}${reason}`
    }
    return String(error)
  }
  return Exit.hasInterrupts(exit) ? "interrupted" : "died"
}

const actor = (ctx: ActorContext): Effect.Effect<void, never, Lease.Lease> => {
  const { history, plan, prng, session } = ctx
  const c = plan.id
  const d = plan.timings.duration
  const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))
  const count = (kind: string) => {
    ctx.opCounts[kind] = (ctx.opCounts[kind] ?? 0) + 1
  }
  const options = { ...semaphoreKey, holder: c, ...plan.options, permits: ctx.permits }
  const record = (event: Omit<Extract<History.EventBody, { kind: "sem" }>, "kind" | "c">) => history.record({ kind: "sem", c, ...event })

  const steps = (held: LeaseSemaphore.HeldPermit, tenure: number) =>
    Effect.gen(function*() {
      const n = prng.int(1, 6)
      for (let i = 0; i < n; i++) {
        record({ what: "step", tenure, permit: held.permit, token: held.token, detail: "" })
        count("sem.step")
        yield* sleep(prng.chance(0.1) ? 0 : prng.between(0.02, 0.4) * d)
      }
    })

  /** `release`: the handle's, or closing the scope for a one-shot `LeaseSemaphore.acquire`. */
  const hold = (held: LeaseSemaphore.HeldPermit, release: Effect.Effect<void, unknown>, tenure: number) =>
    Effect.gen(function*() {
      const sections = prng.int(1, 3)
      for (let s = 0; s < sections; s++) {
        if (prng.chance(0.5)) yield* sleep(prng.between(0, 0.8 * d))
        if (prng.chance(0.75)) {
          count("sem.guard")
          yield* Effect.exit(held.guard(steps(held, tenure)))
          continue
        }
        // A release while guarded work runs: the work is stopped before the release writes.
        count("sem.release-during")
        const fiber = yield* Effect.forkChild(Effect.exit(held.guard(steps(held, tenure))))
        yield* sleep(prng.between(0, 0.6 * d))
        record({ what: "release", tenure, permit: held.permit, detail: "during guarded work" })
        const exit = yield* Effect.exit(release)
        record({ what: "released", tenure, permit: held.permit, detail: describe(exit) })
        yield* Fiber.await(fiber)
        return
      }
      if (prng.chance(0.6)) {
        count("sem.release")
        record({ what: "release", tenure, permit: held.permit, detail: "release()" })
        const exit = yield* Effect.exit(release)
        record({ what: "released", tenure, permit: held.permit, detail: describe(exit) })
      } else {
        count("sem.close")
        record({ what: "release", tenure, permit: held.permit, detail: "closing the scope" })
      }
    })

  const started = (held: LeaseSemaphore.HeldPermit, attempt: number) =>
    Effect.gen(function*() {
      const tenure = history.nextId()
      record({ what: "tenure", attempt, tenure, permit: held.permit, token: held.token, detail: "" })
      yield* held.lost.pipe(
        Effect.catch((error) => Effect.sync(() => record({ what: "lost", tenure, permit: held.permit, detail: error.reason._tag }))),
        Effect.forkIn(session)
      )
      yield* held.withdrawn.pipe(
        Effect.andThen(Effect.sync(() => {
          count("sem.withdrawn")
          record({ what: "withdrawn", tenure, permit: held.permit, detail: "" })
        })),
        Effect.forkIn(session)
      )
      return tenure
    })

  const operation = Effect.gen(function*() {
    const scope = yield* Scope.make()
    const op = prng.weighted<"acquire" | "timeout" | "interrupt" | "try" | "one-shot">([
      [5, "acquire"],
      [3, "timeout"],
      [2, "interrupt"],
      [3, "try"],
      [1, "one-shot"]
    ])
    count(`sem.${op}`)
    const attempt = history.nextId()
    const made = yield* Effect.exit(Scope.provide(LeaseSemaphore.contender(options), scope))
    if (Exit.isFailure(made)) {
      record({ what: "done", attempt, detail: `contender: ${describe(made)}` })
      yield* Scope.close(scope, Exit.void)
      return
    }
    const handle = made.value
    record({ what: "call", attempt, blocking: op !== "try", detail: op })
    let held: LeaseSemaphore.HeldPermit | undefined
    if (op === "try") {
      const exit = yield* Effect.exit(handle.tryAcquire)
      if (Exit.isSuccess(exit) && exit.value._tag === "Acquired") held = exit.value.permit
      const outcome = Exit.isSuccess(exit) ? exit.value._tag : describe(exit)
      count(`sem.try:${outcome}`)
      record({ what: "done", attempt, detail: outcome })
    } else {
      const timeout = op === "timeout" ? Duration.millis(Math.round(prng.between(0.1, 3) * d)) : undefined
      const acquiring = op === "one-shot"
        ? Scope.provide(LeaseSemaphore.acquire(timeout === undefined ? options : { ...options, timeout }), scope)
        : handle.acquire(timeout)
      const exit = op === "interrupt"
        ? yield* Effect.exit(Effect.timeoutOption(acquiring, Duration.millis(Math.round(prng.between(0.1, 3) * d))))
        : yield* Effect.exit(Effect.asSome(acquiring))
      if (Exit.isSuccess(exit) && exit.value._tag === "Some") held = exit.value.value
      const outcome = Exit.isSuccess(exit) ? (exit.value._tag === "Some" ? "held" : "interrupted") : describe(exit)
      count(`sem.${op}:${outcome.replace(/\(.*/, "")}`)
      record({ what: "done", attempt, detail: outcome })
    }
    if (held !== undefined) {
      const tenure = yield* started(held, attempt)
      yield* hold(held, op === "one-shot" ? Scope.close(scope, Exit.void) : handle.release, tenure)
    }
    yield* Scope.close(scope, Exit.void)
  })

  return Effect.gen(function*() {
    while (ctx.base.currentTimeMillisUnsafe() < ctx.stopAt) {
      yield* sleep(prng.between(0, 0.5) * d)
      yield* operation
    }
  })
}

const schedule = (plan: SemaphorePlan, options: RunOptions) =>
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
      const sink = Logger.make<unknown, void>(({ logLevel, message }) => {
        const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
        history.record({ kind: "log", c: cp.id, level: logLevel, message: text })
      })
      const program = actor({
        plan: cp,
        permits: plan.permits,
        history,
        prng: root.fork(`sem-ops/${cp.id}`),
        session,
        base,
        stopAt: plan.endAt,
        opCounts
      }).pipe(
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

    type Happening = { readonly at: number; readonly run: Effect.Effect<void> }
    const happenings: Array<Happening> = []
    for (const cp of plan.contenders) {
      const gate = gates.get(cp.id)!
      for (const p of cp.pauses) {
        happenings.push({
          at: p.at,
          run: Effect.sync(() => {
            faultCounts["pause"] = (faultCounts["pause"] ?? 0) + 1
            history.record({ kind: "pause-begin", c: cp.id, length: p.length, exempt: p.exempt })
            gate.close()
          })
        })
        happenings.push({ at: p.at + p.length, run: Effect.sync(() => {
          history.record({ kind: "pause-end", c: cp.id })
          gate.open()
        }) })
      }
      const crash = plan.crashes.get(cp.id)
      if (crash !== undefined) {
        happenings.push({
          at: crash,
          run: Effect.sync(() => {
            faultCounts["crash"] = (faultCounts["crash"] ?? 0) + 1
            history.record({ kind: "sem", c: cp.id, what: "crash", detail: "" })
            gate.close()
          })
        })
      }
    }
    // The admin resizes through the public API, over the store without faults (its writes recorded).
    const adminStore = FaultStore.make({
      contender: "admin",
      inner: memory,
      base,
      gate: ContenderClock.makeGate(),
      history,
      prng: root.fork("faults/admin"),
      profile: { callFaultRate: 0, watchFaultRate: 0, maxDelayMillis: 0 },
      faultsOn: () => false,
      counts: faultCounts
    })
    const admin = Effect.provideService(Lease.make, LeaseStore.LeaseStore, adminStore)
    for (const r of plan.resizes) {
      happenings.push({
        at: r.at,
        run: Effect.gen(function*() {
          const service = yield* admin
          const exit = yield* Effect.exit(LeaseSemaphore.resize(semaphoreKey, r.to).pipe(Effect.provideService(Lease.Lease, service)))
          faultCounts["resize"] = (faultCounts["resize"] ?? 0) + 1
          history.record({
            kind: "sem",
            c: "admin",
            what: "resize",
            detail: Exit.isSuccess(exit) ? `${exit.value.from} → ${exit.value.to}` : `to ${r.to}: ${describe(exit)}`
          })
        })
      })
    }
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
    return { events: history.events.slice(0, endSeq + 1), opCounts, faultCounts, tornDown: stopped }
  })

/** Runs the semaphore schedule of `seed` and checks it. */
export const run = (seed: number, options: RunOptions = {}): Promise<Outcome> => {
  const plan = draw(seed)
  return Effect.runPromise(
    schedule(plan, options).pipe(
      Effect.scoped,
      Effect.provide(TestClock.layer()),
      Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler("sync"))
    )
  ).then(({ events, faultCounts, opCounts, tornDown }) => ({
    seed,
    plan,
    events,
    violations: SemaphoreChecker.check(plan, events),
    opCounts,
    faultCounts,
    tornDown
  }))
}
