/**
 * Runs a kubeconfig `users[].user.exec` credential plugin the way client-go does, with bounds.
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
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { PlatformError } from "effect/PlatformError"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as path from "node:path"
import * as tty from "node:tty"

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

/** The `client.authentication.k8s.io` versions a plugin may speak (client-go accepts these two). */
export type ExecApiVersion = "client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1"

const apiVersions: ReadonlyArray<ExecApiVersion> = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

/** The plugin's relationship with standard input (client-go's `ExecInteractiveMode`). */
export type InteractiveMode = "Never" | "IfAvailable" | "Always"

const interactiveModes: ReadonlyArray<InteractiveMode> = ["Never", "IfAvailable", "Always"]

/** A kubeconfig `users[].user.exec` mapping, validated, with client-go's defaults applied. */
export interface ExecConfig {
  /** The command as written in the kubeconfig (resolved by `make`, see the module comment). */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Added to `process.env` for the plugin (later entries win). */
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>
  readonly apiVersion: ExecApiVersion
  /** Absent in the kubeconfig: `IfAvailable` for v1beta1; v1 requires it (see `decodeExecConfig`). */
  readonly interactiveMode: InteractiveMode
  /** Whether `KUBERNETES_EXEC_INFO` carries `spec.cluster`. */
  readonly provideClusterInfo: boolean
  /** Shown when the command is not found. */
  readonly installHint?: string | undefined
  /**
   * The cluster's `extensions[name=client.authentication.k8s.io/exec].extension` — it lives on the
   * cluster, not in the `exec` mapping, so `decodeExecConfig` leaves it unset and the kubeconfig
   * loader adds it. Sent as `spec.cluster.config` when `provideClusterInfo` is true.
   */
  readonly config?: unknown
}

/** What `KUBERNETES_EXEC_INFO`'s `spec.cluster` says about the cluster (client-go's `Cluster`). */
export interface ClusterInfo {
  readonly server: string
  /**
   * The CA bundle, base64 of PEM exactly as in the kubeconfig's `certificate-authority-data`
   * (when the kubeconfig names a `certificate-authority` file, the caller reads and encodes it).
   */
  readonly certificateAuthorityData?: string | undefined
  readonly insecureSkipTlsVerify: boolean
  readonly tlsServerName?: string | undefined
  readonly proxyUrl?: string | undefined
}

/** A credential a plugin printed: a token, a client certificate and key, or both. */
export interface ExecCredential {
  readonly token?: Redacted.Redacted<string> | undefined
  /** PEM. */
  readonly clientCertificateData?: string | undefined
  /** PEM; present exactly when `clientCertificateData` is. */
  readonly clientKeyData?: Redacted.Redacted<string> | undefined
  /** `status.expirationTimestamp` in epoch milliseconds; undefined → valid until refreshed. */
  readonly expiresAt?: number | undefined
  /** Which run of the plugin produced it (1, 2, …): `refresh` uses it to tell stale from fresh. */
  readonly generation: number
}

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

// ---------------------------------------------------------------------------------------------
// Messages from Schema issues: the path and what kind of problem, never the value.
// ---------------------------------------------------------------------------------------------

/** Each problem as `<path> <what>`, walking the issue tree itself so that no input can slip in. */
const issueLines = (issue: SchemaIssue.Issue, at: ReadonlyArray<string>): Array<string> => {
  switch (issue._tag) {
    case "Pointer":
      return issueLines(issue.issue, [...at, ...issue.path.map(String)])
    case "Composite":
      return issue.issues.flatMap((inner) => issueLines(inner, at))
    case "AnyOf":
      return issue.issues.length > 0
        ? issue.issues.flatMap((inner) => issueLines(inner, at))
        : [`${at.join(".")} has the wrong type`]
    case "Encoding":
      return issueLines(issue.issue, at)
    case "Filter":
      return [`${at.join(".")} is invalid`]
    case "MissingKey":
      return [`${at.join(".")} is missing`]
    default:
      return [`${at.join(".")} has the wrong type`]
  }
}

const describeIssue = (issue: SchemaIssue.Issue, root: string): string =>
  [...new Set(issueLines(issue, [root]))].join("; ")

// ---------------------------------------------------------------------------------------------
// The kubeconfig's exec mapping
// ---------------------------------------------------------------------------------------------

const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

const ExecConfigWire = Schema.Struct({
  command: Schema.String,
  args: optionalNullable(Schema.Array(Schema.String)),
  env: optionalNullable(Schema.Array(Schema.Struct({ name: Schema.String, value: Schema.String }))),
  apiVersion: Schema.String,
  installHint: optionalNullable(Schema.String),
  provideClusterInfo: optionalNullable(Schema.Boolean),
  interactiveMode: optionalNullable(Schema.String)
})

/**
 * Validates a kubeconfig `exec` mapping (as parsed from YAML/JSON) the way client-go's loader
 * does: `command` and `apiVersion` required, `apiVersion` one of v1 / v1beta1, `env` entries with
 * a name and a string value, `interactiveMode` one of `Never`, `IfAvailable`, `Always` — required
 * for v1, `IfAvailable` when absent for v1beta1. The failure is a sentence naming the field and
 * the rule (never an `env` value); the loader wraps it in its own error.
 */
export const decodeExecConfig = (raw: unknown, user: string): Result.Result<ExecConfig, string> => {
  const where = `users[name=${user}].user.exec`
  const decoded = Schema.decodeUnknownResult(ExecConfigWire)(raw, { errors: "all" })
  if (Result.isFailure(decoded)) return Result.fail(describeIssue(decoded.failure.issue, where))
  const exec = decoded.success
  if (exec.command === "") return Result.fail(`${where}.command is empty: name the credential plugin to run`)
  const apiVersion = apiVersions.find((version) => version === exec.apiVersion)
  if (apiVersion === undefined) {
    return Result.fail(`${where}.apiVersion ${JSON.stringify(exec.apiVersion)} is not supported: use ${apiVersions.join(" or ")}`)
  }
  const env = exec.env ?? []
  const unnamed = env.findIndex((entry) => entry.name === "")
  if (unnamed !== -1) return Result.fail(`${where}.env[${unnamed}].name is empty: every entry needs a variable name`)
  let interactiveMode: InteractiveMode
  if (exec.interactiveMode === undefined || exec.interactiveMode === null || exec.interactiveMode === "") {
    if (apiVersion === "client.authentication.k8s.io/v1") {
      return Result.fail(`${where}.interactiveMode is required with apiVersion ${apiVersion}: set it to ${interactiveModes.join(", ")}`)
    }
    interactiveMode = "IfAvailable"
  } else {
    const mode = interactiveModes.find((value) => value === exec.interactiveMode)
    if (mode === undefined) {
      return Result.fail(`${where}.interactiveMode ${JSON.stringify(exec.interactiveMode)} is not one of ${interactiveModes.join(", ")}`)
    }
    interactiveMode = mode
  }
  return Result.succeed({
    command: exec.command,
    args: exec.args ?? [],
    env,
    apiVersion,
    interactiveMode,
    provideClusterInfo: exec.provideClusterInfo ?? false,
    installHint: exec.installHint === null || exec.installHint === "" ? undefined : exec.installHint
  })
}

// ---------------------------------------------------------------------------------------------
// Pure pieces of a run
// ---------------------------------------------------------------------------------------------

/**
 * The program to spawn: a command with a path separator that is not absolute is taken relative
 * to `baseDir` (the working directory when undefined); a bare name stays bare, for `PATH`.
 */
export const resolveCommand = (command: string, baseDir: string | undefined): string =>
  command.includes(path.sep) && !path.isAbsolute(command) ? path.resolve(baseDir ?? process.cwd(), command) : command

/**
 * Whether the plugin gets standard input (client-go's `isInteractive`): true / false, or
 * `"unavailable"` when `Always` meets a standard input that is not a terminal.
 */
export const interactivity = (mode: InteractiveMode, stdinIsTerminal: boolean): boolean | "unavailable" => {
  switch (mode) {
    case "Never":
      return false
    case "IfAvailable":
      return stdinIsTerminal
    case "Always":
      return stdinIsTerminal ? true : "unavailable"
  }
}

/** The value of `KUBERNETES_EXEC_INFO` (JSON as client-go encodes it; empty fields omitted). */
export const execInfo = (config: ExecConfig, cluster: ClusterInfo, interactive: boolean): string => {
  const spec: Record<string, unknown> = { interactive }
  if (config.provideClusterInfo) {
    const info: Record<string, unknown> = { server: cluster.server }
    if (cluster.tlsServerName) info["tls-server-name"] = cluster.tlsServerName
    if (cluster.insecureSkipTlsVerify) info["insecure-skip-tls-verify"] = true
    if (cluster.certificateAuthorityData) info["certificate-authority-data"] = cluster.certificateAuthorityData
    if (cluster.proxyUrl) info["proxy-url"] = cluster.proxyUrl
    if (config.config !== undefined && config.config !== null) info.config = config.config
    spec.cluster = info
  }
  return JSON.stringify({ kind: "ExecCredential", apiVersion: config.apiVersion, spec })
}

const ExecCredentialWire = Schema.Struct({
  apiVersion: optionalNullable(Schema.String),
  kind: optionalNullable(Schema.String),
  status: optionalNullable(Schema.Struct({
    token: optionalNullable(Schema.String),
    clientCertificateData: optionalNullable(Schema.String),
    clientKeyData: optionalNullable(Schema.String),
    expirationTimestamp: optionalNullable(Schema.String)
  }))
})

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const pem = /-----BEGIN [A-Z0-9 ]+-----/

const parseJson = (text: string): Result.Result<unknown, void> => Result.try({ try: () => JSON.parse(text), catch: () => undefined })

/**
 * Reads what a plugin printed into a credential, or says what is wrong with it — in words of its
 * own, never quoting the output. `now` is epoch milliseconds.
 */
export const decodeCredential = (
  stdout: string,
  apiVersion: ExecApiVersion,
  now: number,
  generation: number
): Result.Result<ExecCredential, string> => {
  const json = parseJson(stdout)
  if (Result.isFailure(json)) return Result.fail("it did not print JSON on standard output")
  const decoded = Schema.decodeUnknownResult(ExecCredentialWire)(json.success, { errors: "all" })
  if (Result.isFailure(decoded)) {
    return Result.fail(`it printed JSON that is not an ExecCredential: ${describeIssue(decoded.failure.issue, "output")}`)
  }
  const credential = decoded.success
  if (credential.kind !== "ExecCredential") return Result.fail("it printed JSON whose kind is not ExecCredential")
  if (credential.apiVersion !== apiVersion) {
    return Result.fail(
      `it printed an ExecCredential whose apiVersion is not the kubeconfig's ${apiVersion} (a plugin answers in the version it is given in KUBERNETES_EXEC_INFO; fix exec.apiVersion or update the plugin)`
    )
  }
  const status = credential.status
  if (status === undefined || status === null) return Result.fail("it printed an ExecCredential without a status")
  const token = status.token || undefined
  const certificate = status.clientCertificateData || undefined
  const key = status.clientKeyData || undefined
  if (token === undefined && certificate === undefined && key === undefined) {
    return Result.fail("it printed an ExecCredential with neither a token nor a client certificate and key")
  }
  if ((certificate === undefined) !== (key === undefined)) {
    return Result.fail(`it printed a client ${certificate === undefined ? "key without a certificate" : "certificate without a key"}`)
  }
  if (certificate !== undefined && !pem.test(certificate)) return Result.fail("status.clientCertificateData is not PEM")
  if (key !== undefined && !pem.test(key)) return Result.fail("status.clientKeyData is not PEM")
  let expiresAt: number | undefined = undefined
  if (status.expirationTimestamp) {
    const text = status.expirationTimestamp
    const millis = rfc3339.test(text) ? Date.parse(text.toUpperCase()) : Number.NaN
    if (Number.isNaN(millis)) return Result.fail("status.expirationTimestamp is not an RFC 3339 time")
    if (millis <= now) return Result.fail("it printed a credential whose expirationTimestamp has already passed (check the plugin's cache and this machine's clock)")
    expiresAt = millis
  }
  return Result.succeed({
    token: token === undefined ? undefined : Redacted.make(token),
    clientCertificateData: certificate,
    clientKeyData: key === undefined ? undefined : Redacted.make(key),
    expiresAt,
    generation
  })
}

// ---------------------------------------------------------------------------------------------
// The source
// ---------------------------------------------------------------------------------------------

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
