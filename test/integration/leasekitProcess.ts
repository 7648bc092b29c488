/**
 * Running the `leasekit` binary (from the sources, `packages/cli/bin/leasekit`) as a child process
 * in the CLI's integration suites: start it, read its output, wait for it, kill it — every wait
 * bounded, every process killed when the test's scope closes.
 *
 * The environment is the test process's minus `KUBECONFIG` (a suite passes `--kubeconfig`), plus
 * what the caller adds.
 */
import { Duration, Effect, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

/** The binary. */
export const bin = Path.resolve(import.meta.dirname, "../../packages/cli/bin/leasekit")

/** A finished `leasekit` run. */
export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** A running `leasekit`. */
export interface Running {
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly ended: Effect.Effect<Ended>
  readonly kill: (signal: NodeJS.Signals) => void
}

/** Starts `leasekit args…` (stdin not a terminal); SIGKILLed when the scope closes if still running. */
export const start = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const { KUBECONFIG: _ignored, ...rest } = process.env
      const child = ChildProcess.spawn(bin, [...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...rest, ...env } })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const ended = new Promise<Ended>((resolve) => child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr })))
      return {
        pid: child.pid!,
        stdout: () => stdout,
        stderr: () => stderr,
        ended: Effect.promise(() => ended),
        kill: (signal: NodeJS.Signals) => void child.kill(signal),
        child
      }
    }),
    (running) => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL"))
  )

/** Runs `leasekit args…` to completion, within `timeout` (default 60 s). */
export const leasekit = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv, timeout: Duration.Input = "60 seconds") =>
  Effect.scoped(Effect.flatMap(start(args, env), (p) => p.ended)).pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`leasekit ${args.join(" ")} did not end within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)) })
  )

/** Polls `condition` every 50 ms until it holds; fails the test after `timeout`. */
export const waitUntil = (what: string, condition: () => boolean, timeout: Duration.Input = "30 seconds") =>
  Effect.sync(condition).pipe(
    Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }),
    Effect.asVoid
  )

/** `sh -c script` as a command line. */
export const sh = (script: string): ReadonlyArray<string> => ["sh", "-c", script]
