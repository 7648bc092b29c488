/**
 * The processes figure 7 starts, through `@leasekit/testing`'s `Process` in the run's scope
 * (`RunScope`: the end of the run or its interruption stops them), in a clean environment (without
 * what pnpm and npm set for the bench's own script, the bench's Node first on `PATH`): a command
 * run to completion with its output and wall time (`Process.exec`: timed from just before the
 * spawn to the exit, not to the end of its output; stopped after a timeout, its error then carries
 * what it printed so far), or started with stdout piped (`lines`) and stderr appended to a log
 * file, registered with the figure's lifeline (`Process.lifeline` of the figure's folder: it stops
 * the ones whose command line names that folder if the bench dies without closing its scope);
 * how they ended; and reading a file under /proc or a cgroup.
 */
import { Process } from "@leasekit/testing"
import { Duration, Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../../Bench.ts"

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

/**
 * Runs a command to completion; it is stopped after `timeoutMs`. Never rejects: a command that
 * could not start or timed out ends with neither code nor signal, the reason in `stderr`.
 */
export const exec = (bench: Bench, command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000): Promise<Ended> =>
  bench.spawnContext.processes.run(
    Process.exec(command, args, { cwd, env: cleanEnv(), extendEnv: false, timeout: Duration.millis(timeoutMs) }).pipe(
      Effect.map((output): Ended => ({
        code: output.code,
        signal: output.signal,
        stdout: output.stdout,
        stderr: output.stderr,
        wallMs: Duration.toMillis(output.elapsed)
      })),
      Effect.catch((error) => Effect.succeed<Ended>({ code: null, signal: null, stdout: "", stderr: error.message, wallMs: Number.NaN }))
    )
  )

export const lastLines = (text: string, n = 5) => text.trim().split("\n").slice(-n).join(" / ")

/** The process's result when it exited 0; otherwise an error with the end of its output. */
export const checked = (what: string, ended: Ended): Ended => {
  if (ended.code === 0) return ended
  const how = ended.code === null && ended.signal === null ? "failed" : `exited ${ended.code ?? ended.signal}`
  throw new Error(`${what} ${how}: ${lastLines(ended.stderr || ended.stdout)}`)
}

/** How a process ended: its signal, `exit N`, or `failed` (it did not start, or timed out). */
export const describeExit = (code: number | null, signal: NodeJS.Signals | null) =>
  signal !== null ? signal : code !== null ? `exit ${code}` : "failed"

/** A log file for a process's stderr, in the run's folder. */
export const logFile = (bench: Bench, name: string) => Path.join(bench.outDir, `footprint-${name}.log`)

/**
 * Starts `argv` with stdout piped and stderr appended to `log`, `env` added to the clean
 * environment, and registers it with the lifeline of `lifeline` (the figure's folder).
 */
export const start = (lifeline: string, argv: ReadonlyArray<string>, cwd: string, log: string, env: NodeJS.ProcessEnv = {}) =>
  Process.spawn(argv[0]!, argv.slice(1), {
    cwd,
    env: { ...cleanEnv(), ...env },
    extendEnv: false,
    output: "pipe",
    stderr: { file: log }
  }).pipe(Effect.tap((child) => Process.register(lifeline, child.pid)))

export const read = (dir: string, file: string): string | undefined => {
  try {
    return Fs.readFileSync(Path.join(dir, file), "utf8")
  } catch {
    return undefined
  }
}
