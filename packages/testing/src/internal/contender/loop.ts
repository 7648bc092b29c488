/**
 * The contender's loop mode (`join` with `mode: "loop"`): rounds of acquire (bounded) → critical
 * section → release, until the contender is told to leave — the one round the chaos suite, the
 * demo and bench figure 4 all run.
 *
 * A round takes the lease (or, with `permits`, a permit of the semaphore `name`, waiting in its
 * queue), then runs the critical section under `guard`: `writes` fenced writes (`Fence.write`, with
 * the lease's fencing token, to `fence` — a permit's own resource for a semaphore), each after
 * `workMs` of simulated work (without a `fence`, the steps are work and check only). Before every
 * write it asks `isHeld` (judged by the clock now) and reports the answer (`valid`, timed *before*
 * asking, or `found-out`); a loss interrupts the section between writes, while a write already
 * decided completes (uninterruptible, as a request already on the wire would): that is the window
 * the fence covers. With `writes: 0` the section is two checks and nothing else (throughput). Then
 * it releases — unless the lease was taken, cleared or deleted by someone else — and, after a
 * random pause of up to `pauseMs`, starts the next round.
 *
 * Every event (`ContenderProtocol.LoopEvent`) is emitted *before* the contender acts on it, so the
 * last line of a SIGKILLed contender is its last action. The `pause` command arms a self-pause
 * (`state.selfPause`): at the next point between a check and a write the contender SIGSTOPs itself
 * (a GC pause at the worst moment); the runner sends SIGCONT.
 *
 * Leaving (`stop`): an acquisition in progress is abandoned (a lease won meanwhile is released by
 * the round's scope); a section in progress ends after its current step, and the lease is
 * released as after any round. The last event is `released` with the number of `rounds` led.
 *
 * @internal
 */
import * as Lease from "@leasekit/core/Lease"
import type * as LeaseError from "@leasekit/core/LeaseError"
import type * as LeaseStore from "@leasekit/core/LeaseStore"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { nowMicros } from "../../ContenderProtocol.ts"
import * as Fence from "../../Fence.ts"
import type { Mode } from "./mode.ts"

/** What a round needs of a held lease or permit. */
type Held = Pick<Lease.HeldLease, "token" | "isHeld" | "guard" | "lost" | "release">

interface SectionStats {
  start: number | undefined
  end: number | undefined
  accepted: number
  rejected: number
}

/** `ms` milliseconds, or undefined. */
const millis = (ms: number | undefined) => (ms === undefined ? undefined : Duration.millis(ms))

/** The loop for `cmd`, until `stop` completes. */
export const loop: Mode = (cmd, stop, state) => {
  // Wall clock minus the protocol's monotonic clock, read once as the loop starts: a loss's
  // wall-clock `lastRenewal` is placed on the monotonic timeline with it, so a wall-clock step after
  // the last renewal (NTP, a resumed VM) does not move it — as the old journal's timeline
  // (`timeOrigin + performance.now()`, fixed at process start) did not.
  const wallMinusMonotonicMicros = Date.now() * 1000 - nowMicros()
  const { emit, holder } = state
  let writeSeq = 0
  const writes = cmd.writes ?? 0
  const leaseOptions = {
    namespace: cmd.namespace ?? "leasekit-test",
    name: cmd.name,
    holder,
    ...(cmd.leaseDurationMs === undefined ? {} : { duration: millis(cmd.leaseDurationMs) }),
    ...(cmd.renewIntervalMs === undefined ? {} : { renewInterval: millis(cmd.renewIntervalMs) }),
    ...(cmd.renewDeadlineMs === undefined ? {} : { renewDeadline: millis(cmd.renewDeadlineMs) }),
    ...(cmd.retryPeriodMs === undefined ? {} : { retryPeriod: millis(cmd.retryPeriodMs) }),
    ...(cmd.requestTimeoutMs === undefined ? {} : { requestTimeout: millis(cmd.requestTimeoutMs) }),
    ...(cmd.maxHonouredMs === undefined ? {} : { maxHonouredDuration: millis(cmd.maxHonouredMs) }),
    ...(cmd.acquireTimeoutMs === undefined ? {} : { timeout: millis(cmd.acquireTimeoutMs) })
  }

  /** The lease, or a permit of the semaphore, unless `stop` completes first (then `None`). */
  const acquire: Effect.Effect<
    { readonly held: Held; readonly permit: number | undefined },
    LeaseError.LeaseAcquisitionError | LeaseError.InvalidLeaseOptions,
    Lease.Lease | LeaseStore.LeaseStore | Scope.Scope
  > = cmd.permits === undefined
    ? Effect.map(Lease.acquire(leaseOptions), (held) => ({ held, permit: undefined }))
    : Effect.map(LeaseSemaphore.acquire({ ...leaseOptions, permits: cmd.permits }), (held) => ({ held, permit: held.permit }))
  const take = Effect.raceFirst(Effect.map(acquire, Option.some), Effect.as(Deferred.await(stop), Option.none()))

  /** Asks `isHeld`; reports `valid` (with the instant taken before asking) or `found-out`. */
  const check = (lease: Held, stats: SectionStats, where: string) =>
    Effect.gen(function*() {
      const t = nowMicros()
      if (yield* lease.isHeld) {
        emit({ ev: "valid", t, holder, token: lease.token, where })
        stats.start ??= t
        stats.end = t
        return true
      }
      emit({ ev: "found-out", t: nowMicros(), holder, token: lease.token, where })
      return false
    })

  /** One fenced write, reported before it begins and when it ended; uninterruptible once decided. */
  const fencedWrite = (fence: Fence.Fence, lease: Held, stats: SectionStats) =>
    Effect.gen(function*() {
      const token = lease.token
      const id = `${holder}#${++writeSeq}`
      emit({ ev: "write-begin", t: nowMicros(), holder, token, id })
      const result = yield* Fence.write(fence, { token, holder, id }, { stillHolder: check(lease, stats, "write-retry") })
      emit({ ev: "write", t: nowMicros(), holder, token, id, ...result })
      return result.outcome
    }).pipe(Effect.uninterruptible)

  /** SIGSTOPs this process if a `pause` command armed it (between a check and a write). */
  const selfPause = (lease: Held) =>
    Effect.sync(() => {
      if (!state.selfPause) return
      state.selfPause = false
      emit({ ev: "self-pause", t: nowMicros(), holder, token: lease.token })
      process.kill(process.pid, "SIGSTOP")
      emit({ ev: "resumed", t: nowMicros(), holder, token: lease.token })
    })

  /**
   * The critical section: `writes` steps of `workMs` of work, each checked, then a fenced write
   * when there is a fenced resource; `stats` survives an interruption by `guard`. A contender told
   * to leave ends its section after the step in progress.
   */
  const section = (fence: Fence.Fence | undefined, lease: Held, stats: SectionStats) =>
    Effect.gen(function*() {
      if (!(yield* check(lease, stats, "enter"))) return "found-out" as const
      for (let w = 0; w < writes && !(yield* Deferred.isDone(stop)); w++) {
        yield* Effect.sleep(Duration.millis(cmd.workMs ?? 0))
        if (!(yield* check(lease, stats, "before-write"))) return "found-out" as const
        if (fence === undefined) continue
        yield* selfPause(lease)
        const outcome = yield* fencedWrite(fence, lease, stats)
        if (outcome === "accepted") stats.accepted++
        else if (outcome === "rejected") {
          stats.rejected++
          return "found-out" as const // a higher token wrote: we are not the holder any more
        } else if (outcome === "found-out") return "found-out" as const
      }
      yield* check(lease, stats, "exit")
      return "completed" as const
    })

  /** One round; `false` when `stop` ended the acquisition. */
  const round = (fence: Fence.Fence | undefined, index: number) =>
    Effect.scoped(Effect.gen(function*() {
      const taken = yield* take
      if (Option.isNone(taken)) return false
      const { held: lease, permit } = taken.value
      emit({ ev: "acquired", t: nowMicros(), holder, token: lease.token, round: index, ...(permit === undefined ? {} : { permit }) })
      // A permit's own fenced resource (one token sequence per permit).
      const target = fence === undefined || permit === undefined ? fence : Fence.ofPermit(fence, permit)
      let lossReason: string | undefined
      yield* lease.lost.pipe(
        Effect.catch((error) =>
          Effect.sync(() => {
            lossReason = error.reason._tag
            const t = nowMicros()
            emit({
              ev: "lost",
              t,
              holder,
              token: lease.token,
              reason: error.reason._tag,
              // The wall-clock instant of the last renewal, on the protocol's monotonic clock.
              lastRenewal: error.reason._tag === "DeadlineExceeded"
                ? error.reason.lastRenewal.getTime() * 1000 - wallMinusMonotonicMicros
                : undefined,
              message: error.message
            })
          })
        ),
        Effect.forkScoped
      )
      const stats: SectionStats = { start: undefined, end: undefined, accepted: 0, rejected: 0 }
      const outcome = yield* lease.guard(section(target, lease, stats)).pipe(
        Effect.catchTag("LeaseLostError", () => Effect.succeed("lost" as const))
      )
      const t = nowMicros()
      emit({
        ev: "section",
        t,
        holder,
        token: lease.token,
        start: stats.start ?? t,
        end: stats.end ?? stats.start ?? t,
        accepted: stats.accepted,
        rejected: stats.rejected,
        outcome
      })
      // Released explicitly (rather than by the scope's finalizer) to report it. As the finalizer
      // does: a lease taken, cleared or deleted by someone else is not ours to release; one that
      // passed its deadline may still name us, and clearing it hands it over sooner.
      yield* Effect.yieldNow // let the loss watcher record a loss that ended the section
      if (lossReason === "Taken" || lossReason === "Released" || lossReason === "Deleted") return true
      emit({ ev: "releasing", t: nowMicros(), holder, token: lease.token, afterLoss: outcome !== "completed" })
      const released = yield* Effect.result(lease.release)
      emit(
        released._tag === "Success"
          ? { ev: "release-ok", t: nowMicros(), holder, token: lease.token }
          : { ev: "release-failed", t: nowMicros(), holder, token: lease.token, message: released.failure.message }
      )
      return true
    }))

  return Effect.gen(function*() {
    emit({ ev: "joined", t: nowMicros(), holder })
    const fence = cmd.fence === undefined ? undefined : yield* Fence.open(cmd.fence).pipe(Effect.orDie)
    let rounds = 0
    for (let r = 0; !(yield* Deferred.isDone(stop)); r++) {
      const led = yield* round(fence, r).pipe(
        Effect.catch((error) =>
          Effect.sync(() => emit({ ev: "acquire-failed", t: nowMicros(), holder, message: error.message })).pipe(
            Effect.andThen(Effect.sleep("1 second")),
            Effect.as(false)
          )
        )
      )
      if (led) rounds++
      // Let someone else win now and then.
      if (cmd.pauseMs !== undefined && cmd.pauseMs > 0) yield* Effect.sleep(Duration.millis(Math.floor(Math.random() * cmd.pauseMs)))
    }
    emit({ ev: "released", t: nowMicros(), rounds })
  }).pipe(Effect.scoped)
}
