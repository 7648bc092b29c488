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
 *   count requests per verb (read by `AuditLog`, which also reads it on its own);
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
 *   watchdog (`Process.lifeline`) stops the processes and deletes the folder.
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
 * user's kubeconfig, on a fresh connection each: a paused, restarted or proxied server is
 * observed as it is now, and a `FaultProxy` sees one connection per request.
 *
 * This module composes parts in `internal/`: `pki.ts`, and in `controlPlane/` the servers' files
 * and flags (`configuration`), process slots (`components`), requests and probes (`request`),
 * kubeconfigs (`kubeconfig`), namespace, RBAC and users (`bootstrap`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { HttpMethod } from "effect/http/HttpMethod"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as AuditLog from "./AuditLog.ts"
import type { ControlPlaneAssets } from "./ControlPlaneAssets.ts"
import type { ControlPlaneAssetsError } from "./ControlPlaneAssets.ts"
import { resolve as resolveAssets } from "./ControlPlaneAssets.ts"
import * as Bootstrap from "./internal/controlPlane/bootstrap.ts"
import * as Components from "./internal/controlPlane/components.ts"
import * as Configuration from "./internal/controlPlane/configuration.ts"
import * as Kubeconfig from "./internal/controlPlane/kubeconfig.ts"
import type { Component, ComponentState, UserName } from "./internal/controlPlane/model.ts"
import { ControlPlaneError, setupError } from "./internal/controlPlane/model.ts"
import * as Request from "./internal/controlPlane/request.ts"
import { freePort } from "./internal/ports.ts"
import * as Pki from "./internal/pki.ts"
import * as Process from "./Process.ts"

export {
  /**
   * A process of the control plane.
   *
   * @since 0.1.0
   * @category models
   */
  type Component,
  /**
   * What a component is doing, as this control plane knows it.
   *
   * @since 0.1.0
   * @category models
   */
  type ComponentState,
  /**
   * A control-plane operation failed; `logTail` holds the end of the component's log on a failed start.
   *
   * @since 0.1.0
   * @category errors
   */
  ControlPlaneError,
  /**
   * Why a control-plane operation failed: `Setup`, `Spawn`, `Exited`, `NotReady`, `Timeout`,
   * `Transport` or `InvalidState`.
   *
   * @since 0.1.0
   * @category errors
   */
  type ControlPlaneErrorReason,
  /**
   * The users the API server knows (static bearer tokens): `admin`, `restricted`, `nobody`.
   *
   * @since 0.1.0
   * @category models
   */
  type UserName
} from "./internal/controlPlane/model.ts"

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
 * One request as recorded in the audit log (see `AuditLog`).
 *
 * @since 0.1.0
 * @category models
 */
export type AuditEvent = AuditLog.AuditEvent

/**
 * Selects audit events; every given field must match (see `AuditLog`).
 *
 * @since 0.1.0
 * @category models
 */
export type AuditFilter = AuditLog.AuditFilter

/**
 * A position in the audit log, from `auditMark`.
 *
 * @since 0.1.0
 * @category models
 */
export type AuditMark = AuditLog.AuditMark

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

    // The folder is deleted last; the lifeline guards it, and the servers, while Node lives.
    const dir = yield* Effect.acquireRelease(
      Effect.try({
        try: () => Fs.mkdtempSync(Path.join(options.tmpDir ?? Os.tmpdir(), "leasekit-cp-")),
        catch: setupError("cannot create the temporary folder")
      }),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const spawner = yield* Layer.build(Process.layer)
    yield* Process.lifeline(dir, { remove: true }).pipe(
      Effect.provide(spawner),
      Effect.mapError(setupError("cannot start the lifeline watchdog"))
    )

    const pki = yield* Pki.make(Path.join(dir, "pki"), options.openssl).pipe(
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
    const layout: Configuration.Layout = { dir, port, etcdPort, etcdPeerPort, auditLog: Path.join(dir, "audit.log") }
    const server = `https://127.0.0.1:${port}`
    const etcdUrl = `http://127.0.0.1:${etcdPort}`
    yield* Configuration.writeFiles(layout, tokens)

    const credentials: Kubeconfig.Credentials = { server, caPem: pki.caPem, tokens, namespace, dir }
    const request = Request.make(credentials)
    const env = Configuration.serverEnv()
    const component = (c: Component, command: string, args: ReadonlyArray<string>, probe: Effect.Effect<Components.Probe>) =>
      Components.make({ component: c, command, args, dir, env, spawner, probe, startTimeout, grace: Duration.seconds(10) })
    const components: { readonly [C in Component]: Components.ComponentProcess } = {
      etcd: component("etcd", assets.etcd, Configuration.etcdArgs(layout, options.etcdArgs ?? []), Request.probeEtcd(etcdUrl)),
      apiserver: component(
        "apiserver",
        assets.kubeApiserver,
        Configuration.apiserverArgs(layout, pki, audit, options.apiserverArgs ?? []),
        Request.probeApiserver(request)
      )
    }

    // Stop both servers when the scope closes (registered before the first spawn).
    yield* Effect.addFinalizer(() => Effect.andThen(components.apiserver.shutdown, components.etcd.shutdown))

    // Start: etcd, then the API server; then the namespace, RBAC and the users' kubeconfigs.
    yield* components.etcd.start
    yield* components.apiserver.start
    yield* Bootstrap.namespaceAndRbac(request, namespace)
    const users = yield* Bootstrap.users(credentials)

    const auditLog = AuditLog.make(layout.auditLog)
    const auditing = <A>(read: Effect.Effect<A, AuditLog.AuditLogError>): Effect.Effect<A, ControlPlaneError> =>
      audit
        ? Effect.mapError(read, setupError("cannot read the audit log"))
        : Effect.fail(new ControlPlaneError({ reason: "InvalidState", detail: "auditing is off (options.audit)" }))

    const control = <E>(name: string, run: (c: Components.ComponentProcess) => Effect.Effect<void, E>) =>
      Effect.fn(name)(function*(c: Component) {
        yield* Effect.annotateCurrentSpan("component", c)
        yield* run(components[c])
      })

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
      auditLog: audit ? Option.some(layout.auditLog) : Option.none(),
      logFile: (c) => components[c].logFile,
      pid: (c) => components[c].pid,
      state: (c) => components[c].state,
      start: control("ControlPlane.start", (c) => c.start),
      stop: control("ControlPlane.stop", (c) => c.stop),
      restart: control("ControlPlane.restart", (c) => c.restart),
      pause: control("ControlPlane.pause", (c) => c.pause),
      resume: control("ControlPlane.resume", (c) => c.resume),
      waitReady: (timeout) => components.apiserver.awaitReady(timeout ?? startTimeout),
      request,
      writeKubeconfig: (o) => Kubeconfig.write(credentials, o),
      auditMark: auditing(auditLog.mark),
      auditEvents: (filter) => auditing(auditLog.events(filter)),
      countRequests: (filter) => auditing(auditLog.countRequests(filter))
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
