/**
 * One contender's program: random operations on the PUBLIC API, recorded as they happen.
 *
 * Operations (one at a time, each on a random key, with random think time between them):
 * - `acquire`: `Lease.acquire` in a scope of its own — plain, with a random `timeout`, or
 *   interrupted after a random time; a failed acquisition sometimes lingers in its scope for a
 *   while (as a caller that goes on with other things) before closing it;
 * - `tryAcquire`: one attempt;
 * - `withLease`: guarded work in one combinator, sometimes with a timeout, sometimes interrupted;
 * - `leader`: `LeaderElection.run` with a finite or endless `whileLeading`, stopped after a while.
 * A held lease then goes through 1–3 sections: think, explicit `renew`, and guarded work —
 * `guard(work)`, or work interrupted, or `release` called while guarded work runs (sometimes with
 * an explicit `renew` running beside it), or the scope closed while it runs — and ends with an
 * explicit `release` or by closing the scope.
 *
 * Guarded work is a loop of atomic steps (`Effect.sync` recording {contender, tenure, token}) with
 * random sleeps between them. Every tenure gets a fiber, forked into the session scope, that
 * awaits `lost` and records when it fails.
 *
 * Guarantees: only public API calls (`Lease`, `LeaderElection`, the `HeldLease` methods); every
 * choice drawn from the contender's own stream. Does not guarantee: any particular mix — that is
 * the seed's.
 */
import { Clock, Duration, Effect, Exit, Fiber, Option, Scope } from "effect"
import * as LeaderElection from "../../src/LeaderElection.ts"
import * as Lease from "../../src/Lease.ts"
import type { LeaseKey } from "../../src/LeaseRecord.ts"
import type { LeaseStore } from "../../src/LeaseStore.ts"
import { formatKey } from "../../src/LeaseRecord.ts"
import type { History, OpKind } from "./History.ts"
import type { ContenderPlan, OpChoice } from "./Plan.ts"
import type { Prng } from "./Prng.ts"

export interface ActorContext {
  readonly plan: ContenderPlan
  readonly keys: ReadonlyArray<LeaseKey>
  readonly history: History
  readonly prng: Prng
  /** Lost observers live here, so they outlive the operation that started the tenure. */
  readonly session: Scope.Scope
  /** The true clock, to know when to stop. */
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

export const run = (ctx: ActorContext): Effect.Effect<void, never, Lease.Lease | LeaseStore> => {
  const { history, plan, prng, session } = ctx
  const c = plan.id
  const d = plan.timings.duration
  const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))
  const count = (kind: string) => {
    ctx.opCounts[kind] = (ctx.opCounts[kind] ?? 0) + 1
  }
  const optionsFor = (key: LeaseKey) => ({ ...key, holder: c, ...plan.options })

  const startTenure = (held: Lease.HeldLease, key: string, via: OpKind, attempt: number) =>
    Effect.gen(function*() {
      const tenure = history.nextId()
      history.record({ kind: "tenure-start", c, key, tenure, attempt, token: held.token, via })
      yield* held.lost.pipe(
        Effect.catch((error) => Effect.sync(() => history.record({ kind: "lost", c, key, tenure, reason: error.reason._tag }))),
        Effect.forkIn(session)
      )
      return tenure
    })

  /** Guarded work: atomic steps with sleeps between them; `endless` loops until interrupted. */
  const work = (held: Lease.HeldLease, key: string, tenure: number, endless = false) =>
    Effect.gen(function*() {
      const steps = endless ? Infinity : prng.int(1, 6)
      for (let i = 0; i < steps; i++) {
        history.record({ kind: "step", c, key, tenure, token: held.token })
        count("step")
        yield* sleep(prng.chance(0.1) ? 0 : prng.between(0.02, 0.4) * d)
      }
    })

  const closeScope = (scope: Scope.Closeable, key: string, tenure: number) =>
    Effect.gen(function*() {
      history.record({ kind: "release-begin", c, key, tenure, how: "close-scope" })
      yield* Scope.close(scope, Exit.void)
      history.record({ kind: "tenure-close", c, key, tenure, detail: "scope closed" })
    })

  const release = (held: Lease.HeldLease, key: string, tenure: number) =>
    Effect.gen(function*() {
      count("release")
      history.record({ kind: "release-begin", c, key, tenure, how: "release" })
      const exit = yield* Effect.exit(held.release)
      history.record({ kind: "release-end", c, key, tenure, ok: Exit.isSuccess(exit), detail: describe(exit) })
    })

  const renew = (held: Lease.HeldLease, key: string, tenure: number) =>
    Effect.gen(function*() {
      count("renew")
      history.record({ kind: "renew-call", c, key, tenure })
      const exit = yield* Effect.exit(held.renew)
      history.record({ kind: "renew-end", c, key, tenure, ok: Exit.isSuccess(exit), detail: describe(exit) })
    })

  const guarded = (held: Lease.HeldLease, key: string, tenure: number) =>
    Effect.gen(function*() {
      count("guard")
      const exit = yield* Effect.exit(held.guard(work(held, key, tenure)))
      history.record({ kind: "guard-end", c, key, tenure, detail: describe(exit) })
    })

  /** The life of a held lease in `scope`, ending with the scope closed. */
  const hold = (held: Lease.HeldLease, key: string, tenure: number, scope: Scope.Closeable) =>
    Effect.gen(function*() {
      const sections = prng.int(1, 3)
      for (let s = 0; s < sections; s++) {
        if (prng.chance(0.5)) yield* sleep(prng.between(0, 0.8 * d))
        if (prng.chance(0.25)) yield* renew(held, key, tenure)
        const mode = prng.weighted<"guard" | "interrupt" | "release-during" | "close-during">([
          [5, "guard"],
          [2, "interrupt"],
          [2, "release-during"],
          [1, "close-during"]
        ])
        if (mode === "guard") {
          yield* guarded(held, key, tenure)
          continue
        }
        const fiber = yield* Effect.forkChild(guarded(held, key, tenure))
        yield* sleep(prng.between(0, 0.6 * d))
        switch (mode) {
          case "interrupt":
            count("interrupt-guard")
            yield* Fiber.interrupt(fiber)
            continue
          case "release-during": {
            // Sometimes with an explicit renew running beside the release.
            const renewing = prng.chance(0.4) ? yield* Effect.forkChild(renew(held, key, tenure)) : undefined
            yield* release(held, key, tenure)
            yield* Fiber.await(fiber)
            if (renewing !== undefined) yield* Fiber.await(renewing)
            // Guarded work after a release must not run.
            if (prng.chance(0.3)) yield* guarded(held, key, tenure)
            yield* closeScope(scope, key, tenure)
            return
          }
          case "close-during":
            count("close-during")
            yield* closeScope(scope, key, tenure)
            yield* Fiber.await(fiber)
            return
        }
      }
      if (prng.chance(0.4)) yield* release(held, key, tenure)
      yield* closeScope(scope, key, tenure)
    })

  const failedIn = (scope: Scope.Closeable, key: string, attempt: number, exit: Exit.Exit<unknown, unknown>) =>
    Effect.gen(function*() {
      history.record({
        kind: "acquire-done",
        c,
        key,
        attempt,
        outcome: Exit.hasInterrupts(exit) ? "interrupted" : "failed",
        detail: describe(exit)
      })
      // A caller that goes on with other things in the same scope: nothing may stay held.
      if (prng.chance(0.6)) yield* sleep(prng.between(0, 1.5 * d))
      yield* Scope.close(scope, Exit.void)
    })

  const opAcquire = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      const variant = prng.weighted<"plain" | "timeout" | "interrupt">([[4, "plain"], [3, "timeout"], [2, "interrupt"]])
      count(`acquire:${variant}`)
      const timeout = variant === "timeout" ? prng.between(0, 2 * d) : undefined
      const scope = yield* Scope.make()
      const attempt = history.nextId()
      history.record({
        kind: "acquire-call",
        c,
        key: k,
        attempt,
        op: "acquire",
        detail: timeout === undefined ? variant : `timeout ${timeout.toFixed(0)}ms`,
        blocking: true
      })
      const acquiring = Lease.acquire({
        ...optionsFor(key),
        ...(timeout === undefined ? {} : { timeout: Duration.millis(timeout) })
      }).pipe(Scope.provide(scope))
      let exit: Exit.Exit<Lease.HeldLease, unknown>
      if (variant === "interrupt") {
        const fiber = yield* Effect.forkChild(acquiring)
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(Duration.millis(prng.between(0, 2 * d))))
        if (Option.isSome(done)) {
          exit = done.value
        } else {
          yield* Fiber.interrupt(fiber)
          exit = yield* Fiber.await(fiber)
        }
      } else {
        exit = yield* Effect.exit(acquiring)
      }
      if (Exit.isFailure(exit)) return yield* failedIn(scope, k, attempt, exit)
      history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "held", detail: "ok" })
      const tenure = yield* startTenure(exit.value, k, "acquire", attempt)
      yield* hold(exit.value, k, tenure, scope)
    })

  const opTryAcquire = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      count("tryAcquire")
      const scope = yield* Scope.make()
      const attempt = history.nextId()
      history.record({ kind: "acquire-call", c, key: k, attempt, op: "tryAcquire", detail: "", blocking: false })
      const exit = yield* Effect.exit(Lease.tryAcquire(optionsFor(key)).pipe(Scope.provide(scope)))
      if (Exit.isFailure(exit)) return yield* failedIn(scope, k, attempt, exit)
      if (Option.isNone(exit.value)) {
        history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "none", detail: "held by another" })
        return yield* Scope.close(scope, Exit.void)
      }
      history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "held", detail: "ok" })
      const tenure = yield* startTenure(exit.value.value, k, "tryAcquire", attempt)
      yield* hold(exit.value.value, k, tenure, scope)
    })

  const opWithLease = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      const variant = prng.weighted<"plain" | "timeout" | "interrupt">([[4, "plain"], [2, "timeout"], [2, "interrupt"]])
      count(`withLease:${variant}`)
      const timeout = variant === "timeout" ? prng.between(0, 2 * d) : undefined
      const attempt = history.nextId()
      history.record({
        kind: "acquire-call",
        c,
        key: k,
        attempt,
        op: "withLease",
        detail: timeout === undefined ? variant : `timeout ${timeout.toFixed(0)}ms`,
        blocking: true
      })
      let tenure: number | undefined
      const program = Lease.withLease({
        ...optionsFor(key),
        ...(timeout === undefined ? {} : { timeout: Duration.millis(timeout) })
      })((held) =>
        Effect.gen(function*() {
          history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "held", detail: "ok" })
          tenure = yield* startTenure(held, k, "withLease", attempt)
          yield* work(held, k, tenure)
        })
      )
      let exit: Exit.Exit<void, unknown>
      if (variant === "interrupt") {
        const fiber = yield* Effect.forkChild(program)
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(Duration.millis(prng.between(0, 2 * d))))
        if (Option.isSome(done)) {
          exit = done.value
        } else {
          if (tenure !== undefined) history.record({ kind: "release-begin", c, key: k, tenure, how: "close-scope" })
          yield* Fiber.interrupt(fiber)
          exit = yield* Fiber.await(fiber)
        }
      } else {
        exit = yield* Effect.exit(program)
      }
      if (tenure === undefined) {
        history.record({
          kind: "acquire-done",
          c,
          key: k,
          attempt,
          outcome: Exit.hasInterrupts(exit) ? "interrupted" : "failed",
          detail: describe(exit)
        })
      } else {
        history.record({ kind: "tenure-close", c, key: k, tenure, detail: `withLease returned: ${describe(exit)}` })
      }
    })

  const opLeader = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      count("leader")
      const attempt = history.nextId()
      history.record({ kind: "acquire-call", c, key: k, attempt, op: "leader", detail: "", blocking: false })
      let current: number | undefined
      const fiber = yield* Effect.forkChild(
        LeaderElection.run(optionsFor(key), (held) =>
          Effect.gen(function*() {
            count("term")
            const tenure = yield* startTenure(held, k, "leader", attempt)
            current = tenure
            yield* work(held, k, tenure, prng.chance(0.5))
          }))
      )
      const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(Duration.millis(prng.between(d, 6 * d))))
      let exit: Exit.Exit<void, unknown>
      if (Option.isSome(done)) {
        exit = done.value
      } else {
        if (current !== undefined) history.record({ kind: "release-begin", c, key: k, tenure: current, how: "close-scope" })
        yield* Fiber.interrupt(fiber)
        exit = yield* Fiber.await(fiber)
      }
      if (current !== undefined) history.record({ kind: "tenure-close", c, key: k, tenure: current, detail: `leader stopped: ${describe(exit)}` })
      history.record({ kind: "acquire-done", c, key: k, attempt, outcome: current === undefined ? "interrupted" : "held", detail: describe(exit) })
    })

  const ops: Record<OpChoice, (key: LeaseKey) => Effect.Effect<void, never, Lease.Lease | LeaseStore>> = {
    acquire: opAcquire,
    tryAcquire: opTryAcquire,
    withLease: opWithLease,
    leader: opLeader
  }

  return Effect.gen(function*() {
    while (ctx.base.currentTimeMillisUnsafe() < ctx.stopAt) {
      const key = prng.pick(ctx.keys)
      const op = prng.weighted(plan.opWeights)
      yield* ops[op](key)
      yield* sleep(prng.chance(0.3) ? 0 : prng.between(0, d))
    }
  })
}
