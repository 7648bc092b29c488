/**
 * One contender process of the chaos runs: `node test/chaos/contender.ts '<ContenderConfig JSON>'`.
 *
 * It loops for a bounded number of rounds: acquire the lease (waiting, bounded) → critical section
 * → release. The critical section performs `writes` fenced writes, each after `workMillis` of
 * simulated work, to the fenced resource (`fence.ts`) with the lease's fencing token. Before every
 * write it asks `lease.isHeld` (judged by the clock now) and journals the answer; the whole section
 * runs under `lease.guard`, so a loss interrupts it between writes. A write already decided is
 * not recalled (it is uninterruptible, as a request already on the wire would be): that is the
 * window the fence covers.
 *
 * The fence check lives in the CAS loop below: read the resource; if our write is already in its
 * history (an earlier attempt whose answer was lost) it was accepted; if the stored token is
 * higher than ours the write is rejected; otherwise PUT conditioned on the resourceVersion read,
 * and on a conflict read again. Retries re-check `isHeld` first.
 *
 * Everything the checker needs goes to the journal (`protocol.ts`), written synchronously before
 * the process acts on it. The process exits after its rounds, when the runner creates the `stop`
 * file, at `exitAt` whatever it is doing, or when the runner that spawned it goes away (IPC
 * disconnect). A `pause-<holder>` trigger file makes it SIGSTOP itself between the validity check
 * and the next write: a GC pause at the worst possible moment (the runner sends SIGCONT).
 *
 * With `permits` set (semaphore scenarios) a round takes a permit of the semaphore `lease`
 * (`LeaseSemaphore.acquire`: waiting in its fair queue) instead of the lease, journals the permit's
 * index with `acquired`, and writes to that permit's own fenced resource with the permit's token;
 * everything else is the same (a permit is an ordinary lease: `isHeld`, `guard`, `lost`, `release`).
 */
import { Lease } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Cause, Duration, Effect, Fiber, Layer } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Fence from "./fence.ts"
import type { ContenderConfig, ContenderEvent, WriteOutcome } from "./protocol.ts"
import { append, now } from "./protocol.ts"

const config = JSON.parse(process.argv[2] ?? "{}") as ContenderConfig
const holder = config.holder
const journal = (event: ContenderEvent) => append(config.journal, event)
const stopFile = Path.join(config.control, "stop")
const pauseFile = Path.join(config.control, `pause-${holder}`)

const exitNow = (why: string, code: number) => {
  try {
    journal({ e: "exit", t: now(), holder, why })
  } finally {
    process.exit(code)
  }
}
// Never outlive the runner, nor the scenario.
process.on("disconnect", () => exitNow("runner gone (IPC disconnected)", 2))
setTimeout(() => exitNow("exitAt reached", 3), Math.max(0, config.exitAt - now())).unref()

const { timing } = config
const leaseOptions = {
  namespace: config.namespace,
  name: config.lease,
  holder,
  duration: Duration.seconds(timing.durationSeconds),
  renewInterval: Duration.millis(timing.renewIntervalMillis),
  renewDeadline: Duration.millis(timing.renewDeadlineMillis),
  retryPeriod: Duration.millis(timing.retryPeriodMillis),
  requestTimeout: Duration.millis(timing.requestTimeoutMillis),
  ...(timing.maxHonouredSeconds === undefined ? {} : { maxHonouredDuration: Duration.seconds(timing.maxHonouredSeconds) }),
  timeout: Duration.millis(config.acquireTimeoutMillis)
}

/** What a round needs of a held lease or permit. */
type Held = Pick<HeldLease, "token" | "isHeld" | "guard" | "lost" | "release">

/** The lease, or a permit of the semaphore (`permit` its index), for the round's scope. */
const take = () =>
  config.permits === undefined
    ? Effect.map(Lease.acquire(leaseOptions), (held): { readonly held: Held; readonly permit: number | undefined } => ({ held, permit: undefined }))
    : Effect.map(
      LeaseSemaphore.acquire({ ...leaseOptions, permits: config.permits }),
      (held): { readonly held: Held; readonly permit: number | undefined } => ({ held, permit: held.permit })
    )

interface SectionStats {
  start: number | undefined
  end: number | undefined
  accepted: number
  rejected: number
}

/** Asks `isHeld`; journals `valid` (with the instant taken before asking) or `found-out`. */
const check = (lease: Held, stats: SectionStats, where: string) =>
  Effect.gen(function*() {
    const t = now()
    if (yield* lease.isHeld) {
      journal({ e: "valid", t, holder, token: lease.token })
      stats.start ??= t
      stats.end = t
      return true
    }
    journal({ e: "found-out", t: now(), holder, token: lease.token, where })
    return false
  })

let writeSeq = 0

/** The fenced write: the CAS loop with the fence rule. Uninterruptible once decided. */
const fencedWrite = (fence: Fence.Fence, lease: Held, stats: SectionStats) =>
  Effect.gen(function*() {
    const token = lease.token
    const id = `${holder}#${++writeSeq}`
    journal({ e: "write-begin", t: now(), holder, token, id })
    let attempts = 0
    let detail: string | undefined
    const giveUpAt = now() + 60_000
    const done = (outcome: WriteOutcome, stored?: number) => {
      journal({ e: "write", t: now(), holder, token, id, outcome, stored, attempts, detail })
      return outcome
    }
    while (true) {
      attempts++
      if (attempts > 1 && !(yield* check(lease, stats, "write-retry"))) return done("found-out")
      // Retries end when isHeld turns false; this bound only covers an unreachable resource.
      if (now() > giveUpAt) return done("failed")
      const read = yield* Effect.result(Fence.read(fence))
      if (read._tag === "Failure") {
        detail = read.failure.message
        yield* Effect.sleep("250 millis")
        continue
      }
      const state = read.success
      // An earlier attempt landed although its answer was lost.
      if (state.log.some((entry) => entry.id === id)) return done("accepted")
      if (state.token > token) return done("rejected", state.token)
      const put = yield* Effect.result(Fence.put(fence, state, { token, holder, id }))
      if (put._tag === "Success" && put.success === "ok") return done("accepted")
      if (put._tag === "Failure") {
        detail = put.failure.message
        yield* Effect.sleep("250 millis")
      }
    }
  }).pipe(Effect.uninterruptible)

/** The critical section; `stats` survives an interruption by `guard`. */
const section = (fence: Fence.Fence, lease: Held, stats: SectionStats) =>
  Effect.gen(function*() {
    if (!(yield* check(lease, stats, "enter"))) return "found-out" as const
    for (let w = 0; w < config.writes; w++) {
      yield* Effect.sleep(Duration.millis(config.workMillis))
      if (!(yield* check(lease, stats, "before-write"))) return "found-out" as const
      if (Fs.existsSync(pauseFile)) {
        Fs.rmSync(pauseFile, { force: true })
        journal({ e: "self-pause", t: now(), holder, token: lease.token })
        process.kill(process.pid, "SIGSTOP")
        journal({ e: "resumed", t: now(), holder, token: lease.token })
      }
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

const round = (fence: Fence.Fence, index: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { held: lease, permit } = yield* take()
    journal({ e: "acquired", t: now(), holder, token: lease.token, round: index, ...(permit === undefined ? {} : { permit }) })
    // A permit's own fenced resource (one token sequence per permit).
    const target = permit === undefined ? fence : { ...fence, name: `${fence.name}-${permit}` }
    let lossReason: string | undefined
    yield* lease.lost.pipe(
      Effect.catch((error) =>
        Effect.sync(() => {
          lossReason = error.reason._tag
          journal({
            e: "lost",
            t: now(),
            holder,
            token: lease.token,
            reason: error.reason._tag,
            lastRenewal: error.reason._tag === "DeadlineExceeded" ? error.reason.lastRenewal.getTime() : undefined,
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
    journal({
      e: "section",
      t: now(),
      holder,
      token: lease.token,
      start: stats.start ?? now(),
      end: stats.end ?? stats.start ?? now(),
      accepted: stats.accepted,
      rejected: stats.rejected,
      outcome
    })
    // Released explicitly (rather than by the scope's finalizer) to journal it. As the finalizer
    // does: a lease taken, cleared or deleted by someone else is not ours to release; one that
    // passed its deadline may still name us, and clearing it hands it over sooner.
    yield* Effect.yieldNow // let the loss watcher record a loss that ended the section
    if (lossReason === "Taken" || lossReason === "Released" || lossReason === "Deleted") return
    journal({ e: "releasing", t: now(), holder, token: lease.token, afterLoss: outcome !== "completed" })
    const released = yield* Effect.result(lease.release)
    journal(
      released._tag === "Success"
        ? { e: "released", t: now(), holder, token: lease.token }
        : { e: "release-failed", t: now(), holder, token: lease.token, message: released.failure.message }
    )
  }))

const main = Effect.gen(function*() {
  journal({ e: "start", t: now(), holder, pid: process.pid })
  const fence = yield* Fence.open(config.fence)
  for (let r = 0; r < config.rounds; r++) {
    if (Fs.existsSync(stopFile)) break
    yield* round(fence, r).pipe(
      Effect.catch((error) =>
        Effect.sync(() => journal({ e: "acquire-failed", t: now(), holder, message: error.message })).pipe(
          Effect.andThen(Effect.sleep("1 second"))
        )
      )
    )
    // Let someone else win now and then.
    yield* Effect.sleep(Duration.millis(Math.floor(Math.random() * 300)))
  }
}).pipe(
  Effect.scoped,
  Effect.provide(
    KubernetesLeaseStore.layer({ requestTimeout: Duration.millis(timing.requestTimeoutMillis) }).pipe(
      Layer.provide(KubeClient.layerFromFile(config.kubeconfig))
    )
  )
)

// SIGTERM: interrupt the rounds; finalizers release a held lease, then the process exits.
const fiber = Effect.runFork(main)
process.once("SIGTERM", () => {
  Effect.runFork(Fiber.interrupt(fiber))
})
fiber.addObserver((exit) => {
  if (exit._tag === "Success") exitNow("done", 0)
  else if (Cause.hasInterruptsOnly(exit.cause)) exitNow("stopped (SIGTERM)", 0)
  else exitNow(`failed: ${Cause.pretty(exit.cause).split("\n")[0]}`, 1)
})
