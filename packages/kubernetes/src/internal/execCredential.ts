/**
 * Runs a kubeconfig `users[].user.exec` credential plugin the way client-go does, with bounds (the
 * `exec` mapping, the plugin protocol and its messages are under `execCredential/`).
 *
 * `decodeExecConfig` validates the kubeconfig's `exec` mapping (client-go's `ExecConfig`) and
 * applies client-go's default for `interactiveMode`. `make` builds an `ExecCredentialSource` owned
 * by the caller's scope: `current` returns the plugin's credential (a bearer token, a client
 * certificate and key, or both), `refresh` re-runs the plugin after the API server rejected one.
 *
 * Guarantees:
 * - The command is resolved as client-go resolves it: a command containing a path separator that
 *   is not absolute is taken relative to the kubeconfig file's directory (`baseDir`; the working
 *   directory for a kubeconfig held in memory); a bare name is looked up on `PATH` when spawned
 *   (the `PATH` the plugin gets — an `exec.env` entry named `PATH` therefore changes the lookup,
 *   which client-go's does not).
 * - The plugin's environment is `process.env`, then the kubeconfig's `exec.env` entries, then
 *   `KUBERNETES_EXEC_INFO` (an `ExecCredential` of the kubeconfig's apiVersion with
 *   `spec.interactive`, and `spec.cluster` only when `provideClusterInfo` is true).
 * - Standard input: `interactiveMode` `Never` → closed (`/dev/null`, reads see end of file at
 *   once); `IfAvailable` → inherited only when standard input is a terminal; `Always` → inherited
 *   when it is a terminal, otherwise the call fails with reason `Interactive` without running the
 *   plugin. Standard error is discarded, except when standard input is inherited: then it is
 *   inherited too, so that the user sees the plugin's prompts on the terminal.
 * - One run at a time: concurrent callers share the run in progress (single flight), and its
 *   result is cached until `status.expirationTimestamp` (read with Effect's `Clock`; no timestamp →
 *   cached until `refresh`). A failed run is not cached: the next call runs the plugin again.
 * - Every run is bounded: after `timeout` (default 30 s) the plugin and its process group are sent
 *   SIGTERM, then SIGKILL one second later if still alive; standard output beyond 1 MiB stops the
 *   plugin the same way and fails; the process group is also stopped when the plugin exits (no
 *   orphans), and when the scope that owns the source closes (calls made after that are
 *   interrupted).
 * - Nothing the plugin prints (standard output or standard error) is ever put into an error, a
 *   log line or a `cause`: errors say what happened (exit code or signal, timeout, not JSON, wrong
 *   apiVersion or kind, no status, empty or expired credential, not found with the kubeconfig's
 *   `installHint`) and to run the command by hand to see its output. Secrets handed back are
 *   `Redacted` (the token and the client key).
 *
 * Does not: parse the client certificate or key beyond checking that both are PEM text (the TLS
 * handshake rejects a bad pair); implement client-go's plugin allowlist policy or its
 * `StdinUnavailable` message (a caller that uses standard input itself passes
 * `stdinIsTerminal: false`); refresh a credential before it expires (it is renewed on the first
 * call at or after `expirationTimestamp`); or decide what to do with a 401 (the caller calls
 * `refresh` with the credential that was rejected).
 *
 * CredentialError reasons:
 * - `NotFound` — the command does not exist (or is a script whose interpreter does not).
 * - `Failed` — it could not be started (e.g. not executable), exited with a non-zero code, was
 *   ended by a signal, or its output could not be read.
 * - `Timeout` — it did not finish within the timeout and was stopped.
 * - `Invalid` — it finished but printed no usable credential (not JSON, not an `ExecCredential`
 *   of the configured apiVersion, no `status`, neither token nor certificate and key, only one of
 *   certificate and key, a bad or past `expirationTimestamp`, more than 1 MiB).
 * - `Interactive` — `interactiveMode: Always` but standard input is not a terminal.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { PlatformError } from "effect/PlatformError"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as path from "node:path"
import * as tty from "node:tty"
import type { ExecConfig } from "./execCredential/config.ts"
import { type ClusterInfo, decodeCredential, type ExecCredential, execInfo, interactivity, resolveCommand } from "./execCredential/protocol.ts"

export {
  decodeExecConfig,
  type ExecApiVersion,
  type ExecConfig,
  type InteractiveMode
} from "./execCredential/config.ts"
export {
  type ClusterInfo,
  decodeCredential,
  type ExecCredential,
  execInfo,
  interactivity,
  resolveCommand
} from "./execCredential/protocol.ts"

/**
 * Node's child-process spawner, which plugins are run with. Its modules are loaded when the layer
 * is built, i.e. only for a user with an `exec` plugin: a process that never runs one never loads
 * them.
 *
 * @internal
 */
export const nodeSpawner: Layer.Layer<ChildProcessSpawner.ChildProcessSpawner> = Layer.unwrap(Effect.promise(async () => {
  const [spawner, fileSystem, nodePath] = await Promise.all([
    import("@effect/platform-node/NodeChildProcessSpawner"),
    import("@effect/platform-node/NodeFileSystem"),
    import("@effect/platform-node/NodePath")
  ])
  return spawner.layer.pipe(Layer.provide(Layer.mergeAll(fileSystem.layer, nodePath.layer)))
}))

/** Why a credential could not be obtained (see the module comment). */
export type CredentialErrorReason = "NotFound" | "Failed" | "Timeout" | "Invalid" | "Interactive"

export class CredentialError extends Data.TaggedError("CredentialError")<{
  /** The kubeconfig user whose `exec` plugin this is. */
  readonly user: string
  readonly reason: CredentialErrorReason
  /** What happened and what to do; never contains anything the plugin printed. */
  readonly detail: string
}> {
  override get message(): string {
    return `exec credential plugin of kubeconfig user "${this.user}": ${this.reason}: ${this.detail}`
  }
}

/** Where a credential comes from, and how to get a new one after it was rejected. */
export interface ExecCredentialSource {
  /** The cached credential while it has not expired; otherwise runs (or joins the run of) the plugin. */
  readonly current: Effect.Effect<ExecCredential, CredentialError>
  /**
   * Runs the plugin again because `rejected` (default: the cached credential) was refused, e.g.
   * by a 401. Concurrent refreshes share one run; a refresh for a credential older than the
   * cached one returns the cached one (it was already replaced); a refresh while a run is in
   * progress joins that run.
   */
  readonly refresh: (rejected?: ExecCredential | undefined) => Effect.Effect<ExecCredential, CredentialError>
}

export interface MakeOptions {
  /** The kubeconfig user name, for messages. */
  readonly user: string
  /** The kubeconfig file's directory; undefined for an in-memory kubeconfig (→ working directory). */
  readonly baseDir: string | undefined
  readonly cluster: ClusterInfo
  /** How long one run may take before the plugin is stopped. Default 30 seconds. */
  readonly timeout?: Duration.Input | undefined
  /**
   * Whether this process's standard input is a terminal the plugin may use. Default
   * `tty.isatty(0)`; pass false when the program reads standard input itself.
   */
  readonly stdinIsTerminal?: boolean | undefined
}

const defaultTimeout = Duration.seconds(30)
/** How long a plugin has between SIGTERM and SIGKILL. */
const killGrace = Duration.seconds(1)
/** The most standard output a plugin may print. */
export const maxOutputBytes = 1024 * 1024


type Run = Deferred.Deferred<ExecCredential, CredentialError>

interface State {
  readonly cached: ExecCredential | undefined
  readonly running: Run | undefined
  /** The generation of the last run started. */
  readonly started: number
  readonly closed: boolean
}

type Step =
  | { readonly _tag: "Cached"; readonly credential: ExecCredential }
  | { readonly _tag: "Join"; readonly run: Run }
  | { readonly _tag: "Start"; readonly run: Run; readonly generation: number }
  | { readonly _tag: "Closed" }

const isFresh = (credential: ExecCredential, now: number): boolean =>
  credential.expiresAt === undefined || now < credential.expiresAt

/** The signal named in the spawner's exit error (best effort: undefined when it names none). */
const signalOf = (error: PlatformError): string | undefined => {
  const cause = error.reason.cause
  const text = cause instanceof Error ? cause.message : ""
  return /'(SIG[A-Z0-9]+)'/.exec(text)?.[1]
}

/**
 * A credential source for one kubeconfig user's `exec` plugin, owned by the current scope (see the
 * module comment for what it guarantees).
 */
export const make = (
  config: ExecConfig,
  options: MakeOptions
): Effect.Effect<ExecCredentialSource, never, Scope.Scope | ChildProcessSpawner.ChildProcessSpawner> =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const scope = yield* Effect.scope
    const user = options.user
    const program = resolveCommand(config.command, options.baseDir)
    const timeout = options.timeout === undefined ? defaultTimeout : Duration.fromInputUnsafe(options.timeout)
    const stdinIsTerminal = options.stdinIsTerminal ?? tty.isatty(0)
    const fail = (reason: CredentialErrorReason, detail: string) => new CredentialError({ user, reason, detail })
    const runByHand = `run the command of users[name=${user}].user.exec yourself to see its output (leasekit never shows what a plugin prints: it may contain secrets)`
    const notFound = () => {
      const where = program === config.command && !program.includes(path.sep) ? "on PATH" : `at ${program}`
      const hint = config.installHint === undefined ? "install it, or correct exec.command in the kubeconfig" : config.installHint
      return fail("NotFound", `the command ${JSON.stringify(config.command)} was not found ${where} (or it is a script whose interpreter was not found); ${hint}`)
    }

    const state = yield* Ref.make<State>({ cached: undefined, running: undefined, started: 0, closed: false })
    yield* Effect.addFinalizer(() =>
      Ref.modify(state, (s): [Run | undefined, State] => [s.running, { ...s, running: undefined, closed: true }]).pipe(
        Effect.flatMap((run) => run === undefined ? Effect.void : Deferred.interrupt(run)),
        Effect.asVoid
      )
    )

    const spawnAndRead = (interactive: boolean) =>
      Effect.scoped(Effect.gen(function*() {
        const env: Record<string, string | Redacted.Redacted<string>> = {}
        for (const entry of config.env) env[entry.name] = Redacted.make(entry.value)
        env.KUBERNETES_EXEC_INFO = Redacted.make(execInfo(config, options.cluster, interactive))
        const command = ChildProcess.make(program, config.args, {
          env,
          extendEnv: true,
          stdin: interactive ? "inherit" : "ignore",
          stdout: "pipe",
          stderr: interactive ? "inherit" : "ignore",
          killSignal: "SIGTERM",
          forceKillAfter: killGrace
        })
        const handle = yield* spawner.spawn(command).pipe(
          Effect.mapError((error) =>
            error.reason._tag === "NotFound"
              ? notFound()
              : fail("Failed", `the command ${JSON.stringify(program)} could not be started (${error.reason._tag}${error.reason._tag === "PermissionDenied" ? ": is it executable?" : ""})`)
          )
        )
        const chunks: Array<Uint8Array> = []
        let size = 0
        yield* handle.stdout.pipe(
          Stream.mapError(() => fail("Failed", `reading its standard output failed; ${runByHand}`)),
          Stream.runForEach((chunk) => {
            size += chunk.length
            if (size > maxOutputBytes) {
              return Effect.fail(fail("Invalid", `it printed more than ${maxOutputBytes} bytes on standard output and was stopped; ${runByHand}`))
            }
            chunks.push(chunk)
            return Effect.void
          })
        )
        const code = yield* handle.exitCode.pipe(
          Effect.mapError((error) => {
            const signal = signalOf(error)
            return fail("Failed", `it was ended by ${signal === undefined ? "a signal" : `signal ${signal}`}; ${runByHand}`)
          })
        )
        if (code !== 0) return yield* fail("Failed", `it exited with code ${code}; ${runByHand}`)
        return Buffer.concat(chunks).toString("utf8")
      })).pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(fail("Timeout", `it did not finish within ${Duration.format(timeout)} and was stopped; ${runByHand} (does it wait for input or for a login in a browser?)`))
        })
      )

    const runPlugin = (generation: number): Effect.Effect<ExecCredential, CredentialError> =>
      Effect.gen(function*() {
        const interactive = interactivity(config.interactiveMode, stdinIsTerminal)
        if (interactive === "unavailable") {
          return yield* fail("Interactive", "exec.interactiveMode is Always but standard input is not a terminal; run the program from a terminal, or set interactiveMode to IfAvailable or Never if the plugin can work without one")
        }
        const stdout = yield* spawnAndRead(interactive)
        const now = yield* Clock.currentTimeMillis
        const credential = decodeCredential(stdout, config.apiVersion, now, generation)
        if (Result.isFailure(credential)) return yield* fail("Invalid", `${credential.failure}; ${runByHand}`)
        return credential.success
      })

    const execute = (generation: number, run: Run) =>
      runPlugin(generation).pipe(
        Effect.onExit((exit) =>
          Ref.update(state, (s) => ({
            ...s,
            running: undefined,
            // a failed run leaves nothing cached: the credential it was to replace may be refused
            cached: Exit.isSuccess(exit) ? exit.value : undefined
          })).pipe(Effect.andThen(Deferred.done(run, exit)), Effect.asVoid)
        )
      )

    /** Returns `usable(state, now)` if defined, else joins the run in progress, else starts one. */
    const obtain = (usable: (s: State, now: number) => ExecCredential | undefined) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const fresh = yield* Deferred.make<ExecCredential, CredentialError>()
          const step = yield* Ref.modify(state, (s): [Step, State] => {
            if (s.closed) return [{ _tag: "Closed" }, s]
            const credential = usable(s, now)
            if (credential !== undefined) return [{ _tag: "Cached", credential }, s]
            if (s.running !== undefined) return [{ _tag: "Join", run: s.running }, s]
            const generation = s.started + 1
            return [{ _tag: "Start", run: fresh, generation }, { ...s, running: fresh, started: generation }]
          })
          switch (step._tag) {
            case "Closed":
              return yield* Effect.interrupt
            case "Cached":
              return step.credential
            case "Start":
              yield* Effect.forkIn(execute(step.generation, step.run), scope, { uninterruptible: false })
              return yield* restore(Deferred.await(step.run))
            case "Join":
              return yield* restore(Deferred.await(step.run))
          }
        })
      )

    const current = obtain((s, now) => s.cached !== undefined && isFresh(s.cached, now) ? s.cached : undefined)

    const refresh = (rejected?: ExecCredential | undefined) =>
      obtain((s, now) => {
        if (s.cached === undefined || rejected === undefined) return undefined
        return s.cached.generation > rejected.generation && isFresh(s.cached, now) ? s.cached : undefined
      })

    return { current, refresh } satisfies ExecCredentialSource
  })
