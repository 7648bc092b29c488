/**
 * The contender driver against a small stand-in program that speaks `ContenderProtocol` (no
 * cluster needed): readiness, waiting for an event armed before the command, the order of
 * commands, the end of the output, the stderr log, `stop` and the contender's entry script. The
 * real contender on a real API server: test/integration/contender.test.ts and the bench.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, PubSub } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Contender from "../src/Contender.ts"
import * as Process from "../src/Process.ts"

/** Answers `ready`; echoes every `join` as `leading` (name, and a token counting joins); `exit`
 * exits with code 3 without a word; `quit` exits with code 0; writes a line to stderr at start. */
const standIn = `
const emit = (e) => process.stdout.write(JSON.stringify(e) + "\\n")
const t = () => Number(process.hrtime.bigint() / 1000n)
process.stderr.write("stand-in started\\n")
let joins = 0
require("readline").createInterface({ input: process.stdin })
  .on("line", (line) => {
    const c = JSON.parse(line)
    if (c.cmd === "join") emit({ ev: "leading", t: t(), name: c.name, token: ++joins })
    if (c.cmd === "exit") process.exit(3)
    if (c.cmd === "quit") process.exit(0)
  })
  .on("close", () => process.exit(0))
console.log("not a protocol line")
emit({ ev: "ready", t: t(), pid: process.pid, identity: "stand-in" })
`

const spawnStandIn = (options: Contender.ProgramOptions = {}) =>
  Contender.spawnProgram(process.execPath, ["-e", standIn], { label: "stand-in", ...options })

describe("Contender", () => {
  it.live("spawn returns once the contender is ready, with its identity and pid", () =>
    Effect.scoped(Effect.gen(function*() {
      const contender = yield* spawnStandIn()
      assert.strictEqual(contender.identity, "stand-in")
      assert.strictEqual(contender.ready.pid, contender.pid)
    })).pipe(Effect.provide(Process.layer)))

  it.live("an event awaited before its command is not missed, and commands arrive in order", () =>
    Effect.scoped(Effect.gen(function*() {
      const contender = yield* spawnStandIn()
      const second = yield* contender.waitFor((event) => event.ev === "leading" && event.name === "b")
      yield* contender.send({ cmd: "join", name: "a" })
      yield* contender.send({ cmd: "join", name: "b" })
      const event = yield* second
      assert.strictEqual(event.ev === "leading" ? event.token : undefined, 2)
    })).pipe(Effect.provide(Process.layer)))

  it.live("a subscription sees every event after it, in order, then the end of the output", () =>
    Effect.scoped(Effect.gen(function*() {
      const contender = yield* spawnStandIn()
      const subscription = yield* contender.subscribe
      yield* contender.send({ cmd: "join", name: "a" })
      yield* contender.send({ cmd: "join", name: "b" })
      yield* contender.send({ cmd: "exit" } as never)
      assert.deepStrictEqual(yield* contender.exit, { code: 3, signal: null })
      const seen = [
        yield* PubSub.take(subscription),
        yield* PubSub.take(subscription),
        yield* PubSub.take(subscription)
      ].map((item) => item.ev === "leading" ? item.name : item.ev)
      assert.deepStrictEqual(seen, ["a", "b", "end"])
    })).pipe(Effect.provide(Process.layer)))

  it.live("a wait fails with Exited when the contender exits first, with Timeout when nothing comes", () =>
    Effect.scoped(Effect.gen(function*() {
      const contender = yield* spawnStandIn()
      const never = yield* contender.waitFor((event) => event.ev === "released", { what: "released", timeout: "20 seconds" })
      const late = yield* contender.waitFor((event) => event.ev === "released", { what: "released", timeout: "100 millis" })
      const timedOut = yield* Effect.exit(late)
      assert.isTrue(Exit.isFailure(timedOut) && String(timedOut.cause).includes("Timeout"))
      yield* contender.send({ cmd: "exit" } as never)
      const exited = yield* Effect.exit(never)
      assert.isTrue(Exit.isFailure(exited) && String(exited.cause).includes("Exited"))
    })).pipe(Effect.provide(Process.layer)))

  it.live("stderr goes to the log file; stop asks the contender to quit and waits for its exit", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-contender-"))
      const log = Path.join(dir, "stand-in.log")
      const contender = yield* spawnStandIn({ log })
      assert.deepStrictEqual(yield* contender.stop, { code: 0, signal: null })
      assert.include(Fs.readFileSync(log, "utf8"), "stand-in started")
      Fs.rmSync(dir, { recursive: true, force: true })
    })).pipe(Effect.provide(Process.layer)))

  it("the contender's entry script is beside the driver", () => {
    assert.isTrue(Fs.existsSync(Contender.script), Contender.script)
  })
})
