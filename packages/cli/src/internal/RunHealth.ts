/**
 * `leasekit run --health-port`: `/healthz`, `/readyz` and `/metrics` for the lease `run` holds,
 * judged by `@leasekit/core/LeaderHealth` and served by `@leasekit/kubernetes/HealthServer`.
 * Loaded only when the flag is given (`Run.ts` imports it with `import()`): a run without it
 * loads no HTTP server.
 *
 * - `/healthz`: alive while waiting and while holding, unless `run` still holds the lease (CMD
 *   runs under it, no loss was declared) and the API server last confirmed it more than
 *   `renewDeadline + duration` ago — client-go's wedged-leader rule: renewals are stuck while CMD
 *   goes on. After a declared loss `run` stops CMD and exits (79) on its own.
 * - `/readyz`: ready only while the lease is held (`isHeld`: not while waiting, not past the renew
 *   deadline, not once released).
 *
 * The server starts before the lease is asked for, so a port in use (exit 64) costs no
 * acquisition; it stops when `run` ends.
 *
 * Guarantees: nothing `run` does waits for the server or its callers. Does not: authenticate, or
 * outlive `run`.
 *
 * @since 0.3.0
 */
import type { HeldLease } from "@leasekit/core/Lease"
import type { LeaseContender } from "@leasekit/core/LeaseContender"
import * as LeaderHealth from "@leasekit/core/LeaderHealth"
import * as HealthServer from "@leasekit/kubernetes/HealthServer"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ExitCode from "./ExitCode.ts"

/** Where `run` stands in its lease. */
type Phase =
  | { readonly _tag: "Waiting" }
  | { readonly _tag: "Holding"; readonly lease: HeldLease }
  | { readonly _tag: "Ended"; readonly why: string }

/**
 * What `run` tells the health endpoints.
 *
 * @since 0.3.0
 * @category models
 */
export interface RunHealth {
  /** The lease was acquired and CMD is about to start under it. */
  readonly holding: (lease: HeldLease) => Effect.Effect<void>
}

const monotonicMillis = Effect.map(Clock.monotonicTimeNanos, (nanos) => Number(nanos / 1_000_000n))

/**
 * Starts the health server of `run` for `contender`, for the lifetime of the scope. A port that
 * cannot be listened on is a usage error (64) naming the flag.
 *
 * @since 0.3.0
 * @category constructors
 */
export const serve = (
  contender: LeaseContender,
  address: { readonly port: number; readonly host: string | undefined }
): Effect.Effect<RunHealth, ExitCode.CliExit, Scope.Scope> =>
  Effect.gen(function*() {
    let phase: Phase = { _tag: "Waiting" }
    let confirmedAt: number | undefined = undefined
    // The contender's events, subscribed to before the acquisition: when the API server last
    // confirmed the lease, and how the tenure ended.
    const events = yield* Stream.toPull(contender.events)
    yield* events.pipe(
      Effect.flatMap((chunk) =>
        Effect.gen(function*() {
          for (const event of chunk) {
            if (event._tag === "Acquired" || event._tag === "Renewed") confirmedAt = yield* monotonicMillis
            else if (event._tag === "Lost") phase = { _tag: "Ended", why: `lost the lease: ${event.error.message}` }
            else if (event._tag === "Released") phase = { _tag: "Ended", why: "released the lease" }
          }
        })
      ),
      Effect.forever,
      Effect.ignoreCause,
      Effect.forkScoped
    )
    const snapshot: Effect.Effect<LeaderHealth.Snapshot> = Effect.gen(function*() {
      const now = yield* monotonicMillis
      const current = phase
      const unconfirmedFor = confirmedAt === undefined ? Option.none() : Option.some(Duration.millis(now - confirmedAt))
      const base = { options: contender.options, unconfirmedFor, failure: Option.none<string>() }
      switch (current._tag) {
        case "Waiting":
          return { ...base, state: "waiting for the lease", leading: false, believesLeading: false }
        case "Holding": {
          const held = yield* current.lease.isHeld
          return {
            ...base,
            state: held ? `holding the lease with token ${current.lease.token}` : "holding the lease past its renew deadline",
            leading: held,
            believesLeading: true
          }
        }
        case "Ended":
          return { ...base, state: current.why, leading: false, believesLeading: false }
      }
    })
    yield* Layer.build(HealthServer.layerFor(snapshot, { ...address, readiness: "leading" })).pipe(
      Effect.catchTags({
        HealthServerError: (error) =>
          Effect.fail(ExitCode.usage(`--health-port ${address.port}: ${error.message}`, "pick another --health-port (or --health-host)")),
        InvalidLeaseOptions: (error) => Effect.die(error)
      })
    )
    return {
      holding: (lease) =>
        Effect.sync(() => {
          phase = { _tag: "Holding", lease }
        })
    }
  })
