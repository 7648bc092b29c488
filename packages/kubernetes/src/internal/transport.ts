/**
 * The HTTP client of one kubeconfig context: requests below the cluster's server URL, over one
 * pool of keep-alive connections that carries the kubeconfig's TLS material, authenticated as its
 * user, through the proxy client-go would use.
 *
 * Connections: one `https.Agent` (`http.Agent` for a plain-http server) with one secure context
 * built once from the CA, client certificate and key (Node otherwise parses them again for every
 * new connection); TCP keep-alive probes after 30 s idle, idle connections closed after a minute
 * (before the API server's 90 s idle timeout can race a request); at most `maxSockets` open. When
 * the TLS material changes (rotated certificate files after a 401, a new certificate from an
 * `exec` plugin) a new agent takes over; requests in flight on the old one finish and its
 * connections close once idle. Watches (`?watch=true`) go through agents of their own with no
 * connection limit and no pooling, so that watches never take the sockets renewals need.
 *
 * Proxy: the cluster's `proxy-url`, else `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` as Go reads them
 * (`proxy.ts`; loopback servers are never proxied). Through a proxy the `Authorization` header
 * travels inside the tunnel only. A failure on the way to an https server's proxy (unreachable,
 * its certificate refused, the CONNECT refused) fails the request with a `ProxyFailure`, so that
 * it is not taken for the API server's. Node checks an https proxy's certificate against its own
 * CA list (plus `NODE_EXTRA_CA_CERTS`), not the kubeconfig's CA, and regardless of
 * `insecure-skip-tls-verify` (client-go uses the cluster's TLS settings for the proxy too).
 *
 * Authentication: `credentials.ts` supplies the headers per request, outside the
 * `HttpClientRequest`, so they never appear in an error, a log or a span. An answer of 401 makes
 * the client refresh the credentials (token file, certificate files, `exec` plugin) and, when
 * anything changed, send the request once more — for every caller of `KubeClient.http`, not only
 * the lease store.
 *
 * Bounds: every answer body is read up to `maxBodyBytes` (default 16 MiB), after which the read
 * fails instead of buffering without end.
 *
 * Does not: retry anything but that one 401, time requests out (callers do), or follow redirects.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as NodeHttp from "node:http"
import * as Https from "node:https"
import type { Duplex } from "node:stream"
import * as Tls from "node:tls"
import * as Credentials from "./credentials.ts"
import { type Loaded, redactUrl } from "./kubeconfig.ts"
import * as NodeRunner from "./nodeRunner.ts"
import * as Proxy from "./proxy.ts"

/** The client of one context. */
export interface Transport {
  readonly http: HttpClient.HttpClient
  /** Re-reads token and certificate files and re-runs an `exec` plugin; true when anything changed. */
  readonly reloadCredentials: Effect.Effect<boolean>
}

/** Whether Node's agents take `proxyEnv` (Node 22.21+ on the 22 line, 24.5+). */
const nodeHasProxySupport = (version: string): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21)
}

/**
 * An https agent that tunnels through a proxy and tells failures on the way to the proxy from
 * failures beyond it: Node hands a failure to `createConnection`'s callback with the socket it
 * happened on — the proxy's (the one `createConnection` returns) or the tunnelled connection to
 * the API server — and reports both alike otherwise.
 */
class ProxiedAgent extends Https.Agent {
  private readonly proxy: URL
  constructor(options: Https.AgentOptions, proxy: URL) {
    super(options)
    this.proxy = proxy
  }
  override createConnection(
    options: Https.RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void
  ): Duplex | null | undefined {
    if (callback === undefined) return super.createConnection(options)
    let toProxy: Duplex | null | undefined = undefined
    toProxy = super.createConnection(options, (error, stream) =>
      callback(error !== null && stream === toProxy ? new Proxy.ProxyFailure(this.proxy, error) : error, stream))
    return toProxy
  }
}

/** Options of the transport. */
export interface Options {
  readonly maxSockets?: number | undefined
  readonly maxBodyBytes?: number | undefined
  /** The environment the proxy variables are read from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  readonly execTimeout?: import("effect/Duration").Input | undefined
}

/**
 * Builds the client of `loaded`. Its connections (and an `exec` plugin still running) are closed
 * with the scope.
 *
 * @internal
 */
export const make = (
  loaded: Loaded,
  options: Options = {}
): Effect.Effect<Transport, Credentials.CredentialsError, Scope.Scope> =>
  Effect.gen(function*() {
    const maxSockets = options.maxSockets ?? 100
    const serverUrl = new URL(loaded.server)
    const proxy = Proxy.proxyFor(serverUrl, loaded.proxyUrl, options.env ?? process.env)
    // Node's agents tunnel through the proxy named in `proxyEnv` (both variables: the server's
    // scheme picks one); no NO_PROXY, the choice is made. Without a proxy, an empty `proxyEnv`
    // keeps Node from applying its own reading of the environment (`NODE_USE_ENV_PROXY`).
    const proxyEnv = proxy === undefined ? {} : { HTTP_PROXY: proxy.href, HTTPS_PROXY: proxy.href }
    if (proxy !== undefined && !nodeHasProxySupport(process.versions.node)) {
      return yield* new Credentials.CredentialsError({
        user: loaded.user,
        detail: `the API server is reached through the proxy ${
          redactUrl(proxy.href)
        }, which needs Node.js 22.21 or 24.5 and later (agents' proxyEnv); this is Node.js ${process.versions.node}`
      })
    }
    const credentials = yield* Credentials.make(loaded, { execTimeout: options.execTimeout })

    const agentOptions = (tls: Credentials.TlsMaterial): Https.AgentOptions => ({
      keepAlive: true,
      keepAliveMsecs: 30_000,
      maxSockets,
      // Keep every connection a burst opened: closing them and handshaking again for the next
      // burst costs more CPU than the renewals themselves (measured with 1,000 leases).
      maxFreeSockets: maxSockets,
      timeout: 60_000,
      scheduling: "lifo",
      secureContext: Tls.createSecureContext({
        ...(tls.ca === undefined ? {} : { ca: tls.ca }),
        ...(tls.cert === undefined ? {} : { cert: tls.cert }),
        ...(tls.key === undefined ? {} : { key: tls.key })
      }),
      ...(loaded.tls.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
      ...(loaded.tls.serverName === undefined || loaded.tls.serverName === "" ? {} : { servername: loaded.tls.serverName }),
      proxyEnv
    })

    /** Requests in flight on an old agent finish; each of its connections closes once idle. */
    const retire = (old: NodeHttp.Agent) => {
      old.on("free", (socket) => socket.destroy())
      for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy()
    }

    // Built on the first request: making the client runs no credential plugin.
    let generation = -1
    let agents: NodeRunner.Agents | undefined
    const build = (tls: Credentials.TlsMaterial): NodeRunner.Agents => {
      const options = agentOptions(tls)
      // A watch holds its connection until the server ends it: one connection per watch, never
      // idle in a pool.
      const watchOptions = { ...options, maxSockets: Infinity, maxFreeSockets: 0, keepAlive: false }
      const httpsAgent = (o: Https.AgentOptions) => proxy === undefined ? new Https.Agent(o) : new ProxiedAgent(o, proxy)
      return {
        https: httpsAgent(options),
        http: new NodeHttp.Agent(options),
        watch: { https: httpsAgent(watchOptions), http: new NodeHttp.Agent(watchOptions) }
      }
    }
    const destroy = (a: NodeRunner.Agents) => {
      a.https.destroy()
      a.http.destroy()
      a.watch.https.destroy()
      a.watch.http.destroy()
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => agents !== undefined && destroy(agents)))

    const transportError = (request: HttpClientRequest.HttpClientRequest) => (error: Credentials.CredentialsError) =>
      new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause: error }) })

    const prepare = (request: HttpClientRequest.HttpClientRequest) =>
      credentials.current.pipe(
        Effect.mapError(transportError(request)),
        Effect.map((presented): NodeRunner.Prepared => {
          if (presented.tls.generation !== generation || agents === undefined) {
            // Requests in flight on the old agents finish; watches end at their next reconnect.
            if (agents !== undefined) for (const old of [agents.https, agents.http, agents.watch.https, agents.watch.http]) retire(old)
            agents = build(presented.tls)
            generation = presented.tls.generation
          }
          return {
            headers: presented.headers,
            agents,
            rejected: Effect.mapError(presented.rejected, transportError(request))
          }
        })
      )

    const http = NodeRunner.make({ prepare, maxBodyBytes: options.maxBodyBytes ?? 16 * 1024 * 1024 }).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(loaded.server))
    )

    return {
      http,
      reloadCredentials: credentials.refresh.pipe(Effect.orElseSucceed(() => false))
    }
  })
