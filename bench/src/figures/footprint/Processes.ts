/**
 * The processes figure 7 starts, in a clean environment (without what pnpm and npm set for the
 * bench's own script, the bench's Node first on `PATH`): a command run to completion with its
 * output and wall time (SIGKILLed after a timeout), or started with stdout piped and stderr into a
 * log file; how they ended; and reading a file under /proc or a cgroup. Every process is tracked by
 * the bench's contender registry, so that none outlives the run.
 *
 * Still on `node:child_process`, not yet on `@leasekit/testing`'s `Process`, which lacks what this
 * figure needs: stdout piped while stderr goes to a log file (a holder's `token=` / `profile=` /
 * `modules=` lines are timed as they arrive; its stderr is quoted from its log when it fails); on a
 * timeout, what was printed so far rather than a failure; an environment with variables removed
 * (`cleanEnv`), not only added to; and the wall time at the exit event (start-up wall times are a
 * few tens of ms: timed through an Effect fiber they would change what figure 7 measures, which
 * wants a before/after run to show). `Process.exec` would serve the install commands, but the
 * figures run as Promises outside the orchestrator's Effect scope: a process started through a
 * separate `Effect.runPromise` is not stopped when the bench is interrupted, which `track` /
 * `killAll` do today. Moving them belongs with running the figures inside that scope.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../../Bench.ts"
import { track } from "../../Contenders.ts"

/** The environment of everything started here: without what pnpm and npm set for the bench's own
 * script, and with the bench's Node first on `PATH`. */
export const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_)/i.test(name) || name === "KUBECONFIG" || name === "NODE_OPTIONS" || name.startsWith("LEASEKIT_")) continue
    env[name] = value
  }
  env["PATH"] = `${Path.dirname(process.execPath)}${Path.delimiter}${env["PATH"] ?? ""}`
  return env
}

export interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** From spawn to exit (not to the end of its output). */
  readonly wallMs: number
}

/** Runs a command to completion; it is SIGKILLed after `timeoutMs`. */
export const exec = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000): Promise<Ended> =>
  new Promise((resolve) => {
    const started = performance.now()
    let wallMs = Number.NaN
    let stdout = ""
    let stderr = ""
    const child = track(ChildProcess.spawn(command, [...args], { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] }))
    child.once("exit", () => (wallMs = performance.now() - started))
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      stderr += `\n[killed: did not end within ${timeoutMs} ms]`
      child.kill("SIGKILL")
    }, timeoutMs)
    const end = (code: number | null, signal: NodeJS.Signals | null, error = "") => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr: stderr + error, wallMs })
    }
    child.once("error", (error) => end(null, null, error.message))
    child.once("close", (code, signal) => end(code, signal))
  })

export const lastLines = (text: string, n = 5) => text.trim().split("\n").slice(-n).join(" / ")

/** The process's result when it exited 0; otherwise an error with the end of its output. */
export const checked = (what: string, ended: Ended): Ended => {
  if (ended.code === 0) return ended
  throw new Error(`${what} exited ${ended.code ?? ended.signal}: ${lastLines(ended.stderr || ended.stdout)}`)
}

export const describeExit = (code: number | null, signal: NodeJS.Signals | null) => (signal !== null ? signal : `exit ${code}`)

/** A log file for a process's stderr, in the run's folder. */
export const logFile = (bench: Bench, name: string) => Path.join(bench.outDir, `footprint-${name}.log`)

/** Starts `argv` with stdout piped and stderr into `log`, `env` added to the clean environment. */
export const start = (argv: ReadonlyArray<string>, cwd: string, log: string, env: NodeJS.ProcessEnv = {}) => {
  const stderr = Fs.openSync(log, "a")
  const child = track(ChildProcess.spawn(argv[0]!, argv.slice(1), { cwd, env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", stderr] }))
  Fs.closeSync(stderr)
  return child
}

export const read = (dir: string, file: string): string | undefined => {
  try {
    return Fs.readFileSync(Path.join(dir, file), "utf8")
  } catch {
    return undefined
  }
}
