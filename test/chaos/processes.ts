/**
 * The contender processes of a chaos scenario: spawned through the contender harness
 * (`@leasekit/testing/Contender`, loop mode), journaled, signalled, and never left behind.
 *
 * Each contender's events are appended to its journal (`<holder>.jsonl`, milliseconds of
 * `CLOCK_MONOTONIC`, see `journal.ts`) as they arrive: a contender writes each event to its stdout
 * pipe before it acts on it, and a pipe write is synchronous on Linux, so the last line of a
 * SIGKILLed contender is in its journal. A contender exits when its stdin closes (the runner
 * gone); closing the scenario's scope stops every contender (`quit`, then SIGKILL after the
 * grace). For a runner that dies without finalizers while a contender is SIGSTOPped, every
 * contender is registered with the scenario's `Process.lifeline` (its command line mentions the
 * scenario folder: its kubeconfig lives there, so a recycled pid is never hit).
 */
import * as Contender from "@leasekit/testing/Contender"
import * as ContenderProtocol from "@leasekit/testing/ContenderProtocol"
import * as Exclusion from "@leasekit/testing/Exclusion"
import * as Process from "@leasekit/testing/Process"
import { Effect, Fiber, Option, Schedule, Scope } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { append } from "./journal.ts"

/** One contender of a scenario, with what it reported so far (milliseconds). */
export interface ChaosContender {
  readonly holder: string
  readonly pid: number
  readonly journal: string
  readonly driver: Contender.Contender
  /** Its loop events so far, in milliseconds (`Exclusion.inMillis`), in the order they came. */
  readonly events: Array<ContenderProtocol.LoopEvent>
  /** Once the contender's output ended and every event of it is journaled: true; false when that
   * did not happen within 10 s (the journal may lack its last lines — the run must say so). */
  readonly drained: Effect.Effect<boolean>
  /** True once the process has exited. */
  exited: boolean
  /** True between a SIGSTOP (or a self-pause) and the SIGCONT the runner sent. */
  stopped: boolean
}

/** Whether a process with this pid exists and is not a zombie. */
export const isAlive = (pid: number): boolean => {
  try {
    const status = Fs.readFileSync(`/proc/${pid}/status`, "utf8")
    return !/^State:\s+Z/m.test(status)
  } catch {
    return false
  }
}

/** Sends `sig` to the contender (no waiting); `false` when it had exited. Tracks SIGSTOP/SIGCONT. */
export const signal = (contender: ChaosContender, sig: NodeJS.Signals): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (contender.exited) return false
    const sent = yield* contender.driver.signal(sig)
    if (sent && sig === "SIGSTOP") contender.stopped = true
    if (sent && sig === "SIGCONT") contender.stopped = false
    return sent
  })

/**
 * Spawns a contender (`holder`: its identity) in `scope` and makes it join the loop of `join`; its
 * events go to `<dir>/<holder>.jsonl` and to `events` as they arrive. `dir` is the scenario folder
 * the lifeline watches; the contender's kubeconfig is copied into it.
 */
export const spawn = (options: {
  readonly holder: string
  readonly kubeconfig: string
  readonly dir: string
  readonly join: ContenderProtocol.JoinCommand
}): Effect.Effect<ChaosContender, Contender.ContenderError, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const { dir, holder } = options
    // In the scenario folder, so that the reaper recognises the process by its command line.
    const kubeconfig = Path.join(dir, `kubeconfig-${holder}.json`)
    if (options.kubeconfig !== kubeconfig) Fs.copyFileSync(options.kubeconfig, kubeconfig)
    const driver = yield* Contender.spawn({
      kubeconfig,
      identity: holder,
      label: holder,
      log: Path.join(dir, `${holder}.log`),
      // A round in progress finishes before the contender leaves (its writes, then its release).
      grace: "15 seconds"
    })
    yield* Process.register(dir, driver.pid)
    const events: Array<ContenderProtocol.LoopEvent> = []
    const journal = Path.join(dir, `${holder}.jsonl`)
    // Followed before the join is sent: nothing it reports is missed.
    const journaling = yield* driver.follow((item) =>
      Effect.sync(() => {
        if (!ContenderProtocol.isLoopEvent(item)) return
        const event = Exclusion.inMillis(item)
        events.push(event)
        append(journal, event)
      })
    )
    const contender: ChaosContender = {
      holder,
      pid: driver.pid,
      journal,
      driver,
      events,
      drained: Fiber.join(journaling).pipe(Effect.timeoutOption("10 seconds"), Effect.map(Option.isSome)),
      exited: false,
      stopped: false
    }
    yield* driver.exit.pipe(
      Effect.andThen(Effect.sync(() => {
        contender.exited = true
      })),
      Effect.forkScoped
    )
    yield* driver.send(options.join)
    return contender
  })

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
