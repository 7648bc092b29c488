/**
 * `semaphore` mode: one contender of the semaphore `name` (`permits` permits): acquire a permit
 * (waiting in the semaphore's queue), hold it `holdMs` under its guard, release it — until
 * released. A permit won as `stop` completes is released by the scope.
 *
 * Each permit is reported as a `permit` event once released: when `acquire` was called
 * (`requested`), returned (`acquired`) and the critical section ended (`ended`, just before the
 * release: the release's write may land before it returns), with the server's resourceVersions
 * from the semaphore trace (`granted`, `ticket`, `enqueues`) when they were seen. An acquisition
 * cut short by the release is reported as `unserved`; the last event is `released` with `rounds`.
 *
 * @internal
 */
import { LeaseSemaphore } from "@leasekit/core"
import { Deferred, Duration, Effect, Option } from "effect"
import { nowMicros } from "../../ContenderProtocol.ts"
import { type Mode, optionsOf } from "./mode.ts"
import * as SemaphoreTrace from "./semaphoreTrace.ts"

export const semaphore: Mode = (command, stop, state) =>
  Effect.scoped(Effect.gen(function*() {
    const trace = state.semaphoreTrace
    SemaphoreTrace.reset(trace, command.name)
    const contender = yield* LeaseSemaphore.contender({
      ...optionsOf(command, command.name, state.holder),
      permits: command.permits
    })
    let rounds = 0
    while (!(yield* Deferred.isDone(stop))) {
      const requested = nowMicros()
      // One acquisition at a time: the tickets this process enqueued from here to its return are
      // this acquisition's (more than one only if it gave its ticket up and took a new one).
      const appendedBefore = trace.appended.length
      const held = yield* Effect.raceFirst(
        Effect.map(contender.acquire(), Option.some),
        Effect.as(Deferred.await(stop), Option.none<LeaseSemaphore.HeldPermit>())
      )
      // Every enqueue of this acquisition: the first (its place in first-come-first-served order)
      // and the last (its place in the queue it was served from; later ones: it was removed).
      const tickets = trace.appended.slice(appendedBefore)
      const first = tickets[0]
      const last = tickets.at(-1)
      if (Option.isNone(held)) {
        if (first !== undefined && last !== undefined) {
          state.emit({ ev: "unserved", ticket: last.ticket, enqueues: tickets.map((t) => t.version) })
        }
        break
      }
      const acquired = nowMicros()
      const { permit, token } = held.value
      const granted = trace.granted.get(`${permit}:${token}`)
      yield* held.value.guard(Effect.sleep(Duration.millis(command.holdMs ?? 0)))
      const ended = nowMicros()
      yield* contender.release
      state.emit({
        ev: "permit",
        requested,
        acquired,
        ended,
        permit,
        token,
        ...(granted === undefined ? {} : { granted }),
        ...(first === undefined || last === undefined
          ? {}
          : { ticket: last.ticket, enqueues: tickets.map((t) => t.version) })
      })
      rounds++
    }
    state.emit({ ev: "released", t: nowMicros(), rounds })
  }))
