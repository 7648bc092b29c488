/**
 * The terms of a leader election, one after another: lead while holding the lease (`whileLeading`
 * guarded by it, the status `Leading`), wait and follow while another holds it, and go back into the
 * election after every end of a term — a loss, a release or handoff of this process, a step-down.
 *
 * Guarantees: the status leaves `Leading` the moment the lease is lost (not once `whileLeading` has
 * stopped), and as soon as the work has stopped when this process ended the term itself; a
 * stepped-down election does not compete during its cool-down; only the end of this contender's own
 * tenure ends a term (the loss of another lease `whileLeading` guards work with is its failure).
 * Does not: decide what a permanent store failure does (`onFailure`: `run` fails, `make` backs off),
 * or keep the status (the `Reporter` does).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { Status } from "../../LeaderElection.ts"
import type * as Lease from "../../Lease.ts"
import type { LeaseContender, TryAcquireResult } from "../../LeaseContender.ts"
import { type LeaseAcquisitionError, LeaseLostError } from "../../LeaseError.ts"
import { type Policy, watchHealth } from "./policy.ts"
import { preference } from "./preference.ts"

/** Whether `error` is the end of this contender's tenure — a loss, `Relinquished` (a release by
 * this process: a step-down, from the health check or from a fiber `whileLeading` forked, or the
 * election's scope closing) or `HandedOff` (a handoff by this process: `handoff(to)` called by
 * `whileLeading`, or a request it honoured) — and not the loss of another lease `whileLeading`
 * guards work with, which is its own failure. */
export const isOwnEnd = (self: LeaseContender) => (error: unknown): error is LeaseLostError =>
  error instanceof LeaseLostError && error.holder === self.holder &&
  error.key.namespace === self.key.namespace && error.key.name === self.key.name

/** Store failures a waiting contender gives up on; `Contended` is only a lost race. */
export const isPermanent = (error: LeaseAcquisitionError) => error.reason._tag !== "Contended"

/** What `terms` tells about the election as it goes (`make` keeps it; `run` needs none of it). */
export interface Reporter {
  readonly setStatus: (status: Status) => Effect.Effect<void>
  /** A term ended with the loss of the lease (not with a release the election asked for). Told
   * when the loss is declared and again when the term's work has stopped: it must be idempotent. */
  readonly lost: (error: LeaseLostError) => Effect.Effect<void>
}

export const silent: Reporter = { setStatus: () => Effect.void, lost: () => Effect.void }

/** Whether a status repeats the one before: `Campaigning` again, `Following` the same holder
 * (the wait reports the holder at every answer), or `SteppedDown` again (told when the step-down
 * begins and again once the term has ended). */
export const sameStatus = (a: Status, b: Status) =>
  (a._tag === "Campaigning" && b._tag === "Campaigning") ||
  (a._tag === "Following" && b._tag === "Following" && a.holder === b.holder) ||
  (a._tag === "SteppedDown" && b._tag === "SteppedDown")

/** Where a term that ended with `error` leaves the election: following whoever took the lease or
 * was handed it, or campaigning. */
export const after = (error: LeaseLostError): Status =>
  error.reason._tag === "Taken"
    ? { _tag: "Following", holder: error.reason.by }
    : error.reason._tag === "HandedOff"
    ? { _tag: "Following", holder: error.reason.to }
    : { _tag: "Campaigning" }

/**
 * The terms of one contender, one after another, from a first answer: leads when it holds the
 * lease, waits (reporting who leads, as the wait finds it) when it does not. `onFailure` decides
 * what a permanent failure of the wait does: fail, or wait and try again. `policy` adds the
 * election's own moves: asking the leader for the lease while following (`preferred`), and
 * stepping down, cooling down and campaigning again while leading (`stepDown`).
 */
export const terms = <A, E, R, R2>(
  self: LeaseContender,
  electionScope: Scope.Scope,
  first: TryAcquireResult | undefined,
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>,
  report: Reporter,
  onFailure: (error: LeaseAcquisitionError, failures: number) => Effect.Effect<void, LeaseAcquisitionError>,
  policy: Policy<R2>
): Effect.Effect<A, E | LeaseAcquisitionError, Exclude<R, Scope.Scope> | R2> =>
  Effect.gen(function*() {
    let answer = first
    /** Who took the lease over from this contender's last term, while it waits again. */
    let takenBy: string | undefined = undefined
    let failures = 0
    const { setStatus } = report
    const preferred = policy.preferred ? yield* preference(self, electionScope) : undefined
    // The wait's answers: who holds the lease now (it may change while this contender waits).
    const observer = {
      onHeldByOther: (holder: string) =>
        preferred === undefined
          ? setStatus({ _tag: "Following", holder })
          : Effect.andThen(setStatus({ _tag: "Following", holder }), preferred.ask(holder))
    }
    if (preferred !== undefined && answer?._tag === "HeldByOther") yield* preferred.ask(answer.holder)
    while (true) {
      let lease: Lease.HeldLease
      if (answer?._tag === "Acquired") {
        lease = answer.lease
      } else {
        const holder = answer?.holder ?? takenBy
        yield* setStatus(holder === undefined ? { _tag: "Campaigning" } : { _tag: "Following", holder })
        const acquired = yield* Effect.result(self.acquire(undefined, observer))
        if (acquired._tag === "Failure") {
          if (!isPermanent(acquired.failure)) continue
          yield* onFailure(acquired.failure, ++failures)
          answer = undefined
          takenBy = undefined
          continue
        }
        lease = acquired.success
      }
      failures = 0
      if (preferred !== undefined) yield* preferred.reset
      yield* setStatus({ _tag: "Leading", token: lease.token })
      yield* Effect.logDebug(`leading with token ${lease.token}`)
      // The status stops saying `Leading` the moment the lease is lost, not once `whileLeading`
      // has stopped: its finalizers may take a while (a label removal against an unreachable API
      // server), and a successor may lead meanwhile — readiness must not be true on both.
      const lossWatch = yield* lease.lost.pipe(
        Effect.catch((error) =>
          Effect.andThen(
            report.lost(error),
            setStatus(after(error))
          )
        ),
        Effect.forkChild
      )
      // Step-down: once the health check has failed often enough in a row, the status leaves
      // `Leading` and the lease is released — guarded work (the term) is stopped first, by the
      // release itself. The term then ends with `Relinquished`, as any release of this process.
      const { stepDown } = policy
      let steppedDown: number | undefined = undefined
      const health = stepDown === undefined ? undefined : yield* watchHealth(stepDown).pipe(
        Effect.flatMap((failed) =>
          Effect.gen(function*() {
            steppedDown = failed
            yield* setStatus({ _tag: "SteppedDown", failures: failed, coolDown: stepDown.coolDown })
            yield* Effect.logWarning(
              `stepping down: the health check failed ${failed} times in a row; releasing the lease, campaigning again in ${
                Duration.format(stepDown.coolDown)
              }`
            )
            yield* Effect.exit(lease.release).pipe(
              Effect.flatMap((exit) =>
                exit._tag === "Failure" ? Effect.logWarning("the step-down's release failed", exit.cause) : Effect.void
              )
            )
          })
        ),
        Effect.forkChild
      )
      // A step-down in progress is waited for (its release is what ended the term); a health watch
      // that has not decided is stopped with the term.
      const stopHealth = Effect.suspend(() =>
        health === undefined ? Effect.void : steppedDown === undefined ? Fiber.interrupt(health) : Fiber.await(health)
      )
      // A term that ends because this process gave the lease up (a release or handoff from a fiber
      // `whileLeading` forked, an honoured handoff request) leaves `Leading` as soon as its work
      // has stopped — at once, before anything else — as the release write follows that.
      const leaving = (error: LeaseLostError) =>
        Effect.suspend(() =>
          steppedDown !== undefined || electionScope.state._tag === "Closed" ? Effect.void : setStatus(after(error))
        )
      const outcome = yield* lease.guard(Effect.scoped(whileLeading(lease))).pipe(
        Effect.map((value) => ({ _tag: "Done", value }) as const),
        Effect.catchIf(isOwnEnd(self), (error) => Effect.as(leaving(error), { _tag: "Lost", error } as const)),
        Effect.ensuring(Effect.andThen(Fiber.interrupt(lossWatch), stopHealth))
      )
      if (outcome._tag === "Done") return outcome.value
      // The election's scope is closing (its tenure was released for that): the election is over.
      if (electionScope.state._tag === "Closed") return yield* Effect.interrupt
      yield* report.lost(outcome.error)
      answer = undefined
      const reason = outcome.error.reason
      if (stepDown !== undefined && steppedDown !== undefined) {
        yield* setStatus({ _tag: "SteppedDown", failures: steppedDown, coolDown: stepDown.coolDown })
        yield* Effect.logInfo(`stepped down: ${outcome.error.message}; campaigning again in ${Duration.format(stepDown.coolDown)}`)
        yield* Effect.sleep(stepDown.coolDown)
        takenBy = undefined
        continue
      }
      yield* Effect.logInfo(`stopped leading: ${outcome.error.message}; re-entering the election`)
      takenBy = reason._tag === "Taken" ? reason.by : reason._tag === "HandedOff" ? reason.to : undefined
    }
  })

/** The first answer, read where the caller can see its failure: `undefined` after a lost race. */
export const firstAnswer = (self: LeaseContender) =>
  self.tryAcquire.pipe(
    Effect.catchIf((error) => !isPermanent(error), () => Effect.succeed(undefined))
  )
