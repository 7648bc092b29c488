/**
 * One contender's program: random operations on the PUBLIC API, recorded as they happen.
 *
 * Operations (one at a time, each on a random key, with random think time between them):
 * - `acquire`: `Lease.acquire` in a scope of its own — plain, with a random `timeout`, or
 *   interrupted after a random time; a failed acquisition sometimes lingers in its scope for a
 *   while (as a caller that goes on with other things) before closing it;
 * - `tryAcquire`: one attempt;
 * - `withLease`: guarded work in one combinator, sometimes with a timeout, sometimes interrupted;
 * - `leader`: `LeaderElection.run` with a finite or endless `whileLeading`, stopped after a while
 *   (sometimes `preferred`: it asks each leader it follows to hand the lease over);
 * - `contender`: a long-lived handle (`Lease.contender`) in a scope that lasts 2–5 operations on it —
 *   `acquire` (plain or with a timeout), `tryAcquire` (a `HeldByOther` answer is recorded as a
 *   report of who holds the lease), `release` (of the tenure in progress, without one, or while
 *   guarded work runs), `current` (with `isHeld`), guarded work, thinking, `requestHandoff` (ask
 *   the holder to hand the lease over to this contender), `handoff` of the tenure in progress —
 *   with every event of its `events` stream recorded;
 * - `election`: `LeaderElection.make`, its `status` polled a few times, then its scope closed;
 *   sometimes `preferred`, sometimes with a `stepDown` health check that fails at random (it
 *   steps down, cools down and campaigns again).
 * Besides the operations, a contender may run observers (`Lease.observe` on a random key, over a
 * store wrapper and a `Lease` service of their own in the same process), one at a time, each for a
 * while; every inspection they emit is recorded as a report.
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
import { Clock, Duration, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import * as LeaderElection from "../../src/LeaderElection.ts"
import * as Lease from "../../src/Lease.ts"
import type { LeaseContender } from "../../src/LeaseContender.ts"
import type { LeaseKey } from "../../src/LeaseRecord.ts"
import { LeaseStore, type LeaseStoreService } from "../../src/LeaseStore.ts"
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
  /** The store the contender's observers use (a wrapper of their own, in this process). */
  readonly observerStore: LeaseStoreService
  readonly observerStoreName: string
  /** Every contender of the schedule (handoffs name one of them, or a ghost). */
  readonly peers: ReadonlyArray<string>
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

  const startTenure = (held: Lease.HeldLease, key: string, via: OpKind, attempt: number, handle?: number) =>
    Effect.gen(function*() {
      const tenure = history.nextId()
      history.record({ kind: "tenure-start", c, key, tenure, attempt, token: held.token, via, ...(handle === undefined ? {} : { handle }) })
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

  /** A handoff's successor: another contender of the schedule (alive, and waiting or not — it may
   * stop waiting during the window), or now and then a ghost nobody runs (a successor that died). */
  const successor = () => {
    const others = ctx.peers.filter((p) => p !== c)
    return others.length === 0 || prng.chance(0.15) ? "ghost" : prng.pick(others)
  }

  /** `handoff(to)`: a release that reserves the lease for `to` for the window. */
  const handoff = (held: Lease.HeldLease, key: string, tenure: number) =>
    Effect.gen(function*() {
      count("handoff")
      const to = successor()
      history.record({ kind: "release-begin", c, key, tenure, how: "handoff", to })
      const exit = yield* Effect.exit(held.handoff(to))
      history.record({ kind: "release-end", c, key, tenure, ok: Exit.isSuccess(exit), detail: describe(exit) })
      return exit
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
        const mode = prng.weighted<"guard" | "interrupt" | "release-during" | "handoff-during" | "close-during">([
          [5, "guard"],
          [2, "interrupt"],
          [2, "release-during"],
          [1, "handoff-during"],
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
          case "release-during":
          case "handoff-during": {
            // Sometimes with an explicit renew running beside the release.
            const renewing = prng.chance(0.4) ? yield* Effect.forkChild(renew(held, key, tenure)) : undefined
            if (mode === "release-during") yield* release(held, key, tenure)
            else yield* handoff(held, key, tenure)
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
      const ending = prng.weighted<"close" | "release" | "handoff">([[6, "close"], [3, "release"], [1, "handoff"]])
      if (ending === "release") yield* release(held, key, tenure)
      if (ending === "handoff") yield* handoff(held, key, tenure)
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
      const preferred = prng.chance(0.2)
      if (preferred) count("leader:preferred")
      const fiber = yield* Effect.forkChild(
        LeaderElection.run({ ...optionsFor(key), preferred }, (held) =>
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

  /**
   * Observers in this process, one at a time: each follows one key through `Lease.observe` (with
   * this contender's timing, over a store and a `Lease` service of its own) for a while, recording
   * every inspection it emits, then stops; another may start after a pause. Choices come from
   * `oprng`, a stream forked from the contender's.
   */
  const observers = (oprng: Prng) =>
    Effect.gen(function*() {
      while (ctx.base.currentTimeMillisUnsafe() < ctx.stopAt) {
        yield* sleep(oprng.between(0, 4 * d))
        const key = oprng.pick(ctx.keys)
        const k = formatKey(key)
        const observer = history.nextId()
        count("observe")
        history.record({ kind: "observer-start", c, key: k, observer, store: ctx.observerStoreName })
        const observing = Lease.observe(key, plan.options).pipe(
          Stream.runForEach((report) =>
            Effect.sync(() => {
              count("observe:report")
              const holder = Option.getOrElse(report.holder, () => "")
              history.record({
                kind: "report",
                c,
                key: k,
                source: "observer",
                observer,
                holder,
                token: Option.getOrUndefined(report.token),
                live: holder !== "" && !Duration.isZero(report.expiresIn)
              })
            })
          ),
          Effect.provideServiceEffect(Lease.Lease, Lease.make),
          Effect.provideService(LeaseStore, ctx.observerStore)
        )
        const fiber = yield* Effect.forkChild(observing)
        const done = yield* Fiber.await(fiber).pipe(Effect.timeoutOption(Duration.millis(oprng.between(2 * d, 8 * d))))
        let exit: Exit.Exit<void, unknown>
        if (Option.isSome(done)) {
          exit = done.value
        } else {
          yield* Fiber.interrupt(fiber)
          exit = yield* Fiber.await(fiber)
        }
        history.record({ kind: "observer-end", c, key: k, observer, detail: describe(exit) })
      }
    })

  /**
   * A long-lived contender handle (`Lease.contender`) in a scope that lasts several operations:
   * `acquire` (plain or with a timeout), `tryAcquire` (a `HeldByOther` answer is recorded as a
   * report), `release` (with a tenure, without one, or while guarded work runs), `current`, guarded
   * work on the tenure in progress, and thinking; every event of its `events` stream is recorded.
   * A tenure the handle answers again (the one in progress, renewed) is not a new tenure; a tenure
   * the handle disposed of (it answered something else after it ended) or released is closed.
   */
  const opContender = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      count("contender")
      const handle = history.nextId()
      const scope = yield* Scope.make()
      const self: LeaseContender = yield* Effect.orDie(Lease.contender(optionsFor(key)).pipe(Scope.provide(scope)))
      history.record({ kind: "handle-open", c, key: k, handle })
      yield* Stream.runForEach(self.events, (event) =>
        Effect.sync(() =>
          history.record({
            kind: "handle-event",
            c,
            key: k,
            handle,
            tag: event._tag,
            token: event.token,
            reason: event._tag === "Lost" ? event.error.reason._tag : ""
          })
        )).pipe(Effect.forkIn(scope))
      // Let the subscriber subscribe before anything happens.
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      const tenureOf = new Map<Lease.HeldLease, number>()
      let open: { readonly held: Lease.HeldLease; readonly tenure: number } | undefined
      /** The handle ended the open tenure (released it, or disposed of it after it ended). */
      const closeOpen = (detail: string) => {
        if (open !== undefined) history.record({ kind: "tenure-close", c, key: k, tenure: open.tenure, detail })
        open = undefined
      }
      /** An answer with a lease: the tenure in progress again, or a new one. */
      const answered = (held: Lease.HeldLease, attempt: number) =>
        Effect.gen(function*() {
          if (open !== undefined && open.held === held) {
            history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "held", detail: "the tenure in progress" })
            return
          }
          closeOpen("disposed of by the handle (it had ended)")
          history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "held", detail: "ok" })
          const tenure = yield* startTenure(held, k, "contender", attempt, handle)
          tenureOf.set(held, tenure)
          open = { held, tenure }
        })
      const handleRelease = Effect.gen(function*() {
        if (open === undefined) {
          count("contender.release:none")
          const exit = yield* Effect.exit(self.release)
          history.record({ kind: "op", c, detail: `handle #${handle} release without a tenure → ${describe(exit)}` })
          if (Exit.isFailure(exit)) {
            const failure = exit.cause.reasons.find((r) => r._tag === "Fail")
            const error = failure !== undefined && failure._tag === "Fail" ? failure.error : undefined
            if (error !== undefined && error.reason._tag === "HeldByOther") {
              history.record({ kind: "report", c, key: k, source: "release", observer: undefined, holder: error.reason.holder, token: undefined, live: true })
            }
          }
          return
        }
        count("contender.release")
        const { tenure } = open
        history.record({ kind: "release-begin", c, key: k, tenure, how: "release" })
        let exit = yield* Effect.exit(self.release)
        history.record({ kind: "release-end", c, key: k, tenure, ok: Exit.isSuccess(exit), detail: describe(exit) })
        // The handle keeps a tenure whose release failed on the store, so that the next release
        // retries: a caller usually does at once.
        if (describe(exit).includes("(Store)") && prng.chance(0.7)) {
          count("contender.release:retry")
          exit = yield* Effect.exit(self.release)
          history.record({ kind: "release-end", c, key: k, tenure, ok: Exit.isSuccess(exit), detail: describe(exit) })
        }
        if (Exit.isSuccess(exit) || describe(exit).includes("HeldByOther")) closeOpen("released through the handle")
      })
      const ops = prng.int(2, 5)
      for (let i = 0; i < ops; i++) {
        const sub = prng.weighted<
          "acquire" | "tryAcquire" | "release" | "current" | "work" | "release-during" | "think" | "request" | "handoff"
        >([
          [3, "acquire"],
          [3, "tryAcquire"],
          [2, "release"],
          [2, "current"],
          [3, "work"],
          [1, "release-during"],
          [2, "think"],
          [1, "request"],
          [1, "handoff"]
        ])
        switch (sub) {
          case "acquire": {
            const timeout = prng.chance(0.5) ? prng.between(0, 2 * d) : undefined
            count(`contender.acquire:${timeout === undefined ? "plain" : "timeout"}`)
            const attempt = history.nextId()
            history.record({
              kind: "acquire-call",
              c,
              key: k,
              attempt,
              op: "contender",
              detail: `handle #${handle} acquire${timeout === undefined ? "" : ` timeout ${timeout.toFixed(0)}ms`}`,
              blocking: true
            })
            const exit = yield* Effect.exit(self.acquire(timeout === undefined ? undefined : Duration.millis(timeout)))
            if (Exit.isSuccess(exit)) {
              yield* answered(exit.value, attempt)
            } else {
              // A timeout can end the call while it renews the tenure in progress: that tenure
              // goes on. Any other tenure it had has ended.
              const still = yield* self.current
              if (!(open !== undefined && Option.isSome(still) && still.value === open.held)) {
                closeOpen("disposed of by the handle (it had ended)")
              }
              history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "failed", detail: describe(exit) })
            }
            break
          }
          case "tryAcquire": {
            count("contender.tryAcquire")
            const attempt = history.nextId()
            history.record({ kind: "acquire-call", c, key: k, attempt, op: "contender", detail: `handle #${handle} tryAcquire`, blocking: false })
            const exit = yield* Effect.exit(self.tryAcquire)
            if (Exit.isFailure(exit)) {
              closeOpen("disposed of by the handle (it had ended)")
              history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "failed", detail: describe(exit) })
            } else if (exit.value._tag === "Acquired") {
              yield* answered(exit.value.lease, attempt)
            } else {
              count("contender.tryAcquire:HeldByOther")
              const answer = exit.value
              closeOpen("disposed of by the handle (it had ended)")
              history.record({ kind: "acquire-done", c, key: k, attempt, outcome: "none", detail: `held by ${answer.holder}` })
              history.record({
                kind: "report",
                c,
                key: k,
                source: "tryAcquire",
                observer: undefined,
                holder: answer.holder,
                token: answer.record.transitions ?? 0,
                live: true
              })
            }
            break
          }
          case "release":
            yield* handleRelease
            break
          case "current": {
            count("contender.current")
            const current = yield* self.current
            const isHeld = Option.isSome(current) ? yield* current.value.isHeld : undefined
            history.record({
              kind: "current",
              c,
              key: k,
              handle,
              tenure: Option.isSome(current) ? tenureOf.get(current.value) ?? -1 : undefined,
              token: Option.isSome(current) ? current.value.token : undefined,
              isHeld
            })
            break
          }
          case "work":
            if (open !== undefined) yield* guarded(open.held, k, open.tenure)
            break
          case "release-during": {
            if (open === undefined) break
            count("contender.release-during")
            const fiber = yield* Effect.forkChild(guarded(open.held, k, open.tenure))
            yield* sleep(prng.between(0, 0.6 * d))
            yield* handleRelease
            yield* Fiber.await(fiber)
            break
          }
          case "think":
            yield* sleep(prng.between(0, d))
            break
          case "request": {
            // Ask whoever holds the lease to hand it over to this contender; then, sometimes,
            // wait for it as a successor would (an acquire right after).
            count("contender.requestHandoff")
            const exit = yield* Effect.exit(self.requestHandoff)
            if (Exit.isSuccess(exit)) count(`contender.requestHandoff:${exit.value._tag}`)
            history.record({
              kind: "op",
              c,
              detail: `handle #${handle} requestHandoff → ${Exit.isSuccess(exit) ? exit.value._tag : describe(exit)}`
            })
            break
          }
          case "handoff": {
            if (open === undefined) break
            const exit = yield* handoff(open.held, k, open.tenure)
            if (Exit.isSuccess(exit) || describe(exit).includes("HeldByOther")) closeOpen("handed off through the held lease")
            break
          }
        }
      }
      if (open !== undefined) history.record({ kind: "release-begin", c, key: k, tenure: open.tenure, how: "close-scope" })
      yield* Scope.close(scope, Exit.void)
      closeOpen("handle scope closed")
      history.record({ kind: "handle-close", c, key: k, handle })
    })

  /** `LeaderElection.make` in a scope of its own: its `status` polled a few times, then stopped. */
  const opElection = (key: LeaseKey) =>
    Effect.gen(function*() {
      const k = formatKey(key)
      count("election")
      const election = history.nextId()
      history.record({ kind: "acquire-call", c, key: k, attempt: election, op: "election", detail: "", blocking: false })
      const scope = yield* Scope.make()
      let current: number | undefined
      // A term that gets the lease of the previous term (the tenure in progress) is the same tenure.
      const tenureOf = new Map<Lease.HeldLease, number>()
      // Some elections ask each leader they follow for the lease; some step down on a health
      // check that fails now and then (drawn from a stream of their own), cool down and campaign
      // again.
      const preferred = prng.chance(0.3)
      const health = prng.fork(`health/${election}`)
      const healthy = prng.pick([0.3, 0.7, 0.95])
      const stepDown = prng.chance(0.3)
        ? {
          check: Effect.sync(() => health.chance(healthy)),
          interval: Duration.millis(prng.between(0.1, 0.6) * d),
          failures: prng.int(1, 3),
          coolDown: Duration.millis(prng.between(0, 1.5 * d))
        }
        : undefined
      if (preferred) count("election:preferred")
      if (stepDown !== undefined) count("election:stepDown")
      const made = yield* Effect.exit(
        LeaderElection.make({ ...optionsFor(key), preferred, ...(stepDown === undefined ? {} : { stepDown }) }, (held) =>
          Effect.gen(function*() {
            count("term")
            const tenure = tenureOf.get(held) ?? (yield* startTenure(held, k, "election", election))
            tenureOf.set(held, tenure)
            current = tenure
            yield* work(held, k, tenure, prng.chance(0.5))
          })).pipe(Scope.provide(scope))
      )
      if (Exit.isSuccess(made)) {
        const polls = prng.int(1, 6)
        for (let i = 0; i < polls; i++) {
          yield* sleep(prng.between(0, 1.5 * d))
          const status = yield* made.value.status
          count(`status:${status._tag}`)
          history.record({
            kind: "status",
            c,
            key: k,
            election,
            tag: status._tag,
            token: status._tag === "Leading" ? status.token : undefined,
            holder: status._tag === "Following" ? status.holder : undefined
          })
        }
      }
      if (current !== undefined) history.record({ kind: "release-begin", c, key: k, tenure: current, how: "close-scope" })
      yield* Scope.close(scope, Exit.void)
      if (current !== undefined) history.record({ kind: "tenure-close", c, key: k, tenure: current, detail: "election stopped" })
      history.record({
        kind: "acquire-done",
        c,
        key: k,
        attempt: election,
        outcome: current === undefined ? (Exit.isSuccess(made) ? "interrupted" : "failed") : "held",
        detail: describe(made)
      })
    })

  const ops: Record<OpChoice, (key: LeaseKey) => Effect.Effect<void, never, Lease.Lease | LeaseStore>> = {
    acquire: opAcquire,
    tryAcquire: opTryAcquire,
    withLease: opWithLease,
    leader: opLeader,
    contender: opContender,
    election: opElection
  }

  return Effect.gen(function*() {
    const oprng = prng.fork("observer")
    if (oprng.chance(0.12)) yield* Effect.forkIn(observers(oprng), session)
    while (ctx.base.currentTimeMillisUnsafe() < ctx.stopAt) {
      const key = prng.pick(ctx.keys)
      const op = prng.weighted(plan.opWeights)
      yield* ops[op](key)
      yield* sleep(prng.chance(0.3) ? 0 : prng.between(0, d))
    }
  })
}
