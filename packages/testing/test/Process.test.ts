import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Process from "../src/Process.ts"

const node = process.execPath

/** Whether a process with this pid exists and is not a zombie. */
const isAlive = (pid: number): boolean => {
  try {
    return !/^State:\s+Z/m.test(Fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return false
  }
}

/** Polls `check` every 20 ms for at most `millis`. */
const eventually = (check: () => boolean, millis: number) =>
  Effect.gen(function*() {
    const deadline = Date.now() + millis
    while (!check()) {
      if (Date.now() > deadline) return false
      yield* Effect.sleep(20)
    }
    return true
  })

const tmp = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-process-"))

describe("Process", () => {
  it.live("a line protocol over stdin and stdout; closing stdin ends the child with code 0", () =>
    Effect.scoped(Effect.gen(function*() {
      const child = yield* Process.spawn(node, [
        "-e",
        "require('readline').createInterface({input: process.stdin}).on('line', (l) => console.log(l.toUpperCase()))"
      ], { stdin: "pipe", output: "pipe" })
      const lines = yield* Effect.forkChild(Stream.runCollect(Stream.take(child.lines, 2)))
      yield* child.send("one")
      yield* child.send("two")
      assert.deepStrictEqual(Array.from(yield* Fiber.join(lines)), ["ONE", "TWO"])
      yield* child.closeStdin
      assert.deepStrictEqual(yield* child.exit, { code: 0, signal: null })
    })).pipe(Effect.provide(Process.layer)))

  it.live("the exit status names the signal that ended the process", () =>
    Effect.scoped(Effect.gen(function*() {
      const child = yield* Process.spawn("sleep", ["30"])
      assert.isTrue(yield* child.signal("SIGKILL"))
      assert.deepStrictEqual(yield* child.exit, { code: null, signal: "SIGKILL" })
      assert.isFalse(yield* child.signal("SIGTERM"), "no signal after the exit was observed")
    })).pipe(Effect.provide(Process.layer)))

  it.live("stop: SIGTERM, then SIGKILL after the grace period for a process that ignores SIGTERM", () =>
    Effect.scoped(Effect.gen(function*() {
      const child = yield* Process.spawn("/bin/sh", ["-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"], {
        output: "pipe",
        grace: "300 millis"
      })
      yield* Stream.runHead(child.lines)
      const started = Date.now()
      const status = yield* child.stop
      const took = Date.now() - started
      assert.strictEqual(status.signal, "SIGKILL")
      assert.isAtLeast(took, 250, `stopped after ${took} ms, before the grace period`)
    })).pipe(Effect.provide(Process.layer)))

  it.live("stop resumes a stopped process first, so SIGTERM ends it at once", () =>
    Effect.scoped(Effect.gen(function*() {
      const child = yield* Process.spawn("sleep", ["30"], { grace: "20 seconds" })
      yield* child.signal("SIGSTOP")
      const started = Date.now()
      const status = yield* child.stop
      assert.strictEqual(status.signal, "SIGTERM")
      assert.isBelow(Date.now() - started, 5_000)
    })).pipe(Effect.provide(Process.layer)))

  it.live("closing the scope stops the whole group, grandchildren included", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const pidFile = Path.join(dir, "grandchild")
      const scope = yield* Scope.make()
      const child = yield* Process.spawn("/bin/sh", ["-c", `sleep 30 & echo $! > ${pidFile}; wait`], { grace: "1 second" }).pipe(
        Scope.provide(scope)
      )
      assert.isTrue(yield* eventually(() => Fs.existsSync(pidFile) && Fs.readFileSync(pidFile, "utf8").trim() !== "", 5_000))
      const grandchild = Number(Fs.readFileSync(pidFile, "utf8").trim())
      assert.isTrue(isAlive(grandchild))
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Option.isSome(yield* child.exited))
      assert.isTrue(yield* eventually(() => !isAlive(grandchild), 3_000), "the grandchild survived the scope")
    }).pipe(Effect.provide(Process.layer)))

  it.live("output to a file: stdout and stderr appended", () =>
    Effect.scoped(Effect.gen(function*() {
      const file = Path.join(tmp(), "log")
      Fs.writeFileSync(file, "before\n")
      const child = yield* Process.spawn("/bin/sh", ["-c", "echo out; echo err >&2"], { output: { file } })
      assert.deepStrictEqual(yield* child.exit, { code: 0, signal: null })
      assert.isTrue(yield* eventually(() => Fs.readFileSync(file, "utf8").includes("err"), 2_000))
      const text = Fs.readFileSync(file, "utf8")
      assert.isTrue(text.startsWith("before\n") && text.includes("out\n") && text.includes("err\n"), text)
    })).pipe(Effect.provide(Process.layer)))

  it.live("run answers stdout, and fails with the end of stderr on a non-zero exit", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* Process.run("/bin/sh", ["-c", "echo hello"]), "hello\n")
      const failed = yield* Effect.flip(Process.run("/bin/sh", ["-c", "echo broken >&2; exit 3"]))
      assert.strictEqual(failed.reason, "Exit")
      assert.include(failed.message, "exit code 3")
      assert.include(failed.message, "broken")
      const missing = yield* Effect.flip(Process.run("/nonexistent/leasekit-command", []))
      assert.strictEqual(missing.reason, "Spawn")
    }).pipe(Effect.provide(Process.layer)))

  it.live("exec answers both outputs and the time to the exit; without extendEnv the environment is only what was given", () =>
    Effect.gen(function*() {
      process.env["LEASEKIT_PROCESS_TEST"] = "inherited"
      const script = "echo \"[$LEASEKIT_PROCESS_TEST][$GIVEN]\"; echo err >&2; sleep 0.2"
      const extended = yield* Process.exec("/bin/sh", ["-c", script], { env: { GIVEN: "given" } })
      assert.deepStrictEqual([extended.code, extended.stdout, extended.stderr], [0, "[inherited][given]\n", "err\n"])
      assert.isTrue(Duration.toMillis(extended.elapsed) >= 200, Duration.format(extended.elapsed))
      const replaced = yield* Process.exec("/bin/sh", ["-c", script], { env: { GIVEN: "given" }, extendEnv: false })
      assert.strictEqual(replaced.stdout, "[][given]\n")
      delete process.env["LEASEKIT_PROCESS_TEST"]
    }).pipe(Effect.provide(Process.layer)))

  it.live("exec fails on a timeout with what the command printed so far, and stops it", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const failed = yield* Effect.flip(
        Process.exec("/bin/sh", ["-c", `echo $$ > ${dir}/pid; echo halfway; echo stuck >&2; sleep 30`], { timeout: "500 millis" })
      )
      assert.strictEqual(failed.reason, "Timeout")
      assert.include(failed.message, "stuck")
      const pid = Number(Fs.readFileSync(Path.join(dir, "pid"), "utf8"))
      assert.isTrue(yield* eventually(() => !isAlive(pid), 2_000), "the timed-out process is still running")
    }).pipe(Effect.provide(Process.layer)))

  it.live("the lifeline stops registered processes when their Node parent is SIGKILLed", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const processModule = new URL("../src/Process.ts", import.meta.url).href
      // A parent that starts a lifeline and a registered child (whose command line names `dir`),
      // then waits to be killed: no finalizer of it ever runs.
      const script = `
        import * as Process from ${JSON.stringify(processModule)}
        import { Effect, Layer } from "effect"
        const dir = ${JSON.stringify(dir)}
        Effect.runFork(Effect.scoped(Effect.gen(function*() {
          yield* Process.lifeline(dir, { grace: "1 second" })
          const child = yield* Process.spawn("/bin/sh", ["-c", "sleep 60 #" + dir])
          yield* Process.register(dir, child.pid)
          console.log(child.pid)
          yield* Effect.never
        })).pipe(Effect.provide(Process.layer)))
      `
      const parent = ChildProcess.spawn(node, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] })
      const pid = yield* Effect.callback<number>((resume) => {
        parent.stdout!.once("data", (chunk: Buffer) => resume(Effect.succeed(Number(chunk.toString().trim()))))
      })
      assert.isTrue(isAlive(pid))
      parent.kill("SIGKILL")
      assert.isTrue(yield* eventually(() => !isAlive(pid), 5_000), "the registered child outlived its parent")
    }))

  it.live("closing a lifeline's scope stops what is still registered, and waits for the lifeline to exit", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const other = ChildProcess.spawn("/bin/sh", ["-c", `sleep 30 #${dir}`], { detached: true, stdio: "ignore" })
      const unrelated = ChildProcess.spawn("/bin/sh", ["-c", "sleep 30"], { detached: true, stdio: "ignore" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Process.lifeline(dir, { grace: "1 second" })
        yield* Process.register(dir, other.pid!)
        // Registered, but its command line does not name `dir`: a reused pid, never signalled.
        yield* Process.register(dir, unrelated.pid!)
      })).pipe(Effect.provide(Process.layer))
      assert.isTrue(yield* eventually(() => !isAlive(other.pid!), 3_000), "the registered process survived")
      assert.isTrue(isAlive(unrelated.pid!), "a process whose command line does not name the folder was signalled")
      process.kill(-unrelated.pid!, "SIGKILL")
    }))
})
