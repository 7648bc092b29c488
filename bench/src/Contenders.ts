/**
 * Contender processes as the orchestrator sees them: spawning (leasekit on Node, client-go from
 * the baseline binary), commands, waiting for events, killing, and a pool that reuses idle
 * contenders across figures.
 *
 * Every process spawned here is registered, and so is every other process a figure starts
 * (`track`); `killAll` (called on exit, on SIGINT/SIGTERM and at the end of a run) SIGKILLs
 * whatever is left. Contenders also exit by themselves when their stdin
 * closes, i.e. when the orchestrator dies, so none is left behind even after a SIGKILL of the
 * orchestrator.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import type { Command, Event } from "./Protocol.ts"

export type Kind = "leasekit" | "client-go"

export interface Tagged {
  readonly contender: Contender
  readonly event: Event
}

type Listener = (tagged: Tagged) => void

const live = new Set<Contender>()

export class Contender {
  readonly kind: Kind
  readonly label: string
  readonly child: ChildProcess.ChildProcess
  readonly events: Array<Event> = []
  readonly listeners = new Set<Listener>()
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  identity = ""
  alive = true

  constructor(kind: Kind, label: string, child: ChildProcess.ChildProcess) {
    this.kind = kind
    this.label = label
    this.child = child
    live.add(this)
    this.exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.alive = false
        live.delete(this)
        resolve({ code, signal })
      })
    })
    Readline.createInterface({ input: child.stdout! }).on("line", (line) => {
      let event: Event
      try {
        event = JSON.parse(line) as Event
      } catch {
        return // not a protocol line (a stray log line): ignored
      }
      if (event.ev === "ready") this.identity = event.identity
      if (event.ev === "error") process.stderr.write(`  [${this.label}] error: ${event.msg}\n`)
      this.events.push(event)
      for (const listener of [...this.listeners]) listener({ contender: this, event })
    })
    child.stdin!.on("error", () => undefined) // a dead contender's stdin: nothing to do
  }

  get pid(): number {
    return this.child.pid ?? -1
  }

  send(command: Command): void {
    if (this.alive) this.child.stdin!.write(JSON.stringify(command) + "\n")
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.alive) this.child.kill(signal)
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
  const stderr = Fs.openSync(Path.join(context.logDir, `${label}.log`), "a")
  const child = kind === "leasekit"
    ? ChildProcess.spawn(
      process.execPath,
      [
        "--expose-gc",
        ...(options.nodeFlags ?? []),
        Path.join(context.benchDir, "src", "LeasekitContender.ts"),
        "--kubeconfig",
        context.kubeconfig
      ],
      { stdio: ["pipe", "pipe", stderr], env: { ...process.env, NODE_COMPILE_CACHE: compileCache } }
    )
    : ChildProcess.spawn(context.clientgoBinary, ["--serve", "--kubeconfig", context.kubeconfig], {
      stdio: ["pipe", "pipe", stderr]
    })
  Fs.closeSync(stderr)
  const contender = new Contender(kind, label, child)
  const ready = nextEvent([contender], ({ event }) => event.ev === "ready", 60_000, `${label} ready`)
  const exited = contender.exited.then(({ code, signal }) => {
    throw new Error(`${label} exited before it was ready (code ${code}, signal ${signal}); see ${context.logDir}/${label}.log`)
  })
  await Promise.race([ready, exited])
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

/** Asks a contender to quit; SIGKILL if it has not exited within `graceMs`. */
export const stop = async (c: Contender, graceMs = 5_000): Promise<void> => {
  if (!c.alive) return
  c.send({ cmd: "quit" })
  const timer = setTimeout(() => c.kill("SIGKILL"), graceMs)
  await c.exited
  clearTimeout(timer)
}

/** Processes a figure started outside the contender protocol (figure 7's installed CLI). */
const tracked = new Set<ChildProcess.ChildProcess>()

/** Registers a process for `killAll`; it is forgotten when it exits. */
export const track = (child: ChildProcess.ChildProcess): ChildProcess.ChildProcess => {
  tracked.add(child)
  child.once("exit", () => tracked.delete(child))
  child.once("error", () => child.pid === undefined && tracked.delete(child)) // it never started
  return child
}

/** SIGKILLs every contender, and every tracked process, still running. */
export const killAll = (): void => {
  for (const c of live) c.kill("SIGKILL")
  for (const child of tracked) child.kill("SIGKILL")
}

/** Contenders and tracked processes still running (for the final check that none is left). */
export const running = (): number => live.size + tracked.size
