/**
 * ProcessGroup against real processes: a zombie is not a live member (on Linux, where membership
 * is read from /proc), and an emptied group is empty. Every wait polls a condition and is bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as ProcessGroup from "../src/ProcessGroup.ts"

const linux = Fs.existsSync("/proc/self/stat")

const stateOf = (pid: number): string => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
  } catch {
    return "gone"
  }
}

const waitUntil = (what: string, condition: () => boolean) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ schedule: Schedule.spaced("10 millis"), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) })
  )

/** A group of its own: a leader (`sleep 30`) whose child exits at once and stays a zombie (its
 * parent never waits for it). Succeeds with both pids; the leader is killed with the scope. */
const groupWithZombie = Effect.acquireRelease(
  Effect.callback<{ readonly leader: ChildProcess.ChildProcess; readonly zombie: number }>((resume) => {
    const leader = ChildProcess.spawn("sh", ["-c", "true & echo $!; exec sleep 30"], { detached: true, stdio: ["ignore", "pipe", "inherit"] })
    leader.stdout.setEncoding("utf8").once("data", (line: string) => resume(Effect.succeed({ leader, zombie: Number(line.trim()) })))
  }),
  ({ leader }) => Effect.sync(() => leader.kill("SIGKILL"))
)

describe("ProcessGroup", () => {
  it.effect.skipIf(!linux)("a zombie is not a live member; the group is empty once its last live member is gone", () =>
    Effect.gen(function*() {
      const { leader, zombie } = yield* groupWithZombie
      const group = ProcessGroup.make(leader.pid!)
      yield* waitUntil("the child to be a zombie", () => stateOf(zombie) === "Z")
      assert.deepStrictEqual(group.liveMembers(), [leader.pid!], "the zombie is left out")
      assert.isTrue(group.hasLiveMember())

      const exited = new Promise((resolve) => leader.once("exit", resolve))
      assert.isTrue(group.signal("SIGKILL"))
      yield* Effect.promise(() => exited)
      // The orphaned zombie may stay (a PID 1 that does not reap): it does not count.
      yield* waitUntil("the group to be empty", () => !group.hasLiveMember())
      assert.deepStrictEqual(group.liveMembers(), [])
    }).pipe(Effect.scoped))

  it("a group nobody is in is empty and cannot be signalled", () => {
    const group = ProcessGroup.make(2 ** 22 + 12345)
    assert.isFalse(group.hasLiveMember())
    assert.deepStrictEqual(group.liveMembers(), [])
    assert.isFalse(group.signal("SIGTERM"))
  })

  it("names pids in messages", () => {
    assert.strictEqual(ProcessGroup.describe([12]), "pid 12")
    assert.strictEqual(ProcessGroup.describe([12, 13]), "pids 12, 13")
    assert.strictEqual(ProcessGroup.describe(undefined), "processes")
    assert.strictEqual(ProcessGroup.describe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), "pids 1, 2, 3, 4, 5, 6, 7, 8 and 2 more")
  })
})
