/**
 * "A cluster" to test against leasekit: an existing cluster when one is named, otherwise a local
 * control plane (`ControlPlane`), behind one service — for suites that need nothing but an admin,
 * optionally a restricted identity, two namespaces, kubectl and plain API requests.
 *
 * Which one (`target`, decided once per test file from the environment):
 * 1. `LEASEKIT_TEST_KUBECONFIG` — a kubeconfig file (or a list, like `KUBECONFIG`) of an existing
 *    cluster: kind, k3d, minikube, a real one. Explicit, so it wins. The value `local` forces the
 *    local control plane even when `KUBECONFIG` is set.
 * 2. `KUBECONFIG`, when it is set and names at least one readable file.
 * 3. Otherwise a local control plane (`ControlPlane.layer`), started for the suite.
 * Building the layer prints one line saying which is used.
 *
 * What a suite gets (`Cluster`): the API server URL, an admin kubeconfig, a namespace and a second
 * one (both empty of leasekit's objects at the start), a scratch folder, `kubectl`, plain API
 * requests (through a `KubeClient` of `@leasekit/kubernetes`), and — when asked for — the
 * kubeconfig of a restricted identity that may only `get`, `create` and `update` leases in the
 * namespace (no watch, list or delete).
 *
 * Guarantees on an existing cluster: the layer creates two namespaces named `<base>-<run id>`
 * (random per `target`, labelled `app.kubernetes.io/managed-by=leasekit-tests`), refuses to adopt
 * one that already exists, puts everything it creates inside them (the restricted identity is a
 * ServiceAccount with a Role and RoleBinding there), and deletes them when the layer is released.
 * It never modifies or deletes anything else.
 *
 * Does not: give process control over the API server or etcd, the static `nobody` user, or the
 * audit log — suites that need those use `ControlPlane` directly and always run locally. On a
 * cluster without a namespace controller (a bare kube-apiserver) deleted namespaces stay
 * `Terminating`; on a real one they disappear shortly after the suite.
 *
 * @since 0.2.0
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ControlPlane from "./ControlPlane.ts"
import { expectStatus, managedBy, ownNamespace, send } from "./internal/cluster/api.ts"
import * as Kubectl from "./internal/cluster/kubectl.ts"
import type { ClusterIdentity, ClusterRequest, ClusterResponse, KubectlResult } from "./internal/cluster/model.ts"
import { ClusterError } from "./internal/cluster/model.ts"
import * as Restricted from "./internal/cluster/restricted.ts"
import { isReadable } from "./internal/files.ts"

export {
  /**
   * A cluster operation failed; `detail` says what and, where it can, how to fix it.
   *
   * @since 0.2.0
   * @category errors
   */
  ClusterError,
  /**
   * As whom a request or kubectl run is made: the cluster's admin, or the restricted identity that
   * may only get, create and update leases in the namespace.
   *
   * @since 0.2.0
   * @category models
   */
  type ClusterIdentity,
  /**
   * A plain API request.
   *
   * @since 0.2.0
   * @category models
   */
  type ClusterRequest,
  /**
   * The answer to a `ClusterRequest`, whatever its status.
   *
   * @since 0.2.0
   * @category models
   */
  type ClusterResponse,
  /**
   * A finished `kubectl` run.
   *
   * @since 0.2.0
   * @category models
   */
  type KubectlResult
} from "./internal/cluster/model.ts"

/**
 * Where the cluster comes from.
 *
 * @since 0.2.0
 * @category models
 */
export type Source =
  | { readonly _tag: "External"; readonly kubeconfig: string; readonly variable: "LEASEKIT_TEST_KUBECONFIG" | "KUBECONFIG" }
  | { readonly _tag: "Local"; readonly why: string }

/**
 * The choice for one test file: where the cluster comes from, and the names its namespaces get.
 *
 * @since 0.2.0
 * @category models
 */
export interface Target {
  readonly source: Source
  /** The environment the choice was made from (also used for `LEASEKIT_TEST_KUBECTL` and `PATH`). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Random, 6 characters: the suffix of namespaces on an existing cluster. */
  readonly runId: string
  /**
   * The namespace for `base`: `base` itself on the local control plane, `base-<run id>` on an
   * existing cluster. Known before the layer is built, for suites that register tests with it.
   */
  readonly namespaceFor: (base: string) => string
}

/**
 * Decides between an existing cluster and a local control plane (see the module comment).
 *
 * @since 0.2.0
 * @category constructors
 */
export const detect = (env: Readonly<Record<string, string | undefined>>): Source => {
  const explicit = env["LEASEKIT_TEST_KUBECONFIG"]?.trim() ?? ""
  if (explicit === "local") return { _tag: "Local", why: "LEASEKIT_TEST_KUBECONFIG=local" }
  if (explicit !== "") {
    // Explicit: used even when unreadable, so that a typo fails loudly instead of testing locally.
    return { _tag: "External", kubeconfig: explicit, variable: "LEASEKIT_TEST_KUBECONFIG" }
  }
  const kubeconfig = env["KUBECONFIG"]?.trim() ?? ""
  if (kubeconfig !== "") {
    const files = kubeconfig.split(Path.delimiter).filter((f) => f !== "")
    if (files.some(isReadable)) return { _tag: "External", kubeconfig, variable: "KUBECONFIG" }
    return { _tag: "Local", why: `KUBECONFIG=${kubeconfig} names no readable file` }
  }
  return { _tag: "Local", why: "neither LEASEKIT_TEST_KUBECONFIG nor KUBECONFIG is set" }
}

/**
 * The target for a test file, from `env` (default `process.env`), with a fresh run id.
 *
 * @since 0.2.0
 * @category constructors
 */
export const target = (env: Readonly<Record<string, string | undefined>> = process.env): Target => {
  const source = detect(env)
  const runId = globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 6)
  return {
    source,
    env,
    runId,
    namespaceFor: (base) => source._tag === "External" ? `${base}-${runId}` : base
  }
}

/**
 * What a suite can use of "a cluster".
 *
 * @since 0.2.0
 * @category models
 */
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
  /**
   * A kubeconfig that may only get, create and update leases in `namespace` (when requested); on
   * an existing cluster a list, as `KUBECONFIG` takes it.
   */
  readonly restrictedKubeconfig: Option.Option<string>
  /** The `kubectl` binary used by `kubectl`, when one was found. */
  readonly kubectlPath: Option.Option<string>
  /** Runs `kubectl args…` as admin (or `as`), bounded to 30 s; fails when no kubectl was found. */
  readonly kubectl: (
    args: ReadonlyArray<string>,
    options?: { readonly stdin?: string | undefined; readonly as?: ClusterIdentity | undefined }
  ) => Effect.Effect<KubectlResult, ClusterError>
  /** One API request, bounded by 15 s; succeeds with the answer whatever its status. */
  readonly request: (request: ClusterRequest) => Effect.Effect<ClusterResponse, ClusterError>
}

/**
 * "A cluster" as a service.
 *
 * @since 0.2.0
 * @category services
 */
export class Cluster extends Context.Service<Cluster, ClusterService>()("@leasekit/testing/Cluster") {}

/**
 * Options of `layer`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClusterOptions {
  /** Base name of the suite's namespace (see `Target.namespaceFor`); on the local control plane, its namespace. */
  readonly namespace: string
  /** Base name of a second namespace. Default `<namespace>-other`. */
  readonly otherNamespace?: string | undefined
  /** Also provide `restrictedKubeconfig`. Default `false`. */
  readonly restricted?: boolean | undefined
  /** The choice of cluster; use one per test file. Default `target()` (from `process.env`). */
  readonly target?: Target | undefined
  /**
   * The local control plane to use when no existing cluster is named — pass the layer other
   * suites of the file use (with the same `memoMap`) to share one. Its namespace must be
   * `namespace`. Default `ControlPlane.layer({ namespace })`.
   */
  readonly controlPlane?: Layer.Layer<ControlPlane.ControlPlane, unknown> | undefined
}

/** What `external` or `local` found, before it is served. */
interface Found {
  readonly client: KubeClient.KubeClientService
  readonly dir: string
  readonly namespace: string
  readonly otherNamespace: string
  readonly restricted: Option.Option<string>
  readonly kubectl: Option.Option<string>
  readonly kubeconfig: string
  readonly description: string
}

/** A scratch folder, deleted with the scope. */
const scratch = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-cluster-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const loadClient = (kubeconfig: string) =>
  KubeClient.makeFromFile(kubeconfig).pipe(
    Effect.mapError((e) => new ClusterError({ detail: `cannot use ${kubeconfig}: ${e.message}`, cause: e }))
  )

const external = (options: ClusterOptions, target: Target, kubeconfig: string, variable: string) =>
  Effect.gen(function*() {
    const namespace = target.namespaceFor(options.namespace)
    const otherNamespace = target.namespaceFor(options.otherNamespace ?? `${options.namespace}-other`)
    const dir = yield* scratch
    const client = yield* loadClient(kubeconfig).pipe(
      Effect.mapError((e) =>
        new ClusterError({ detail: `${variable} names the cluster to test against, but ${e.detail}`, cause: e.cause })
      )
    )
    yield* ownNamespace(client, namespace)
    yield* ownNamespace(client, otherNamespace)
    const restricted = options.restricted === true
      ? Option.some(yield* Restricted.make(client, kubeconfig, namespace, dir))
      : Option.none<string>()
    const kubectl = yield* Kubectl.find(target.env, Option.none(), true)
    const description = `[leasekit tests] cluster: existing, from ${variable}=${kubeconfig} (context ${client.context}, server ${client.server}); namespaces ${namespace}, ${otherNamespace}; kubectl ${
      Option.getOrElse(kubectl, () => "not found")
    }`
    return { client, dir, namespace, otherNamespace, restricted, kubectl, kubeconfig, description } satisfies Found
  })

const local = (options: ClusterOptions, target: Target, why: string) =>
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
    const kubectl = yield* Kubectl.find(target.env, cp.kubectl, false)
    const description = `[leasekit tests] cluster: local control plane (${why}), server ${cp.server}; namespaces ${cp.namespace}, ${otherNamespace}; kubectl ${
      Option.getOrElse(kubectl, () => "not found")
    }`
    const found: Found = {
      client,
      dir,
      namespace: cp.namespace,
      otherNamespace,
      restricted,
      kubectl,
      kubeconfig: cp.users.admin.kubeconfig,
      description
    }
    return found
  })

/** The service over what `external` or `local` found; prints the line that says which. */
const serve = (external: boolean) => (found: Found) =>
  Effect.gen(function*() {
    const restrictedClient = Option.isSome(found.restricted)
      ? Option.some(yield* loadClient(found.restricted.value))
      : Option.none()
    yield* Effect.sync(() => console.log(found.description))
    const service: ClusterService = {
      external,
      description: found.description,
      server: found.client.server,
      kubeconfig: found.kubeconfig,
      namespace: found.namespace,
      otherNamespace: found.otherNamespace,
      dir: found.dir,
      restrictedKubeconfig: found.restricted,
      kubectlPath: found.kubectl,
      kubectl: Kubectl.runner(
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
 * "A cluster" as a layer: an existing cluster when the target names one, else a local control
 * plane (see the module comment). Prints one line saying which.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: ClusterOptions): Layer.Layer<Cluster, unknown> => {
  const chosen = options.target ?? target()
  const source = chosen.source
  return source._tag === "External"
    ? Layer.effect(Cluster, Effect.flatMap(external(options, chosen, source.kubeconfig, source.variable), serve(true)))
    : Layer.effect(Cluster, Effect.flatMap(local(options, chosen, source.why), serve(false))).pipe(
      Layer.provide(options.controlPlane ?? ControlPlane.layer({ namespace: options.namespace }))
    )
}

/**
 * An admin `KubeClient` for the cluster (its own connection pool, closed with the layer).
 *
 * @since 0.2.0
 * @category layers
 */
export const adminClient: Layer.Layer<KubeClient.KubeClient, KubeClient.KubeConfigError, Cluster> = Layer.unwrap(
  Effect.map(Cluster, (cluster) => KubeClient.layerFromFile(cluster.kubeconfig))
)
