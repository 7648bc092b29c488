/**
 * Contender processes for a chaos scenario: spawned, signalled, stopped, and never left behind.
 *
 * Each contender runs `node contender.ts <config>` with an IPC channel to the runner (it exits
 * when the channel closes) and its stdout/stderr in a log file. `spawn` is an `acquireRelease`:
 * the finalizer sends SIGCONT (a stopped process cannot die of SIGTERM) and SIGKILL and waits for
 * the exit. For the case where the runner itself dies without finalizers (SIGKILL of the test
 * worker), a lifeline reaper — a `/bin/sh` blocked reading a pipe only this process writes to —
 * kills every pid listed under `<dir>/pids/` once the pipe closes, but only while that pid's
 * command line still mentions `<dir>` (so a recycled pid is never hit).
 */
import { Effect, Option, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { ContenderConfig } from "./protocol.ts"

export const contenderScript = Path.join(import.meta.dirname, "contender.ts")

export interface Contender {
  readonly config: ContenderConfig
  readonly pid: number
  readonly child: ChildProcess.ChildProcess
  readonly exited: Promise<void>
  /** True once the process has exited. */
  readonly hasExited: () => boolean
  stopped: boolean
}

const reaperScript = `
trap '' INT TERM HUP QUIT PIPE
dir=$1
cat >/dev/null 2>&1
for f in "$dir"/pids/*; do
  [ -f "$f" ] || continue
  pid=$(basename "$f")
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  if [ -r "/proc/$pid/cmdline" ] && tr '\\000' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir"; then
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
  fi
done
`

/** Starts the lifeline reaper for `dir`; closing the scope ends it (after the finalizers ran). */
export const reaper = (dir: string): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      Fs.mkdirSync(Path.join(dir, "pids"), { recursive: true })
      const child = ChildProcess.spawn("/bin/sh", ["-c", reaperScript, "leasekit-chaos-reaper", dir], {
        detached: true,
        stdio: ["pipe", "ignore", "ignore"]
      })
      child.on("error", () => {})
      child.stdin?.on("error", () => {})
      child.unref()
      ;(child.stdin as unknown as { unref?: () => void } | null)?.unref?.()
      const exited = new Promise<void>((resolve) => {
        if (child.pid === undefined) resolve()
        child.once("exit", () => resolve())
        child.once("error", () => resolve())
      })
      return { child, exited }
    }),
    ({ child, exited }) =>
      Effect.suspend(() => {
        child.stdin?.end()
        return Effect.promise(() => exited).pipe(Effect.timeoutOption("10 seconds"), Effect.asVoid)
      })
  ).pipe(Effect.asVoid)

/** Whether a process with this pid exists and is not a zombie. */
export const isAlive = (pid: number): boolean => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return !/^State:\s+Z/m.test(status)
  } catch {
    return false
  }
}

export const signal = (contender: Contender, sig: NodeJS.Signals): boolean => {
  if (contender.hasExited()) return false
  try {
    process.kill(contender.pid, sig)
    if (sig === "SIGSTOP") contender.stopped = true
    if (sig === "SIGCONT") contender.stopped = false
    return true
  } catch {
    return false
  }
}

/** Waits (bounded) for the exit; `false` when it did not exit in time. */
export const awaitExit = (contender: Contender, timeout: number): Effect.Effect<boolean> =>
  Effect.promise(() => contender.exited).pipe(Effect.timeoutOption(timeout), Effect.map(Option.isSome))

const kill = (contender: Contender): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (contender.hasExited()) return
    signal(contender, "SIGCONT")
    signal(contender, "SIGKILL")
    yield* awaitExit(contender, 10_000)
  })

/**
 * Spawns a contender in `scope`; it is killed (if still running) when the scope closes. `dir` is
 * the scenario folder the reaper watches.
 */
export const spawn = (
  config: ContenderConfig,
  dir: string,
  logFile: string
): Effect.Effect<Contender, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const fd = Fs.openSync(logFile, "a")
      const child = ChildProcess.spawn(process.execPath, [contenderScript, JSON.stringify(config)], {
        stdio: ["ignore", fd, fd, "ipc"],
        env: { ...process.env, NODE_OPTIONS: "" }
      })
      Fs.closeSync(fd)
      let done = false
      const exited = new Promise<void>((resolve) => {
        child.once("exit", () => {
          done = true
          resolve()
        })
        child.once("error", () => {
          done = true
          resolve()
        })
      })
      child.on("error", () => {})
      const pid = child.pid ?? -1
      if (pid > 0) Fs.writeFileSync(Path.join(dir, "pids", String(pid)), "")
      const contender: Contender = { config, pid, child, exited, hasExited: () => done, stopped: false }
      return contender
    }),
    kill
  )

/** Polls `probe` every `every` until it yields `Some`, for at most `timeout` ms; `None` after. */
export const poll = <A, E, R>(
  probe: Effect.Effect<Option.Option<A>, E, R>,
  timeout: number,
  every = 200
): Effect.Effect<Option.Option<A>, E, R> =>
  probe.pipe(
    Effect.flatMap((result) => Option.isSome(result) ? Effect.succeed(result) : Effect.fail("again" as const)),
    Effect.retry({ schedule: Schedule.spaced(`${every} millis`), while: (e) => e === "again" }),
    Effect.timeoutOption(timeout),
    Effect.map(Option.flatten),
    Effect.catchIf((e): e is "again" => e === "again", () => Effect.succeed(Option.none<A>()))
  )
