/**
 * The mutants the mutation check (`mutate.ts`) applies, one at a time, to a copy of the
 * workspace's packages: each must be caught — by default, the simulator must report a violation
 * within the CI seed budget; a mutant the simulator cannot reach (the memory store has no
 * namespaces and no Kubernetes objects) names, in `checkedBy`, the regression test that pins it,
 * and that test must fail on the mutated copy (and pass on an unmutated one).
 *
 * Each mutant names one file under `packages/<package>/src`, an exact `search` text that must occur
 * there exactly once, and its `replace`. When the code changes and a search no longer applies, the
 * check fails loudly: update the mutant to re-introduce the same fault in the new code.
 */

/**
 * How a mutant is caught: by the simulator's CI budget, or by one regression test file run with
 * vitest in the mutated copy — all of it, or with `testName` only the tests whose full name
 * contains that text.
 */
export type CheckedBy =
  | "simulator"
  | {
    /** Relative to the repository root, under `packages/<package>/test/`. */
    readonly test: string
    /** A literal part of the tests' full names (describe blocks and title), passed to vitest as `-t`. */
    readonly testName?: string
  }

export interface Mutant {
  readonly name: string
  /** What the mutant breaks, in a person's words. */
  readonly description: string
  /** Relative to the repository root, under `packages/<package>/src/` (`packages/core/src/` for the simulator). */
  readonly file: string
  readonly search: string
  readonly replace: string
  /** Further replacements, for a fault that spans several places: in the same file, or in `file`. */
  readonly andAlso?: ReadonlyArray<{ readonly search: string; readonly replace: string; readonly file?: string }>
  /** Default: `"simulator"`. */
  readonly checkedBy?: CheckedBy
}

export const mutants: ReadonlyArray<Mutant> = [
  {
    name: "renew-deadline-from-answer",
    description: "a renewal's deadline is measured from its answer instead of its send",
    file: "packages/core/src/internal/tenure.ts",
    search: `          const { record, sentAt, sentWall } = outcome.value
          yield* Ref.update(state, (s) => ({ ...s, last: record, sentAt, sentWall, lastError: undefined }))`,
    replace: `          const { record, sentWall } = outcome.value
          const answeredAt = yield* monotonicMillis
          yield* Ref.update(state, (s) => ({ ...s, last: record, sentAt: answeredAt, sentWall, lastError: undefined }))`
  },
  {
    name: "acquire-deadline-from-answer",
    description: "an acquisition's deadline is measured from its answer instead of its send",
    file: "packages/core/src/internal/attempt.ts",
    search: `      Effect.map((record): Attempt => ({ _tag: "Acquired", record, sentAt, sentWall })),
      Effect.catchIf(isRace,`,
    replace: `      Effect.flatMap((record) =>
        Effect.map(monotonicMillis, (answeredAt): Attempt => ({ _tag: "Acquired", record, sentAt: answeredAt, sentWall }))
      ),
      Effect.catchIf(isRace,`
  },
  {
    name: "expiry-by-remote-renewTime",
    description: "expiry judged on the record's renewTime against the local wall clock",
    file: "packages/core/src/internal/attempt.ts",
    search: "const expiresIn = seen.since + duration - (yield* monotonicMillis)",
    replace: "const expiresIn = (record.renewTime ?? 0) + duration - (yield* Clock.currentTimeMillis)"
  },
  {
    name: "guard-without-precheck",
    description: "guard starts the work without checking that the tenure is still on and in time",
    file: "packages/core/src/internal/tenure/guards.ts",
    search: `          Effect.andThen(ensureHeld),
          Effect.andThen(self),`,
    replace: `          Effect.andThen(self),`
  },
  {
    name: "guard-forks-work-first",
    description: "guard races the work first and the loss second, with no pre-check (hole 1)",
    file: "packages/core/src/internal/tenure/guards.ts",
    search: `          Effect.andThen(ensureHeld),
          Effect.andThen(self),`,
    replace: `          Effect.andThen(self),`,
    andAlso: [{
      search: "return yield* restore(Effect.raceFirst(Deferred.await(entry.stop), work)).pipe(",
      replace: "return yield* restore(Effect.raceFirst(work, Deferred.await(entry.stop))).pipe("
    }]
  },
  {
    name: "release-writes-before-stopping-work",
    description: "release writes the cleared record before it stops guarded work (hole 2b)",
    file: "packages/core/src/internal/tenure.ts",
    search: `            const stopping = yield* stopGuards(own)`,
    replace: `            const stopping: ReadonlyArray<Guard> = []`,
    andAlso: [{
      search: `        yield* Effect.forEach(stopping, (guard) => Deferred.await(guard.stopped), { discard: true })
        if ((yield* Ref.get(state)).phase === "Released") return
        yield* writes.withPermit(Effect.gen(function*() {
          yield* Ref.update(state, (s) => ({ ...s, phase: "Releasing" as const }))
          yield* releaseWrite
          yield* Ref.update(state, (s) => ({ ...s, phase: "Released" as const }))
        }))`,
      replace: `        if ((yield* Ref.get(state)).phase === "Released") return
        yield* writes.withPermit(Effect.gen(function*() {
          yield* Ref.update(state, (s) => ({ ...s, phase: "Releasing" as const }))
          yield* releaseWrite
          yield* Ref.update(state, (s) => ({ ...s, phase: "Released" as const }))
        }))
        const late = yield* stopGuards(new Set())
        yield* Effect.forEach([...stopping, ...late], (guard) => Deferred.await(guard.stopped), { discard: true })`
    }]
  },
  {
    name: "release-disarms-watchdog",
    description: "release stops loss detection before its write is confirmed (hole 2a)",
    file: "packages/core/src/internal/tenure.ts",
    search: `        yield* Effect.forEach(stopping, (guard) => Deferred.await(guard.stopped), { discard: true })
`,
    replace: `        yield* Effect.forEach(stopping, (guard) => Deferred.await(guard.stopped), { discard: true })
        yield* Fiber.interrupt(watchdogFiber)
`
  },
  {
    name: "stale-acquisition-handed-out",
    description: "an acquisition answered after its deadline is handed out (hole 3)",
    file: "packages/core/src/internal/contender.ts",
    search: "if (yield* Tenure.isStale(options, attempt)) {",
    replace: "if (false && (yield* Tenure.isStale(options, attempt))) {"
  },
  {
    name: "tenure-in-callers-scope",
    description: "the tenure's scope is not closed when acquire fails: it lives as long as the caller's (hole 4)",
    file: "packages/core/src/internal/contender.ts",
    search: `          Effect.onExit((exit) => Exit.isSuccess(exit) && isHeld(exit.value) ? Effect.void : Scope.close(tenureScope, exit))`,
    replace: `          Effect.onExit(() => Effect.void)`
  },
  {
    name: "honoured-cap-below-an-hour",
    description: "maxHonouredDuration may be as low as the contender's own duration again (hole 5)",
    file: "packages/core/src/LeaseOptions.ts",
    search: "gte(maxHonouredDuration, maxDuration)",
    replace: "gte(maxHonouredDuration, duration)"
  },
  {
    name: "ambiguous-release-is-loss",
    description: "a release whose answer was lost and that then finds another holder is reported as a loss (hole 6)",
    file: "packages/core/src/internal/tenure.ts",
    search: "if (yield* Ref.get(ambiguous)) {",
    replace: "if (false) {"
  },
  {
    name: "renew-after-release",
    description: "a renewal attempt does not re-check that the tenure has ended (hole 8)",
    file: "packages/core/src/internal/tenure.ts",
    search: "        }), ended)",
    replace: "        }), Effect.succeed(false))"
  },
  {
    name: "trust-silent-watch",
    description: "a waiter trusts a live watch until the holder's expiry, never re-reading (hole 9, and a lagging watch)",
    file: "packages/core/src/internal/waiting.ts",
    search: "Duration.min(outcome.expiresIn, live ? untilRead : options.retryPeriod)",
    replace: "live ? outcome.expiresIn : Duration.min(outcome.expiresIn, options.retryPeriod)",
    andAlso: [{
      search: `if (waiting._tag === "Judging" && now - lastRead >= renewIntervalMillis) waiting = reading`,
      replace: `if (waiting._tag === "Judging" && now < 0) waiting = reading`
    }]
  },
  {
    name: "observer-trusts-silent-watch",
    description: "an observer with a live watch never reads again: a silent watch keeps a departed holder reported until its record expires",
    file: "packages/core/src/internal/observer.ts",
    search: "const trusted = lastRead + (live ? renewIntervalMillis : Duration.toMillis(options.retryPeriod))",
    replace: "const trusted = live ? Number.POSITIVE_INFINITY : lastRead + Duration.toMillis(options.retryPeriod)"
  },
  {
    name: "election-contender-in-callers-scope",
    description: "LeaderElection.make makes its contender in the caller's scope, and a term that ends with Relinquished re-enters even while the election's scope closes: closing it releases the tenure before the election stops, and the election re-enters (the three defences removed — the contender in a scope of its own, the closing check, a contender that refuses to acquire once its scope closed — each alone prevents it)",
    file: "packages/core/src/LeaderElection.ts",
    search: "const self = yield* Lease.contender(options).pipe(Scope.provide(contenderScope))",
    replace: "const self = yield* Lease.contender(options)",
    andAlso: [{
      file: "packages/core/src/internal/election/terms.ts",
      search: `      if (electionScope.state._tag === "Closed") return yield* Effect.interrupt`,
      replace: ``
    }, {
      file: "packages/core/src/internal/contender.ts",
      search: "const ensureOpen = Effect.suspend(() => isClosed(scope) ? Effect.interrupt : Effect.void)",
      replace: "const ensureOpen = Effect.void"
    }]
  },
  {
    name: "release-forgets-ambiguity",
    description: "a retried release forgets that an earlier release write of the tenure may have landed, and takes the new holder for a loss",
    file: "packages/core/src/internal/tenure.ts",
    search: `    const ambiguous = yield* Ref.make(false)
    /** Writes the release`,
    replace: `    /** Writes the release`,
    andAlso: [{
      search: `    const releaseWrite = Effect.gen(function*() {
      const once`,
      replace: `    const releaseWrite = Effect.gen(function*() {
      const ambiguous = yield* Ref.make(false)
      const once`
    }]
  },
  {
    name: "token-reused-on-own-record",
    description: "re-taking a record that names us keeps its token (tokens must grow per tenure)",
    file: "packages/core/src/internal/attempt.ts",
    search: "acquiringSpec(options, judgement.record, sentWall, nextTransitions(judgement.record)),",
    replace:
      `acquiringSpec(options, judgement.record, sentWall, judgement._tag === "Ours" ? transitionsOf(judgement.record) : nextTransitions(judgement.record)),`
  },
  {
    name: "handoff-writes-before-stopping-work",
    description: "a handoff (explicit, or an honoured request) writes the reserved record without stopping guarded work first: the old holder's work runs on while its successor leads",
    file: "packages/core/src/internal/tenure.ts",
    search: `            const stopping = yield* stopGuards(own)`,
    replace: `            const stopping = to === undefined ? yield* stopGuards(own) : []`
  },
  {
    name: "handoff-reservation-ignored",
    description: "a free record reserved by a handoff is judged free by everyone, not only by its successor: a non-successor takes it during the window",
    file: "packages/core/src/internal/attempt.ts",
    search: "if (Option.isSome(pending) && pending.value.to !== options.holder) {",
    replace: "if (false && Option.isSome(pending) && pending.value.to !== options.holder) {"
  },
  {
    name: "handoff-successor-waits-window",
    description: "the successor, too, leaves a record reserved for it alone until the window has passed: a handoff hands the lease to nobody for the window",
    file: "packages/core/src/internal/attempt.ts",
    search: "if (Option.isSome(pending) && pending.value.to !== options.holder) {",
    replace: "if (Option.isSome(pending)) {"
  },
  {
    name: "step-down-reports-late",
    description: "an election stepping down keeps saying Leading until its term has ended, after the release write that lets a successor lead",
    file: "packages/core/src/internal/election/terms.ts",
    search: `            yield* setStatus({ _tag: "SteppedDown", failures: failed, coolDown: stepDown.coolDown })`,
    replace: ``
  },
  {
    name: "create-notfound-is-race",
    description: "create answering NotFound (a missing namespace) is taken for a lost race: a waiting acquire retries forever (hole 10)",
    file: "packages/core/src/internal/attempt.ts",
    search: `? error.reason === "AlreadyExists"`,
    replace: `? error.reason === "AlreadyExists" || error.reason === "NotFound"`,
    checkedBy: {
      test: "packages/core/test/Guarantee.test.ts",
      testName: "create answering NotFound fails a waiting acquire at once, naming the store's error"
    }
  },
  {
    name: "put-body-from-record-only",
    description:
      "the Kubernetes store's PUT body is built from the record only, ignoring the object as read: ownerReferences, finalizers and unknown spec fields are erased (hole 7)",
    file: "packages/kubernetes/src/internal/leaseObject.ts",
    search: "  if (read === undefined) return Wire.encodeLease(own)\n",
    replace: "  return Wire.encodeLease(own) // the object as read is not used: the body is the record's alone\n",
    checkedBy: { test: "packages/kubernetes/test/LeaseObject.test.ts" }
  },
  // Semaphores (issue 17): caught by the semaphore schedules (SemaphoreChecker.ts).
  {
    name: "semaphore-try-barges",
    description: "tryAcquire (and an unqueued acquire) takes a free permit while live waiters are queued: it overtakes them",
    file: "packages/core/src/internal/semaphoreContender.ts",
    search: `      if (waiting === 0) {`,
    replace: `      if (true) {`
  },
  {
    name: "semaphore-rank-ignored",
    description: "a queued waiter is eligible whenever a permit is free, whatever the live waiters ahead of it: it overtakes them",
    file: "packages/core/src/internal/semaphoreWaiter.ts",
    search: `      const rank = v.entries.slice(0, position).filter((e) => live(e) && !served.has(e.entry.h)).length`,
    replace: `      const rank = 0`
  },
  {
    name: "semaphore-withdrawn-handed-out",
    description: "permits with index ≥ N (withdrawn by a resize down) count as free, and taking one is not re-checked against the head",
    file: "packages/core/src/internal/semaphore.ts",
    search: `free: index < head.permits && !foreign && isFree(judgement)`,
    replace: `free: !foreign && isFree(judgement)`,
    andAlso: [{
      file: "packages/core/src/internal/semaphoreContender.ts",
      search: `        if (permits === undefined || permits <= index) {`,
      replace: `        if (permits === undefined) {`
    }]
  },
  {
    name: "semaphore-waiter-live-forever",
    description: "a queue entry counts as live while its ticket exists, even once expired: a crashed waiter blocks everyone behind it for ever",
    file: "packages/core/src/internal/semaphore.ts",
    search: `        (judgement._tag === "Held" || judgement._tag === "Ours")`,
    replace: `        true`
  },
  {
    name: "semaphore-waiter-never-live",
    description: "no queue entry ever counts as live: every waiter is eligible at once and tryAcquire ignores the queue (no fairness)",
    file: "packages/core/src/internal/semaphore.ts",
    search: `      const live = Option.isSome(ticket) && ticket.value.holder === entry.h &&`,
    replace: `      const live = false && Option.isSome(ticket) && ticket.value.holder === entry.h &&`
  },
  {
    name: "semaphore-prunes-unlisted",
    description:
      "a waiter judges dead (and prunes when it leaves) every entry whose ticket its last list did not see: waiters that enqueued after that list are live, yet removed and sent to the back of the queue (the bug fixed in 3a2288a)",
    file: "packages/core/src/internal/semaphoreWaiter.ts",
    search: `      const live = (e: Layout.EntryView) => e.live || !listed.has(e.entry.w)`,
    replace: `      const live = (e: Layout.EntryView) => e.live`
  }
]
