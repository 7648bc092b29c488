/**
 * CommandProcess's stop against real processes: the session is stopped by `Process.terminate` as
 * a whole — a process that moved to a process group of its own and ignores SIGTERM gets SIGKILL
 * after the grace, and `stop` returns only once the session is empty — and a session that ends at
 * the SIGTERM is not SIGKILLed. Every wait is bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as Duration from "effect/Duration"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as CommandProcess from "../src/internal/CommandProcess.ts"

const linux = Fs.existsSync("/proc/self/stat")
const python = ChildProcess.spawnSync("python3", ["-c", "import os"]).status === 0

/** `sh` in a session of its own that starts a job which moves to a process group of its own (as
 * GNU `timeout` does); both ignore SIGTERM when `ignoreTerm`. */
const sessionWithJob = (ignoreTerm: boolean) => {
  const ignore = ignoreTerm ? "signal.signal(signal.SIGTERM, signal.SIG_IGN); " : ""
  return CommandProcess.spawn(
    "sh",
    ["-c", `${ignoreTerm ? "trap '' TERM; " : ""}python3 -c "import os, signal, time; os.setpgid(0, 0); ${ignore}time.sleep(30)" & wait`],
    { env: process.env, ownGroup: true, grace: Duration.seconds(5) }
  )
}

/** The process groups of the session's live members. */
const groupsOf = (pids: ReadonlyArray<number>) =>
  new Set(pids.map((pid) => {
    try {
      const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
      return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]
    } catch {
      return "gone"
    }
  }))

describe("CommandProcess", () => {
  it.live.skipIf(!linux || !python)("stop SIGKILLs a session's process group that ignores SIGTERM after the grace, and returns once the session is empty", () =>
    Effect.gen(function*() {
      const child = yield* sessionWithJob(true)
      // the job has started, in a group of its own
      const before = yield* child.members.pipe(
        Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (pids) => groupsOf(pids ?? []).size === 2 }),
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("the job never moved to a group of its own")) })
      )
      assert.isAtLeast(before?.length ?? 0, 2, "the command and its job are live members of the session")
      const started = Date.now()
      const ended = yield* child.stop(Duration.millis(300))
      const took = Date.now() - started
      assert.isAtLeast(took, 290, "SIGKILL only after the grace")
      assert.isBelow(took, 3_000, "and at once after it")
      assert.strictEqual(ended.signal, "SIGKILL")
      assert.deepStrictEqual(yield* child.members, [], "nothing is left in the session")
    }).pipe(Effect.scoped))

  it.live.skipIf(!linux || !python)("stop ends at the SIGTERM when the session obeys it, without waiting out the grace", () =>
    Effect.gen(function*() {
      const child = yield* sessionWithJob(false)
      yield* Effect.sleep("300 millis")
      const started = Date.now()
      const ended = yield* child.stop(Duration.seconds(10))
      assert.isBelow(Date.now() - started, 3_000)
      assert.strictEqual(ended.signal, "SIGTERM")
      assert.deepStrictEqual(yield* child.members, [])
    }).pipe(Effect.scoped))
})
