/**
 * Loading kubeconfig files the way `kubectl` does, into plain data, with errors that say what to fix
 * (the parts are under `kubeconfig/`).
 *
 * `fromFiles`, `fromString`, `inCluster` and `fromDefault` read and validate a kubeconfig (or a pod's
 * service account) and resolve its selected context to a `Loaded`: the server, TLS material,
 * proxy, credentials and impersonation a transport needs, and nothing of `@kubernetes/client-node`.
 *
 * `yaml.ts` reads YAML as kubectl does (go-yaml v2: YAML 1.1 scalars, merge keys, duplicate keys,
 * the first document only, no alias bombs). A value of the wrong type in a field that is used
 * (`token: 12345`, `server: yes`) is refused with the field's path, as kubectl refuses it; `null` is
 * the same as absent (`fields.ts`). `cluster.ts` checks the server, TLS and proxy; `user.ts` the
 * client certificate and which credentials are used when a user sets several (client-go's rules).
 * A user name and password in the server URL (`https://user:pass@host`) are removed from `server`
 * and used as basic auth when the user has no header credentials (Go's net/http sends them);
 * together with header credentials they are refused (Go would send the URL's and drop the others —
 * too surprising to follow silently).
 *
 * Plain `http://` servers need `insecure-skip-tls-verify: true`. Over them no credentials are
 * sent — no bearer token, basic auth, plugin or client certificate — as kubectl sends none (its
 * `IsConfigTransportTLS` guard); `warnings` says so when the user had some. Impersonation headers
 * are still sent, as kubectl sends them.
 *
 * Guarantees: no bearer token, password or key material ever appears in an error or warning — YAML
 * errors carry only a line, a column and a fixed description, never the offending text; every URL
 * in a message goes through `redactUrl`. Paths are absolute (relative ones resolve against the
 * kubeconfig file's directory, or the working directory for a string). `certificate-authority`
 * with `insecure-skip-tls-verify: true` is refused (client-go: "specifying a root certificates file
 * with the insecure flag is not allowed"), as are a file and inline data for the same certificate
 * or key, and impersonated groups, uid or extras without an impersonated user.
 *
 * Does not: validate `exec` beyond its being a mapping (its decoder does), read client
 * certificates or keys (the transport reads `TlsSource`s, and can re-read files), re-read token
 * files, or check that the server is reachable.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { resolveCluster } from "./kubeconfig/cluster.ts"
import { envHint, errnoCode, fail, type KubeConfigError } from "./kubeconfig/error.ts"
import { describeType, fieldsOf } from "./kubeconfig/fields.ts"
import { type Auth, describeAuth, type Loaded, type SelectOptions } from "./kubeconfig/loaded.ts"
import { absolutize, fileExists, merge, namedEntries, nameOf, type Raw } from "./kubeconfig/raw.ts"
import { redactUrl } from "./kubeconfig/url.ts"
import { resolveUser } from "./kubeconfig/user.ts"
import { parse, readFile } from "./kubeconfig/yaml.ts"

export { KubeConfigError, type KubeConfigErrorReason } from "./kubeconfig/error.ts"
export type { Auth, Loaded, SelectOptions, TlsSource } from "./kubeconfig/loaded.ts"
export { merge } from "./kubeconfig/raw.ts"
export { redactUrl } from "./kubeconfig/url.ts"
export { parse, readFile } from "./kubeconfig/yaml.ts"

/** The directory service-account credentials are mounted at in a pod. */
export const serviceAccountRoot = "/var/run/secrets/kubernetes.io/serviceaccount"

const readBase64File = (file: string) =>
  Effect.tryPromise({ try: () => fs.readFile(file), catch: (cause) => cause }).pipe(
    Effect.map((bytes) => bytes.toString("base64")),
    Effect.result
  )

/** A DNS-1123 label, as kubectl requires of a context's namespace. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/**
 * Validates the selected context of a raw kubeconfig and resolves it to plain data.
 * `baseDir` resolves relative file paths (the kubeconfig file's directory), as kubectl does.
 */
export const fromRaw = (
  raw: Raw,
  source: string,
  baseDir: string | undefined,
  options: SelectOptions = {}
): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    for (const field of ["clusters", "contexts", "users"] as const) {
      const list = raw[field]
      if (list !== undefined && list !== null && !Array.isArray(list)) {
        return yield* fail(
          "Invalid",
          source,
          `${field} must be a list of named entries, found ${describeType(list)}; see \`kubectl config view\``
        )
      }
    }
    const contexts = namedEntries(raw, "contexts")
    const clusters = namedEntries(raw, "clusters")
    const users = namedEntries(raw, "users")
    const available = contexts.map(nameOf).filter((n) => n !== undefined)
    const availableText = available.length === 0 ? "it defines no contexts" : `defined: ${available.join(", ")}`
    const warnings: Array<string> = []

    const current = yield* fieldsOf(source, raw, "kubeconfig").string("current-context")
    const requested = options.context ?? current ?? ""
    if (requested === "") {
      return yield* fail(
        "UnknownContext",
        source,
        `no current-context is set and no context was requested (${availableText})`,
        undefined,
        "pass { context } (LEASEKIT_CONTEXT with layerConfig) or run `kubectl config use-context NAME`"
      )
    }
    const contextEntry = contexts.find((c) => nameOf(c) === requested)
    if (contextEntry === undefined) {
      return yield* fail(
        "UnknownContext",
        source,
        `context "${requested}" is not defined (${availableText})`,
        undefined,
        "pass one of them as { context } (LEASEKIT_CONTEXT with layerConfig) or fix current-context"
      )
    }
    const contextFields = fieldsOf(source, contextEntry, `contexts["${requested}"]`)
    const context = fieldsOf(source, (yield* contextFields.mapping("context")) ?? {}, `contexts["${requested}"].context`)

    // --- cluster
    const clusterName = (yield* context.string("cluster")) ?? ""
    const { ca, caData, caPath, insecureSkipTlsVerify, plainHttp, proxyUrl, rawServer, server, serverName, serverParts } =
      yield* resolveCluster(source, baseDir, requested, clusterName, clusters)

    // --- user, and credentials in headers (precedence in user.ts)
    const userName = yield* context.string("user")
    const { auth: userAuth, cert, certAuth, key, shownUser, used, user } = yield* resolveUser(
      source,
      baseDir,
      requested,
      userName,
      users,
      warnings
    )
    let auth: Auth = userAuth

    // --- a user name and password in the server URL
    if (serverParts.username !== "" || serverParts.password !== "") {
      if (auth._tag !== "None") {
        return yield* fail(
          "Invalid",
          source,
          `cluster "${clusterName}" has a user name and password in its server URL (${
            redactUrl(rawServer)
          }) and user "${shownUser}" has a ${used} as well: kubectl would send the URL's and drop the ${used}; remove one`
        )
      }
      auth = { _tag: "Basic", username: serverParts.username, password: serverParts.password }
    }

    // --- plain http: kubectl sends no credentials over it
    let tls: Loaded["tls"] = {
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      insecureSkipTlsVerify,
      ...(serverName === undefined ? {} : { serverName })
    }
    if (plainHttp) {
      const dropped = [describeAuth(auth), certAuth ? "client certificate" : undefined].filter((d) => d !== undefined)
      if (dropped.length > 0) {
        warnings.push(
          `cluster "${clusterName}" uses plain http (${server}): the ${
            dropped.join(" and ")
          } of user "${shownUser}" would travel unencrypted, so none is sent (as kubectl); use an https server to authenticate`
        )
      }
      auth = { _tag: "None" }
      tls = { insecureSkipTlsVerify }
    }

    // --- impersonation
    const as = yield* user.string("as")
    const asUid = yield* user.string("as-uid")
    const asGroups = yield* user.strings("as-groups")
    const asExtra = yield* user.stringLists("as-user-extra")
    if (as === undefined && (asUid !== undefined || asGroups.length > 0 || Object.keys(asExtra).length > 0)) {
      return yield* fail(
        "Invalid",
        source,
        `user "${shownUser}" sets as-uid, as-groups or as-user-extra without as: kubectl refuses impersonating these without a user; set as (the user to impersonate)`
      )
    }

    // --- namespace
    const contextNamespace = yield* context.string("namespace")
    if (contextNamespace !== undefined && (contextNamespace.length > 63 || !dnsLabel.test(contextNamespace))) {
      return yield* fail(
        "Invalid",
        source,
        `context "${requested}" has namespace "${contextNamespace}", which is not a valid namespace name (lower-case letters, digits and '-', at most 63); fix contexts[].context.namespace`
      )
    }
    const namespace = options.namespace ?? contextNamespace ?? "default"

    // --- the CA for an exec plugin's cluster info
    let certificateAuthorityData: string | undefined
    if (auth._tag === "Exec") {
      if (caData !== undefined) certificateAuthorityData = caData.toString("base64")
      else if (caPath !== undefined) {
        const read = yield* readBase64File(caPath)
        if (read._tag === "Failure") {
          return yield* fail(
            "Unreadable",
            source,
            `the certificate-authority file ${caPath} of cluster "${clusterName}" cannot be read (${
              errnoCode(read.failure) ?? "error"
            }); fix the path or use certificate-authority-data`,
            read.failure
          )
        }
        certificateAuthorityData = read.success
      }
    }

    return {
      source,
      context: requested,
      cluster: clusterName,
      user: shownUser,
      namespace,
      server,
      baseDir,
      tls,
      ...(proxyUrl === undefined ? {} : { proxyUrl }),
      auth,
      impersonate: {
        ...(as === undefined ? {} : { user: as }),
        ...(asUid === undefined ? {} : { uid: asUid }),
        groups: asGroups,
        extra: asExtra
      },
      warnings,
      ...(certificateAuthorityData === undefined ? {} : { certificateAuthorityData })
    } satisfies Loaded
  })

/** Loads and merges kubeconfig files (relative paths resolve against each file's directory). */
export const fromFiles = (
  files: ReadonlyArray<string>,
  options: SelectOptions = {}
): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    const source = files.join(path.delimiter)
    if (files.length === 0) return yield* fail("NotFound", "(none)", "no kubeconfig file given", undefined, envHint)
    if (files.length === 1) {
      const file = path.resolve(files[0]!)
      const baseDir = path.dirname(file)
      const raw = yield* parse(yield* readFile(file), file)
      return yield* fromRaw(absolutize(raw, baseDir), file, baseDir, options)
    }
    // Several files (KUBECONFIG=a:b): missing ones are skipped, as kubectl does; the entries keep
    // paths resolved against their own file's directory.
    const raws: Array<Raw> = []
    for (const f of files) {
      const file = path.resolve(f)
      if (!(yield* fileExists(file))) continue
      const raw = yield* parse(yield* readFile(file), file)
      raws.push(absolutize(raw, path.dirname(file)))
    }
    if (raws.length === 0) {
      return yield* fail("NotFound", source, "none of these kubeconfig files exists", undefined, envHint)
    }
    return yield* fromRaw(merge(raws), source, undefined, options)
  })

/** Loads kubeconfig YAML given as a string (relative paths resolve against the working directory). */
export const fromString = (yaml: string, options: SelectOptions = {}): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    const source = "(kubeconfig string)"
    return yield* fromRaw(yield* parse(yaml, source), source, undefined, options)
  })

/** The configuration of a pod: service-account token, CA and namespace under `root`. */
export const inCluster = (
  options: SelectOptions & {
    readonly env?: Readonly<Record<string, string | undefined>>
    readonly root?: string
  } = {}
): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const root = options.root ?? serviceAccountRoot
    const source = "(in-cluster)"
    const host = env["KUBERNETES_SERVICE_HOST"]
    const port = env["KUBERNETES_SERVICE_PORT"]
    if (host === undefined || host === "" || port === undefined || port === "") {
      return yield* fail(
        "NoCluster",
        source,
        "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT are unset)",
        undefined,
        `use a kubeconfig instead: ${envHint}`
      )
    }
    const tokenPath = path.join(root, "token")
    if (!(yield* fileExists(tokenPath))) {
      return yield* fail(
        "NoCredentials",
        source,
        `no service-account token at ${tokenPath}; set automountServiceAccountToken: true on the pod (or its ServiceAccount)`
      )
    }
    const namespaceFile = path.join(root, "namespace")
    const podNamespace = yield* Effect.promise(() => fs.readFile(namespaceFile, "utf8").then((s) => s.trim(), () => ""))
    const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`
    const raw: Raw = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "in-cluster", cluster: { server, "certificate-authority": path.join(root, "ca.crt") } }],
      users: [{ name: "service-account", user: { tokenFile: tokenPath } }],
      contexts: [{
        name: "in-cluster",
        context: { cluster: "in-cluster", user: "service-account", ...(podNamespace === "" ? {} : { namespace: podNamespace }) }
      }],
      "current-context": "in-cluster"
    }
    return yield* fromRaw(raw, source, undefined, { ...options, context: "in-cluster" })
  })

/**
 * client-go's default loading rules: `$KUBECONFIG` (a list), then `~/.kube/config`, then the pod's
 * service account. Unlike `@kubernetes/client-node`, finding nothing is an error, not a silent
 * `http://localhost:8080`.
 */
export const fromDefault = (
  options: SelectOptions & { readonly kubeconfig?: string | undefined } = {}
): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    const list = options.kubeconfig ?? process.env["KUBECONFIG"] ?? ""
    const files = list.split(path.delimiter).filter((f) => f !== "")
    if (files.length > 0) return yield* fromFiles(files, options)
    const home = process.env["HOME"] ?? os.homedir()
    const homeConfig = path.join(home, ".kube", "config")
    if (yield* fileExists(homeConfig)) return yield* fromFiles([homeConfig], options)
    if (process.env["KUBERNETES_SERVICE_HOST"] !== undefined) return yield* inCluster(options)
    return yield* fail(
      "NotFound",
      "(default)",
      `no kubeconfig found: KUBECONFIG is unset, ${homeConfig} does not exist, and this is not a pod`,
      undefined,
      envHint
    )
  })
