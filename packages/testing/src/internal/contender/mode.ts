/**
 * The seam between the contender's command loop and what it does once joined: a `Mode` runs
 * from a `join` until `stop` completes (a `release`, `handoff` or `quit`), then leaves the
 * election and emits its last event, `released`. `main.ts` picks the mode of each join
 * (`modeOf`): `hold`, `many` (`count > 1`), `semaphore` and `loop` each live in their own module,
 * so that one can be replaced without touching the others.
 *
 * A mode guarantees that whatever it acquired is released (or handed over) before its effect
 * ends, including when it is interrupted. It reports failures by failing; `main.ts` turns them
 * into an `error` event.
 *
 * @internal
 */
import type { HeldLease } from "@leasekit/core"
import { Lease, type LeaseStore } from "@leasekit/core"
import type { Deferred } from "effect"
import { Deferred as D, Effect, Option } from "effect"
import type { JoinCommand } from "../../ContenderProtocol.ts"
import type { State } from "./state.ts"

/** What one join runs, until `stop` completes. */
export type Mode = (
  command: JoinCommand,
  stop: Deferred.Deferred<void>,
  state: State
) => Effect.Effect<unknown, unknown, Lease.Lease | LeaseStore.LeaseStore>

/** The acquisition options of a join, for the lease `name`. */
export const optionsOf = (command: JoinCommand, name: string, holder: string): Lease.AcquireOptions => ({
  namespace: command.namespace ?? "leasekit-test",
  name,
  holder,
  ...(command.leaseDurationMs === undefined ? {} : { duration: command.leaseDurationMs }),
  ...(command.renewIntervalMs === undefined ? {} : { renewInterval: command.renewIntervalMs }),
  ...(command.renewDeadlineMs === undefined ? {} : { renewDeadline: command.renewDeadlineMs }),
  ...(command.retryPeriodMs === undefined ? {} : { retryPeriod: command.retryPeriodMs })
})

/** Acquires, unless `stop` completes first (then `None`; a lease won meanwhile is released by the scope). */
export const acquireUnlessStopped = (options: Lease.AcquireOptions, stop: Deferred.Deferred<void>) =>
  Effect.raceFirst(
    Effect.map(Lease.acquire(options), Option.some),
    Effect.as(D.await(stop), Option.none<HeldLease>())
  )
