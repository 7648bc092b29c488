/**
 * The exec plugin protocol (`client.authentication.k8s.io`), the pure pieces of a run: which
 * program to spawn (`resolveCommand`), whether it gets standard input (`interactivity`), the
 * `KUBERNETES_EXEC_INFO` it is given (`execInfo`), and reading what it printed into a credential
 * (`decodeCredential`).
 *
 * Guarantees: a credential is a token, a client certificate and key (both PEM), or both, of the
 * configured apiVersion, not expired; a failure says what is wrong in words of its own, never quoting
 * the output; the token and the key are `Redacted`.
 * Does not: spawn, bound or cache runs (the source in `execCredential.ts` does).
 *
 * @internal
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as path from "node:path"
import type { ExecApiVersion, ExecConfig, InteractiveMode } from "./config.ts"
import { describeIssue, optionalNullable } from "./schema.ts"

/** What `KUBERNETES_EXEC_INFO`'s `spec.cluster` says about the cluster (client-go's `Cluster`). */
export interface ClusterInfo {
  readonly server: string
  /**
   * The CA bundle, base64 of PEM exactly as in the kubeconfig's `certificate-authority-data`
   * (when the kubeconfig names a `certificate-authority` file, the caller reads and encodes it).
   */
  readonly certificateAuthorityData?: string | undefined
  readonly insecureSkipTlsVerify: boolean
  readonly tlsServerName?: string | undefined
  readonly proxyUrl?: string | undefined
}

/** A credential a plugin printed: a token, a client certificate and key, or both. */
export interface ExecCredential {
  readonly token?: Redacted.Redacted<string> | undefined
  /** PEM. */
  readonly clientCertificateData?: string | undefined
  /** PEM; present exactly when `clientCertificateData` is. */
  readonly clientKeyData?: Redacted.Redacted<string> | undefined
  /** `status.expirationTimestamp` in epoch milliseconds; undefined → valid until refreshed. */
  readonly expiresAt?: number | undefined
  /** Which run of the plugin produced it (1, 2, …): `refresh` uses it to tell stale from fresh. */
  readonly generation: number
}


/**
 * The program to spawn: a command with a path separator that is not absolute is taken relative
 * to `baseDir` (the working directory when undefined); a bare name stays bare, for `PATH`.
 */
export const resolveCommand = (command: string, baseDir: string | undefined): string =>
  command.includes(path.sep) && !path.isAbsolute(command) ? path.resolve(baseDir ?? process.cwd(), command) : command

/**
 * Whether the plugin gets standard input (client-go's `isInteractive`): true / false, or
 * `"unavailable"` when `Always` meets a standard input that is not a terminal.
 */
export const interactivity = (mode: InteractiveMode, stdinIsTerminal: boolean): boolean | "unavailable" => {
  switch (mode) {
    case "Never":
      return false
    case "IfAvailable":
      return stdinIsTerminal
    case "Always":
      return stdinIsTerminal ? true : "unavailable"
  }
}

/** The value of `KUBERNETES_EXEC_INFO` (JSON as client-go encodes it; empty fields omitted). */
export const execInfo = (config: ExecConfig, cluster: ClusterInfo, interactive: boolean): string => {
  const spec: Record<string, unknown> = { interactive }
  if (config.provideClusterInfo) {
    const info: Record<string, unknown> = { server: cluster.server }
    if (cluster.tlsServerName) info["tls-server-name"] = cluster.tlsServerName
    if (cluster.insecureSkipTlsVerify) info["insecure-skip-tls-verify"] = true
    if (cluster.certificateAuthorityData) info["certificate-authority-data"] = cluster.certificateAuthorityData
    if (cluster.proxyUrl) info["proxy-url"] = cluster.proxyUrl
    if (config.config !== undefined && config.config !== null) info.config = config.config
    spec.cluster = info
  }
  return JSON.stringify({ kind: "ExecCredential", apiVersion: config.apiVersion, spec })
}

const ExecCredentialWire = Schema.Struct({
  apiVersion: optionalNullable(Schema.String),
  kind: optionalNullable(Schema.String),
  status: optionalNullable(Schema.Struct({
    token: optionalNullable(Schema.String),
    clientCertificateData: optionalNullable(Schema.String),
    clientKeyData: optionalNullable(Schema.String),
    expirationTimestamp: optionalNullable(Schema.String)
  }))
})

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const pem = /-----BEGIN [A-Z0-9 ]+-----/

const parseJson = (text: string): Result.Result<unknown, void> => Result.try({ try: () => JSON.parse(text), catch: () => undefined })

/**
 * Reads what a plugin printed into a credential, or says what is wrong with it — in words of its
 * own, never quoting the output. `now` is epoch milliseconds.
 */
export const decodeCredential = (
  stdout: string,
  apiVersion: ExecApiVersion,
  now: number,
  generation: number
): Result.Result<ExecCredential, string> => {
  const json = parseJson(stdout)
  if (Result.isFailure(json)) return Result.fail("it did not print JSON on standard output")
  const decoded = Schema.decodeUnknownResult(ExecCredentialWire)(json.success, { errors: "all" })
  if (Result.isFailure(decoded)) {
    return Result.fail(`it printed JSON that is not an ExecCredential: ${describeIssue(decoded.failure.issue, "output")}`)
  }
  const credential = decoded.success
  if (credential.kind !== "ExecCredential") return Result.fail("it printed JSON whose kind is not ExecCredential")
  if (credential.apiVersion !== apiVersion) {
    return Result.fail(
      `it printed an ExecCredential whose apiVersion is not the kubeconfig's ${apiVersion} (a plugin answers in the version it is given in KUBERNETES_EXEC_INFO; fix exec.apiVersion or update the plugin)`
    )
  }
  const status = credential.status
  if (status === undefined || status === null) return Result.fail("it printed an ExecCredential without a status")
  const token = status.token || undefined
  const certificate = status.clientCertificateData || undefined
  const key = status.clientKeyData || undefined
  if (token === undefined && certificate === undefined && key === undefined) {
    return Result.fail("it printed an ExecCredential with neither a token nor a client certificate and key")
  }
  if ((certificate === undefined) !== (key === undefined)) {
    return Result.fail(`it printed a client ${certificate === undefined ? "key without a certificate" : "certificate without a key"}`)
  }
  if (certificate !== undefined && !pem.test(certificate)) return Result.fail("status.clientCertificateData is not PEM")
  if (key !== undefined && !pem.test(key)) return Result.fail("status.clientKeyData is not PEM")
  let expiresAt: number | undefined = undefined
  if (status.expirationTimestamp) {
    const text = status.expirationTimestamp
    const millis = rfc3339.test(text) ? Date.parse(text.toUpperCase()) : Number.NaN
    if (Number.isNaN(millis)) return Result.fail("status.expirationTimestamp is not an RFC 3339 time")
    if (millis <= now) return Result.fail("it printed a credential whose expirationTimestamp has already passed (check the plugin's cache and this machine's clock)")
    expiresAt = millis
  }
  return Result.succeed({
    token: token === undefined ? undefined : Redacted.make(token),
    clientCertificateData: certificate,
    clientKeyData: key === undefined ? undefined : Redacted.make(key),
    expiresAt,
    generation
  })
}
