/**
 * Review 18b: the chaos pipeline's journal (contender stdout → `Contender` → subscriber) against
 * its claims — "every event is emitted before the contender acts on it, so the last line of a
 * SIGKILLed contender is its last action" (loop.ts, processes.ts) and "what a contender wrote before
 * it was killed still arrives: the pipe keeps it" (Contender.ts). A stand-in contender (no cluster)
 * emits `valid` and then *acts* (appends the step to a file, standing in for the fenced write),
 * emitting through the contender's own `emitToStdout` (internal/contender/state.ts), as the loop does.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Contender from "../src/Contender.ts"
import type { Event, LoopEvent } from "../src/ContenderProtocol.ts"
import { isLoopEvent } from "../src/ContenderProtocol.ts"
import * as Process from "../src/Process.ts"

/** `join {name: <file>, writes: N}`: N steps of (emit `valid` for step i, then append i to <file>),
 * one every 2 ms, then SIGKILL itself. `arm {n}`: `quit` will emit n events, then exit 0. */
const standIn = `
import * as Fs from "node:fs"
import * as Readline from "node:readline"
import { emitToStdout as emit } from ${JSON.stringify(new URL("../src/internal/contender/state.ts", import.meta.url).href)}
const t = () => Number(process.hrtime.bigint() / 1000n)
const pad = "x".repeat(150)
let steps = 0
Readline.createInterface({ input: process.stdin })
  .on("line", (line) => {
    const c = JSON.parse(line)
    if (c.cmd === "join") {
      // As the loop does: each step's event, then its action, with event-loop turns in between
      // (the loop's steps are separated by I/O), then a SIGKILL from outside.
      const fd = Fs.openSync(c.name, "a")
      let i = 0
      const step = () => {
        if (++i > c.writes) return process.kill(process.pid, "SIGKILL")
        emit({ ev: "valid", t: t(), holder: "stand-in", token: i, where: pad })
        Fs.writeSync(fd, i + "\\n") // the action, after its event was emitted
        setTimeout(step, 2)
      }
      step()
    }
    if (c.cmd === "arm") steps = c.n
    if (c.cmd === "quit") {
      for (let i = 1; i <= steps; i++) emit({ ev: "valid", t: t(), holder: "stand-in", token: i, where: pad })
      process.exit(0)
    }
  })
emit({ ev: "ready", t: t(), pid: process.pid, identity: "stand-in" })
`

/** Keeps every loop event, as the chaos runner's journal and the demo do. */
const hear = (heard: Array<LoopEvent>) => (event: Event) =>
  Effect.sync(() => {
    if (isLoopEvent(event)) heard.push(event)
  })

const spawnStandIn = Contender.spawnProgram(process.execPath, ["--input-type=module", "-e", standIn], { label: "stand-in" })

describe("review 18b: the journal of a contender", () => {
  it.live("every action a SIGKILLed contender took is preceded by its event in what the driver heard", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-review18b-"))
      const actions = Path.join(dir, "actions")
      const contender = yield* spawnStandIn
      const heard: Array<LoopEvent> = []
      // As test/chaos/processes.ts journals: every loop event until the end of the output.
      const journaling = yield* contender.follow(hear(heard))
      // 300 steps while the runner's event loop is busy for two seconds (the stdout socketpair holds
      // only ~100 such lines: AF_UNIX counts each write's skb, not its bytes; beyond that, Node
      // queues `process.stdout.write` in the contender's memory, and a SIGKILL discards it).
      const first = yield* contender.waitFor((event) => event.ev === "valid")
      yield* contender.send({ cmd: "join", name: actions, writes: 300 } as never)
      yield* first
      yield* Effect.sync(() => {
        const until = performance.now() + 2000
        while (performance.now() < until) {
          // a runner that does not read for two seconds
        }
      })
      yield* contender.exit
      yield* Fiber.join(journaling)
      const acted = Fs.readFileSync(actions, "utf8").trim().split("\n").map(Number)
      const last = acted[acted.length - 1]!
      const heardSteps = new Set(heard.map((e) => (e.ev === "valid" ? e.token : -1)))
      Fs.rmSync(dir, { recursive: true, force: true })
      assert.isTrue(
        heardSteps.has(last),
        `the contender acted on step ${last} (its event emitted first), but the journal ends at step ${
          Math.max(...heardSteps)
        }: ${last - heardSteps.size} events lost with the process`
      )
    })).pipe(Effect.provide(Process.layer)))

  it.live("once stop returned, every event the contender wrote before its exit has been heard", () =>
    Effect.scoped(Effect.gen(function*() {
      const contender = yield* spawnStandIn
      const heard: Array<LoopEvent> = []
      // As packages/cli/src/demo/DemoWorkers.ts follows a worker: push each event as it comes.
      yield* contender.follow(hear(heard))
      // It writes 20 events as it quits (a worker's last step, section, releasing, release-ok…),
      // well within what the socket holds, then exits.
      yield* contender.send({ cmd: "arm", n: 20 } as never)
      yield* contender.stop
      // The demo judges right here (Demo.ts: stopWorkers, then Exclusion.check on the journals).
      const atStop = heard.length
      yield* Effect.sleep("500 millis")
      assert.strictEqual(heard.length, 20, "all of them arrive eventually")
      assert.strictEqual(atStop, 20, "events still unheard when stop returned")
    })).pipe(Effect.provide(Process.layer)))
})
