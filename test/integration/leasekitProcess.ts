/**
 * Processes in the CLI's integration suites: the `leasekit` binary (`packages/cli/bin/leasekit`,
 * running the built bundle: `globalSetup.ts` builds it and sets `LEASEKIT_BUNDLE=1`), or any
 * other program, run as a child process — start it, read its output, wait for it, kill it — and
 * what their tests use around them: polling a condition, a temporary folder for the files a
 * command writes, `sh -c`, whether a pid still runs, the admin's
 * `--kubeconfig` (also through a proxy that can partition it). Every wait is bounded; every
 * process started here is SIGKILLed when the test's scope closes if still running.
 *
 * The environment is the test process's minus `KUBECONFIG` (a suite passes `--kubeconfig`), plus
 * what the caller adds.
 */
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { Duration, Effect, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** The binary. */
export const bin = Path.resolve(import.meta.dirname, "../../packages/cli/bin/leasekit")

/** A finished process. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall-clock milliseconds when it ended (see `SpawnOptions.endedOn`). */
  readonly at: number
}

/** A running process. */
export interface Running {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly ended: Effect.Effect<Ended>
  readonly kill: (signal: NodeJS.Signals) => void
  readonly child: ChildProcess.ChildProcess
}

export interface SpawnOptions {
  /**
   * When `ended` completes: `"close"` (the default) once the process exited and its stdout and
   * stderr closed; `"exit"` once the process itself exited (its command's processes may hold the
   * stdio longer), and then 50 ms later with the output that was on its way when it exited too.
   */
  readonly endedOn?: "close" | "exit"
  /** stdin, stdout and stderr of the process (default: stdin ignored, stdout and stderr piped
   * and collected). A slot that is not `"pipe"` is not collected. */
  readonly stdio?: ChildProcess.StdioOptions
}

/** Starts `file args…` (stdin not a terminal); SIGKILLed when the scope closes if still running. */
export const spawn = (
  file: string,
  args: ReadonlyArray<string>,
  env: NodeJS.ProcessEnv = {},
  options: SpawnOptions = {}
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const { KUBECONFIG: _ignored, ...rest } = process.env
      const child = ChildProcess.spawn(file, [...args], { stdio: options.stdio ?? ["ignore", "pipe", "pipe"], env: { ...rest, ...env } })
      let stdout = ""
      let stderr = ""
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const ended = new Promise<Ended>((resolve) => {
        const onEnd = (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal, stdout, stderr, at: Date.now() })
        if (options.endedOn === "exit") child.once("exit", onEnd)
        else child.once("close", onEnd)
      })
      return {
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        ended: options.endedOn === "exit"
          ? Effect.promise(() => ended).pipe(
            Effect.tap(() => Effect.sleep("50 millis")),
            Effect.map((e) => ({ ...e, stdout, stderr }))
          )
          : Effect.promise(() => ended),
        kill: (signal: NodeJS.Signals) => void child.kill(signal),
        child
      }
    }),
    (running) => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL"))
  )

/** Starts `leasekit args…` (stdin not a terminal); SIGKILLed when the scope closes if still running. */
export const start = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv, options?: SpawnOptions): Effect.Effect<Running, never, Scope.Scope> =>
  spawn(bin, args, env, options)

/** Runs `leasekit args…` to completion, within `timeout` (default 60 s). */
export const leasekit = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv, timeout: Duration.Input = "60 seconds") =>
  Effect.scoped(Effect.flatMap(start(args, env), (p) => p.ended)).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`leasekit ${args.join(" ")} did not end within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)) })
  )

/** Waits that poll a condition every `every` until it holds, and fail the test after a timeout:
 * the one a call names, or `timeout`. */
export const polling = (every: Duration.Input, timeout: Duration.Input) => {
  const waitFor = <E, R>(what: string, condition: Effect.Effect<boolean, E, R>, within: Duration.Input = timeout) =>
    condition.pipe(
      Effect.repeat({ schedule: Schedule.spaced(every), until: (ok) => ok }),
      Effect.timeoutOrElse({ duration: within, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }),
      Effect.asVoid
    )
  const waitUntil = (what: string, condition: () => boolean, within?: Duration.Input) => waitFor(what, Effect.sync(condition), within)
  /** The pid a command wrote into `file` (`echo $$ > file`), once it is there. */
  const pidIn = (file: string) =>
    waitUntil(`a pid in ${Path.basename(file)}`, () => Fs.existsSync(file) && /^\d+\n/.test(Fs.readFileSync(file, "utf8"))).pipe(
      Effect.map(() => Number(Fs.readFileSync(file, "utf8").trim()))
    )
  return { waitFor, waitUntil, pidIn }
}

/** Polls every 50 ms; fails the test after 30 s unless the call names another timeout. */
export const { pidIn, waitFor, waitUntil } = polling("50 millis", "30 seconds")

/** The control plane's admin, as `leasekit` flags. */
export const admin = Effect.map(ControlPlane.ControlPlane, (cp) => ["--kubeconfig", cp.users.admin.kubeconfig])

/** The control plane's admin through a FaultProxy (closed with the scope): the proxy, to
 * partition the process that uses it from the API server, and the kubeconfig that goes through it. */
export const adminThroughProxy = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
  const kubeconfig = yield* FaultProxy.kubeconfig(proxy, "admin")
  return { proxy, kubeconfig }
})

/** A temporary folder (named `prefix…`) for a test's files, removed with the scope. */
export const makeTempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** `sh -c script` as a command line. */
export const sh = (script: string): ReadonlyArray<string> => ["sh", "-c", script]

/** Whether signal 0 reaches `pid` (true also of a zombie; see `running`). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The state letter of a process (`/proc/PID/stat`): `T` when stopped, `Z` a zombie; `gone` when not listed. */
export const processState = (pid: number): string => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
  } catch {
    return "gone"
  }
}

/** Whether `pid` is running (or stopped): listed in /proc and not a zombie. */
export const running = (pid: number): boolean => {
  const state = processState(pid)
  return state !== "gone" && state !== "Z" && state !== "X"
}

/** SIGKILLs `pid` (a leftover of a failing test) when the scope closes. */
export const reap = (pid: number) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    })
  )

/** The nanosecond timestamps (`date +%s%N` lines) a heartbeat file holds; none while it does not exist. */
export const beatsIn = (file: string): Array<bigint> =>
  Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").split("\n").filter((l) => /^\d+$/.test(l)).map(BigInt) : []
