/**
 * How a child process ended, and the error of the process layer (`Process`): shared by spawning,
 * running to completion and the lifeline.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type { ChildProcessHandle } from "effect/process/ChildProcessSpawner"

/**
 * How a process ended: its exit code, or the signal that terminated it.
 *
 * @since 0.2.0
 * @category models
 */
export interface ExitStatus {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/**
 * A process could not be started, or (`run`) ended unsuccessfully.
 *
 * @since 0.2.0
 * @category errors
 */
export class ProcessError extends Data.TaggedError("ProcessError")<{
  readonly command: string
  readonly reason: "Spawn" | "Exit" | "Timeout"
  readonly detail: string
}> {
  override get message(): string {
    const what = this.reason === "Spawn" ? "could not start" : this.reason === "Timeout" ? "timed out" : "failed"
    return `${this.command}: ${what}: ${this.detail}`
  }
}

/** The handle's `exitCode` fails for a signalled process, naming the signal only in its message. */
export const exitStatusOf = (handle: ChildProcessHandle): Effect.Effect<ExitStatus> =>
  handle.exitCode.pipe(
    Effect.map((code): ExitStatus => ({ code, signal: null })),
    Effect.catch((error) => {
      const named = /signal: '?(SIG[A-Z0-9]+)'?/.exec(`${error.message} ${String(error.cause)}`)
      return Effect.succeed<ExitStatus>({ code: null, signal: (named?.[1] as NodeJS.Signals | undefined) ?? "SIGKILL" })
    })
  )

/** The command line, for messages. */
export const describe = (command: string, args: ReadonlyArray<string>) => [command, ...args].join(" ")
