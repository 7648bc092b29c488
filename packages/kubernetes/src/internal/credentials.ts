/**
 * What each request to the API server presents: the `Authorization` and impersonation headers,
 * and the TLS material (CA, client certificate and key) its connection is made with.
 *
 * Sources, by the kubeconfig's user (see `kubeconfig.ts` for which one wins): a static token;
 * a token file, re-read when a minute old (as client-go) and on `refresh`, keeping the old token
 * while the file is unreadable or empty, so a rotation never sends a request without one; basic
 * auth; an `exec` plugin (`execCredential.ts`: bounded, shared, cached until its credential
 * expires), whose token and/or client certificate are both used; an `auth-provider` plugin, run by
 * `@kubernetes/client-node`, imported only for such a user. Certificate and key *files* are re-read
 * on `refresh`.
 *
 * Guarantees: no header value, key or plugin output ever reaches an error or a log (errors say
 * which user and what failed); `tls.generation` changes exactly when the material changed, so the
 * transport rebuilds its connection pool only then; time is read from `Clock`.
 * Does not: validate credentials (the API server does), or re-run an `auth-provider` plugin on
 * `refresh` (client-node refreshes those tokens itself when they expire).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Fs from "node:fs/promises"
import type * as Http from "node:http"
import type * as Https from "node:https"
import * as ExecCredential from "./execCredential.ts"
import type { Loaded, TlsSource } from "./kubeconfig.ts"

/**
 * The credentials of the kubeconfig's user could not be obtained: nothing was sent.
 *
 * @internal
 */
export class CredentialsError extends Data.TaggedError("CredentialsError")<{
  readonly user: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `credentials of user "${this.user}": ${this.detail}`
  }
}

/** The TLS material of the connections; `generation` changes whenever any of it does. */
export interface TlsMaterial {
  readonly generation: number
  readonly ca?: Buffer | undefined
  readonly cert?: Buffer | undefined
  readonly key?: Buffer | undefined
}

/** What one request presents. */
export interface Presented {
  readonly headers: Readonly<Record<string, string>>
  readonly tls: TlsMaterial
  /**
   * After the API server answered 401 to these credentials: re-reads token and certificate files
   * and re-runs an `exec` plugin — unless the credentials were renewed since these were
   * presented (concurrent 401s share one run). True when anything changed, so one retry is worth
   * it.
   */
  readonly rejected: Effect.Effect<boolean, CredentialsError>
}

/** The credentials of one kubeconfig user. */
export interface Credentials {
  /** For the next request. */
  readonly current: Effect.Effect<Presented, CredentialsError>
  /** Re-reads files and re-runs an `exec` plugin; true when anything changed. */
  readonly refresh: Effect.Effect<boolean, CredentialsError>
}

/** How long a token file's content is trusted before it is read again (client-go: one minute). */
const tokenFileTtlMillis = 60_000

const readSource = (source: TlsSource | undefined): Effect.Effect<Buffer | undefined, unknown> =>
  source === undefined
    ? Effect.succeed(undefined)
    : source._tag === "Data"
    ? Effect.succeed(source.data)
    : Effect.tryPromise({ try: () => Fs.readFile(source.path), catch: (cause) => cause })

const sameBuffer = (a: Buffer | undefined, b: Buffer | undefined) =>
  a === undefined ? b === undefined : b !== undefined && a.equals(b)

const impersonationHeaders = (loaded: Loaded): Record<string, string> => {
  const headers: Record<string, string> = {}
  const { extra, groups, uid, user } = loaded.impersonate
  if (user !== undefined && user !== "") headers["Impersonate-User"] = user
  if (uid !== undefined && uid !== "") headers["Impersonate-Uid"] = uid
  // Node joins repeated headers given as one comma-separated value; Kubernetes splits them again.
  if (groups.length > 0) headers["Impersonate-Group"] = groups.join(",")
  for (const [name, values] of Object.entries(extra)) {
    if (values.length > 0) headers[`Impersonate-Extra-${encodeURIComponent(name)}`] = values.join(",")
  }
  return headers
}

const bearer = (token: string) => `Bearer ${token}`

/** Providers client-go removed (kubectl 1.26): they ran their command synchronously, blocking. */
const removedProviders: Readonly<Record<string, string>> = {
  gcp: "the gke-gcloud-auth-plugin exec plugin",
  azure: "kubelogin (an exec plugin)"
}

/** A value Node sends as a header: no control characters, nothing above U+00FF. */
const sendable = (value: string): boolean => !/[^\t\x20-\x7e\x80-\xff]/.test(value)

/**
 * The `Authorization` header client-node computes for an `auth-provider` user: one client-node
 * configuration for the credentials' lifetime (the provider keeps its refreshed token in it), one
 * computation at a time.
 */
const authProvider = (loaded: Loaded, user: Readonly<Record<string, unknown>>) => {
  let config: Promise<import("@kubernetes/client-node").KubeConfig> | undefined
  const load = () =>
    (config ??= import("@kubernetes/client-node").then(({ KubeConfig }) => {
      const kubeConfig = new KubeConfig()
      kubeConfig.loadFromString(JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "cluster", cluster: { server: loaded.server, "insecure-skip-tls-verify": true } }],
        users: [{ name: "user", user }],
        contexts: [{ name: "context", context: { cluster: "cluster", user: "user" } }],
        "current-context": "context"
      }))
      return kubeConfig
    }))
  const oneAtATime = Semaphore.makeUnsafe(1)
  return Effect.tryPromise({
    try: async () => {
      const options: Https.RequestOptions = {}
      await (await load()).applyToHTTPSOptions(options)
      const headers = options.headers === undefined || Array.isArray(options.headers)
        ? {}
        : options.headers as Http.OutgoingHttpHeaders
      const value = headers["Authorization"] ?? headers["authorization"]
      return typeof value === "string" && sendable(value) ? value : undefined
    },
    catch: (cause) =>
      new CredentialsError({
        user: loaded.user,
        detail:
          "its auth-provider plugin failed to supply a token (the plugin's output is not shown: it may hold credentials); check the provider's configuration with kubectl, or use a token or exec credential instead",
        cause: cause instanceof Error ? cause.name : "error"
      })
  }).pipe(oneAtATime.withPermit)
}

/**
 * The credentials of `loaded`'s user. The `exec` plugin, if any, is killed when the scope closes.
 *
 * @internal
 */
export const make = (
  loaded: Loaded,
  options: { readonly execTimeout?: import("effect/Duration").Input | undefined } = {}
): Effect.Effect<Credentials, CredentialsError, Scope.Scope> =>
  Effect.gen(function*() {
    const fixedHeaders = impersonationHeaders(loaded)
    const auth = loaded.auth
    for (const [name, value] of Object.entries(fixedHeaders)) {
      if (!sendable(value)) {
        return yield* new CredentialsError({
          user: loaded.user,
          detail: `its impersonation setting for ${name} holds a character that cannot be sent in an HTTP header (a control character or one above U+00FF); fix as / as-uid / as-groups / as-user-extra`
        })
      }
    }
    if (auth._tag === "AuthProvider" && removedProviders[auth.name] !== undefined) {
      return yield* new CredentialsError({
        user: loaded.user,
        detail: `its auth-provider "${auth.name}" was removed from client-go and kubectl (1.26); use ${
          removedProviders[auth.name]
        } instead`
      })
    }
    const providerHeader = auth._tag === "AuthProvider" ? authProvider(loaded, auth.user) : undefined

    const execConfig = auth._tag === "Exec" ? ExecCredential.decodeExecConfig(auth.exec, loaded.user) : undefined
    if (execConfig !== undefined && Result.isFailure(execConfig)) {
      return yield* new CredentialsError({ user: loaded.user, detail: `users[].user.exec: ${execConfig.failure}` })
    }
    const exec = execConfig !== undefined && Result.isSuccess(execConfig)
      ? yield* ExecCredential.make(execConfig.success, {
        user: loaded.user,
        baseDir: loaded.baseDir,
        cluster: {
          server: loaded.server,
          certificateAuthorityData: loaded.certificateAuthorityData,
          insecureSkipTlsVerify: loaded.tls.insecureSkipTlsVerify,
          tlsServerName: loaded.tls.serverName,
          proxyUrl: loaded.proxyUrl
        },
        ...(options.execTimeout === undefined ? {} : { timeout: options.execTimeout })
      }).pipe(Effect.provide(ExecCredential.nodeSpawner))
      : undefined

    // TLS material from the kubeconfig (files read now, re-read on refresh).
    const readFileMaterial = Effect.all({
      ca: readSource(loaded.tls.ca),
      cert: readSource(loaded.tls.cert),
      key: readSource(loaded.tls.key)
    })
    const initial = yield* readFileMaterial.pipe(
      Effect.mapError((cause) =>
        new CredentialsError({
          user: loaded.user,
          detail: "its certificate files cannot be read; check the paths in the kubeconfig",
          cause
        })
      )
    )
    const fileMaterial = yield* Ref.make(initial)
    let generation = 0
    // The material last presented, to know when a plugin's certificate changed it.
    let presented: TlsMaterial = { generation, ...initial }
    // The inputs `presented` was last checked against: the same objects need no comparison.
    let checked: readonly [typeof initial, Buffer | undefined, Buffer | undefined] = [initial, undefined, undefined]
    const materialFor = (files: typeof initial, pluginCert: Buffer | undefined, pluginKey: Buffer | undefined) => {
      if (checked[0] === files && checked[1] === pluginCert && checked[2] === pluginKey) return presented
      checked = [files, pluginCert, pluginKey]
      const cert = pluginCert ?? files.cert
      const key = pluginKey ?? files.key
      if (sameBuffer(presented.ca, files.ca) && sameBuffer(presented.cert, cert) && sameBuffer(presented.key, key)) {
        return presented
      }
      presented = { generation: ++generation, ca: files.ca, cert, key }
      return presented
    }

    // A token file: the token and when it was read (by the clock).
    const tokenFile = auth._tag === "TokenFile"
      ? yield* Ref.make({ token: auth.token, readAt: yield* Clock.currentTimeMillis })
      : undefined
    const rereadTokenFile = (path: string): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const text = yield* Effect.tryPromise(() => Fs.readFile(path, "utf8")).pipe(Effect.orElseSucceed(() => ""))
        const next = text.trim()
        return yield* Ref.modify(tokenFile!, (state) => {
          // Unreadable, empty (mid-rotation) or not sendable: keep the old token, try again next time.
          if (next === "" || next === state.token || !sendable(next)) return [false, { ...state, readAt: now }]
          return [true, { token: next, readAt: now }]
        })
      })
    const tokenFromFile = (path: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        // Claim the re-read before doing it: concurrent requests keep using the current token.
        const stale = yield* Ref.modify(tokenFile!, (state) =>
          now - state.readAt > tokenFileTtlMillis ? [true, { ...state, readAt: now }] : [false, state])
        if (stale) yield* rereadTokenFile(path)
        return (yield* Ref.get(tokenFile!)).token
      })

    const basic = (username: string, password: string) =>
      `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`

    const withAuthorization = (authorization: string | undefined): Readonly<Record<string, string>> =>
      authorization === undefined ? fixedHeaders : { ...fixedHeaders, Authorization: authorization }

    const staticHeaders = auth._tag === "Token"
      ? withAuthorization(bearer(auth.token))
      : auth._tag === "Basic"
      ? withAuthorization(basic(auth.username, auth.password))
      : withAuthorization(undefined)

    const pluginError = (error: ExecCredential.CredentialError) =>
      new CredentialsError({ user: loaded.user, detail: error.detail, cause: error })

    /** Re-reads the certificate files (keeping the old material when they cannot be read). */
    const rereadFiles = readFileMaterial.pipe(
      Effect.catch(() => Ref.get(fileMaterial)),
      Effect.tap((files) => Ref.set(fileMaterial, files))
    )

    /**
     * After a 401 to `token` (a token file's) and the TLS material of `generation`: re-reads the
     * files; true when what the next request presents differs from what was refused — also when
     * a concurrent refresh made the change.
     */
    const refreshFiles = (token: string | undefined, generation: number) =>
      Effect.gen(function*() {
        const files = yield* rereadFiles
        if (auth._tag === "TokenFile") yield* rereadTokenFile(auth.path)
        const material = materialFor(files, undefined, undefined)
        const tokenNow = tokenFile === undefined ? undefined : (yield* Ref.get(tokenFile)).token
        return tokenNow !== token || material.generation !== generation
      })

    const fromExec = (credential: ExecCredential.ExecCredential, files: typeof initial): Presented => ({
      headers: withAuthorization(credential.token === undefined ? undefined : bearer(Redacted.value(credential.token))),
      tls: materialFor(
        files,
        credential.clientCertificateData === undefined ? undefined : Buffer.from(credential.clientCertificateData),
        credential.clientKeyData === undefined ? undefined : Buffer.from(Redacted.value(credential.clientKeyData))
      ),
      rejected: Effect.gen(function*() {
        const files = yield* rereadFiles
        const next = yield* Effect.mapError(exec!.refresh(credential), pluginError)
        return next.generation !== credential.generation || !sameBuffer(files.ca, presented.ca)
      })
    })

    const withFiles = (files: typeof initial, headers: Readonly<Record<string, string>>, token?: string): Presented => {
      const tls = materialFor(files, undefined, undefined)
      return { headers, tls, rejected: refreshFiles(token, tls.generation) }
    }

    const execToken = (credential: ExecCredential.ExecCredential) =>
      credential.token === undefined || sendable(Redacted.value(credential.token))
        ? Effect.succeed(credential)
        : Effect.fail(
          new CredentialsError({
            user: loaded.user,
            detail:
              "its exec plugin answered a token holding a character that cannot be sent in an HTTP header (a control character or one above U+00FF); run the command of users[].user.exec yourself to see its output"
          })
        )

    const current: Effect.Effect<Presented, CredentialsError> = Effect.gen(function*() {
      const files = yield* Ref.get(fileMaterial)
      switch (auth._tag) {
        case "TokenFile": {
          const token = yield* tokenFromFile(auth.path)
          return withFiles(files, withAuthorization(bearer(token)), token)
        }
        case "Exec":
          return fromExec(yield* Effect.flatMap(Effect.mapError(exec!.current, pluginError), execToken), files)
        case "AuthProvider":
          return withFiles(files, withAuthorization(yield* providerHeader!))
        default:
          return withFiles(files, staticHeaders)
      }
    })

    const refresh: Effect.Effect<boolean, CredentialsError> = Effect.flatMap(current, (presented) => presented.rejected)

    return { current, refresh }
  })
