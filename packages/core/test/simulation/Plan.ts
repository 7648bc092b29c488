/**
 * A schedule: everything one seed decides before the run starts.
 *
 * Contenders (2–5) with unique holders and valid random options — timings, release mode, handoff
 * window (whole seconds up to the contender's duration) and handoff-request policy (drawn, then checked with
 * `LeaseOptions.resolve`; an invalid combination is redrawn — so the plan follows whatever rules
 * core enforces), one or two lease keys, the fault profile, each contender's clock rate (within
 * δ ≤ 1 %) and wall-clock offset, its pauses, the admin writes, and the timeline: a fault phase
 * `[0, quietAt)` followed by a quiet tail `[quietAt, endAt)` with no faults, pauses or admin
 * writes, long enough for the liveness checks.
 *
 * Guarantees: a pure function of the seed. δ is chosen so that, for every contender,
 * `renewDeadline·(1+δ) < duration·(1−δ)` with room to spare (the documented clock-rate
 * assumption); most pauses are shorter than the contender's pause allowance
 * `duration/(1+δ) − renewDeadline/(1−δ)` (these must not break anything), some are longer (these
 * exempt the tenure they hit). Does not guarantee: that any particular fault happens — the
 * operations decide at run time what the faults hit.
 */
import { Duration, Effect, Exit } from "effect"
import * as LeaseOptions from "../../src/LeaseOptions.ts"
import type { LeaseKey } from "../../src/LeaseRecord.ts"
import type { FaultProfile } from "./FaultStore.ts"
import * as Prng from "./Prng.ts"

/** The timing options a contender passes to the public API (besides key and holder). */
export interface TimingOptions {
  readonly duration: Duration.Input
  readonly renewInterval?: Duration.Input
  readonly renewDeadline?: Duration.Input
  readonly retryPeriod?: Duration.Input
  readonly requestTimeout?: Duration.Input
  readonly maxHonouredDuration?: Duration.Input
  readonly releaseMode?: "clear" | "delete"
  readonly handoffWindow?: Duration.Input
  readonly handoffRequests?: "honour" | "refuse"
}

/** Resolved timings in milliseconds, for bounds and the trace. */
export interface Timings {
  readonly duration: number
  readonly renewInterval: number
  readonly renewDeadline: number
  readonly retryPeriod: number
  readonly requestTimeout: number
  readonly maxHonouredDuration: number
  readonly releaseMode: "clear" | "delete"
  /** How long this contender's handoffs reserve the lease for their successor. */
  readonly handoffWindow: number
  readonly handoffRequests: "honour" | "refuse"
}

export interface Pause {
  readonly at: number
  readonly length: number
  /** Longer than the contender's pause allowance: the tenure it hits is exempt from then on. */
  readonly exempt: boolean
}

export interface ContenderPlan {
  readonly id: string
  readonly options: TimingOptions
  readonly timings: Timings
  readonly rate: number
  readonly wallOffsetMillis: number
  readonly pauses: ReadonlyArray<Pause>
  /** `duration/(1+δ) − renewDeadline/(1−δ)`: a pause up to this long must not break anything. */
  readonly pauseAllowanceMillis: number
  readonly profile: FaultProfile
  /** Relative weights of the operations this contender runs. */
  readonly opWeights: ReadonlyArray<readonly [number, OpChoice]>
}

export type OpChoice = "acquire" | "tryAcquire" | "withLease" | "leader" | "contender" | "election"

export type AdminAction = "clear" | "delete" | "set-holder" | "label"

export interface AdminWrite {
  readonly at: number
  readonly key: LeaseKey
  readonly action: AdminAction
}

export interface Plan {
  readonly seed: number
  readonly keys: ReadonlyArray<LeaseKey>
  readonly contenders: ReadonlyArray<ContenderPlan>
  readonly delta: number
  readonly callFaultRate: number
  readonly admin: ReadonlyArray<AdminWrite>
  /** Start of the quiet tail (true ms). */
  readonly quietAt: number
  /** Liveness is judged from here on: in-flight faults, honoured durations have run out. */
  readonly settledAt: number
  readonly endAt: number
}

const resolveSync = (options: LeaseOptions.LeaseOptions) => Effect.runSync(Effect.exit(LeaseOptions.resolve(options)))

const round = (ms: number) => Math.max(1, Math.round(ms))

/** Draws options until `resolve` accepts them. */
const drawOptions = (prng: Prng.Prng, baseSeconds: number, key: LeaseKey, holder: string): {
  readonly options: TimingOptions
  readonly timings: Timings
} => {
  for (let tries = 0; tries < 200; tries++) {
    const seconds = prng.chance(0.15)
      ? prng.int(2, 30)
      : Math.min(30, Math.max(2, Math.round(baseSeconds * prng.between(0.6, 1.4))))
    const d = seconds * 1000
    const explicit = prng.chance(0.75)
    const ri = round(prng.between(0.1, 0.5) * d)
    const rd = round(prng.between(ri + 0.05 * d, 0.97 * d))
    if (explicit && d - rd < 20) continue
    const options: TimingOptions = {
      duration: Duration.seconds(seconds),
      ...(explicit ? { renewInterval: Duration.millis(ri), renewDeadline: Duration.millis(rd) } : {}),
      ...(prng.chance(0.6) ? { retryPeriod: Duration.millis(round(prng.between(0.03 * d, Math.min(rd, ri * 1.3)))) } : {}),
      ...(prng.chance(0.7)
        ? {
          requestTimeout: Duration.millis(round(
            explicit && prng.chance(0.4)
              // Near the largest the rules allow: slow answers then reach past the renew deadline.
              ? prng.between(0.5, 1) * (rd - ri)
              : prng.between(0.02 * d, explicit ? rd : 0.66 * d)
          ))
        }
        : {}),
      ...(prng.chance(0.04) ? { maxHonouredDuration: Duration.seconds(seconds) } : {}),
      ...(prng.chance(0.1) ? { releaseMode: "delete" as const } : {}),
      // Whole seconds, at most the contender's own duration (so a successor that died delays the
      // lease no longer than a dead holder would: the liveness bounds stay as they are).
      ...(prng.chance(0.5) ? { handoffWindow: Duration.seconds(prng.int(1, seconds)) } : {}),
      ...(prng.chance(0.25) ? { handoffRequests: "refuse" as const } : {})
    }
    const exit = resolveSync({ ...key, holder, ...options })
    if (Exit.isFailure(exit)) continue
    const r = exit.value
    return {
      options,
      timings: timingsOf(r)
    }
  }
  const r = Effect.runSync(LeaseOptions.resolve({ ...key, holder }))
  return {
    options: { duration: r.duration },
    timings: timingsOf(r)
  }
}

/**
 * The liveness bound of a waiter, in ms: a lease nobody holds is acquired by a waiting contender
 * within this long (once the schedule has settled). A record left by a holder that stopped renewing
 * is honoured for at most the longest duration in play; the waiter then notices within a bounded
 * wait (renewInterval), a poll (retryPeriod), a back-off and a few request timeouts.
 */
export const livenessBound = (plan: Plan, waiter: Timings): number =>
  maxOf(plan, (c) => c.timings.duration) + waiter.renewInterval + 2 * waiter.retryPeriod + 3 * waiter.requestTimeout + 1000

/**
 * The handover bound of a waiter, in ms: a lease that is FREE in the store (released, cleared,
 * deleted) is taken by some waiter within this long — a waiter trusts a silent watch for at most
 * renewInterval before reading again.
 */
export const handoverBound = (waiter: Timings): number =>
  waiter.renewInterval + 2 * waiter.retryPeriod + 3 * waiter.requestTimeout + 1000

const maxOf = (plan: Pick<Plan, "contenders">, f: (c: ContenderPlan) => number) =>
  plan.contenders.reduce((m, c) => Math.max(m, f(c)), 0)

export const draw = (seed: number): Plan => {
  const root = Prng.make(seed)
  const prng = root.fork("plan")
  const keyCount = prng.chance(0.25) ? 2 : 1
  const keys: Array<LeaseKey> = [{ namespace: "sim", name: "lease-a" }, { namespace: "sim", name: "lease-b" }].slice(0, keyCount)
  const count = prng.int(2, 5)
  const baseSeconds = prng.weighted([[3, prng.int(2, 6)], [3, prng.int(5, 15)], [2, prng.int(12, 30)]])
  const drawn = Array.from({ length: count }, (_, i) => drawOptions(prng, baseSeconds, keys[0]!, `c${i + 1}`))

  // δ: half of the smallest relative margin, at most 1 %; sometimes no drift at all.
  const relMargin = Math.min(...drawn.map(({ timings: t }) => (t.duration - t.renewDeadline) / (t.duration + t.renewDeadline)))
  const deltaMax = Math.min(0.01, relMargin / 2)
  const delta = prng.chance(0.2) ? 0 : prng.between(0, deltaMax)
  const callFaultRate = prng.weighted([[1, 0], [3, 0.05], [3, 0.15], [2, 0.3]])
  const watchFaultRate = prng.weighted([[1, 0], [3, 0.2], [2, 0.5]])
  const maxD = Math.max(...drawn.map((d) => d.timings.duration))
  const quietAt = round(maxD * prng.between(2, 5) + 5_000)

  const contenders: Array<ContenderPlan> = drawn.map(({ options, timings }, i) => {
    const id = `c${i + 1}`
    const allowance = timings.duration / (1 + delta) - timings.renewDeadline / (1 - delta)
    const pauses: Array<Pause> = []
    const pauseCount = prng.weighted([[6, 0], [3, 1], [2, 2], [1, 3]])
    for (let p = 0; p < pauseCount; p++) {
      const exempt = prng.chance(0.15)
      const length = round(exempt ? prng.between(1.1 * allowance, 2 * timings.duration) : prng.between(0.05, 0.9) * allowance)
      const at = round(prng.between(0, quietAt - length - 1000))
      if (at <= 0) continue
      if (pauses.some((q) => at < q.at + q.length + 1000 && q.at < at + length + 1000)) continue
      pauses.push({ at, length, exempt: length > allowance })
    }
    pauses.sort((a, b) => a.at - b.at)
    const opWeights: ReadonlyArray<readonly [number, OpChoice]> = prng.chance(0.2)
      ? [[1, "acquire"], [1, "tryAcquire"], [1, "withLease"], [3, "leader"], [1, "contender"], [1, "election"]]
      : [[8, "acquire"], [4, "tryAcquire"], [4, "withLease"], [2, "leader"], [4, "contender"], [1, "election"]]
    return {
      id,
      options,
      timings,
      rate: 1 + prng.between(-delta, delta),
      wallOffsetMillis: round(prng.between(-120_000, 120_000)),
      pauses,
      pauseAllowanceMillis: allowance,
      profile: { callFaultRate, watchFaultRate, maxDelayMillis: 1.5 * timings.requestTimeout },
      opWeights
    }
  })

  const admin: Array<AdminWrite> = []
  if (prng.chance(0.35)) {
    const n = prng.int(1, 3)
    for (let i = 0; i < n; i++) {
      admin.push({
        at: round(prng.between(1000, quietAt - 1000)),
        key: prng.pick(keys),
        action: prng.weighted<AdminAction>([[3, "clear"], [2, "delete"], [3, "set-holder"], [3, "label"]])
      })
    }
    admin.sort((a, b) => a.at - b.at)
  }

  const partial = { contenders }
  const maxRT = maxOf(partial, (c) => c.timings.requestTimeout)
  const maxRetry = maxOf(partial, (c) => c.timings.retryPeriod)
  const settledAt = quietAt + maxD + 3 * maxRT + maxRetry + 2000
  const plan: Plan = { seed, keys, contenders, delta, callFaultRate, admin, quietAt, settledAt, endAt: 0 }
  const bound = Math.max(...contenders.map((c) => livenessBound(plan, c.timings)))
  return { ...plan, endAt: settledAt + round(1.25 * bound) }
}

/** Resolved options as the checker measures them, in milliseconds. */
const timingsOf = (r: LeaseOptions.ResolvedLeaseOptions) => ({
  duration: Duration.toMillis(r.duration),
  renewInterval: Duration.toMillis(r.renewInterval),
  renewDeadline: Duration.toMillis(r.renewDeadline),
  retryPeriod: Duration.toMillis(r.retryPeriod),
  requestTimeout: Duration.toMillis(r.requestTimeout),
  maxHonouredDuration: Duration.toMillis(r.maxHonouredDuration),
  releaseMode: r.releaseMode,
  handoffWindow: Duration.toMillis(r.handoffWindow),
  handoffRequests: r.handoffRequests
})
