/**
 * Contender processes as the benchmark orchestrator sees them: the harness driver of
 * `@leasekit/testing` (`Contender`) behind the promise-based surface the figures use — spawning
 * (leasekit's contender, or client-go's from the baseline binary, each through the process layer
 * `Process`: its own process group, its stderr in `<logDir>/<label>.log`), commands, waiting for
 * events, killing — and a pool that reuses idle contenders across figures. Events reach a
 * contender's listeners in order, from one dispatch fiber per contender.
 *
 * Every contender lives in a scope of its own inside the run's (`RunScope`): closed when it exits,
 * or with the run's (at the end of a run, on failure, on SIGINT/SIGTERM), which stops it. Contenders
 * also exit by themselves when their stdin closes, i.e. when the orchestrator dies, so none is left
 * behind even after a SIGKILL of the orchestrator.
 */
import { Contender as Driver } from "@leasekit/testing"
import type { Command, Event } from "@leasekit/testing/ContenderProtocol"
import { Effect, Exit, Scope } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"
import type { RunScope } from "./RunScope.ts"

export type Kind = "leasekit" | "client-go"

export interface Tagged {
  readonly contender: Contender
  readonly event: Event
}

type Listener = (tagged: Tagged) => void

const live = new Set<Contender>()

/** A contender driven by the harness (`driven`), with synchronous listeners for the figures. */
export class Contender {
  readonly kind: Kind
  readonly label: string
  readonly driven: Driver.Contender
  /** Closed when the contender exits (or is stopped): ends its event dispatch. */
  readonly scope: Scope.Closeable
  readonly events: Array<Event> = []
  readonly listeners = new Set<Listener>()
  readonly exited: Promise<Driver.ExitStatus>
  alive = true

  constructor(kind: Kind, label: string, driven: Driver.Contender, scope: Scope.Closeable) {
    this.kind = kind
    this.label = label
    this.driven = driven
    this.scope = scope
    live.add(this)
    this.events.push(driven.ready)
    this.exited = Effect.runPromise(driven.exit).then((status) => {
      this.alive = false
      live.delete(this)
      return status
    })
  }

  get identity(): string {
    return this.driven.identity
  }

  get pid(): number {
    return this.driven.pid
  }

  /** Delivers one event to the recorded events and to every listener. */
  dispatch(event: Event): void {
    if (event.ev === "error") process.stderr.write(`  [${this.label}] error: ${event.msg}\n`)
    this.events.push(event)
    for (const listener of [...this.listeners]) listener({ contender: this, event })
  }

  send(command: Command): void {
    if (this.alive) Effect.runSync(this.driven.send(command))
  }

  /** Signals the contender at once (synchronously: a figure may time from the call). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.alive) Effect.runSync(this.driven.signal(signal))
  }

  /** Forgets recorded events (they are kept only for inspection). */
  clearEvents(): void {
    this.events.length = 0
  }
}

/**
 * The next event (after now) from any of `contenders` satisfying `match`. Call it before sending
 * the command that causes the event, so that nothing is missed.
 */
export const nextEvent = (
  contenders: ReadonlyArray<Contender>,
  match: (tagged: Tagged) => boolean,
  timeoutMs: number,
  what = "event"
): Promise<Tagged> =>
  new Promise((resolve, reject) => {
    const listener: Listener = (tagged) => {
      if (!match(tagged)) return
      done()
      resolve(tagged)
    }
    const timer = setTimeout(() => {
      done()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    const done = () => {
      clearTimeout(timer)
      for (const c of contenders) c.listeners.delete(listener)
    }
    for (const c of contenders) c.listeners.add(listener)
  })

/** Subscribes to every event of `contenders`; returns the unsubscribe function. */
export const onEvents = (contenders: ReadonlyArray<Contender>, listener: Listener): () => void => {
  for (const c of contenders) c.listeners.add(listener)
  return () => {
    for (const c of contenders) c.listeners.delete(listener)
  }
}

export interface SpawnContext {
  readonly kubeconfig: string
  readonly clientgoBinary: string
  /** Folder for the contenders' stderr logs. */
  readonly logDir: string
  readonly benchDir: string
  /** The run's scope: every process is started in it. */
  readonly processes: RunScope
}

let counter = 0

/** Node's on-disk compile cache for contenders: a third less CPU for each start after the first. */
const compileCache = Path.join(process.env["XDG_CACHE_HOME"] ?? Path.join(Os.homedir(), ".cache"), "leasekit", "bench", "node-compile-cache")

/** Starts a contender and waits until it is ready. */
export const spawn = async (
  context: SpawnContext,
  kind: Kind,
  options: { readonly nodeFlags?: ReadonlyArray<string> } = {}
): Promise<Contender> => {
  const label = `${kind === "leasekit" ? "lk" : "go"}-${++counter}`
  const log = Path.join(context.logDir, `${label}.log`)
  const scope = context.processes.fork()
  const program = Effect.gen(function*() {
    const driven = kind === "leasekit"
      ? yield* Driver.spawn({
        kubeconfig: context.kubeconfig,
        nodeFlags: options.nodeFlags,
        env: { NODE_COMPILE_CACHE: compileCache },
        label,
        log
      })
      : yield* Driver.spawnProgram(context.clientgoBinary, ["--serve", "--kubeconfig", context.kubeconfig], { label, log })
    const contender = new Contender(kind, label, driven, scope)
    // Events reach the figures' listeners in order, synchronously with each other.
    yield* driven.follow((event) => Effect.sync(() => contender.dispatch(event)))
    return contender
  }).pipe(Scope.provide(scope))
  const contender = await context.processes.run(program).catch(async (error: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  })
  void contender.exited.then(() => Effect.runPromise(Scope.close(scope, Exit.void)))
  return contender
}

/** Idle contenders kept for reuse, per kind. */
export class Pool {
  readonly context: SpawnContext
  readonly idle: Record<Kind, Array<Contender>> = { "leasekit": [], "client-go": [] }
  constructor(context: SpawnContext) {
    this.context = context
  }

  /** `n` ready contenders of `kind`, reusing idle ones and spawning the rest (a few at a time). */
  async take(kind: Kind, n: number): Promise<Array<Contender>> {
    const reused = this.idle[kind].splice(0, n).filter((c) => c.alive)
    const missing = n - reused.length
    const spawned: Array<Contender> = []
    const parallel = kind === "leasekit" ? 4 : 16
    for (let i = 0; i < missing; i += parallel) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(parallel, missing - i) }, () => spawn(this.context, kind))
      )
      spawned.push(...batch)
    }
    return [...reused, ...spawned]
  }

  /** Returns contenders for reuse (they must have left any election). */
  give(contenders: ReadonlyArray<Contender>): void {
    for (const c of contenders) {
      if (!c.alive) continue
      c.clearEvents()
      this.idle[c.kind].push(c)
    }
  }

  /** Stops idle contenders beyond `keep` of each kind. */
  async shrink(keep = 0): Promise<void> {
    const stopping: Array<Promise<unknown>> = []
    for (const kind of ["leasekit", "client-go"] as const) {
      for (const c of this.idle[kind].splice(keep)) stopping.push(stop(c))
    }
    await Promise.all(stopping)
  }
}

/** Asks a contender to quit; SIGKILL if it has not exited within 5 s. */
export const stop = async (c: Contender): Promise<void> => {
  if (!c.alive) return
  await Effect.runPromise(c.driven.stop)
  await c.exited
}

/** Contenders still running (for the final check that none is left). */
export const running = (): number => live.size
