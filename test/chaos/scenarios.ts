/**
 * The chaos scenarios and their runner.
 *
 * Each scenario starts N ≥ 4 contender processes (`processes.ts`: the harness's contender of
 * `@leasekit/testing` in its `loop` mode) against one real control plane (`@leasekit/testing`),
 * injects one kind of fault for a bounded time, stops the contenders (`quit`: they finish their
 * step, release and exit; SIGKILL after a bound), and hands the journals, its own journal of
 * faults and the fenced resource to the independent checker (`Exclusion`). Every wait polls a
 * condition with a bound; every fault is undone in a finalizer; no contender survives its scenario
 * (checked through `/proc`, and the process layer's lifeline covers a runner killed without
 * finalizers).
 *
 * Scenarios run one after another on one control plane (they restart its components). Each has
 * its own lease, fenced resource and folder. `quick` mode is bounded to a few minutes in total (for
 * CI); `long` runs each scenario for several minutes (the soak in RESULTS.md).
 */
import type { ControlPlane } from "@leasekit/testing"
import { FaultProxy } from "@leasekit/testing"
import type * as ContenderProtocol from "@leasekit/testing/ContenderProtocol"
import * as Exclusion from "@leasekit/testing/Exclusion"
import * as Fence from "@leasekit/testing/Fence"
import * as Process from "@leasekit/testing/Process"
import { Effect, Option, Schedule, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Hostile from "./hostile.ts"
import { append, now } from "./journal.ts"
import type { ChaosContender as Contender } from "./processes.ts"
import { isAlive, poll, signal, spawn } from "./processes.ts"

type Timing = Exclusion.Timing
type RunnerEvent = Exclusion.Circumstance

type ControlPlaneService = ControlPlane.ControlPlaneService
type FaultProxyService = FaultProxy.FaultProxyService

export type Mode = "quick" | "long"

/** Lease timing of most scenarios: failover in seconds, with a 2 s margin between the holder's
 * deadline and the earliest takeover. */
export const normalTiming: Timing = {
  durationSeconds: 6,
  renewIntervalMillis: 1_500,
  renewDeadlineMillis: 4_000,
  retryPeriodMillis: 750,
  requestTimeoutMillis: 1_500
}

/** For an API server restart (≈ 8–15 s on two cores) that the holder must ride out. */
export const patientTiming: Timing = {
  durationSeconds: 40,
  renewIntervalMillis: 3_000,
  renewDeadlineMillis: 30_000,
  retryPeriodMillis: 1_000,
  requestTimeoutMillis: 2_000
}

export interface ScenarioContext {
  readonly name: string
  readonly mode: Mode
  readonly cp: ControlPlaneService
  readonly timing: Timing
  readonly dir: string
  /** Fault injection must finish by this instant (shared timeline). */
  readonly until: number
  readonly namespace: string
  readonly lease: string
  readonly fence: Fence.Fence
  /** Every contender spawned so far (killed ones included). */
  readonly contenders: ReadonlyArray<Contender>
  readonly spawnContender: Effect.Effect<Contender>
  readonly proxyOf: (contender: Contender) => FaultProxyService | undefined
  readonly log: (event: RunnerEvent) => void
  readonly events: (contender: Contender) => ReadonlyArray<ContenderProtocol.LoopEvent>
}

export interface Scenario {
  readonly name: string
  /** What is injected, for the table. */
  readonly faults: string
  readonly timing: Timing
  readonly contenders: number
  /** Each contender reaches the API server through its own FaultProxy. */
  readonly proxies: boolean
  readonly writes: number
  readonly workMillis: number
  /** Seconds of fault injection per mode. */
  readonly budget: { readonly quick: number; readonly long: number }
  readonly inject: (ctx: ScenarioContext) => Effect.Effect<void, unknown>
  /** Set: the contenders share a semaphore with this many permits (`checkSemaphore` judges it). */
  readonly permits?: number | undefined
}

export interface ScenarioResult {
  readonly scenario: Scenario
  readonly report: Exclusion.Report
  readonly violations: ReadonlyArray<string>
  readonly orphans: ReadonlyArray<number>
  readonly seconds: number
  readonly dir: string
}

// --- helpers used by the injectors ----------------------------------------------------------

/** The contender that is inside its critical section now, with its token. */
export const holderInSection = (
  ctx: ScenarioContext
): Option.Option<
  { readonly contender: Contender; readonly token: number; readonly acquiredAt: number; readonly permit: number | undefined }
> => {
  for (const contender of ctx.contenders) {
    if (contender.exited || contender.stopped) continue
    const events = ctx.events(contender)
    let token: number | undefined
    let acquiredAt = 0
    let valid = false
    let permit: number | undefined
    for (const e of events) {
      if (e.ev === "acquired") {
        token = e.token
        acquiredAt = e.t
        permit = e.permit
        valid = false
      } else if (e.ev === "valid" && e.token === token) valid = true
      else if (e.ev === "section" || e.ev === "lost" || e.ev === "found-out" || e.ev === "self-pause") {
        token = undefined
      }
    }
    if (token !== undefined && valid) return Option.some({ contender, token, acquiredAt, permit })
  }
  return Option.none()
}

/** A holder inside its section; with `fresh`, one that acquired at most `fresh` ms ago. */
export const awaitHolder = (ctx: ScenarioContext, timeout = 30_000, fresh?: number) =>
  poll(
    Effect.sync(() =>
      Option.filter(holderInSection(ctx), (h) => fresh === undefined || now() - h.acquiredAt <= fresh)
    ),
    timeout,
    fresh === undefined ? 100 : 50
  )

/** Someone other than `except` journaled a `valid` after `after`. */
export const awaitProgress = (ctx: ScenarioContext, after: number, timeout: number, except?: Contender) =>
  poll(
    Effect.sync(() => {
      for (const c of ctx.contenders) {
        if (c === except) continue
        if (ctx.events(c).some((e) => e.ev === "valid" && e.t > after)) return Option.some(c)
      }
      return Option.none()
    }),
    timeout,
    200
  )

const jitter = (min: number, max: number) => Effect.sleep(`${Math.floor(min + Math.random() * (max - min))} millis`)

/** SIGKILL to the process group led by `pid` (the control plane's servers lead their own). */
const killGroup = (pid: number): void => {
  try {
    process.kill(-pid, "SIGKILL")
  } catch {
    process.kill(pid, "SIGKILL")
  }
}

/** Kills the component's process with SIGKILL and starts it again; journals the outage. */
const killAndRestart = (
  ctx: ScenarioContext,
  component: ControlPlane.Component,
  what: string,
  keepDown: (killedAt: number) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const holder = holderInSection(ctx)
    const pid = yield* ctx.cp.pid(component)
    if (Option.isNone(pid)) return
    const from = now()
    killGroup(pid.value)
    ctx.log({ ev: "fault", t: from, kind: `kill ${component}`, detail: what })
    yield* poll(Effect.map(ctx.cp.state(component), (s) => (s === "exited" ? Option.some(s) : Option.none())), 15_000, 100)
    yield* keepDown(from)
    yield* ctx.cp.start(component).pipe(Effect.orDie)
    if (component === "etcd") yield* ctx.cp.waitReady("60 seconds").pipe(Effect.orDie)
    const to = now()
    ctx.log({
      ev: "outage",
      from,
      to,
      what,
      ...(Option.isSome(holder) ? { holder: holder.value.contender.holder, token: holder.value.token } : {})
    })
    return { from, to }
  }).pipe(
    // Whatever happens, leave the component running.
    Effect.ensuring(ctx.cp.start(component).pipe(Effect.ignore))
  )

const fenceToken = (ctx: ScenarioContext, permit?: number) =>
  Fence.read(permit === undefined ? ctx.fence : Fence.ofPermit(ctx.fence, permit)).pipe(
    Effect.map((s) => s.token),
    Effect.orElseSucceed(() => -Infinity)
  )

// --- the scenarios --------------------------------------------------------------------------

const sigkill: Scenario = {
  name: "sigkill-holder",
  faults: "SIGKILL of the holder inside its critical section; a fresh contender replaces it",
  timing: normalTiming,
  contenders: 4,
  proxies: false,
  writes: 3,
  workMillis: 400,
  budget: { quick: 20, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      while (now() < ctx.until) {
        const held = yield* awaitHolder(ctx)
        if (Option.isNone(held)) continue
        yield* jitter(0, 1_200)
        const t = now()
        if (!(yield* signal(held.value.contender, "SIGKILL"))) continue
        ctx.log({ ev: "fault", t, kind: "SIGKILL holder", target: held.value.contender.holder })
        yield* ctx.spawnContender
        yield* awaitProgress(ctx, t, ctx.timing.durationSeconds * 3_000 + 20_000, held.value.contender)
        // Some healthy handovers between faults.
        yield* jitter(1_500, 4_000)
      }
    })
}

const sigstop: Scenario = {
  name: "sigstop-holder",
  faults: "SIGSTOP of the holder past the lease duration, then SIGCONT (alternately at a random moment and between its check and its write)",
  timing: normalTiming,
  contenders: 4,
  proxies: false,
  writes: 3,
  workMillis: 500,
  budget: { quick: 25, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      let round = 0
      while (now() < ctx.until) {
        const held = yield* awaitHolder(ctx)
        if (Option.isNone(held)) continue
        const { contender, token } = held.value
        const self = round++ % 2 === 1
        let from: number
        if (self) {
          // Armed: it SIGSTOPs itself between its next check and its write.
          yield* contender.driver.send({ cmd: "pause" })
          const paused = yield* poll(
            Effect.sync(() => {
              const e = ctx.events(contender).find((x) => x.ev === "self-pause" && x.token === token)
              return e === undefined ? Option.none() : Option.some(e.t)
            }),
            ctx.timing.durationSeconds * 1000 + 5_000,
            50
          )
          yield* contender.driver.send({ cmd: "pause", armed: false })
          // It may have paused just as we gave up: look once more.
          const pausedAt = Option.isSome(paused)
            ? paused
            : Option.fromUndefinedOr(ctx.events(contender).find((x) => x.ev === "self-pause" && x.token === token)?.t)
          if (Option.isNone(pausedAt)) continue
          contender.stopped = true
          from = pausedAt.value
        } else {
          yield* jitter(0, 500)
          from = now()
          if (!(yield* signal(contender, "SIGSTOP"))) continue
          // It may have left its section just before the signal: then this was no holder's pause.
          const left = ctx.events(contender).some((e) =>
            (e.ev === "section" || e.ev === "found-out") && e.token === token && e.t < from
          )
          if (left) {
            yield* signal(contender, "SIGCONT")
            continue
          }
        }
        ctx.log({ ev: "fault", t: from, kind: self ? "self-SIGSTOP before write" : "SIGSTOP holder", target: contender.holder })
        // Stay stopped past the lease duration and until a newer token has written to the resource.
        let to = 0
        yield* poll(
          Effect.gen(function*() {
            if (now() < from + ctx.timing.durationSeconds * 1000 + 1000) return Option.none()
            return (yield* fenceToken(ctx)) > token ? Option.some(true) : Option.none()
          }),
          ctx.timing.durationSeconds * 3000 + 20_000,
          200
        ).pipe(Effect.ensuring(Effect.suspend(() => {
          to = now()
          return signal(contender, "SIGCONT")
        })))
        ctx.log({ ev: "pause", holder: contender.holder, token, kind: self ? "self" : "external", from, to })
        yield* poll(
          Effect.sync(() =>
            ctx.events(contender).some((e) =>
                e.t >= to && (e.ev === "write" || e.ev === "found-out" || e.ev === "lost" || e.ev === "section")
              )
              ? Option.some(true)
              : Option.none()
          ),
          15_000
        )
      }
    })
}

const apiserverShort: Scenario = {
  name: "apiserver-restart-short",
  faults: "kube-apiserver SIGKILLed and restarted at once (down < renewDeadline 30 s): the holder keeps the lease",
  timing: patientTiming,
  contenders: 4,
  proxies: false,
  writes: 6,
  workMillis: 1_000,
  budget: { quick: 10, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      while (now() < ctx.until) {
        const held = yield* awaitHolder(ctx, 60_000)
        if (Option.isNone(held)) continue
        yield* jitter(0, 1_000)
        const outage = yield* killAndRestart(ctx, "apiserver", "apiserver down (short)", () => Effect.void)
        if (outage === undefined) continue
        yield* awaitProgress(ctx, outage.to, 60_000)
        yield* jitter(2_000, 5_000)
      }
    })
}

const apiserverLong: Scenario = {
  name: "apiserver-down-long",
  faults: "kube-apiserver SIGKILLed and kept down past the lease duration: the holder declares loss at its deadline",
  timing: normalTiming,
  contenders: 4,
  proxies: false,
  writes: 4,
  workMillis: 600,
  budget: { quick: 10, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      while (now() < ctx.until) {
        const held = yield* awaitHolder(ctx, 60_000)
        if (Option.isNone(held)) continue
        const { contender, token } = held.value
        const outage = yield* killAndRestart(ctx, "apiserver", "apiserver down (long)", (killedAt) =>
          Effect.gen(function*() {
            // The holder must find out by itself, at its deadline.
            yield* poll(
              Effect.sync(() =>
                ctx.events(contender).some((e) => e.ev === "lost" && e.token === token) ? Option.some(true) : Option.none()
              ),
              ctx.timing.renewDeadlineMillis + 15_000
            )
            yield* poll(
              Effect.sync(() => now() > killedAt + ctx.timing.durationSeconds * 1000 + 1000 ? Option.some(true) : Option.none()),
              ctx.timing.durationSeconds * 1000 + 5_000
            )
          }))
        if (outage === undefined) continue
        yield* awaitProgress(ctx, outage.to, 60_000)
        yield* jitter(1_000, 3_000)
      }
    })
}

const etcdRestart: Scenario = {
  name: "etcd-restart",
  faults: "etcd SIGKILLed and restarted under load, down for 0 s, 2 s or renewDeadline + 1 s",
  timing: normalTiming,
  contenders: 4,
  proxies: false,
  writes: 3,
  workMillis: 400,
  budget: { quick: 15, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      const downtimes = [0, 2_000, ctx.timing.renewDeadlineMillis + 1_000]
      let round = 0
      while (now() < ctx.until) {
        yield* awaitHolder(ctx, 60_000)
        yield* jitter(0, 1_000)
        const down = downtimes[round++ % downtimes.length]!
        const outage = yield* killAndRestart(ctx, "etcd", `etcd down ${down / 1000} s`, () => Effect.sleep(`${down} millis`))
        if (outage === undefined) continue
        yield* awaitProgress(ctx, outage.to, 60_000)
        yield* jitter(1_000, 3_000)
      }
    })
}

/** Applies a fault to the holder's own connection until someone else took over, then undoes it. */
const holderConnectionFault = (
  ctx: ScenarioContext,
  kind: string,
  apply: (proxy: FaultProxyService) => Effect.Effect<void>,
  lingerMillis?: number
) =>
  Effect.gen(function*() {
    while (now() < ctx.until) {
      // At the start of a section, so that the holder must renew through the fault.
      const held = yield* awaitHolder(ctx, 30_000, 1_000)
      if (Option.isNone(held)) continue
      const proxy = ctx.proxyOf(held.value.contender)
      if (proxy === undefined) return
      const t = now()
      yield* Effect.gen(function*() {
        yield* apply(proxy)
        ctx.log({ ev: "fault", t, kind, target: held.value.contender.holder, lingerMillis })
        yield* awaitProgress(ctx, t, ctx.timing.durationSeconds * 3_000 + 20_000, held.value.contender)
        yield* jitter(1_000, 3_000)
      }).pipe(Effect.ensuring(proxy.pass))
      yield* jitter(1_000, 2_000)
    }
  })

const latency: Scenario = {
  name: "latency-holder",
  faults: "latency above the request timeout (2 × 2.5 s per round trip) on the holder's connection",
  timing: normalTiming,
  contenders: 4,
  proxies: true,
  // Sections longer than renewDeadline: the holder must renew through the fault while it can
  // still reach the fenced resource directly — partitioned from the lock, not from the resource.
  writes: 8,
  workMillis: 600,
  budget: { quick: 15, long: 200 },
  inject: (ctx) =>
    holderConnectionFault(
      ctx,
      "latency on holder's connection",
      (proxy) => proxy.latency(`${ctx.timing.requestTimeoutMillis + 1000} millis`),
      ctx.timing.requestTimeoutMillis + 1000
    )
}

const blackhole: Scenario = {
  name: "blackhole-holder",
  faults: "blackhole (partition) of the holder's connection until another contender took over",
  timing: normalTiming,
  contenders: 4,
  proxies: true,
  // Sections longer than renewDeadline: the holder must renew through the fault while it can
  // still reach the fenced resource directly — partitioned from the lock, not from the resource.
  writes: 8,
  workMillis: 600,
  budget: { quick: 15, long: 200 },
  inject: (ctx) => holderConnectionFault(ctx, "blackhole of holder's connection", (proxy) => proxy.blackhole(true))
}

const resets: Scenario = {
  name: "connection-resets",
  faults: "TCP resets of every contender's connections every 0.5–2 s",
  timing: normalTiming,
  contenders: 4,
  proxies: true,
  writes: 3,
  workMillis: 400,
  budget: { quick: 15, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      while (now() < ctx.until) {
        yield* jitter(500, 2_000)
        let total = 0
        for (const c of ctx.contenders) {
          const proxy = ctx.proxyOf(c)
          if (proxy !== undefined && !c.exited) total += yield* proxy.resetAll
        }
        if (total > 0) ctx.log({ ev: "fault", t: now(), kind: "reset connections", detail: String(total) })
      }
    })
}

const hostileRecords: Scenario = {
  name: "hostile-records",
  faults: "an admin overwrites the lease with hostile records (see hostile.ts), held or free",
  timing: normalTiming,
  contenders: 4,
  proxies: false,
  writes: 3,
  workMillis: 400,
  budget: { quick: 45, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      const own = ctx.timing.durationSeconds * 1000
      const cap = (ctx.timing.maxHonouredSeconds ?? 3600) * 1000
      // A variant that rightly blocks the lease for the honoured cap (an hour: no valid option may
      // lower it) would stall the scenario; the cap is pinned by hostile.test.ts and core's unit tests.
      const variants = Hostile.variants.filter((v) => v.blocks(own, cap) <= 10 * own)
      let i = 0
      while (now() < ctx.until) {
        const variant = variants[i++ % variants.length]!
        // Alternately over a held lease and over whatever is there.
        if (i % 2 === 1) yield* awaitHolder(ctx)
        const record = yield* Hostile.readRaw(ctx.cp, ctx.namespace, ctx.lease).pipe(Effect.orElseSucceed(() => undefined))
        const current = Number(record?.spec?.["leaseTransitions"] ?? 0)
        const high = Math.max(current, yield* fenceToken(ctx), 0) + 1
        const t = now()
        yield* Hostile.write(ctx.cp, ctx.namespace, ctx.lease, variant, high)
        ctx.log({
          ev: "admin",
          t,
          answered: now(),
          variant: variant.name,
          via: variant.via,
          blocksMillis: variant.blocks(own, cap),
          resetsTokens: variant.resetsTokens
        })
        if (variant.corrupts) {
          // Nobody can read or write it; wait until any holder gave up, then repair as an admin.
          yield* poll(
            Effect.sync(() => Option.isNone(holderInSection(ctx)) ? Option.some(true) : Option.none()),
            ctx.timing.renewDeadlineMillis + 15_000
          )
          yield* Effect.sleep(`${own} millis`)
          yield* Hostile.repair(ctx.cp, ctx.namespace, ctx.lease, Math.max(high, yield* fenceToken(ctx)) + 1)
          ctx.log({ ev: "outage", from: t, to: now(), what: "lease undecodable until repaired" })
        }
        yield* awaitProgress(ctx, t, variant.blocks(own, cap) + own * 3 + 20_000)
        if (variant.resetsTokens) {
          // The repair a careful admin makes: move the counter above every token handed out.
          yield* awaitHolder(ctx)
          const fenceHigh = yield* fenceToken(ctx)
          const r = now()
          yield* Hostile.repair(ctx.cp, ctx.namespace, ctx.lease, Math.max(fenceHigh, 0) + 1)
          ctx.log({ ev: "admin", t: r, variant: "repair: leaseTransitions above the fence's token", via: "etcd", blocksMillis: 0, resetsTokens: false })
          yield* awaitProgress(ctx, r, own * 3 + 20_000)
        }
        yield* jitter(500, 2_000)
      }
    })
}

const semaphore: Scenario = {
  name: "semaphore",
  faults: "a semaphore of 3 permits, 7 contenders: SIGKILL of a permit holder inside its section (a fresh contender " +
    "replaces it), alternately SIGSTOP of one past the lease duration, then SIGCONT",
  timing: normalTiming,
  contenders: 7,
  permits: 3,
  proxies: false,
  writes: 3,
  workMillis: 400,
  budget: { quick: 30, long: 200 },
  inject: (ctx) =>
    Effect.gen(function*() {
      let round = 0
      while (now() < ctx.until) {
        const held = yield* awaitHolder(ctx)
        if (Option.isNone(held)) continue
        const { contender, permit, token } = held.value
        yield* jitter(0, 800)
        const t = now()
        if (round++ % 2 === 0) {
          if (!(yield* signal(contender, "SIGKILL"))) continue
          ctx.log({ ev: "fault", t, kind: "SIGKILL permit holder", target: contender.holder, detail: `permit ${permit}` })
          yield* ctx.spawnContender
          yield* awaitProgress(ctx, t, ctx.timing.durationSeconds * 3_000 + 20_000, contender)
        } else {
          if (!(yield* signal(contender, "SIGSTOP"))) continue
          // It may have left its section just before the signal: then this was no holder's pause.
          if (ctx.events(contender).some((e) => (e.ev === "section" || e.ev === "found-out") && e.token === token && e.t < t)) {
            yield* signal(contender, "SIGCONT")
            continue
          }
          ctx.log({ ev: "fault", t, kind: "SIGSTOP permit holder", target: contender.holder, detail: `permit ${permit}` })
          // Stopped past the lease duration and until a newer token of its permit wrote.
          let to = 0
          yield* poll(
            Effect.gen(function*() {
              if (now() < t + ctx.timing.durationSeconds * 1000 + 1000) return Option.none()
              return (yield* fenceToken(ctx, permit)) > token ? Option.some(true) : Option.none()
            }),
            ctx.timing.durationSeconds * 3000 + 20_000,
            200
          ).pipe(Effect.ensuring(Effect.suspend(() => {
            to = now()
            return signal(contender, "SIGCONT")
          })))
          ctx.log({ ev: "pause", holder: contender.holder, token, kind: "external", from: t, to, permit })
          yield* poll(
            Effect.sync(() =>
              ctx.events(contender).some((e) =>
                  e.t >= to && (e.ev === "write" || e.ev === "found-out" || e.ev === "lost" || e.ev === "section")
                )
                ? Option.some(true)
                : Option.none()
            ),
            15_000
          )
        }
        yield* jitter(1_000, 3_000)
      }
    })
}

export const scenarios: ReadonlyArray<Scenario> = [
  sigkill,
  sigstop,
  apiserverShort,
  apiserverLong,
  etcdRestart,
  latency,
  blackhole,
  resets,
  hostileRecords,
  semaphore
]

// --- the runner -----------------------------------------------------------------------------

export interface RunOptions {
  readonly mode: Mode
  /** Parent folder for scenario folders (journals, logs). */
  readonly dir: string
  readonly onProgress?: ((line: string) => void) | undefined
}

/** Runs one scenario against `cp` and checks it. */
export const runScenario = (cp: ControlPlaneService, scenario: Scenario, options: RunOptions) =>
  Effect.gen(function*() {
    const started = now()
    const say = options.onProgress ?? (() => {})
    const dir = Path.join(options.dir, scenario.name)
    Fs.mkdirSync(dir, { recursive: true })
    const runnerJournal = Path.join(dir, "runner.jsonl")
    const runnerEvents: Array<RunnerEvent> = []
    const log = (event: RunnerEvent) => {
      runnerEvents.push(event)
      append(runnerJournal, event)
    }
    const namespace = cp.namespace
    const lease = `chaos-${scenario.name}-${Math.random().toString(36).slice(2, 7)}`
    const fenceTarget: Fence.FenceTarget = { kubeconfig: cp.users.admin.kubeconfig, namespace, name: `fence-${lease}` }
    const fence = yield* Fence.open(fenceTarget)
    // A semaphore: one fenced resource per permit (each permit has its own token sequence).
    const fences = scenario.permits === undefined
      ? [fence]
      : Array.from({ length: scenario.permits }, (_, i) => Fence.ofPermit(fence, i))
    for (const f of fences) yield* Fence.create(f)
    const budget = scenario.budget[options.mode] * 1000
    const contenders: Array<Contender> = []
    const proxies = new Map<Contender, FaultProxyService>()
    const spawnedPids: Array<number> = []

    const undrained: Array<string> = []
    const report = yield* Effect.scoped(Effect.gen(function*() {
      yield* Process.lifeline(dir).pipe(Effect.orDie)
      const scope = yield* Scope.Scope
      const timing = scenario.timing
      const join: ContenderProtocol.JoinCommand = {
        cmd: "join",
        mode: "loop",
        name: lease,
        namespace,
        leaseDurationMs: timing.durationSeconds * 1000,
        renewIntervalMs: timing.renewIntervalMillis,
        renewDeadlineMs: timing.renewDeadlineMillis,
        retryPeriodMs: timing.retryPeriodMillis,
        requestTimeoutMs: timing.requestTimeoutMillis,
        ...(timing.maxHonouredSeconds === undefined ? {} : { maxHonouredMs: timing.maxHonouredSeconds * 1000 }),
        acquireTimeoutMs: Math.max(60_000, timing.durationSeconds * 3000),
        writes: scenario.writes,
        workMs: scenario.workMillis,
        fence: fenceTarget,
        // Let someone else win now and then.
        pauseMs: 300,
        ...(scenario.permits === undefined ? {} : { permits: scenario.permits })
      }
      const spawnContender = Effect.gen(function*() {
        const n = contenders.length
        // A semaphore reads its leases with `list` and deletes tickets, which the restricted user
        // (get/create/update) may not: every semaphore contender is admin.
        const user: ControlPlane.UserName = n % 2 === 0 || scenario.permits !== undefined ? "admin" : "restricted"
        const holder = `${scenario.name}-c${n}`
        let kubeconfig = cp.users[user].kubeconfig
        let proxy: FaultProxyService | undefined
        if (scenario.proxies) {
          proxy = yield* FaultProxy.make({ target: { port: cp.port } }).pipe(Effect.orDie, Scope.provide(scope))
          kubeconfig = yield* cp.writeKubeconfig({ user, server: proxy.url, path: Path.join(dir, `kubeconfig-${holder}.json`) }).pipe(
            Effect.orDie
          )
        }
        const contender = yield* spawn({ holder, kubeconfig, dir, join }).pipe(
          Effect.orDie,
          Scope.provide(scope),
          Effect.provide(Process.layer)
        )
        contenders.push(contender)
        spawnedPids.push(contender.pid)
        if (proxy !== undefined) proxies.set(contender, proxy)
        return contender
      })
      for (let i = 0; i < scenario.contenders; i++) yield* spawnContender

      const ctx: ScenarioContext = {
        name: scenario.name,
        mode: options.mode,
        cp,
        timing,
        dir,
        until: now() + budget,
        namespace,
        lease,
        fence,
        contenders,
        spawnContender,
        proxyOf: (c) => proxies.get(c),
        log,
        events: (c) => c.events
      }
      // The system works before any fault: someone enters a critical section.
      const first = yield* awaitProgress(ctx, 0, 60_000)
      if (Option.isNone(first)) log({ ev: "note", t: now(), text: "no critical section within 60 s of the start" })
      say(`${scenario.name}: contenders up, injecting faults for ${budget / 1000} s`)
      const until = now() + budget
      yield* scenario.inject({ ...ctx, until }).pipe(
        Effect.timeoutOption(budget + 120_000),
        Effect.catchCause((cause) => Effect.sync(() => log({ ev: "note", t: now(), text: `injector failed: ${String(cause)}` })))
      )
      // Undo faults, let the last holder show progress, then stop everyone gracefully.
      for (const proxy of proxies.values()) yield* proxy.pass
      yield* cp.start("apiserver").pipe(Effect.ignore)
      yield* cp.start("etcd").pipe(Effect.ignore)
      for (const c of contenders) yield* signal(c, "SIGCONT")
      yield* awaitProgress(ctx, now(), scenario.timing.durationSeconds * 3000 + 20_000)
      // `quit`: each finishes its round and releases; SIGKILL after the grace.
      yield* Effect.forEach(contenders, (c) => c.driver.stop, { concurrency: "unbounded", discard: true })
      // Every line they wrote before they exited is in the journals.
      yield* Effect.forEach(contenders, (c) =>
        Effect.map(c.drained, (complete) => {
          if (!complete) undrained.push(c.holder)
        }), { concurrency: "unbounded", discard: true })
      const states: Array<Fence.FenceState> = []
      for (const f of fences) {
        states.push(
          yield* Fence.read(f).pipe(
            Effect.retry({ schedule: Schedule.spaced("500 millis"), times: 20 }),
            Effect.orDie
          )
        )
      }
      Fs.writeFileSync(Path.join(dir, "fence.json"), JSON.stringify(scenario.permits === undefined ? states[0] : states))
      Fs.writeFileSync(Path.join(dir, "timing.json"), JSON.stringify(timing))
      const journals = contenders.map((c) => c.events)
      return scenario.permits === undefined
        ? Exclusion.check({ timing, journals, circumstances: runnerEvents, fence: states[0]! })
        : Exclusion.checkSemaphore({ timing, permits: scenario.permits, journals, circumstances: runnerEvents, fences: states })
    }))
    // The scope closed: every contender was stopped (killed if it had not exited). Verify.
    const orphans = spawnedPids.filter(isAlive)
    const result: ScenarioResult = {
      scenario,
      report,
      violations: [
        ...Exclusion.violations(report),
        // A journal without its last lines could hide an overlap: the run proves nothing about it.
        ...undrained.map((holder) => `the journal of ${holder} is incomplete: its output did not end within 10 s`)
      ],
      orphans,
      seconds: (now() - started) / 1000,
      dir
    }
    say(`${scenario.name}: ${report.sections} critical sections, ${report.overlaps.length} overlaps, ${report.staleAccepted.length} stale writes accepted (${result.seconds.toFixed(0)} s)`)
    return result
  }).pipe(Effect.scoped, Effect.provide(Process.layer)) // the scope closes the fenced resource's client

// --- the table ------------------------------------------------------------------------------

const seconds = (millis: number) => `${(millis / 1000).toFixed(1)} s`

const faultSummary = (result: ScenarioResult): string => {
  const r = result.report
  const parts: Array<string> = []
  if (r.faults > 0) parts.push(`${r.faults} faults`)
  if (r.adminWrites > 0) parts.push(`${r.adminWrites} admin writes`)
  if (r.outages.length > 0) parts.push(`${r.outages.length} outages`)
  if (r.pauses.total > 0) parts.push(`${r.pauses.total} pauses`)
  return parts.join(", ") || "none"
}

const notes = (result: ScenarioResult): string => {
  const r = result.report
  const parts: Array<string> = []
  if (r.inside !== undefined) {
    parts.push(`at most ${r.inside.max} of ${r.inside.permits} permits held at once; ${r.inside.served} of ${r.inside.contenders} contenders served`)
  }
  parts.push(`writes ${r.writes.accepted} ok / ${r.writes.rejected} fenced`)
  if (r.pauses.total > 0) parts.push(`pauses: ${r.pauses.foundOut} found out, ${r.pauses.fenced} fenced`)
  const kept = r.outages.filter((o) => o.holderKept === true).length
  const lost = r.outages.filter((o) => o.holderKept === false).length
  if (r.outages.length > 0) {
    parts.push(`outages ≤ ${seconds(Math.max(...r.outages.map((o) => o.millis)))}, holder kept ${kept} / lost ${lost}`)
  }
  if (r.lossDeclaredAfterMillis.length > 0) {
    parts.push(`deadline losses declared ${seconds(Math.min(...r.lossDeclaredAfterMillis))}–${seconds(Math.max(...r.lossDeclaredAfterMillis))} after last renewal`)
  }
  if (r.takeoverAfterLastRenewalMillis.length > 0) {
    parts.push(`next holder ≥ ${seconds(Math.min(...r.takeoverAfterLastRenewalMillis))} after it`)
  }
  const lossText = Object.entries(r.losses).map(([k, v]) => `${v} ${k}`).join(", ")
  if (lossText !== "") parts.push(`losses: ${lossText}`)
  if (r.excusedOverlaps.length > 0) {
    parts.push(`${r.excusedOverlaps.length} overlaps after an admin freed the held lease (≤ ${
      seconds(Math.max(...r.excusedOverlaps.map((o) => o.millis)))
    }, fenced)`)
  }
  if (r.tokenResetsByAdmin > 0) parts.push(`${r.tokenResetsByAdmin} token resets by admin`)
  if (r.stuck.length > 0) parts.push(`${r.stuck.length} stuck > ${seconds(r.stuckThresholdMillis)}`)
  if (r.tokenRegressions.length > 0) parts.push(`${r.tokenRegressions.length} token regressions`)
  if (result.orphans.length > 0) parts.push(`${result.orphans.length} ORPHANS`)
  return parts.join("; ")
}

/** The results as a Markdown table. */
export const table = (results: ReadonlyArray<ScenarioResult>): string => {
  const header = "| scenario | faults injected | critical sections | overlaps | stale writes accepted | max failover | max gap | time | notes |"
  const rule = "|---|---|---:|---:|---:|---:|---:|---:|---|"
  const rows = results.map((r) =>
    `| ${r.scenario.name} | ${faultSummary(r)} | ${r.report.sections} | ${r.report.overlaps.length} | ${r.report.staleAccepted.length} | ${
      seconds(r.report.maxFailoverMillis)
    } | ${seconds(r.report.maxGapMillis)} | ${r.seconds.toFixed(0)} s | ${notes(r)} |`
  )
  const total = results.reduce(
    (acc, r) => ({
      sections: acc.sections + r.report.sections,
      overlaps: acc.overlaps + r.report.overlaps.length,
      stale: acc.stale + r.report.staleAccepted.length,
      seconds: acc.seconds + r.seconds
    }),
    { sections: 0, overlaps: 0, stale: 0, seconds: 0 }
  )
  const footer = `| **total** | | ${total.sections} | ${total.overlaps} | ${total.stale} | | | ${(total.seconds / 60).toFixed(1)} min | |`
  return [header, rule, ...rows, footer].join("\n")
}
