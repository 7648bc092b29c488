/**
 * A holder's answer to requests to hand its lease over (`Lease.requestHandoff`), met at each
 * renewal: a request to `Y` on the record read back is honoured (`handoffRequests: "honour"`: a
 * handoff to `Y` begins in the background, once; the request stays until the handoff's write removes
 * it) or refused (`"refuse"`: the renewal writes the record without it). A request this tenure has
 * seen for longer than `duration` (a handoff that did not complete) is dropped the same way.
 *
 * Guarantees: `requested` completes with the first request the tenure saw, whatever the answer; a
 * request naming this holder itself is dropped.
 * Does not: write (the renewal writes the metadata answered), or hand over (the tenure's `honour`).
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { ResolvedLeaseOptions } from "../../LeaseOptions.ts"
import type { LeaseMetadata, LeaseRecord } from "../../LeaseRecord.ts"
import { Annotations, handoffRequest } from "../../LeaseRecord.ts"
import { monotonicMillis } from "../observations.ts"
import { withoutRequest } from "./records.ts"

/** The handoff requests of one tenure; `honour(to)` starts a handoff to `to` in the background. */
export const make = (options: ResolvedLeaseOptions, honour: (to: string) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    /** Completed with the first request to hand the lease over that this tenure saw. */
    const requested = yield* Deferred.make<string>()
    /** The request this tenure is looking at, and when (monotonic) it first saw it. */
    const request = yield* Ref.make<{ readonly to: string; readonly since: number; honoured: boolean } | undefined>(undefined)
    const durationMillis = Duration.toMillis(options.duration)

    /**
     * What a renewal from `last` does about a handoff request on it: honours it (`handoffRequests:
     * "honour"`: a handoff in the background, once; the request stays until the handoff's write
     * removes it) — or drops it from this very write when this holder refuses requests, or has seen
     * it for longer than `duration` without handing over (a handoff that failed). Answers the
     * metadata to write (`undefined`: as read).
     */
    const answerRequest = (last: LeaseRecord): Effect.Effect<LeaseMetadata | undefined> =>
      Effect.gen(function*() {
        const asked = handoffRequest(last)
        if (Option.isNone(asked)) {
          // A request annotation naming this holder itself is meaningless: drop it.
          return last.metadata.annotations?.[Annotations.handoffRequest] === undefined ? undefined : withoutRequest(last)
        }
        const to = asked.value
        const now = yield* monotonicMillis
        const seen = yield* Ref.get(request)
        const current = seen !== undefined && seen.to === to ? seen : { to, since: now, honoured: false }
        if (current !== seen) {
          yield* Ref.set(request, current)
          yield* Deferred.succeed(requested, to)
        }
        if (options.handoffRequests === "refuse") {
          yield* Effect.logInfo(`refused a request to hand the lease over to ${JSON.stringify(to)} (handoffRequests: "refuse")`)
          return withoutRequest(last)
        }
        if (now - current.since > durationMillis) {
          yield* Effect.logWarning(
            `dropped a request to hand the lease over to ${JSON.stringify(to)}: not handed over within ${Duration.format(options.duration)} of seeing it`
          )
          return withoutRequest(last)
        }
        if (!current.honoured) {
          current.honoured = true
          yield* Effect.logInfo(`handing the lease over to ${JSON.stringify(to)}, as requested`)
          yield* honour(to)
        }
        return undefined
      })
    return { requested, answerRequest }
  })
