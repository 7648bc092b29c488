/**
 * The Kubernetes API client leasekit talks through, as a service with layers that configure it.
 *
 * `KubeClient` supplies Effect's `HttpClient` for one kubeconfig context — requests are written
 * relative to the API server (`/apis/coordination.k8s.io/v1/…`), sent authenticated as the
 * context's user over one pool of keep-alive connections carrying its TLS material — and the
 * namespace, context, user and server it resolved to. Layers load it the usual ways —
 * `layerDefault` (client-go's rules: `$KUBECONFIG`, `~/.kube/config`, then the pod's service
 * account), `layerInCluster`, `layerFromFile`, `layerFromString`, and `layerConfig` (from `Config`:
 * `LEASEKIT_KUBECONFIG` / `KUBECONFIG`, `LEASEKIT_CONTEXT`, `LEASEKIT_NAMESPACE`).
 *
 * Guarantees: a configuration that cannot work fails the layer with a `KubeConfigError` whose
 * message names the problem and the fix — never a silent fallback to `localhost:8080`; errors and
 * logs never contain bearer tokens, keys, credential-plugin output or credentials inside URLs; TLS
 * verification stays on unless the kubeconfig sets `insecure-skip-tls-verify` (and never together
 * with a CA); bearer tokens from files (`users[].user.tokenFile`, the in-cluster service-account
 * token) are re-read every minute, and a 401 makes the client re-read token and certificate files
 * and re-run an `exec` plugin, then retry once, so rotated credentials keep working; `exec`
 * plugins are bounded (timeout, one run shared by concurrent requests, cached until the
 * credential expires, stdin closed unless the kubeconfig allows prompting); answers are read up
 * to a size limit. The connections (and a running plugin) close with the layer.
 *
 * Does not: check that the server is reachable or that the credentials are accepted — the first
 * request does (a lock client should start even while the API server is briefly away); time
 * requests out or retry them (the lease store has its own policy).
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as HttpClient from "effect/http/HttpClient"
import * as NodePath from "node:path"
import * as Internal from "./internal/kubeconfig.ts"
import * as Transport from "./internal/transport.ts"

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
 * A configured Kubernetes client.
 *
 * @since 0.1.0
 * @category models
 */
export interface KubeClientService {
  /**
   * Requests to the API server: URLs are paths below the server URL (`/api/v1/namespaces`),
   * authenticated as the context's user, on one pool of at most 100 keep-alive connections (a
   * watch, `?watch=true`, gets a connection of its own). An answer of 401 is retried once after the
   * credentials were refreshed, when they changed. Bodies are sent from memory (JSON, text, bytes;
   * not streams) and answers are read up to 16 MiB.
   */
  readonly http: HttpClient.HttpClient
  /** The namespace to use when a caller names none: the option, the context's, or `"default"`. */
  readonly namespace: string
  /** The kubeconfig context in use (`"in-cluster"` in a pod). */
  readonly context: string
  /** The kubeconfig user name, for messages (`"(anonymous)"` when the context names none). */
  readonly user: string
  /** The API server URL (credentials inside it removed). */
  readonly server: string
  /** Where the configuration came from (a file path, `"(kubeconfig string)"`, `"(in-cluster)"`). */
  readonly source: string
  /**
   * Re-reads the user's token and certificate files and re-runs its `exec` plugin. Succeeds with
   * `true` when something changed (a request rejected with 401 is then worth one retry), `false`
   * when nothing did (or the plugin failed).
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
  /**
   * How long an `exec` credential plugin may run before it is stopped (and the requests waiting
   * for it fail with `Credentials`). Default 30 seconds; a plugin that opens a browser for a login
   * may need more.
   */
  readonly execTimeout?: Duration.Input | undefined
}

const build = (
  load: Effect.Effect<Internal.Loaded, Internal.KubeConfigError>,
  options: { readonly execTimeout?: Duration.Input | undefined } = {}
) =>
  Effect.gen(function*() {
    const loaded = yield* load
    for (const warning of loaded.warnings) yield* Effect.logWarning(`kubeconfig ${loaded.source}: ${warning}`)
    const transport = yield* Transport.make(loaded, { execTimeout: options.execTimeout }).pipe(
      Effect.mapError((error) =>
        new Internal.KubeConfigError({
          reason: "NoCredentials",
          source: loaded.source,
          detail: error.detail,
          cause: error
        })
      )
    )
    return KubeClient.of({
      http: transport.http,
      namespace: loaded.namespace,
      context: loaded.context,
      user: loaded.user,
      server: loaded.server,
      source: loaded.source,
      reloadCredentials: transport.reloadCredentials
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
  build(Internal.fromFiles(path.split(NodePath.delimiter).filter((p) => p !== ""), options), options)

/**
 * Builds a client from kubeconfig YAML.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromString = (yaml: string, options: KubeClientOptions = {}) =>
  build(Internal.fromString(yaml, options), options)

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
export const makeDefault = (options: KubeClientOptions = {}) => build(Internal.fromDefault(options), options)

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
