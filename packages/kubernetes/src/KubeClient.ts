/**
 * The Kubernetes client leasekit talks through, as a service with layers that configure it.
 *
 * `KubeClient` supplies a configured `@kubernetes/client-node` client: the `KubeConfig`, a
 * `CoordinationV1Api`, and the namespace, context, user and server it resolved to. Layers load it
 * the usual ways — `layerDefault` (client-go's rules: `$KUBECONFIG`, `~/.kube/config`, then the
 * pod's service account), `layerInCluster`, `layerFromFile`, `layerFromString`, and `layerConfig`
 * (from `Config`: `LEASEKIT_KUBECONFIG` / `KUBECONFIG`, `LEASEKIT_CONTEXT`, `LEASEKIT_NAMESPACE`).
 *
 * Guarantees: a configuration that cannot work fails the layer with a `KubeConfigError` whose
 * message names the problem and the fix — never a silent fallback to `localhost:8080`; errors and
 * logs never contain bearer tokens or keys; TLS verification stays on unless the kubeconfig sets
 * `insecure-skip-tls-verify`; bearer tokens from files (`users[].user.tokenFile`, the in-cluster
 * service-account token) are re-read every minute and on `reloadCredentials`, so rotated tokens
 * keep working; one pool of keep-alive connections serves all requests but watches, one HTTP/2
 * connection serves the watches, and both are closed with the layer.
 *
 * Does not: check that the server is reachable or that the credentials are accepted — the first
 * request does (a lock client should start even while the API server is briefly away).
 *
 * @since 0.1.0
 */
import { CoordinationV1Api } from "@kubernetes/client-node"
import type { KubeConfig } from "@kubernetes/client-node"
import { Config, Context, Effect, Layer, Option } from "effect"
import * as NodePath from "node:path"
import * as Internal from "./internal/kubeconfig.ts"
import * as RestClient from "./internal/restClient.ts"

export {
  /**
   * A kubeconfig (or in-cluster configuration) that cannot be used.
   *
   * @since 0.1.0
   * @category errors
   */
  KubeConfigError,
  /**
   * Why a kubeconfig could not be used.
   *
   * @since 0.1.0
   * @category errors
   */
  type KubeConfigErrorReason
} from "./internal/kubeconfig.ts"

/**
 * JSON requests to the API server over pooled keep-alive connections, authenticated as the
 * kubeconfig's user: what `KubernetesLeaseStore` sends all but its watches through.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeRestClient extends RestClient.RestClient {}

/**
 * The HTTP methods `KubeRestClient.request` sends.
 *
 * @since 0.1.0
 * @category models
 */
export type KubeRestMethod = RestClient.Method

/**
 * A configured Kubernetes client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeClientService {
  /** The client configuration (credentials, TLS, the selected context). */
  readonly kubeConfig: KubeConfig
  /** The generated `coordination.k8s.io/v1` API of `@kubernetes/client-node`, for callers of their own. */
  readonly coordination: CoordinationV1Api
  /** Requests on leasekit's own connection pool (at most 100 connections). */
  readonly rest: KubeRestClient
  /** The namespace to use when a caller names none: the option, the context's, or `"default"`. */
  readonly namespace: string
  /** The kubeconfig context in use (`"in-cluster"` in a pod). */
  readonly context: string
  /** The kubeconfig user name, for messages (`"(anonymous)"` when the context names none). */
  readonly user: string
  /** The API server URL. */
  readonly server: string
  /** Where the configuration came from (a file path, `"(kubeconfig string)"`, `"(in-cluster)"`). */
  readonly source: string
  /**
   * Re-reads the current user's bearer-token file and TLS material (client certificate files).
   * Succeeds with `true` when something changed (a request rejected with 401 is then worth one
   * retry), `false` when nothing did.
   */
  readonly reloadCredentials: Effect.Effect<boolean>
}

/**
 * The Kubernetes client service.
 *
 * @since 0.1.0
 * @category services
 */
export class KubeClient extends Context.Service<KubeClient, KubeClientService>()("@leasekit/kubernetes/KubeClient") {}

/**
 * Which context and namespace to use from a kubeconfig.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeClientOptions {
  /** The context to use instead of the kubeconfig's `current-context`. */
  readonly context?: string | undefined
  /** The default namespace instead of the context's (itself defaulting to `"default"`). */
  readonly namespace?: string | undefined
}

const build = (load: Effect.Effect<Internal.Loaded, Internal.KubeConfigError>) =>
  Effect.gen(function*() {
    const loaded = yield* Effect.acquireRelease(load, (l) => Effect.promise(() => l.kubeConfig.close()))
    const kubeConfig = loaded.kubeConfig
    const rest = yield* Effect.acquireRelease(
      Effect.try({
        try: () => RestClient.make(kubeConfig, loaded.server, { maxSockets: 100 }),
        catch: (cause) =>
          new Internal.KubeConfigError({
            reason: "Invalid",
            source: loaded.source,
            detail: `cluster of context "${loaded.context}": ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      }),
      (r) => Effect.sync(r.close)
    )
    return KubeClient.of({
      kubeConfig,
      coordination: kubeConfig.makeApiClient(CoordinationV1Api),
      rest,
      namespace: loaded.namespace,
      context: loaded.context,
      user: loaded.user,
      server: loaded.server,
      source: loaded.source,
      reloadCredentials: Effect.promise(async () => {
        const token = await kubeConfig.reloadCredentials()
        const tls = rest.reload()
        return token || tls
      })
    })
  })

/**
 * Builds a client from a kubeconfig file (or several, separated by the platform's path
 * delimiter, merged as kubectl merges `KUBECONFIG`). Its connection pool lives in the `Scope`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromFile = (path: string, options: KubeClientOptions = {}) =>
  build(Internal.fromFiles(path.split(NodePath.delimiter).filter((p) => p !== ""), options))

/**
 * Builds a client from kubeconfig YAML.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromString = (yaml: string, options: KubeClientOptions = {}) => build(Internal.fromString(yaml, options))

/**
 * Builds a client from the pod's service account (`KUBERNETES_SERVICE_HOST` / `_PORT` and
 * `/var/run/secrets/kubernetes.io/serviceaccount`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeInCluster = (options: { readonly namespace?: string | undefined } = {}) =>
  build(Internal.inCluster(options))

/**
 * Builds a client by client-go's default rules: `$KUBECONFIG`, `~/.kube/config`, then in-cluster.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDefault = (options: KubeClientOptions = {}) => build(Internal.fromDefault(options))

/**
 * A client by client-go's default loading rules: the files in `$KUBECONFIG`, else
 * `~/.kube/config`, else the pod's service account. Finding none fails with `NotFound`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDefault = (options: KubeClientOptions = {}): Layer.Layer<KubeClient, Internal.KubeConfigError> =>
  Layer.effect(KubeClient, makeDefault(options))

/**
 * A client from the pod's service account only.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInCluster = (
  options: { readonly namespace?: string | undefined } = {}
): Layer.Layer<KubeClient, Internal.KubeConfigError> => Layer.effect(KubeClient, makeInCluster(options))

/**
 * A client from a kubeconfig file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromFile = (
  path: string,
  options: KubeClientOptions = {}
): Layer.Layer<KubeClient, Internal.KubeConfigError> => Layer.effect(KubeClient, makeFromFile(path, options))

/**
 * A client from kubeconfig YAML held in memory (relative file paths in it resolve against the
 * working directory).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromString = (
  yaml: string,
  options: KubeClientOptions = {}
): Layer.Layer<KubeClient, Internal.KubeConfigError> => Layer.effect(KubeClient, makeFromString(yaml, options))

/**
 * Where `layerConfig` reads its settings from.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<{
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
  readonly namespace: Option.Option<string>
}> = Config.all({
  kubeconfig: Config.option(Config.String("LEASEKIT_KUBECONFIG").pipe(Config.orElse(() => Config.String("KUBECONFIG")))),
  context: Config.option(Config.String("LEASEKIT_CONTEXT")),
  namespace: Config.option(Config.String("LEASEKIT_NAMESPACE"))
})

/**
 * A client configured from `Config`: the kubeconfig file(s) in `LEASEKIT_KUBECONFIG` (else
 * `KUBECONFIG`; else `~/.kube/config`, else in-cluster), the context in `LEASEKIT_CONTEXT`, the
 * default namespace in `LEASEKIT_NAMESPACE`. Pass another `Config` to read other keys.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  settings: Config.Config<{
    readonly kubeconfig: Option.Option<string>
    readonly context: Option.Option<string>
    readonly namespace: Option.Option<string>
  }> = config
): Layer.Layer<KubeClient, Internal.KubeConfigError | Config.ConfigError> =>
  Layer.effect(
    KubeClient,
    Effect.gen(function*() {
      const { context, kubeconfig, namespace } = yield* settings
      const options = { context: Option.getOrUndefined(context), namespace: Option.getOrUndefined(namespace) }
      return yield* build(Internal.fromDefault({ ...options, kubeconfig: Option.getOrElse(kubeconfig, () => "") }))
    })
  )
