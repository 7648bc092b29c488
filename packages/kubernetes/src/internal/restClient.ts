/**
 * JSON requests to the API server over one pool of keep-alive HTTP/1.1 connections (`node:https`).
 *
 * This is the store's request path for everything but watches. The generated
 * `@kubernetes/client-node` API costs about 770 µs of CPU per request on top of the 424 µs a bare
 * `node:https` PUT costs (measured in `bench/`, figure 6): it reads the CA and client-certificate
 * files on every request, builds a new undici `Agent` per request, and goes through `fetch`, WHATWG
 * streams and its object serializer. A lease renewal is one small PUT; it should cost what a PUT
 * costs.
 *
 * Guarantees: TLS material (CA, client certificate and key, `insecure-skip-tls-verify`,
 * `tls-server-name`) and the static headers (bearer token, basic auth, impersonation) are taken
 * from the current context of the loaded kubeconfig when the client is built; `reload` re-reads
 * the CA and certificate *files* (so rotated client certificates are picked up after a 401); users with
 * `exec` or `auth-provider` credentials get their `Authorization` header from client-node on every
 * request (it caches the plugin's token until it expires); token files are served by
 * `LeasekitKubeConfig` (re-read every minute). At most `maxSockets` connections are open; a
 * request aborted by its signal destroys only its own connection (no shared HTTP/2 connection to
 * reset). A cluster's `proxy-url` (http or https) is honoured. An answer of 300 or above rejects
 * with `RestStatusError` (status code and raw body); a network failure rejects with the socket's
 * error (its errno or TLS code kept).
 *
 * Does not: time out (callers abort through the signal), retry, follow redirects, decompress, or
 * stream (watches use client-node's `Watch`); support SOCKS proxies (building the client fails).
 *
 * @internal
 */
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Tls from "node:tls"
import type { LeasekitKubeConfig } from "./kubeconfig.ts"

/** An answer of 300 or above; `body` is the raw response (a `Status` object, usually). */
export class RestStatusError extends Error {
  readonly statusCode: number
  readonly body: string
  constructor(method: string, path: string, statusCode: number, body: string) {
    super(`${method} ${path}: HTTP ${statusCode}`)
    this.name = "RestStatusError"
    this.statusCode = statusCode
    this.body = body
  }
}

/**
 * The HTTP methods the lease store uses.
 *
 * @inline
 */
export type Method = "GET" | "POST" | "PUT" | "DELETE"

/**
 * JSON requests to one API server.
 *
 * @internal
 * @inline
 */
export interface RestClient {
  /**
   * Sends `body` (JSON) to `path` (below the server URL, with its query string); resolves with the
   * parsed JSON answer.
   */
  readonly request: (method: Method, path: string, body: unknown, signal: AbortSignal) => Promise<unknown>
  /**
   * Re-reads the CA and client-certificate files; true when they changed (false, keeping the old
   * ones, when they cannot be read).
   */
  readonly reload: () => boolean
  /** Closes every pooled connection. */
  readonly close: () => void
}

const readFile = (file: string | undefined, data: string | undefined): Buffer | undefined =>
  file !== undefined && file !== "" ? Fs.readFileSync(file) : data !== undefined && data !== "" ? Buffer.from(data, "base64") : undefined

/** The TLS material of the current context: inline data, or files read now (as client-node reads them). */
const readTlsMaterial = (kubeConfig: LeasekitKubeConfig) => {
  const cluster = kubeConfig.getCurrentCluster()
  const user = kubeConfig.getCurrentUser()
  const material = {
    ca: readFile(cluster?.caFile, cluster?.caData),
    cert: readFile(user?.certFile, user?.certData),
    key: readFile(user?.keyFile, user?.keyData)
  }
  /** Comparable form, to see whether a reload changed anything. */
  const fingerprint = [material.ca, material.cert, material.key].map((b) => b?.toString("base64") ?? "").join("/")
  return { material, fingerprint }
}

/** Agent options for `material`: one secure context for every connection (given the CA and keys
 * instead, Node parses them again for each new connection). */
const tlsOptions = (kubeConfig: LeasekitKubeConfig, material: ReturnType<typeof readTlsMaterial>["material"]): Https.AgentOptions => {
  const cluster = kubeConfig.getCurrentCluster()
  const { ca, cert, key } = material
  return {
    secureContext: Tls.createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key })
    }),
    ...(cluster?.skipTLSVerify === true ? { rejectUnauthorized: false } : {}),
    ...(cluster?.tlsServerName === undefined || cluster.tlsServerName === "" ? {} : { servername: cluster.tlsServerName })
  }
}

/** The headers every request carries: the static credentials of the (loaded, unchanging) kubeconfig. */
const staticHeaders = (kubeConfig: LeasekitKubeConfig): Readonly<Record<string, string>> => {
  const user = kubeConfig.getCurrentUser()
  const headers: Record<string, string> = { Accept: "application/json" }
  if (user?.impersonateUser !== undefined && user.impersonateUser !== "") headers["Impersonate-User"] = user.impersonateUser
  if (user?.token !== undefined && user.token !== "") headers["Authorization"] = `Bearer ${user.token}`
  else if (user?.username !== undefined && user.username !== "") {
    headers["Authorization"] = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`
  }
  return headers
}

/** The `Authorization` header client-node computes for an `exec` / `auth-provider` user. */
const pluginAuthorization = async (kubeConfig: LeasekitKubeConfig): Promise<string | undefined> => {
  const options: Https.RequestOptions = {}
  await kubeConfig.applyToHTTPSOptions(options)
  const headers = options.headers === undefined || Array.isArray(options.headers) ? {} : options.headers as Http.OutgoingHttpHeaders
  const value = headers["Authorization"] ?? headers["authorization"]
  return typeof value === "string" ? value : undefined
}

/**
 * Builds the client for `server` (the kubeconfig's cluster URL, possibly with a path prefix).
 *
 * @internal
 */
export const make = (
  kubeConfig: LeasekitKubeConfig,
  server: string,
  options: { readonly maxSockets: number }
): RestClient => {
  const url = new URL(server)
  const secure = url.protocol === "https:"
  const transport = secure ? Https : Http
  const prefix = url.pathname.replace(/\/$/, "")
  // `URL` keeps the brackets of an IPv6 host; `http.request` wants them off.
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1")
  const proxyUrl = kubeConfig.getCurrentCluster()?.proxyUrl
  if (proxyUrl !== undefined && proxyUrl !== "" && !/^https?:\/\//.test(proxyUrl)) {
    throw new Error(
      `proxy-url "${proxyUrl}" is not an http(s) proxy; leasekit supports http:// and https:// proxies only`
    )
  }
  const proxyEnv = proxyUrl === undefined || proxyUrl === "" ? undefined : { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl }

  const newAgent = (tls: Https.AgentOptions) =>
    new transport.Agent({
      keepAlive: true,
      // TCP keep-alive probes after 30 s idle, as client-go.
      keepAliveMsecs: 30_000,
      maxSockets: options.maxSockets,
      // Keep every connection a burst opened: closing them and handshaking again for the next
      // burst costs more CPU than the renewals themselves (measured with 1,000 leases). Idle
      // ones close after a minute, before the API server's 90 s idle timeout can race a request.
      maxFreeSockets: options.maxSockets,
      timeout: 60_000,
      scheduling: "lifo",
      ...(secure ? tls : {}),
      ...(proxyEnv === undefined ? {} : { proxyEnv })
    })

  /** Requests in flight on an old agent's connections finish; each connection closes once idle. */
  const retire = (old: Http.Agent) => {
    old.on("free", (socket) => socket.destroy())
    for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy()
  }

  let tls = readTlsMaterial(kubeConfig)
  let agent = newAgent(tlsOptions(kubeConfig, tls.material))

  // The user (and so its token file or plugin) is fixed once the kubeconfig is loaded.
  const baseHeaders = staticHeaders(kubeConfig)
  const tokenFile = kubeConfig.currentTokenFile()
  const user = kubeConfig.getCurrentUser()
  const plugin = user !== null && (user.exec !== undefined || user.authProvider !== undefined)
  const withAuthorization = (header: string | undefined) =>
    header === undefined ? baseHeaders : { ...baseHeaders, Authorization: header }
  const headers = async (): Promise<Readonly<Record<string, string>>> =>
    tokenFile !== undefined
      ? withAuthorization(await tokenFile.authorization())
      : plugin
      ? withAuthorization(await pluginAuthorization(kubeConfig))
      : baseHeaders

  const send = (
    method: Method,
    path: string,
    body: unknown,
    signal: AbortSignal,
    headers: Readonly<Record<string, string>>
  ) =>
    new Promise<unknown>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const request = transport.request({
        protocol: url.protocol,
        hostname,
        port: url.port,
        path: prefix + path,
        method,
        agent,
        signal,
        headers: payload === undefined
          ? headers
          : { ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) }
      }, (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          text += chunk
        })
        response.on("error", reject)
        response.on("end", () => {
          const status = response.statusCode ?? 0
          if (status < 200 || status >= 300) return reject(new RestStatusError(method, path, status, text))
          try {
            resolve(text === "" ? undefined : JSON.parse(text))
          } catch (error) {
            reject(error)
          }
        })
      })
      request.on("error", reject)
      request.end(payload)
    })

  return {
    request: (method, path, body, signal) => headers().then((h) => send(method, path, body, signal, h)),
    reload: () => {
      let next: ReturnType<typeof readTlsMaterial>
      try {
        next = readTlsMaterial(kubeConfig)
      } catch {
        return false
      }
      if (next.fingerprint === tls.fingerprint) return false
      retire(agent)
      agent = newAgent(tlsOptions(kubeConfig, next.material))
      tls = next
      return true
    },
    close: () => agent.destroy()
  }
}
