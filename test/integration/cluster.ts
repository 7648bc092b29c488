/**
 * "A cluster" for the integration suites that need nothing but an admin client: an existing
 * cluster when one is named, otherwise a local control plane from `@leasekit/testing`.
 *
 * Which one, decided once when this module loads:
 * 1. `LEASEKIT_TEST_KUBECONFIG` — a kubeconfig file (or a list, like `KUBECONFIG`) of an existing
 *    cluster: kind, k3d, minikube, a real one. Explicit, so it wins. The value `local` forces the
 *    local control plane even when `KUBECONFIG` is set.
 * 2. `KUBECONFIG`, when it is set and names at least one readable file.
 * 3. Otherwise a local control plane (`ControlPlane.layer`), started for the suite.
 * Building the layer prints one line saying which is used.
 *
 * What a suite gets (`Cluster`): the API server URL, an admin kubeconfig, a namespace and a
 * second one (both empty of leasekit's objects at the start), a scratch folder, `kubectl`, plain
 * API requests as admin, and — when asked for — the kubeconfig of a restricted identity that may
 * only `get`, `create` and `update` leases in the namespace (no watch, list or delete).
 *
 * Guarantees on an existing cluster: the fixture creates two namespaces named
 * `<base>-<run id>` (random per test file, labelled `app.kubernetes.io/managed-by=leasekit-tests`),
 * refuses to adopt one that already exists, puts everything it creates inside them (the
 * restricted identity is a ServiceAccount with a Role and RoleBinding there), and deletes them
 * when the layer is released. It never modifies or deletes anything else. The suites run there
 * only read outside their namespaces (`kubectl get lease -A`).
 *
 * Does not: give process control over the API server or etcd, the static `nobody` user, or the
 * audit log — suites that need those use `ControlPlane` directly and always run locally. On a
 * cluster without a namespace controller (a bare kube-apiserver) deleted namespaces stay
 * `Terminating`; on a real one they disappear shortly after the suite.
 */
import { KubeClient } from "@leasekit/kubernetes"
import { ControlPlane, ControlPlaneAssets } from "@leasekit/testing"
import { Context, Data, Duration, Effect, Layer, Option, Schedule, Scope } from "effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
// The loader's plain view of a kubeconfig (which CA a cluster entry names), for kubeconfigs of our own.
import * as Kubeconfig from "../../packages/kubernetes/src/internal/kubeconfig.ts"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

/** Where the cluster comes from. */
export type Source =
  | { readonly _tag: "External"; readonly kubeconfig: string; readonly variable: "LEASEKIT_TEST_KUBECONFIG" | "KUBECONFIG" }
  | { readonly _tag: "Local"; readonly why: string }

const readable = (file: string): boolean => {
  try {
    Fs.accessSync(file, Fs.constants.R_OK)
    return Fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Decides between an existing cluster and a local control plane (see the module comment). */
export const detect = (env: NodeJS.ProcessEnv): Source => {
  const explicit = env["LEASEKIT_TEST_KUBECONFIG"]?.trim() ?? ""
  if (explicit === "local") return { _tag: "Local", why: "LEASEKIT_TEST_KUBECONFIG=local" }
  if (explicit !== "") {
    // Explicit: used even when unreadable, so that a typo fails loudly instead of testing locally.
    return { _tag: "External", kubeconfig: explicit, variable: "LEASEKIT_TEST_KUBECONFIG" }
  }
  const kubeconfig = env["KUBECONFIG"]?.trim() ?? ""
  if (kubeconfig !== "") {
    const files = kubeconfig.split(Path.delimiter).filter((f) => f !== "")
    if (files.some(readable)) return { _tag: "External", kubeconfig, variable: "KUBECONFIG" }
    return { _tag: "Local", why: `KUBECONFIG=${kubeconfig} names no readable file` }
  }
  return { _tag: "Local", why: "neither LEASEKIT_TEST_KUBECONFIG nor KUBECONFIG is set" }
}

/** The choice for this test file. */
export const source: Source = detect(process.env)

/** `true` when the suites run against an existing cluster. */
export const isExternal: boolean = source._tag === "External"

const runId = globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 6)

/**
 * The namespace a suite uses for `base`: `base` itself on the local control plane, `base-<run id>`
 * on an existing cluster. Known before the layer is built, for suites that register tests with it.
 */
export const namespaceFor = (base: string): string => isExternal ? `${base}-${runId}` : base

/** A fixture operation failed; `detail` says what and how to fix it. */
export class ClusterError extends Data.TaggedError("ClusterError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

/** A plain API request. */
export interface ClusterRequest {
  /** Default `GET`. */
  readonly method?: string | undefined
  /** Absolute path and query, e.g. `/apis/coordination.k8s.io/v1/namespaces/x/leases/y`. */
  readonly path: string
  /** Sent as JSON unless it is a string. */
  readonly body?: unknown
  /** Default `application/json`. */
  readonly contentType?: string | undefined
  /** As which identity. Default `admin`. */
  readonly as?: "admin" | "restricted" | undefined
}

/** The answer to a `ClusterRequest`, whatever its status. */
export interface ClusterResponse {
  readonly status: number
  readonly body: string
  /** The body parsed as JSON; `undefined` when it is not JSON. */
  readonly json: unknown
}

/** A finished `kubectl` run. */
export interface KubectlResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** What a suite can use of "a cluster". */
export interface ClusterService {
  readonly external: boolean
  /** The line printed when the layer was built. */
  readonly description: string
  /** The API server URL. */
  readonly server: string
  /** An admin kubeconfig (on an existing cluster: the given file or list, as `KUBECONFIG` takes it). */
  readonly kubeconfig: string
  readonly namespace: string
  readonly otherNamespace: string
  /** A folder for the suite's files, deleted with the layer. */
  readonly dir: string
  /** A kubeconfig that may only get, create and update leases in `namespace` (when requested). */
  readonly restrictedKubeconfig: Option.Option<string>
  /** The `kubectl` binary used by `kubectl`, when one was found. */
  readonly kubectlPath: Option.Option<string>
  /** Runs `kubectl args…` as admin (or `as`), bounded to 30 s; fails when no kubectl was found. */
  readonly kubectl: (
    args: ReadonlyArray<string>,
    options?: { readonly stdin?: string | undefined; readonly as?: "admin" | "restricted" | undefined }
  ) => Effect.Effect<KubectlResult, ClusterError>
  readonly request: (request: ClusterRequest) => Effect.Effect<ClusterResponse, ClusterError>
}

/** "A cluster" as a service. */
export class Cluster extends Context.Service<Cluster, ClusterService>()("@leasekit/test/Cluster") {}

/** Options of `layer`. */
export interface LayerOptions {
  /** Base name of the suite's namespace (see `namespaceFor`); on the local control plane, its namespace. */
  readonly namespace: string
  /** Base name of a second namespace. Default `<namespace>-other`. */
  readonly otherNamespace?: string | undefined
  /** Also provide `restrictedKubeconfig`. Default `false`. */
  readonly restricted?: boolean | undefined
  /**
   * The local control plane to use when no existing cluster is named — pass the layer other
   * suites of the file use (with the same `memoMap`) to share one. Its namespace must be
   * `namespace`. Default `ControlPlane.layer({ namespace })`.
   */
  readonly controlPlane?: Layer.Layer<ControlPlane.ControlPlane, unknown> | undefined
}

const managedBy = { "app.kubernetes.io/managed-by": "leasekit-tests" }

type Client = KubeClient.KubeClientService

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

const asRecord = (u: unknown): Record<string, unknown> =>
  typeof u === "object" && u !== null ? u as Record<string, unknown> : {}

/** One request through `client` (its credentials and TLS settings), bounded by 15 s. */
const send = (client: Client, request: ClusterRequest) => {
  const base = HttpClientRequest.make((request.method ?? "GET") as "GET")(request.path, { acceptJson: true })
  const req = request.body === undefined
    ? base
    : typeof request.body === "string"
    ? HttpClientRequest.bodyText(base, request.body, request.contentType ?? "application/json")
    : HttpClientRequest.bodyJsonUnsafe(base, request.body)
  return client.http.execute(req).pipe(
    Effect.flatMap((response) =>
      Effect.map(response.text, (text): ClusterResponse => ({ status: response.status, body: text, json: parseJson(text) }))
    ),
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: Duration.seconds(15),
      orElse: () => Effect.fail(new Error("no answer within 15 s"))
    }),
    Effect.mapError((cause) =>
      new ClusterError({
        detail: `${request.method ?? "GET"} ${client.server}${request.path} failed: ${cause.message}`,
        cause
      })
    )
  )
}

const expectStatus = (what: string, response: ClusterResponse, ok: ReadonlyArray<number>) =>
  ok.includes(response.status)
    ? Effect.succeed(response)
    : Effect.fail(new ClusterError({ detail: `${what}: HTTP ${response.status} ${response.body.slice(0, 500)}` }))

const isExecutable = (file: string): boolean => {
  try {
    Fs.accessSync(file, Fs.constants.X_OK)
    return Fs.statSync(file).isFile()
  } catch {
    return false
  }
}

const onPath = (command: string): Option.Option<string> =>
  Option.fromUndefinedOr(
    (process.env["PATH"] ?? "").split(Path.delimiter).filter((d) => d !== "").map((d) => Path.join(d, command)).find(
      isExecutable
    )
  )

/**
 * `LEASEKIT_TEST_KUBECTL`, then — locally — the control plane's own kubectl (the one built with
 * it), else the one on `PATH`; on an existing cluster the one on `PATH` first (it matches the
 * cluster's version and auth plugins best), else the cached build's.
 */
const findKubectl = (preferred: Option.Option<string>, external: boolean): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function*() {
    const explicit = process.env["LEASEKIT_TEST_KUBECTL"]?.trim() ?? ""
    if (explicit !== "") return Option.some(explicit)
    if (!external) return Option.orElse(preferred, () => onPath("kubectl"))
    const cached = yield* ControlPlaneAssets.resolve.pipe(
      Effect.map((assets) => assets.kubectl),
      Effect.orElseSucceed(() => Option.none<string>())
    )
    return Option.orElse(onPath("kubectl"), () => cached)
  })

const runKubectl = (
  kubectl: Option.Option<string>,
  kubeconfigs: { readonly admin: string; readonly restricted: Option.Option<string> },
  cacheDir: string
) =>
(
  args: ReadonlyArray<string>,
  options: { readonly stdin?: string | undefined; readonly as?: "admin" | "restricted" | undefined } = {}
): Effect.Effect<KubectlResult, ClusterError> =>
  Effect.gen(function*() {
    if (Option.isNone(kubectl)) {
      return yield* new ClusterError({
        detail: "kubectl not found: install it, put it on PATH, or set LEASEKIT_TEST_KUBECTL to its path"
      })
    }
    const kubeconfig = options.as === "restricted"
      ? yield* Option.match(kubeconfigs.restricted, {
        onNone: () => Effect.fail(new ClusterError({ detail: "this Cluster layer was built without `restricted: true`" })),
        onSome: Effect.succeed
      })
      : kubeconfigs.admin
    const binary = kubectl.value
    return yield* Effect.callback<KubectlResult, ClusterError>((resume, signal) => {
      const child = ChildProcess.execFile(
        binary,
        [`--cache-dir=${cacheDir}`, ...args],
        {
          env: { ...process.env, KUBECONFIG: kubeconfig },
          timeout: 30_000,
          maxBuffer: 16 * 1024 * 1024,
          signal
        },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : null
          if (error !== null && code === null) {
            resume(Effect.fail(new ClusterError({ detail: `kubectl ${args.join(" ")}: ${error.message}`, cause: error })))
          } else {
            resume(Effect.succeed({ code, stdout, stderr }))
          }
        }
      )
      if (options.stdin !== undefined) child.stdin?.end(options.stdin)
      else child.stdin?.end()
    })
  })

/** A scratch folder, deleted with the scope. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-cluster-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** The kubeconfig cluster entry of `kubeconfig`'s current context, for a kubeconfig of our own. */
const clusterEntry = (kubeconfig: string) =>
  Kubeconfig.fromFiles([kubeconfig]).pipe(
    Effect.mapError((e) => new ClusterError({ detail: e.message, cause: e })),
    Effect.map((loaded) => {
      const ca = loaded.tls.ca === undefined
        ? undefined
        : loaded.tls.ca._tag === "Data"
        ? loaded.tls.ca.data.toString("base64")
        : Fs.readFileSync(loaded.tls.ca.path).toString("base64")
      return {
        server: loaded.server,
        ...(ca === undefined ? {} : { "certificate-authority-data": ca }),
        ...(loaded.tls.insecureSkipTlsVerify ? { "insecure-skip-tls-verify": true } : {}),
        ...(loaded.tls.serverName ? { "tls-server-name": loaded.tls.serverName } : {})
      }
    })
  )

/**
 * On an existing cluster: a ServiceAccount with a Role allowing only get/create/update on leases
 * in `namespace`, a token for it (TokenRequest, 1 hour) and a kubeconfig using it. Waits until
 * the authorizer sees the binding.
 */
const makeRestricted = (
  client: Client,
  kubeconfig: string,
  namespace: string,
  dir: string
): Effect.Effect<string, ClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const admin = (request: ClusterRequest) => send(client, request)
    const cluster = yield* clusterEntry(kubeconfig)
    const name = "leasekit-restricted"
    const post = (what: string, path: string, body: unknown) =>
      admin({ method: "POST", path, body }).pipe(Effect.flatMap((r) => expectStatus(what, r, [201])))
    yield* post("create the ServiceAccount", `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, labels: managedBy }
    })
    yield* post("create the Role", `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, labels: managedBy },
      rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }]
    })
    yield* post("create the RoleBinding", `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, labels: managedBy },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }]
    })
    const tokenRequest = yield* post(
      "request a ServiceAccount token (TokenRequest API)",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
    )
    const token = asRecord(asRecord(tokenRequest.json)["status"])["token"]
    if (typeof token !== "string") {
      return yield* new ClusterError({ detail: `TokenRequest answered without a token: ${tokenRequest.body.slice(0, 300)}` })
    }
    const file = Path.join(dir, "kubeconfig-restricted.json")
    yield* Effect.sync(() =>
      Fs.writeFileSync(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "cluster", cluster }],
          users: [{ name, user: { token } }],
          contexts: [{ name, context: { cluster: "cluster", user: name, namespace } }],
          "current-context": name
        }),
        { mode: 0o600 }
      )
    )
    const restricted = yield* KubeClient.makeFromFile(file).pipe(
      Effect.mapError((e) => new ClusterError({ detail: `restricted kubeconfig: ${e.message}`, cause: e }))
    )
    // The authorizer learns about new bindings through an informer: wait until it allows updates.
    yield* send(restricted, {
      method: "POST",
      path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SelfSubjectAccessReview",
        spec: { resourceAttributes: { namespace, verb: "update", group: "coordination.k8s.io", resource: "leases" } }
      }
    }).pipe(
      Effect.flatMap((r) =>
        asRecord(asRecord(r.json)["status"])["allowed"] === true
          ? Effect.void
          : Effect.fail(new ClusterError({ detail: `RBAC for ${name} not effective: ${r.status} ${r.body.slice(0, 300)}` }))
      ),
      Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 100 })
    )
    return file
  })

/** Creates a namespace of our own (never adopts an existing one) and deletes it with the scope. */
const ownNamespace = (client: Client, namespace: string) =>
  Effect.acquireRelease(
    send(client, {
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: managedBy } }
    }).pipe(
      Effect.flatMap((r) =>
        r.status === 201
          ? Effect.void
          : r.status === 409
          ? Effect.fail(new ClusterError({ detail: `namespace ${namespace} already exists; refusing to use a namespace the tests did not create` }))
          : Effect.fail(
            new ClusterError({
              detail: `cannot create namespace ${namespace} (the integration suites need an admin kubeconfig): HTTP ${r.status} ${
                r.body.slice(0, 300)
              }`
            })
          )
      )
    ),
    () =>
      send(client, { method: "DELETE", path: `/api/v1/namespaces/${namespace}` }).pipe(
        Effect.flatMap((r) => expectStatus(`delete namespace ${namespace}`, r, [200, 202, 404])),
        Effect.catch((e) => Effect.sync(() => console.warn(`[leasekit tests] ${e.message}`)))
      )
  )

const loadClient = (kubeconfig: string) =>
  KubeClient.makeFromFile(kubeconfig).pipe(
    Effect.mapError((e) => new ClusterError({ detail: `cannot use ${kubeconfig}: ${e.message}`, cause: e }))
  )

const external = (options: LayerOptions, kubeconfig: string, variable: string) =>
  Effect.gen(function*() {
    const namespace = namespaceFor(options.namespace)
    const otherNamespace = namespaceFor(options.otherNamespace ?? `${options.namespace}-other`)
    const dir = yield* scratch
    const client = yield* loadClient(kubeconfig).pipe(
      Effect.mapError((e) =>
        new ClusterError({ detail: `${variable} names the cluster to test against, but ${e.detail}`, cause: e.cause })
      )
    )
    yield* ownNamespace(client, namespace)
    yield* ownNamespace(client, otherNamespace)
    const restricted = options.restricted === true
      ? Option.some(yield* makeRestricted(client, kubeconfig, namespace, dir))
      : Option.none<string>()
    const kubectl = yield* findKubectl(Option.none(), true)
    const description = `[leasekit tests] cluster: existing, from ${variable}=${kubeconfig} (context ${client.context}, server ${client.server}); namespaces ${namespace}, ${otherNamespace}; kubectl ${
      Option.getOrElse(kubectl, () => "not found")
    }`
    return { client, dir, namespace, otherNamespace, restricted, kubectl, kubeconfig, description }
  })

const local = (options: LayerOptions, why: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    if (cp.namespace !== options.namespace) {
      return yield* new ClusterError({
        detail: `the control plane's namespace is ${cp.namespace}, the suite asked for ${options.namespace}`
      })
    }
    const dir = yield* scratch
    const client = yield* loadClient(cp.users.admin.kubeconfig)
    const otherNamespace = options.otherNamespace ?? `${options.namespace}-other`
    yield* send(client, {
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: otherNamespace, labels: managedBy } }
    }).pipe(Effect.flatMap((r) => expectStatus(`create namespace ${otherNamespace}`, r, [201, 409])))
    const restricted = options.restricted === true
      ? Option.some(cp.users.restricted.kubeconfig)
      : Option.none<string>()
    const kubectl = yield* findKubectl(cp.kubectl, false)
    const description = `[leasekit tests] cluster: local control plane (${why}), server ${cp.server}; namespaces ${cp.namespace}, ${otherNamespace}; kubectl ${
      Option.getOrElse(kubectl, () => "not found")
    }`
    return {
      client,
      dir,
      namespace: cp.namespace,
      otherNamespace,
      restricted,
      kubectl,
      kubeconfig: cp.users.admin.kubeconfig,
      description
    }
  })

/** The service over what `external` or `local` found; prints the line that says which. */
const serve = (found: Effect.Success<ReturnType<typeof local>>) =>
  Effect.gen(function*() {
    const restrictedClient = Option.isSome(found.restricted)
      ? Option.some(yield* loadClient(found.restricted.value))
      : Option.none()
    yield* Effect.sync(() => console.log(found.description))
    const service: ClusterService = {
      external: source._tag === "External",
      description: found.description,
      server: found.client.server,
      kubeconfig: found.kubeconfig,
      namespace: found.namespace,
      otherNamespace: found.otherNamespace,
      dir: found.dir,
      restrictedKubeconfig: found.restricted,
      kubectlPath: found.kubectl,
      kubectl: runKubectl(
        found.kubectl,
        { admin: found.kubeconfig, restricted: found.restricted },
        Path.join(found.dir, "kubectl-cache")
      ),
      request: (request) =>
        request.as === "restricted"
          ? Option.match(restrictedClient, {
            onNone: () => Effect.fail(new ClusterError({ detail: "this Cluster layer was built without `restricted: true`" })),
            onSome: (c) => send(c, request)
          })
          : send(found.client, request)
    }
    return service
  })

/**
 * "A cluster" as a layer: an existing cluster when one is named, else a local control plane
 * (see the module comment). Prints one line saying which.
 */
export const layer = (options: LayerOptions): Layer.Layer<Cluster, unknown> =>
  source._tag === "External"
    ? Layer.effect(Cluster, Effect.flatMap(external(options, source.kubeconfig, source.variable), serve))
    : Layer.effect(Cluster, Effect.flatMap(local(options, source.why), serve)).pipe(
      Layer.provide(options.controlPlane ?? ControlPlane.layer({ namespace: options.namespace }))
    )

/** An admin `KubeClient` for the cluster (its own connection pool, closed with the layer). */
export const adminClient: Layer.Layer<KubeClient.KubeClient, unknown, Cluster> = Layer.unwrap(
  Effect.map(Cluster, (cluster) => KubeClient.layerFromFile(cluster.kubeconfig))
)
