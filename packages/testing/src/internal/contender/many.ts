/**
 * `many` mode (a join with `count > 1`): hold `count` leases `name-0` … `name-(count-1)` at once,
 * acquired `concurrency` at a time (default 32), until released — the load of figure 5.
 *
 * Events: `leading` (with `count`) once all are acquired, `releasing`, then `released` (`led`:
 * whether all were acquired) when the scope released them. Event-loop delay is sampled only while
 * the leases are held (the sampler costs CPU).
 *
 * @internal
 */
import { Lease } from "@leasekit/core"
import { Deferred, Effect } from "effect"
import { nowMicros } from "../../ContenderProtocol.ts"
import { type Mode, optionsOf } from "./mode.ts"

export const many: Mode = (command, stop, state) =>
  Effect.scoped(Effect.gen(function*() {
    const count = command.count ?? 1
    const names = Array.from({ length: count }, (_, i) => `${command.name}-${i}`)
    const acquired = yield* Effect.raceFirst(
      Effect.forEach(names, (name) => Lease.acquire(optionsOf(command, name, state.holder)), {
        concurrency: command.concurrency ?? 32,
        discard: true
      }).pipe(Effect.as(true)),
      Effect.as(Deferred.await(stop), false)
    )
    if (acquired) state.emit({ ev: "leading", t: nowMicros(), name: command.name, count })
    state.usage.eventLoopDelay.enable()
    yield* Deferred.await(stop)
    state.emit({ ev: "releasing", t: nowMicros() })
    state.usage.eventLoopDelay.disable()
    state.store.tracking = false
    return acquired
  })).pipe(Effect.tap((led) => Effect.sync(() => state.emit({ ev: "released", t: nowMicros(), led }))))
