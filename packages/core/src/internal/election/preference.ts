/**
 * A preferred election's requests to the leader (`ElectionOptions.preferred`): ask each leader it
 * follows, once, to hand the lease over to this contender.
 *
 * Guarantees: at most one request per leader seen while following (again for another holder, or
 * after this election led itself); a request that fails on the store is asked again at the next
 * report, one on a coordinated lease never; requests run in the background of the election's scope.
 * Does not: make the leader hand over (it may refuse, or be dead).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { LeaseContender } from "../../LeaseContender.ts"

/**
 * A preferred election's requests (`ElectionOptions.preferred`): `ask(holder)` asks `holder` to hand
 * the lease over to this contender, in the background of the election's scope (the wait it is
 * called from does not wait for it) — once per leader seen while following: not again while the
 * same holder keeps the lease (a leader that refused, or let the request expire, is not pestered;
 * the contender itself writes at most one request per holder tenure, see `Lease.requestHandoff`),
 * again when another holder leads, or after this election has led itself (`reset`). A request that
 * fails on the store is tried again at the next report; one on a coordinated lease is not.
 */
export const preference = (self: LeaseContender, electionScope: Scope.Scope) =>
  Effect.sync(() => {
    let asked: string | undefined = undefined
    let coordinated = false
    const request = (holder: string) =>
      self.requestHandoff.pipe(
        Effect.flatMap((result) =>
          Effect.sync(() => {
            switch (result._tag) {
              case "Requested":
                return
              case "Coordinated":
                coordinated = true
                return
              case "Free":
              case "HeldBy":
                // Nobody else holds it (any more): the wait takes it; ask the next holder afresh.
                if (asked === holder) asked = undefined
                return
            }
          })
        ),
        Effect.catch((error) =>
          Effect.andThen(
            Effect.sync(() => {
              if (asked === holder) asked = undefined
            }),
            Effect.logWarning(`could not ask ${JSON.stringify(holder)} to hand the lease over: ${error.message}`)
          )
        )
      )
    return {
      ask: (holder: string): Effect.Effect<void> =>
        Effect.suspend(() => {
          if (coordinated || asked === holder) return Effect.void
          asked = holder
          return Effect.asVoid(Effect.forkIn(request(holder), electionScope))
        }),
      reset: Effect.sync(() => {
        asked = undefined
      })
    }
  })
