/**
 * ProcessGroup against real processes: a zombie is not a live member (on Linux, where membership
 * is read from /proc), but a process whose main thread exited while another of its threads works
 * is; an emptied group is empty; a session is every process group in it. Every wait polls a
 * condition and is bounded.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ProcessGroup from "../src/internal/ProcessGroup.ts"

const linux = Fs.existsSync("/proc/self/stat")
const python = ChildProcess.spawnSync("python3", ["-c", "import ctypes, threading"]).status === 0
const gnuTimeout = ChildProcess.spawnSync("timeout", ["1", "true"]).status === 0

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

const lines = (file: string) => Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").split("\n").length - 1 : 0

/** Starts `command args…` in a session (and group) of its own, stdout piped; SIGKILLs its group
 * when the scope closes. */
const detached = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => ChildProcess.spawn(command, [...args], { detached: true, stdio: ["ignore", "pipe", "inherit"] })),
    (p) =>
      Effect.sync(() => {
        try {
          process.kill(-p.pid!, "SIGKILL")
        } catch {
          // gone
        }
      })
  )

/** The numbers `proc` printed on its stdout so far. */
const printed = (proc: ChildProcess.ChildProcess) => {
  const numbers: Array<number> = []
  proc.stdout!.setEncoding("utf8").on("data", (s: string) => numbers.push(...s.trim().split(/\s+/).map(Number)))
  return numbers
}

/** Prints its pid, then ends its main thread (pthread_exit) while a second thread appends a
 * timestamp to argv[1] every 20 ms. */
const zombieLeader = [
  "import ctypes, threading, time, os, sys",
  "def work():",
  "    while True:",
  "        with open(sys.argv[1], 'a') as f: f.write('%d\\n' % time.time_ns())",
  "        time.sleep(0.02)",
  "threading.Thread(target=work).start()",
  "print(os.getpid(), flush=True)",
  "ctypes.CDLL(None).pthread_exit(None)"
].join("\n")

describe("ProcessGroup", () => {
  it.live.skipIf(!linux)("a zombie is not a live member; the group is empty once its last live member is gone", () =>
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

  it.live.skipIf(!linux || !python)(
    "a process whose main thread exited while another thread still works (it reads as a zombie) is a live member of its group",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-pg-"))),
          (d) => Effect.sync(() => Fs.rmSync(d, { recursive: true, force: true }))
        )
        const beats = Path.join(dir, "beats")
        const proc = yield* detached("python3", ["-c", zombieLeader, beats])
        const pids = printed(proc)
        yield* waitUntil("the pid", () => pids.length > 0)
        const pid = pids[0]!
        yield* waitUntil("its main thread to have exited (state Z)", () => stateOf(pid) === "Z")
        const before = lines(beats)
        yield* Effect.sleep("200 millis")
        assert.isAbove(lines(beats), before, "its second thread still works")

        const group = ProcessGroup.make(proc.pid!)
        assert.isTrue(group.hasLiveMember(), "a working process is a live member")
        assert.deepStrictEqual(group.liveMembers(), [pid])
        assert.isTrue(ProcessGroup.session(proc.pid!).hasLiveMember(), "and a live member of its session")
      }).pipe(Effect.scoped)
  )

  it.live.skipIf(!linux || !gnuTimeout)(
    "a session is every process group in it: a process that moved to a group of its own (GNU timeout) is a member, and is signalled",
    () =>
      Effect.gen(function*() {
        // timeout puts itself (and its child) in a group of its own, in the leader's session.
        const leader = yield* detached("sh", ["-c", "timeout 30 sleep 30 & echo $!; exec sleep 30"])
        const pids = printed(leader)
        yield* waitUntil("timeout's pid", () => pids.length > 0)
        const timeout = pids[0]!
        yield* waitUntil("timeout to be in a group of its own", () => {
          const stat = Fs.readFileSync(`/proc/${timeout}/stat`, "utf8")
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === timeout
        })
        const group = ProcessGroup.make(leader.pid!)
        const session = ProcessGroup.session(leader.pid!)
        assert.notInclude(group.liveMembers() ?? [], timeout, "not in the leader's group")
        assert.include(session.liveMembers() ?? [], timeout, "in the leader's session")
        assert.include(session.liveMembers() ?? [], leader.pid!)

        assert.isTrue(session.signal("SIGKILL"))
        yield* waitUntil("timeout to be gone", () => stateOf(timeout) === "gone" || stateOf(timeout) === "Z")
        yield* waitUntil("the session to be empty", () => !session.hasLiveMember())
        assert.deepStrictEqual(session.liveMembers(), [])
      }).pipe(Effect.scoped)
  )

  it("a group nobody is in is empty and cannot be signalled", () => {
    const group = ProcessGroup.make(2 ** 22 + 12345)
    assert.isFalse(group.hasLiveMember())
    assert.deepStrictEqual(group.liveMembers(), [])
    assert.isFalse(group.signal("SIGTERM"))
    const session = ProcessGroup.session(2 ** 22 + 12345)
    assert.isFalse(session.hasLiveMember())
    assert.deepStrictEqual(session.liveMembers(), [])
    assert.isFalse(session.signal("SIGTERM"))
  })

  it("names pids in messages", () => {
    assert.strictEqual(ProcessGroup.describe([12]), "pid 12")
    assert.strictEqual(ProcessGroup.describe([12, 13]), "pids 12, 13")
    assert.strictEqual(ProcessGroup.describe(undefined), "processes")
    assert.strictEqual(ProcessGroup.describe([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), "pids 1, 2, 3, 4, 5, 6, 7, 8 and 2 more")
  })
})
