/**
 * The cluster of the selected context: its server URL, TLS verification (CA, server name,
 * `insecure-skip-tls-verify`) and proxy, checked as kubectl checks them.
 *
 * Guarantees: the server is an http(s) URL without a trailing slash and without user name or
 * password (`serverParts` keeps them for the user resolver); plain `http://` only with
 * `insecure-skip-tls-verify: true`; a CA is refused together with `insecure-skip-tls-verify` (client-go:
 * "specifying a root certificates file with the insecure flag is not allowed") and a file together
 * with inline data; a CA file exists; the proxy is http(s) (SOCKS is refused). URLs in messages are
 * redacted.
 * Does not: read the CA file's content (the transport does), or check that the server is reachable.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { fail, type KubeConfigError } from "./error.ts"
import { fieldsOf } from "./fields.ts"
import { type TlsSource, tlsSource } from "./loaded.ts"
import { fileExists, nameOf, type Raw, resolveIn } from "./raw.ts"
import { redactUrl, splitUserinfo } from "./url.ts"

/** The selected context's cluster, checked. */
export interface Cluster {
  /** The `server` as written (with any user name and password: redact it in messages). */
  readonly rawServer: string
  /** `rawServer` split into the URL without userinfo and its user name and password. */
  readonly serverParts: ReturnType<typeof splitUserinfo>
  /** The API server URL without a trailing slash and without user name or password. */
  readonly server: string
  readonly insecureSkipTlsVerify: boolean
  readonly plainHttp: boolean
  readonly caData: Buffer | undefined
  /** The CA file, absolute. */
  readonly caPath: string | undefined
  readonly ca: TlsSource | undefined
  readonly serverName: string | undefined
  readonly proxyUrl: string | undefined
}

/** Resolves and checks cluster `clusterName` of context `requested` (`baseDir` resolves relative paths). */
export const resolveCluster = (
  source: string,
  baseDir: string | undefined,
  requested: string,
  clusterName: string,
  clusters: ReadonlyArray<Raw>
): Effect.Effect<Cluster, KubeConfigError> =>
  Effect.gen(function*() {
    const clusterEntry = clusters.find((c) => nameOf(c) === clusterName)
    if (clusterEntry === undefined) {
      return yield* fail(
        "NoCluster",
        source,
        clusterName === ""
          ? `context "${requested}" names no cluster; add contexts[].context.cluster`
          : `context "${requested}" names cluster "${clusterName}", which is not defined under clusters; add it or fix the context`
      )
    }
    const clusterBody = (yield* fieldsOf(source, clusterEntry, `clusters["${clusterName}"]`).mapping("cluster")) ?? {}
    const cluster = fieldsOf(source, clusterBody, `clusters["${clusterName}"].cluster`)
    const rawServer = (yield* cluster.string("server")) ?? ""
    if (rawServer === "") {
      return yield* fail("NoCluster", source, `cluster "${clusterName}" has no server URL; set clusters[].cluster.server`)
    }
    if (!/^https?:\/\//.test(rawServer) || !URL.canParse(rawServer)) {
      return yield* fail(
        "NoCluster",
        source,
        `cluster "${clusterName}" has server "${
          redactUrl(rawServer)
        }", which is not an http(s) URL; set clusters[].cluster.server to https://HOST:PORT`
      )
    }
    const serverParts = splitUserinfo(rawServer)
    const server = serverParts.url.replace(/\/$/, "")
    const insecureSkipTlsVerify = yield* cluster.boolean("insecure-skip-tls-verify")
    const plainHttp = server.startsWith("http:")
    if (plainHttp && !insecureSkipTlsVerify) {
      return yield* fail(
        "NoCluster",
        source,
        `cluster "${clusterName}" uses plain http (${server}) without insecure-skip-tls-verify: true; use https, or set insecure-skip-tls-verify: true to accept an unencrypted connection`
      )
    }

    const caFile = yield* cluster.string("certificate-authority")
    const caData = yield* cluster.base64("certificate-authority-data")
    if (caFile !== undefined && caData !== undefined) {
      return yield* fail(
        "Invalid",
        source,
        `cluster "${clusterName}" sets both certificate-authority and certificate-authority-data; keep one (kubectl refuses both)`
      )
    }
    if ((caFile !== undefined || caData !== undefined) && insecureSkipTlsVerify) {
      return yield* fail(
        "Invalid",
        source,
        `cluster "${clusterName}" sets a certificate authority (certificate-authority${
          caFile === undefined ? "-data" : ""
        }) and insecure-skip-tls-verify: true, which would ignore it (client-go refuses this too: "specifying a root certificates file with the insecure flag is not allowed"); remove insecure-skip-tls-verify to verify the server, or remove the certificate authority`
      )
    }
    const caPath = caFile === undefined ? undefined : resolveIn(baseDir, caFile)
    if (caPath !== undefined && !(yield* fileExists(caPath))) {
      return yield* fail(
        "Unreadable",
        source,
        `the certificate-authority file ${caPath} of cluster "${clusterName}" cannot be read; fix the path or use certificate-authority-data`
      )
    }
    const serverName = yield* cluster.string("tls-server-name")

    const proxyUrl = yield* cluster.string("proxy-url")
    if (proxyUrl !== undefined) {
      const shown = redactUrl(proxyUrl)
      const parsed = URL.canParse(proxyUrl) ? new URL(proxyUrl) : undefined
      if (parsed !== undefined && parsed.protocol.startsWith("socks")) {
        return yield* fail(
          "Invalid",
          source,
          `cluster "${clusterName}" has proxy-url "${shown}", a SOCKS proxy; leasekit supports http:// and https:// proxies only: use an HTTP CONNECT proxy or remove proxy-url`
        )
      }
      if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.host === "") {
        return yield* fail(
          "Invalid",
          source,
          `cluster "${clusterName}" has proxy-url "${shown}", which is not an http(s) proxy URL; leasekit supports http:// and https:// proxies only: set it to http://HOST:PORT`
        )
      }
    }
    const ca = tlsSource(baseDir, caFile, caData)
    return { rawServer, serverParts, server, insecureSkipTlsVerify, plainHttp, caData, caPath, ca, serverName, proxyUrl }
  })
