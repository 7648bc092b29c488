/**
 * The leasekit contender process: `Lease.acquire` / `HeldLease.release` (and `LeaseSemaphore`) on
 * the Kubernetes store, driven by the line protocol of `ContenderProtocol` — the same one the
 * client-go baseline of the benchmarks speaks — so that one driver (`Contender`) times both.
 *
 *   node <this folder>/main.(ts|js) --kubeconfig <file> [--context NAME] [--identity HOLDER]
 *
 * (`KUBECONFIG` when `--kubeconfig` is absent; the holder identity is made by `LeaseHolder.make`
 * when `--identity` is absent.)
 *
 * This module is the entry and the command loop: it reads commands from stdin, runs one join at a
 * time in the mode it names (`hold`, `many`, `semaphore`, `loop`: one module each), answers
 * `usage`, `microbench` and `profile`, and announces itself with `ready` once its client is built.
 * It exits when stdin ends, on `quit`, or on SIGTERM / SIGINT, releasing what it holds first
 * (with no deadline of its own: a driver that cannot wait kills it).
 *
 * @internal
 */
import { LeaseHolder } from "@leasekit/core"
import { Deferred, Effect, Exit, Fiber, ManagedRuntime } from "effect"
import * as Readline from "node:readline"
import type { JoinCommand } from "../../ContenderProtocol.ts"
import { decodeCommand, nowMicros } from "../../ContenderProtocol.ts"
import { hold } from "./hold.ts"
import * as InstrumentedStore from "./instrumentedStore.ts"
import { loop } from "./loop.ts"
import { many } from "./many.ts"
import { microbench } from "./microbench.ts"
import type { Mode } from "./mode.ts"
import { profile } from "./profile.ts"
import { semaphore } from "./semaphore.ts"
import * as SemaphoreTrace from "./semaphoreTrace.ts"
import { emitToStdout, type State } from "./state.ts"
import * as Usage from "./usage.ts"

const argument = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const kubeconfig = argument("--kubeconfig") ?? process.env["KUBECONFIG"]
if (kubeconfig === undefined) {
  process.stderr.write("contender: --kubeconfig <file> is required\n")
  process.exit(2)
}

const emit = emitToStdout
const store = InstrumentedStore.makeStats()
const state: State = {
  holder: argument("--identity") ?? Effect.runSync(LeaseHolder.make),
  emit,
  store,
  semaphoreTrace: SemaphoreTrace.make(),
  usage: Usage.make(store, emit),
  handoffTo: undefined,
  selfPause: false
}
const runtime = ManagedRuntime.make(InstrumentedStore.kubernetesLayer(kubeconfig, state, argument("--context")))
const memoryRuntime = ManagedRuntime.make(InstrumentedStore.memoryLayer)

/** The mode of a join: `count > 1` holds many leases, whatever `mode` says. */
const modeOf = (command: JoinCommand): Mode =>
  command.count !== undefined && command.count > 1
    ? many
    : command.mode === "loop"
    ? loop
    : command.mode === "semaphore"
    ? semaphore
    : hold

// ---------------------------------------------------------------------------------------------
// Joining and leaving: one join at a time

interface Active {
  readonly stop: Deferred.Deferred<void>
  readonly fiber: Fiber.Fiber<void, unknown>
}
let active: Active | undefined

const join = (command: JoinCommand) => {
  if (active !== undefined) return emit({ ev: "error", msg: "already joined; release first" })
  InstrumentedStore.track(
    store,
    1000 * (command.renewIntervalMs ?? Math.floor((command.leaseDurationMs ?? 20_000) / 3))
  )
  const stop = Deferred.makeUnsafe<void>()
  const fiber = runtime.runFork(modeOf(command)(command, stop, state).pipe(
    Effect.asVoid,
    Effect.catchCause((cause) => Effect.sync(() => emit({ ev: "error", msg: String(cause) })))
  ))
  const entry: Active = { stop, fiber }
  active = entry
  fiber.addObserver(() => {
    if (active === entry) active = undefined
  })
}

/** Leaves the election and waits until the mode ended (the lease released, or handed over to
 * `to`: a `hold` contender only). */
const release = async (to?: string): Promise<void> => {
  const current = active
  if (current === undefined) return emit({ ev: "released", t: nowMicros(), led: false })
  state.handoffTo = to
  Deferred.doneUnsafe(current.stop, Exit.void)
  await runtime.runPromise(Fiber.await(current.fiber))
}

// ---------------------------------------------------------------------------------------------
// The command loop

let quitting = false
const quit = async () => {
  if (quitting) return
  quitting = true
  await release().catch(() => undefined)
  await runtime.dispose().catch(() => undefined)
  await memoryRuntime.dispose().catch(() => undefined)
  process.exit(0)
}
process.on("SIGTERM", () => void quit())
process.on("SIGINT", () => void quit())

const handle = (line: string) => {
  const command = decodeCommand(line)
  if ("error" in command) return emit({ ev: "error", msg: `bad command: ${command.error}` })
  switch (command.cmd) {
    case "join":
      return join(command)
    case "release":
      return void release()
    case "handoff":
      return void release(command.to)
    case "usage":
      return state.usage.report(command.gc === true)
    case "microbench":
      return void microbench(command, state, { kubeconfig, kubernetes: runtime, memory: memoryRuntime }).catch((error) =>
        emit({ ev: "error", msg: `microbench: ${String(error)}` })
      )
    case "profile":
      return void profile(command.seconds, command.file, emit).catch((error) =>
        emit({ ev: "profile", file: command.file, error: String(error) })
      )
    case "quit":
      return void quit()
    case "pause":
      return void (state.selfPause = command.armed ?? true)
  }
}

// Build the client before announcing readiness, so that the first join is not slowed by it.
await runtime.runPromise(Effect.void)
const lines = Readline.createInterface({ input: process.stdin })
lines.on("line", handle)
lines.on("close", () => void quit())
emit({ ev: "ready", t: nowMicros(), pid: process.pid, identity: state.holder })
