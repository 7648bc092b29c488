/**
 * A real, local Kubernetes control plane for tests: etcd and kube-apiserver as child processes
 * on free loopback ports, in a temporary folder, for the lifetime of a `Scope`.
 *
 * What you get once `make` / `layer` has succeeded:
 * - kube-apiserver serving HTTPS on `127.0.0.1:<port>` with a certificate from a CA made for this
 *   instance (kubeconfigs verify TLS; there is no insecure-skip-tls-verify anywhere), backed by
 *   its own etcd (plain HTTP on loopback, data in the temp folder);
 * - RBAC on, static bearer tokens for three users: `admin` (group `system:masters`),
 *   `restricted` (may only get/create/update `coordination.k8s.io` leases in `namespace`) and
 *   `nobody` (authenticated, no rights); a kubeconfig file per user; and a client certificate
 *   for `cert-admin` (group `system:masters`);
 * - the namespace (default `leasekit-test`) with the Role and RoleBinding for `restricted`,
 *   already effective (checked, not assumed);
 * - an audit log (Metadata level, every resource request by the three users) with accessors to
 *   count requests per verb;
 * - controls per component — `stop`, `start`, `restart` (same ports, same data), `pause`
 *   (SIGSTOP) and `resume` (SIGCONT) — for fault-injection tests.
 *
 * Guarantees:
 * - startup waits, bounded by `startTimeout`, for etcd's `/health` and the API server's
 *   `/readyz`; a failed start fails with a `ControlPlaneError` carrying the tail of the process's
 *   own log;
 * - when the scope closes — success, failure or interruption — both processes are stopped
 *   (SIGCONT, SIGTERM, SIGKILL after a grace period, as process groups) and the folder is
 *   deleted before the finalizer completes;
 * - when the Node process itself dies without running finalizers (SIGKILL, crash), a lifeline
 *   watchdog (see `internal/watchdog.ts`) stops the processes and deletes the folder.
 *
 * Does not guarantee:
 * - production-like behaviour: there is no controller-manager or scheduler (nothing garbage-
 *   collects, no pods run), one etcd member, no admission webhooks; Lease semantics (the only
 *   thing leasekit needs) are those of the real API server;
 * - a particular version: it runs whatever binaries `ControlPlaneAssets` resolves (the install
 *   script builds Debian 12's 1.20.x; `coordination.k8s.io/v1` Lease is unchanged since 1.14);
 * - that a port picked as free is still free when the server binds it (a rare race, reported as
 *   a failed start);
 * - that audit events are visible the instant a response arrives: the API server writes them as
 *   the request completes, so poll when you need an exact count right after a call.
 *
 * Requests — the readiness probe, the namespace and RBAC set-up, `request` — go through
 * `KubeClient.http` of `@leasekit/kubernetes`, the client leasekit itself uses, built from the
 * user's kubeconfig. Each request gets a client (and so a connection) of its own, closed with it:
 * a paused, restarted or proxied server is observed as it is now, never through a socket pooled
 * before the fault, and a `FaultProxy` sees one connection per request. This costs a TLS
 * handshake per request, as the hand-written client it replaces did.
 *
 * @since 0.1.0
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type { HttpMethod } from "effect/http/HttpMethod"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import type { ControlPlaneAssets } from "./ControlPlaneAssets.ts"
import type { ControlPlaneAssetsError } from "./ControlPlaneAssets.ts"
import { resolve as resolveAssets } from "./ControlPlaneAssets.ts"
import { freePort } from "./internal/ports.ts"
import * as Pki from "./internal/pki.ts"
import * as Process from "./internal/process.ts"
import * as Watchdog from "./internal/watchdog.ts"

/**
 * A process of the control plane.
 *
 * @since 0.1.0
 * @category models
 */
export type Component = "apiserver" | "etcd"

/**
 * The users the API server knows (static bearer tokens).
 *
 * - `admin`: group `system:masters`, may do anything.
 * - `restricted`: may only `get`, `create` and `update` leases in the test namespace.
 * - `nobody`: authenticated, without any permission.
 *
 * @since 0.1.0
 * @category models
 */
export type UserName = "admin" | "restricted" | "nobody"

/**
 * What a component is doing, as this control plane knows it.
 *
 * @since 0.1.0
 * @category models
 */
export type ComponentState = "running" | "paused" | "stopped" | "exited"

/**
 * A user's credentials and kubeconfig file (JSON, which is valid YAML).
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlPlaneUser {
  readonly name: UserName
  /** The bearer token. A throwaway secret valid only for this control plane. */
  readonly token: string
  /** Path of a kubeconfig for this user, pointing at `server`, verifying TLS with the CA. */
  readonly kubeconfig: string
}

/**
 * A plain API request as one of the users, sent through a `KubeClient` of its own (the user's
 * kubeconfig: TLS verified with the CA, the user's token) on a fresh connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiRequest {
  /** Default `admin`. */
  readonly user?: UserName | undefined
  /** Default `GET`. */
  readonly method?: HttpMethod | undefined
  /** Absolute path and query, e.g. `/apis/coordination.k8s.io/v1/namespaces/x/leases/y`. */
  readonly path: string
  /** Sent as JSON unless it is a string. */
  readonly body?: unknown
  /** Default `application/json`. */
  readonly contentType?: string | undefined
  /** Bound on the whole exchange. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Another base URL for the same server, e.g. a `FaultProxy`'s. Default `server`. */
  readonly server?: string | undefined
}

/**
 * The response to an `ApiRequest`, for any HTTP status.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiResponse {
  readonly status: number
  readonly body: string
  /** The body parsed as JSON, `undefined` when it is not JSON. */
  readonly json: unknown
}

/**
 * One request as recorded in the audit log.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditEvent {
  readonly auditID: string
  readonly verb: string
  readonly user: string
  readonly resource: string | undefined
  readonly namespace: string | undefined
  /** Absent for list, watch and create by collection. */
  readonly name: string | undefined
  readonly code: number | undefined
  readonly requestURI: string
  readonly receivedAt: string
}

/**
 * Selects audit events; every given field must match.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditFilter {
  readonly resource?: string | undefined
  readonly namespace?: string | undefined
  readonly name?: string | undefined
  readonly verb?: string | undefined
  readonly user?: string | undefined
  /** Only events logged after this mark (from `auditMark`), e.g. to count one benchmark phase. */
  readonly after?: AuditMark | undefined
}

/**
 * A position in the audit log, from `auditMark`.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuditMark {
  readonly offset: number
}

/**
 * Why a control-plane operation failed.
 *
 * - `Setup`: preparing files, keys, ports, the namespace or RBAC failed.
 * - `Spawn`: the binary could not be started.
 * - `Exited`: the process exited while it was expected to become ready.
 * - `NotReady`: it did not become ready within `startTimeout`.
 * - `Timeout`: an API request got no complete answer within its timeout (e.g. paused server).
 * - `Transport`: an API request failed on the connection (refused, reset, TLS).
 * - `InvalidState`: a control was used in a state where it means nothing (pause a stopped process).
 *
 * @since 0.1.0
 * @category errors
 */
export type ControlPlaneErrorReason = "Setup" | "Spawn" | "Exited" | "NotReady" | "Timeout" | "Transport" | "InvalidState"

/**
 * A control-plane operation failed. `logTail` holds the last lines the component logged, when
 * that helps (failed start).
 *
 * @since 0.1.0
 * @category errors
 */
export class ControlPlaneError extends Data.TaggedError("ControlPlaneError")<{
  readonly reason: ControlPlaneErrorReason
  readonly component?: Component | undefined
  readonly detail: string
  readonly logTail?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    const head = `${this.component ?? "control plane"}: ${this.reason}: ${this.detail}`
    return this.logTail ? `${head}\n--- last lines of the ${this.component} log ---\n${this.logTail}` : head
  }
}

/**
 * Options of `make` / `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlPlaneOptions {
  /** The binaries. Default: `ControlPlaneAssets.resolve` (environment, then the cache). */
  readonly assets?: ControlPlaneAssets | undefined
  /** The namespace created for tests, where `restricted` may use leases. Default `leasekit-test`. */
  readonly namespace?: string | undefined
  /** Bound on each component becoming ready, at startup and on `start`/`restart`. Default 60 s. */
  readonly startTimeout?: Duration.Input | undefined
  /** Write an audit log. Default `true`. */
  readonly audit?: boolean | undefined
  /** Folder in which the temporary folder is made. Default `os.tmpdir()`. */
  readonly tmpDir?: string | undefined
  /** The `openssl` command used to sign certificates. Default `openssl`. */
  readonly openssl?: string | undefined
  /** Extra flags for kube-apiserver, appended (later flags win). */
  readonly apiserverArgs?: ReadonlyArray<string> | undefined
  /** Extra flags for etcd, appended. */
  readonly etcdArgs?: ReadonlyArray<string> | undefined
}

/**
 * A running control plane.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlPlaneService {
  /** `https://127.0.0.1:<port>` */
  readonly server: string
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly etcdUrl: string
  /** The test namespace (see `ControlPlaneOptions.namespace`). */
  readonly namespace: string
  /** The CA that signed the serving certificate, as a file and as PEM. */
  readonly caFile: string
  readonly caPem: string
  /** The temporary folder (deleted when the scope closes). */
  readonly dir: string
  readonly users: { readonly [U in UserName]: ControlPlaneUser }
  /**
   * A client certificate the API server accepts (`--client-ca-file` is the CA above): user
   * `cert-admin` in group `system:masters`, as PEM files.
   */
  readonly clientCertificate: { readonly user: string; readonly certFile: string; readonly keyFile: string }
  /** `kubectl` from the assets, when they have one. */
  readonly kubectl: Option.Option<string>
  readonly assets: ControlPlaneAssets
  /** The audit log file, when auditing is on. */
  readonly auditLog: Option.Option<string>
  /** The file receiving the component's stdout and stderr. */
  readonly logFile: (component: Component) => string
  readonly pid: (component: Component) => Effect.Effect<Option.Option<number>>
  readonly state: (component: Component) => Effect.Effect<ComponentState>
  /** Starts a stopped component and waits until it is ready; no-op when running. */
  readonly start: (component: Component) => Effect.Effect<void, ControlPlaneError>
  /** Stops it (SIGTERM, SIGKILL after a grace period); no-op when stopped. */
  readonly stop: (component: Component) => Effect.Effect<void>
  /** `stop` then `start`: same ports, same flags, same etcd data. */
  readonly restart: (component: Component) => Effect.Effect<void, ControlPlaneError>
  /** SIGSTOP: the process keeps its sockets but answers nothing. */
  readonly pause: (component: Component) => Effect.Effect<void, ControlPlaneError>
  /** SIGCONT after `pause`; no-op when not paused. */
  readonly resume: (component: Component) => Effect.Effect<void, ControlPlaneError>
  /** Waits (bounded by `timeout`, default `startTimeout`) until `/readyz` answers 200. */
  readonly waitReady: (timeout?: Duration.Input) => Effect.Effect<void, ControlPlaneError>
  /** One API request as `user`; succeeds with the response whatever its status. */
  readonly request: (request: ApiRequest) => Effect.Effect<ApiResponse, ControlPlaneError>
  /**
   * Writes a kubeconfig for `user` pointing at `server` (e.g. a `FaultProxy`'s URL; default the
   * API server) into the temp folder, or `path`, and returns its path.
   */
  readonly writeKubeconfig: (options: {
    readonly user: UserName
    readonly server?: string | undefined
    readonly path?: string | undefined
  }) => Effect.Effect<string, ControlPlaneError>
  /** The current end of the audit log, to count only what happens after it (`AuditFilter.after`). */
  readonly auditMark: Effect.Effect<AuditMark, ControlPlaneError>
  /** Audit events matching `filter`, one per request, in log order. */
  readonly auditEvents: (filter?: AuditFilter) => Effect.Effect<ReadonlyArray<AuditEvent>, ControlPlaneError>
  /** Number of audited requests per verb matching `filter`, e.g. `{ get: 3, update: 12 }`. */
  readonly countRequests: (filter?: AuditFilter) => Effect.Effect<Readonly<Record<string, number>>, ControlPlaneError>
}

/**
 * The control plane as a service.
 *
 * @since 0.1.0
 * @category services
 */
export class ControlPlane extends Context.Service<ControlPlane, ControlPlaneService>()(
  "@leasekit/testing/ControlPlane"
) {}

interface Slot {
  readonly component: Component
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly logFile: string
  readonly pidFile: string
  readonly graceMillis: number
  readonly lock: Semaphore.Semaphore
  proc: Process.Proc | undefined
  paused: boolean
  logOffset: number
}

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*", "/version", "/openapi*", "/api", "/api/*", "/apis", "/apis/*"]
  - level: Metadata
    users: ["admin", "restricted", "nobody"]
  - level: None
`

const renderKubeconfig = (options: {
  readonly server: string
  readonly caPem: string
  readonly user: UserName
  readonly token: string
  readonly namespace: string
}): string =>
  JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "leasekit",
        cluster: {
          server: options.server,
          "certificate-authority-data": Buffer.from(options.caPem).toString("base64")
        }
      }],
      users: [{ name: options.user, user: { token: options.token } }],
      contexts: [{
        name: `${options.user}@leasekit`,
        context: { cluster: "leasekit", user: options.user, namespace: options.namespace }
      }],
      "current-context": `${options.user}@leasekit`,
      preferences: {}
    },
    null,
    2
  ) + "\n"

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

const asRecord = (u: unknown): Record<string, unknown> =>
  typeof u === "object" && u !== null ? u as Record<string, unknown> : {}
const asString = (u: unknown): string | undefined => typeof u === "string" ? u : undefined

const toAuditEvent = (line: string): AuditEvent | undefined => {
  const raw = asRecord(parseJson(line))
  const auditID = asString(raw["auditID"])
  if (auditID === undefined) return undefined
  const ref = asRecord(raw["objectRef"])
  const status = asRecord(raw["responseStatus"])
  return {
    auditID,
    verb: asString(raw["verb"]) ?? "",
    user: asString(asRecord(raw["user"])["username"]) ?? "",
    resource: asString(ref["resource"]),
    namespace: asString(ref["namespace"]),
    name: asString(ref["name"]),
    code: typeof status["code"] === "number" ? status["code"] : undefined,
    requestURI: asString(raw["requestURI"]) ?? "",
    receivedAt: asString(raw["requestReceivedTimestamp"]) ?? ""
  }
}

/** The file's content from byte `offset` on ("" when it does not exist). */
const readFrom = (file: string, offset: number): string => {
  if (!Fs.existsSync(file)) return ""
  if (offset === 0) return Fs.readFileSync(file, "utf8")
  const fd = Fs.openSync(file, "r")
  try {
    const size = Fs.fstatSync(fd).size
    const buffer = Buffer.alloc(Math.max(0, size - offset))
    Fs.readSync(fd, buffer, 0, buffer.length, offset)
    return buffer.toString("utf8")
  } finally {
    Fs.closeSync(fd)
  }
}

/** What went wrong on the connection, from the Node error under `error` ("connect ECONNREFUSED …"). */
const transportDetail = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause
  if (!(cause instanceof Error)) return error.message
  const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  return code === undefined || cause.message.includes(code) ? cause.message : `${cause.message} (${code})`
}

const setupError = (detail: string) => (cause: unknown) =>
  new ControlPlaneError({
    reason: "Setup",
    detail: `${detail}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })

/**
 * Starts etcd and kube-apiserver and prepares users, namespace and RBAC. Everything is stopped
 * and deleted when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: ControlPlaneOptions = {}
): Effect.Effect<ControlPlaneService, ControlPlaneError | ControlPlaneAssetsError, Scope.Scope> =>
  Effect.gen(function*() {
    const assets = options.assets ?? (yield* resolveAssets)
    const namespace = options.namespace ?? "leasekit-test"
    const startTimeout = options.startTimeout ?? Duration.seconds(60)
    const audit = options.audit ?? true

    // The folder is deleted last; the watchdog guards it while Node lives.
    const dir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => Fs.mkdtempSync(Path.join(options.tmpDir ?? Os.tmpdir(), "leasekit-cp-")),
        catch: setupError("cannot create the temporary folder")
      }),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    yield* Effect.acquireRelease(Watchdog.start(dir), (w) => w.close)

    const file = (name: string) => Path.join(dir, name)
    const pki = yield* Pki.make(file("pki"), options.openssl).pipe(
      Effect.mapError(setupError("cannot create the certificates (is `openssl` installed?)"))
    )
    const tokens: { readonly [U in UserName]: string } = {
      admin: Pki.randomToken(),
      restricted: Pki.randomToken(),
      nobody: Pki.randomToken()
    }
    const [port, etcdPort, etcdPeerPort] = yield* Effect.all([freePort(), freePort(), freePort()]).pipe(
      Effect.mapError(setupError("cannot find free loopback ports"))
    )
    const server = `https://127.0.0.1:${port}`
    const etcdUrl = `http://127.0.0.1:${etcdPort}`
    const auditLog = file("audit.log")

    yield* Effect.try({
      try: () => {
        Fs.writeFileSync(
          file("tokens.csv"),
          [
            `${tokens.admin},admin,leasekit-admin,"system:masters"`,
            `${tokens.restricted},restricted,leasekit-restricted`,
            `${tokens.nobody},nobody,leasekit-nobody`
          ].join("\n") + "\n",
          { mode: 0o600 }
        )
        Fs.writeFileSync(file("audit-policy.yaml"), auditPolicy)
        Fs.mkdirSync(file("etcd-data"), { mode: 0o700 })
        Fs.mkdirSync(file("apiserver-certs"), { mode: 0o700 })
      },
      catch: setupError("cannot write the configuration files")
    })

    // Servers read no configuration from our environment (etcd would honour ETCD_* variables).
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")))

    const slot = (component: Component, command: string, args: ReadonlyArray<string>): Slot => ({
      component,
      command,
      args,
      logFile: file(`${component}.log`),
      pidFile: file(`${component}.pid`),
      graceMillis: 10_000,
      lock: Semaphore.makeUnsafe(1),
      proc: undefined,
      paused: false,
      logOffset: 0
    })
    const slots: { readonly [C in Component]: Slot } = {
      etcd: slot("etcd", assets.etcd, [
        "--name=leasekit",
        `--data-dir=${file("etcd-data")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=leasekit=http://127.0.0.1:${etcdPeerPort}`,
        "--initial-cluster-state=new",
        `--initial-cluster-token=leasekit-${Path.basename(dir)}`,
        ...(options.etcdArgs ?? [])
      ]),
      apiserver: slot("apiserver", assets.kubeApiserver, [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        "--insecure-port=0",
        `--cert-dir=${file("apiserver-certs")}`,
        `--tls-cert-file=${pki.certFile}`,
        `--tls-private-key-file=${pki.keyFile}`,
        `--client-ca-file=${pki.caFile}`,
        `--token-auth-file=${file("tokens.csv")}`,
        "--authorization-mode=RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
        `--service-account-signing-key-file=${pki.serviceAccountPrivateKeyFile}`,
        "--service-cluster-ip-range=10.0.0.0/24",
        "--endpoint-reconciler-type=none",
        "--profiling=false",
        ...(audit
          ? [
            `--audit-policy-file=${file("audit-policy.yaml")}`,
            `--audit-log-path=${auditLog}`,
            "--audit-log-format=json",
            "--audit-log-mode=blocking"
          ]
          : []),
        ...(options.apiserverArgs ?? [])
      ])
    }

    const logTail = (s: Slot) => Process.tail(s.logFile, 40, s.logOffset)

    // One client per request, closed with it (see the module comment): a fresh connection each.
    const request = (req: ApiRequest): Effect.Effect<ApiResponse, ControlPlaneError> => {
      const target = req.server ?? server
      const user = req.user ?? "admin"
      const method = req.method ?? "GET"
      const what = `${method} ${target}${req.path}`
      const timeout = req.timeout ?? Duration.seconds(10)
      const bare = HttpClientRequest.make(method)(req.path, { acceptJson: true })
      const outgoing = req.body === undefined ? bare : HttpClientRequest.bodyText(
        bare,
        typeof req.body === "string" ? req.body : JSON.stringify(req.body),
        req.contentType ?? "application/json"
      )
      const kubeconfig = renderKubeconfig({ server: target, caPem: pki.caPem, user, token: tokens[user], namespace })
      return KubeClient.makeFromString(kubeconfig).pipe(
        Effect.flatMap((client) => client.http.execute(outgoing)),
        Effect.flatMap((response) =>
          Effect.map(response.text, (body): ApiResponse => ({ status: response.status, body, json: parseJson(body) }))
        ),
        Effect.mapError((error) =>
          error._tag === "KubeConfigError"
            ? new ControlPlaneError({ reason: "Setup", detail: `${what}: ${error.message}`, cause: error })
            : new ControlPlaneError({
              reason: "Transport",
              component: "apiserver",
              detail: `${what}: ${transportDetail(error)}`,
              cause: error
            })
        ),
        Effect.scoped,
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new ControlPlaneError({
                reason: "Timeout",
                component: "apiserver",
                detail: `${what}: no complete response within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
              })
            )
        })
      )
    }

    const probeEtcd = Effect.tryPromise({
      try: (signal) =>
        fetch(`${etcdUrl}/health`, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) }).then(
          async (res) => ({ ok: res.status === 200 && (await res.text()).includes("true"), seen: `HTTP ${res.status}` })
        ),
      catch: (cause) => cause
    }).pipe(Effect.catch((cause) => Effect.succeed({ ok: false, seen: String(cause) })))

    const probeApiserver = request({ path: "/readyz", timeout: Duration.seconds(2) }).pipe(
      Effect.map((res) => ({
        ok: res.status === 200,
        seen: `HTTP ${res.status} ${res.body.split("\n").filter((l) => l.includes("failed")).join("; ")}`
      })),
      Effect.catch((e) => Effect.succeed({ ok: false, seen: e.detail }))
    )

    /** Polls the component's probe until ready; fails early when the process exits. */
    const awaitReady = (s: Slot, timeout: Duration.Input): Effect.Effect<void, ControlPlaneError> => {
      let last = "no answer yet"
      const attempt = Effect.gen(function*() {
        const exit = s.proc?.exitInfo() ?? Option.none()
        if (s.proc === undefined || Option.isSome(exit)) {
          const how = Option.match(exit, {
            onNone: () => "is not running",
            onSome: (e) => `exited (${e.signal ?? `code ${e.code}`})`
          })
          return yield* new ControlPlaneError({
            reason: "Exited",
            component: s.component,
            detail: `${s.command} ${how} before it became ready (log: ${s.logFile})`,
            logTail: logTail(s)
          })
        }
        const probe = yield* (s.component === "etcd" ? probeEtcd : probeApiserver)
        if (!probe.ok) {
          last = probe.seen
          return yield* new ControlPlaneError({ reason: "NotReady", component: s.component, detail: last })
        }
      })
      return attempt.pipe(
        Effect.retry({ schedule: Schedule.spaced("100 millis"), while: (e) => e.reason === "NotReady" }),
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.fail(
              new ControlPlaneError({
                reason: "NotReady",
                component: s.component,
                detail: `not ready after ${Duration.format(Duration.fromInputUnsafe(timeout))} (last probe: ${last}; log: ${s.logFile})`,
                logTail: logTail(s)
              })
            )
        })
      )
    }

    const startSlot = (s: Slot): Effect.Effect<void, ControlPlaneError> =>
      Effect.gen(function*() {
        if (s.proc !== undefined && Option.isNone(s.proc.exitInfo())) return
        yield* Effect.sync(() => {
          s.logOffset = Fs.existsSync(s.logFile) ? Fs.statSync(s.logFile).size : 0
          Fs.appendFileSync(s.logFile, `\n=== leasekit: starting ${s.command} at ${new Date().toISOString()} ===\n`)
        })
        // Spawning and recording the pid is one uninterruptible step: the finalizer must know
        // every process that was started.
        yield* Process.spawn({ command: s.command, args: s.args, logFile: s.logFile, cwd: dir, env }).pipe(
          Effect.tap((proc) =>
            Effect.sync(() => {
              s.proc = proc
              s.paused = false
              Fs.writeFileSync(s.pidFile, `${proc.pid}\n`)
            })
          ),
          Effect.mapError((e) =>
            new ControlPlaneError({ reason: "Spawn", component: s.component, detail: e.message, cause: e.cause })
          ),
          Effect.uninterruptible
        )
        yield* awaitReady(s, startTimeout)
      })

    const stopSlot = (s: Slot): Effect.Effect<void> =>
      Effect.gen(function*() {
        const proc = s.proc
        if (proc === undefined) return
        yield* Process.terminate(proc, s.graceMillis)
        s.proc = undefined
        s.paused = false
        yield* Effect.sync(() => Fs.rmSync(s.pidFile, { force: true }))
      }).pipe(Effect.uninterruptible)

    // Stop both servers when the scope closes (registered before the first spawn).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* stopSlot(slots.apiserver)
        yield* stopSlot(slots.etcd)
      })
    )

    const running = (s: Slot, verb: string): Effect.Effect<Process.Proc, ControlPlaneError> =>
      s.proc !== undefined && Option.isNone(s.proc.exitInfo())
        ? Effect.succeed(s.proc)
        : Effect.fail(
          new ControlPlaneError({ reason: "InvalidState", component: s.component, detail: `cannot ${verb}: not running` })
        )

    const controls = {
      start: Effect.fn("ControlPlane.start")(function*(c: Component) {
        yield* Effect.annotateCurrentSpan("component", c)
        yield* slots[c].lock.withPermit(startSlot(slots[c]))
      }),
      stop: Effect.fn("ControlPlane.stop")(function*(c: Component) {
        yield* Effect.annotateCurrentSpan("component", c)
        yield* slots[c].lock.withPermit(stopSlot(slots[c]))
      }),
      restart: Effect.fn("ControlPlane.restart")(function*(c: Component) {
        yield* Effect.annotateCurrentSpan("component", c)
        yield* slots[c].lock.withPermit(Effect.andThen(stopSlot(slots[c]), startSlot(slots[c])))
      }),
      pause: Effect.fn("ControlPlane.pause")(function*(c: Component) {
        const s = slots[c]
        yield* s.lock.withPermit(Effect.gen(function*() {
          const proc = yield* running(s, "pause")
          Process.signalGroup(proc.pid, "SIGSTOP")
          s.paused = true
        }))
      }),
      resume: Effect.fn("ControlPlane.resume")(function*(c: Component) {
        const s = slots[c]
        yield* s.lock.withPermit(Effect.gen(function*() {
          const proc = yield* running(s, "resume")
          Process.signalGroup(proc.pid, "SIGCONT")
          s.paused = false
        }))
      })
    }

    // Start: etcd, then the API server.
    yield* startSlot(slots.etcd)
    yield* startSlot(slots.apiserver)

    // Namespace and RBAC for `restricted`, created as admin.
    const ensure = (path: string, body: unknown) =>
      request({ method: "POST", path, body }).pipe(
        Effect.flatMap((res) =>
          res.status === 201 || res.status === 409
            ? Effect.void
            : Effect.fail(
              new ControlPlaneError({ reason: "Setup", detail: `POST ${path} answered ${res.status}: ${res.body}` })
            )
        )
      )
    const rbac = "/apis/rbac.authorization.k8s.io/v1"
    yield* ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } })
    yield* ensure(`${rbac}/namespaces/${namespace}/roles`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "leasekit-restricted" },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }]
    })
    yield* ensure(`${rbac}/namespaces/${namespace}/rolebindings`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "leasekit-restricted" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "leasekit-restricted" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "restricted" }]
    })
    // The authorizer sees new bindings through an informer: wait until it does. Asked with a
    // SelfSubjectAccessReview, so that no lease request appears in the audit log.
    yield* request({
      user: "restricted",
      method: "POST",
      path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { namespace, verb: "update", group: "coordination.k8s.io", resource: "leases" } }
      },
      timeout: Duration.seconds(2)
    }).pipe(
      Effect.flatMap((res) =>
        asRecord(asRecord(res.json)["status"])["allowed"] === true
          ? Effect.void
          : Effect.fail(
            new ControlPlaneError({ reason: "Setup", detail: `RBAC for restricted not effective: ${res.status} ${res.body}` })
          )
      ),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 })
    )

    const writeKubeconfig = (o: {
      readonly user: UserName
      readonly server?: string | undefined
      readonly path?: string | undefined
    }): Effect.Effect<string, ControlPlaneError> =>
      Effect.try({
        try: () => {
          const target = o.server ?? server
          const path = o.path ??
            file(`kubeconfig-${o.user}${target === server ? "" : `-${new URL(target).port}`}.json`)
          Fs.writeFileSync(
            path,
            renderKubeconfig({ server: target, caPem: pki.caPem, user: o.user, token: tokens[o.user], namespace }),
            { mode: 0o600 }
          )
          return path
        },
        catch: setupError("cannot write the kubeconfig")
      })

    const users = {
      admin: { name: "admin", token: tokens.admin, kubeconfig: yield* writeKubeconfig({ user: "admin" }) },
      restricted: {
        name: "restricted",
        token: tokens.restricted,
        kubeconfig: yield* writeKubeconfig({ user: "restricted" })
      },
      nobody: { name: "nobody", token: tokens.nobody, kubeconfig: yield* writeKubeconfig({ user: "nobody" }) }
    } as const

    const auditEvents = (filter: AuditFilter = {}): Effect.Effect<ReadonlyArray<AuditEvent>, ControlPlaneError> =>
      audit
        ? Effect.try({
          try: () => {
            const seen = new Set<string>()
            const events: Array<AuditEvent> = []
            const text = readFrom(auditLog, filter.after?.offset ?? 0)
            for (const line of text.split("\n")) {
              const event = line === "" ? undefined : toAuditEvent(line)
              if (event === undefined || seen.has(event.auditID)) continue
              seen.add(event.auditID)
              if (
                (filter.resource === undefined || filter.resource === event.resource) &&
                (filter.namespace === undefined || filter.namespace === event.namespace) &&
                (filter.name === undefined || filter.name === event.name) &&
                (filter.verb === undefined || filter.verb === event.verb) &&
                (filter.user === undefined || filter.user === event.user)
              ) events.push(event)
            }
            return events
          },
          catch: setupError("cannot read the audit log")
        })
        : Effect.fail(new ControlPlaneError({ reason: "InvalidState", detail: "auditing is off (options.audit)" }))

    const service: ControlPlaneService = {
      server,
      port,
      etcdUrl,
      namespace,
      caFile: pki.caFile,
      caPem: pki.caPem,
      dir,
      users,
      clientCertificate: { user: "cert-admin", certFile: pki.clientCertFile, keyFile: pki.clientKeyFile },
      kubectl: assets.kubectl,
      assets,
      auditLog: audit ? Option.some(auditLog) : Option.none(),
      logFile: (c) => slots[c].logFile,
      pid: (c) =>
        Effect.sync(() => {
          const proc = slots[c].proc
          return proc !== undefined && Option.isNone(proc.exitInfo()) ? Option.some(proc.pid) : Option.none()
        }),
      state: (c) =>
        Effect.sync(() => {
          const s = slots[c]
          if (s.proc === undefined) return "stopped"
          if (Option.isSome(s.proc.exitInfo())) return "exited"
          return s.paused ? "paused" : "running"
        }),
      ...controls,
      waitReady: (timeout) => awaitReady(slots.apiserver, timeout ?? startTimeout),
      request,
      writeKubeconfig,
      auditMark: audit
        ? Effect.try({
          try: () => ({ offset: Fs.existsSync(auditLog) ? Fs.statSync(auditLog).size : 0 }),
          catch: setupError("cannot read the audit log")
        })
        : Effect.fail(new ControlPlaneError({ reason: "InvalidState", detail: "auditing is off (options.audit)" })),
      auditEvents,
      countRequests: (filter) =>
        auditEvents(filter).pipe(Effect.map((events) => {
          const counts: Record<string, number> = {}
          for (const e of events) counts[e.verb] = (counts[e.verb] ?? 0) + 1
          return counts
        }))
    }
    return service
  })

/**
 * The control plane as a scoped layer: started when the layer is built, stopped and deleted when
 * it is released.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: ControlPlaneOptions = {}
): Layer.Layer<ControlPlane, ControlPlaneError | ControlPlaneAssetsError> => Layer.effect(ControlPlane, make(options))
