/**
 * `hold` mode: lead one lease until released, then release it — or hand it over to the contender
 * named by a `handoff` command (`HeldLease.handoff`).
 *
 * Events: `leading` (with the fencing token) once acquired, `guarded` when the first guarded step
 * ran (what a handoff's successor can do with the lease, and when), `releasing` when the release
 * begins, `released` (`led`: whether it ever led) when it is done. It does not report a loss: a
 * lost lease shows as the next contender's `leading`.
 *
 * @internal
 */
import { Deferred, Effect, Option } from "effect"
import { nowMicros } from "../../ContenderProtocol.ts"
import { acquireUnlessStopped, type Mode, optionsOf } from "./mode.ts"

export const hold: Mode = (command, stop, state) =>
  Effect.scoped(Effect.gen(function*() {
    const held = yield* acquireUnlessStopped(optionsOf(command, command.name, state.holder), stop)
    if (Option.isNone(held)) return false
    state.emit({ ev: "leading", t: nowMicros(), name: command.name, token: held.value.token })
    yield* held.value.guard(
      Effect.sync(() => state.emit({ ev: "guarded", t: nowMicros(), name: command.name, token: held.value.token }))
    )
    yield* Deferred.await(stop)
    state.emit({ ev: "releasing", t: nowMicros() })
    state.store.tracking = false
    const to = state.handoffTo
    state.handoffTo = undefined
    yield* to === undefined ? held.value.release : held.value.handoff(to)
    return true
  })).pipe(Effect.tap((led) => Effect.sync(() => state.emit({ ev: "released", t: nowMicros(), led }))))
