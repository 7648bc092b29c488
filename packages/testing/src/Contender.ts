/**
 * The driver of contender processes: start one (leasekit's own, or any program that speaks
 * `ContenderProtocol`, such as the client-go baseline of the benchmarks), send it commands, hear
 * its events, stop it. Each contender is a process of the process layer (`Process`: its own
 * process group; provide `Process.layer`).
 *
 * ```ts
 * import { Contender } from "@leasekit/testing"
 * import { Effect } from "effect"
 *
 * const firstLeader = (kubeconfig: string) =>
 *   Effect.scoped(Effect.gen(function*() {
 *     const contender = yield* Contender.spawn({ kubeconfig })
 *     const leading = yield* contender.waitFor((event) => event.ev === "leading") // listening from now
 *     yield* contender.send({ cmd: "join", name: "my-lease" })
 *     return yield* leading
 *   }))
 * ```
 *
 * Guarantees: `spawn` returns once the contender said `ready` (or fails: it exited first, or did
 * not answer in time); commands reach it in the order `send` was called; every subscriber sees
 * every event published after it subscribed, in order, and then the end of the output (what a
 * contender wrote before it was killed still arrives: the pipe keeps it); closing the scope stops
 * the contender (stdin closed and SIGTERM, either of which makes it release what it holds and
 * exit; SIGKILL if it has not exited after `grace`), and a contender whose driver died exits by
 * itself when its stdin ends. Not guaranteed: any ordering between the events of two contenders
 * other than their `CLOCK_MONOTONIC` timestamps.
 *
 * @since 0.2.0
 */
import { Data, Duration, Effect, type Fiber, PubSub, type Scope, Stream } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import type { Command, Event } from "./ContenderProtocol.ts"
import { decodeEvent, encodeCommand } from "./ContenderProtocol.ts"
import * as Process from "./Process.ts"

/**
 * How a contender process ended (`Process.ExitStatus`).
 *
 * @since 0.2.0
 * @category models
 */
export type ExitStatus = Process.ExitStatus

/**
 * The `ready` event a contender announces itself with.
 *
 * @since 0.2.0
 * @category models
 */
export type ReadyEvent = Extract<Event, { readonly ev: "ready" }>

/**
 * Why driving a contender failed: it could not be started (`Spawn`), it exited (`Exited`: before
 * it was ready, or while an event was awaited), or an awaited event did not come in time
 * (`Timeout`).
 *
 * @since 0.2.0
 * @category errors
 */
export class ContenderError extends Data.TaggedError("ContenderError")<{
  readonly reason: "Spawn" | "Exited" | "Timeout"
  /** The contender's label. */
  readonly contender: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.contender}: ${this.reason}: ${this.detail}`
  }
}

/**
 * What is subscribed to a contender's output: its events, then (once) the end of its output.
 *
 * @since 0.2.0
 * @category models
 */
export type Output = Event | { readonly ev: "end" }

/**
 * A running contender process: its process's `pid`, `signal` (to its process group, without
 * waiting), `exit` and `exited`, and the protocol.
 *
 * @since 0.2.0
 * @category models
 */
export interface Contender extends Pick<Process.Process, "pid" | "signal" | "exit" | "exited"> {
  /** A name for messages and logs (`options.label`, or `contender-<pid>`). */
  readonly label: string
  /** Its holder identity, from `ready`. */
  readonly identity: string
  readonly ready: ReadyEvent
  /** Sends one command (queued; never waits for the contender). */
  readonly send: (command: Command) => Effect.Effect<void>
  /** Every event from the moment the stream is run, until the contender's output ends. */
  readonly events: Stream.Stream<Event>
  /** Subscribes to every event from now on, and to the end of the output (`{ ev: "end" }`). */
  readonly subscribe: Effect.Effect<PubSub.Subscription<Output>, never, Scope.Scope>
  /**
   * Subscribes now (nothing reported after the call is missed) and hands every event, in order,
   * to `onEvent` in a fiber of the scope; the fiber completes once the output ended and every
   * event was handled — join it to know the journal is complete.
   */
  readonly follow: <R>(
    onEvent: (event: Event) => Effect.Effect<void, never, R>
  ) => Effect.Effect<Fiber.Fiber<void>, never, Scope.Scope | R>
  /**
   * Starts listening now for the first event that satisfies `match`, and returns the wait for it:
   * call it before sending the command that causes the event, so that nothing is missed. The
   * wait fails with `Exited` if the output ends first, with `Timeout` after `timeout` (default 60 s).
   */
  readonly waitFor: <E extends Event = Event>(
    match: ((event: Event) => event is E) | ((event: Event) => boolean),
    options?: { readonly timeout?: Duration.Input | undefined; readonly what?: string | undefined }
  ) => Effect.Effect<Effect.Effect<E, ContenderError>, never, Scope.Scope>
  /** Asks it to `quit` (it releases what it holds and exits); if it has not exited after `grace`,
   * stops it as `Process.stop` does (SIGTERM, SIGKILL after `grace`); waits for the exit. */
  readonly stop: Effect.Effect<ExitStatus>
}

/**
 * Options of {@link spawnProgram}.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProgramOptions {
  readonly label?: string | undefined
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  readonly cwd?: string | undefined
  /** A file the contender's stderr is appended to (default: this process's stderr). */
  readonly log?: string | undefined
  /** How long to wait for `ready` (default 60 s). */
  readonly readyTimeout?: Duration.Input | undefined
  /** How long `stop` waits after `quit`, and `stop` and the scope's close after SIGTERM, before
   * going on (default 5 s). */
  readonly grace?: Duration.Input | undefined
}

/**
 * Options of {@link spawn}.
 *
 * @since 0.2.0
 * @category models
 */
export interface SpawnOptions extends ProgramOptions {
  /** The kubeconfig the contender's Kubernetes store uses. */
  readonly kubeconfig: string
  /** The kubeconfig's context to use (default: its current context). */
  readonly context?: string | undefined
  /** The contender's holder identity (default: one made by `LeaseHolder.make`). */
  readonly identity?: string | undefined
  /** Node flags before the script (the contender always runs with `--expose-gc`). */
  readonly nodeFlags?: ReadonlyArray<string> | undefined
}

/**
 * The leasekit contender's entry script: `main.ts` beside the sources, `main.js` in the build.
 *
 * @since 0.2.0
 * @category constants
 */
export const script: string = fileURLToPath(
  new URL(`./internal/contender/main${Path.extname(fileURLToPath(import.meta.url))}`, import.meta.url)
)

/**
 * Starts a leasekit contender (`node --expose-gc [nodeFlags] <script> --kubeconfig <file>
 * [--context NAME] [--identity HOLDER]`, on this process's Node) and waits until it is ready.
 *
 * @since 0.2.0
 * @category constructors
 */
export const spawn = (options: SpawnOptions): Effect.Effect<Contender, ContenderError, Scope.Scope | ChildProcessSpawner> =>
  spawnProgram(
    process.execPath,
    [
      "--expose-gc",
      ...(options.nodeFlags ?? []),
      script,
      "--kubeconfig",
      options.kubeconfig,
      ...(options.context === undefined ? [] : ["--context", options.context]),
      ...(options.identity === undefined ? [] : ["--identity", options.identity])
    ],
    options
  )

/**
 * Starts any program that speaks `ContenderProtocol` (`command args…`) and waits until it is ready.
 *
 * @since 0.2.0
 * @category constructors
 */
export const spawnProgram = (
  command: string,
  args: ReadonlyArray<string>,
  options: ProgramOptions = {}
): Effect.Effect<Contender, ContenderError, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const grace = options.grace ?? Duration.seconds(5)
    const child = yield* Process.spawn(command, args, {
      stdin: "pipe",
      output: "pipe",
      stderr: options.log === undefined ? undefined : { file: options.log },
      cwd: options.cwd,
      env: options.env,
      grace
    }).pipe(
      Effect.mapError((error) =>
        new ContenderError({ reason: "Spawn", contender: options.label ?? command, detail: error.message, cause: error })
      )
    )
    const label = options.label ?? `contender-${child.pid}`
    const output = yield* PubSub.unbounded<Output>()
    const send = (command: Command) => Effect.asVoid(child.send(encodeCommand(command)))
    // `quit` first (it releases what it holds and exits); if it has not exited after `grace`, the
    // one stop sequence of the process layer.
    const stop = Effect.andThen(
      send({ cmd: "quit" }),
      Effect.timeoutOrElse(child.exit, { duration: grace, orElse: () => child.stop })
    )

    const subscribe = PubSub.subscribe(output)
    const follow = <R>(onEvent: (event: Event) => Effect.Effect<void, never, R>) =>
      Effect.flatMap(subscribe, (subscription) => {
        const next: Effect.Effect<void, never, R> = Effect.flatMap(
          PubSub.take(subscription),
          (item) => item.ev === "end" ? Effect.void : Effect.andThen(onEvent(item), next)
        )
        return Effect.forkScoped(next)
      })
    const waitFor = <E extends Event = Event>(
      match: ((event: Event) => event is E) | ((event: Event) => boolean),
      waitOptions: { readonly timeout?: Duration.Input | undefined; readonly what?: string | undefined } = {}
    ) =>
      Effect.map(subscribe, (subscription) => {
        const what = waitOptions.what ?? "an event"
        const next: Effect.Effect<E, ContenderError> = Effect.flatMap(PubSub.take(subscription), (item) =>
          item.ev === "end"
            ? Effect.fail(new ContenderError({ reason: "Exited", contender: label, detail: `exited while waiting for ${what}` }))
            : match(item)
            ? Effect.succeed(item as E)
            : next)
        const timeout = waitOptions.timeout ?? Duration.seconds(60)
        return next.pipe(Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new ContenderError({
                reason: "Timeout",
                contender: label,
                detail: `timed out after ${Duration.format(Duration.fromInputUnsafe(timeout))} waiting for ${what}`
              })
            )
        }))
      })

    const ready = yield* waitFor((event): event is ReadyEvent => event.ev === "ready", {
      timeout: options.readyTimeout ?? Duration.seconds(60),
      what: "ready"
    })
    yield* Effect.forkScoped(
      child.lines.pipe(
        Stream.runForEach((line) => {
          const event = decodeEvent(line)
          return event === undefined ? Effect.void : PubSub.publish(output, event)
        }),
        Effect.andThen(PubSub.publish(output, { ev: "end" }))
      )
    )
    const readyEvent = yield* ready.pipe(
      Effect.mapError((error) =>
        error.reason === "Exited"
          ? new ContenderError({
            reason: "Exited",
            contender: label,
            detail: `exited before it was ready${options.log === undefined ? "" : `; see ${options.log}`}`
          })
          : error
      )
    )
    return {
      label,
      pid: child.pid,
      identity: readyEvent.identity,
      ready: readyEvent,
      send,
      events: Stream.fromPubSub(output).pipe(
        Stream.takeWhile((item): item is Event => item.ev !== "end")
      ),
      subscribe,
      follow,
      waitFor,
      signal: child.signal,
      stop,
      exit: child.exit,
      exited: child.exited
    } satisfies Contender
  })
