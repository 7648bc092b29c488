/**
 * Loading kubeconfig files the way `kubectl` does, with errors that say what to fix.
 *
 * `@kubernetes/client-node` is lenient where a lock client must not be (it falls back to
 * `http://localhost:8080` when it finds nothing, reads `token-file` once and never again, ignores
 * the standard `tokenFile` key, does not trim token files, and opens a new TLS connection for every
 * request). This module reads and validates the raw kubeconfig itself, then hands
 * `@kubernetes/client-node` a config it can use, wrapped in `LeasekitKubeConfig`, which
 * - sends the token of a `tokenFile` (or in-cluster service-account token), re-read once a
 *   minute as client-go does, and at once on `reloadCredentials` (after a 401);
 * - reuses one HTTP dispatcher (connection pool) for client-node's own requests (the store's
 *   watches; its other requests go through `restClient.ts`), closed with the client.
 *
 * Guarantees: no bearer token or key material ever appears in an error (YAML errors carry only
 * the line and column, not the offending text). Does not: support `exec` / `auth-provider`
 * credentials beyond what `@kubernetes/client-node` does, or change TLS verification (it stays on
 * unless the kubeconfig sets `insecure-skip-tls-verify`).
 *
 * @internal
 */
import { KubeConfig, loadYaml } from "@kubernetes/client-node"
import type { RequestContext } from "@kubernetes/client-node"
import { Data, Effect } from "effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"

/**
 * Why a kubeconfig could not be used.
 *
 * - `NotFound`: no kubeconfig file where one was expected (or none at all).
 * - `Unreadable`: a file exists but cannot be read (permissions, a directory, …).
 * - `Invalid`: not YAML, or not a kubeconfig (wrong structure, missing fields).
 * - `UnknownContext`: the requested (or current) context is not defined, or none is set.
 * - `NoCluster`: the context names no usable cluster (undefined, no server), or not in a pod.
 * - `NoCredentials`: the context's user is undefined, or its token / certificate files are missing.
 *
 * @since 0.1.0
 * @category errors
 */
export type KubeConfigErrorReason = "NotFound" | "Unreadable" | "Invalid" | "UnknownContext" | "NoCluster" | "NoCredentials"

/**
 * A kubeconfig (or in-cluster configuration) that cannot be used. The message names the problem
 * and the fix; it never contains credentials. `detail` says what is wrong in terms of the
 * configuration itself; `hint`, where there is one, how a program using this library points it
 * elsewhere (its options and `layerConfig`'s variables) — a command-line tool shows `detail` with
 * its own flags instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly reason: KubeConfigErrorReason
  /** Where the configuration came from: a file path, `"kubeconfig string"`, `"in-cluster"`. */
  readonly source: string
  readonly detail: string
  /** How a program using this library chooses another configuration (the message ends with it). */
  readonly hint?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    return `kubeconfig ${this.source}: ${this.reason}: ${this.detail}${this.hint === undefined ? "" : `; ${this.hint}`}`
  }
}

/** Options that pick what to use from a kubeconfig. */
export interface SelectOptions {
  /** The context to use instead of `current-context`. */
  readonly context?: string | undefined
  /** The namespace to use instead of the context's (which defaults to `"default"`). */
  readonly namespace?: string | undefined
}

type Raw = Record<string, unknown>

const isObject = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

const errnoCode = (error: unknown): string | undefined =>
  isObject(error) && typeof error["code"] === "string" ? error["code"] : undefined

/** The directory service-account credentials are mounted at in a pod. */
export const serviceAccountRoot = "/var/run/secrets/kubernetes.io/serviceaccount"

/** A bearer token kept in a file (a projected service-account token rotates about hourly). */
export class TokenFile {
  token: string
  private readAt: number
  readonly path: string
  constructor(filePath: string, token: string) {
    this.path = filePath
    this.token = token
    this.readAt = Date.now()
  }
  /** Re-reads the file; keeps the old token when the file cannot be read. True when it changed. */
  async reload(): Promise<boolean> {
    try {
      const next = (await fs.readFile(this.path, "utf8")).trim()
      this.readAt = Date.now()
      if (next === "" || next === this.token) return false
      this.token = next
      return true
    } catch {
      return false
    }
  }
  /** The `Authorization` header; the file is re-read first when a minute old, as client-go does. */
  async authorization(): Promise<string> {
    if (Date.now() - this.readAt > 60_000) await this.reload()
    return `Bearer ${this.token}`
  }
}

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>

/**
 * A `KubeConfig` that authenticates with leasekit's token files and reuses one dispatcher.
 *
 * @internal
 */
export class LeasekitKubeConfig extends KubeConfig {
  /** Token files by kubeconfig user name. */
  readonly tokenFiles = new Map<string, TokenFile>()
  private dispatcher: Dispatcher | undefined
  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context)
    const tokenFile = this.currentTokenFile()
    if (tokenFile !== undefined) context.setHeaderParam("Authorization", await tokenFile.authorization())
    // The parent builds a new connection pool per request; keep the first and reuse it.
    const fresh = context.getDispatcher()
    if (fresh !== undefined) {
      if (this.dispatcher === undefined) {
        this.dispatcher = fresh
      } else if (fresh !== this.dispatcher) {
        void fresh.close().catch(() => undefined)
        context.setDispatcher(this.dispatcher)
      }
    }
  }
  /** The current user's token file, if it has one. */
  currentTokenFile(): TokenFile | undefined {
    const user = this.getCurrentUser()
    return user === null ? undefined : this.tokenFiles.get(user.name)
  }
  /** Re-reads the current user's token file. True if it changed. */
  async reloadCredentials(): Promise<boolean> {
    return (await this.currentTokenFile()?.reload()) ?? false
  }
  /** Closes pooled connections; the config may still be used afterwards (a new pool is made). */
  async close(): Promise<void> {
    const dispatcher = this.dispatcher
    this.dispatcher = undefined
    if (dispatcher !== undefined) await dispatcher.destroy().catch(() => undefined)
  }
}

/** What a loaded configuration resolved to. */
export interface Loaded {
  readonly kubeConfig: LeasekitKubeConfig
  readonly source: string
  readonly context: string
  readonly cluster: string
  readonly user: string
  readonly server: string
  readonly namespace: string
}

const fail = (reason: KubeConfigErrorReason, source: string, detail: string, cause?: unknown, hint?: string) =>
  Effect.fail(
    new KubeConfigError({
      reason,
      source,
      detail,
      ...(hint === undefined ? {} : { hint }),
      ...(cause === undefined ? {} : { cause })
    })
  )

const envHint =
  "set KUBECONFIG (or LEASEKIT_KUBECONFIG with KubeClient.layerConfig) to a kubeconfig file, create ~/.kube/config, or run in a pod with a service account"

/** Reads a kubeconfig file's text. */
export const readFile = (file: string): Effect.Effect<string, KubeConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) => cause
  }).pipe(
    Effect.catch((cause) => {
      const code = errnoCode(cause)
      if (code === "ENOENT" || code === "ENOTDIR") {
        return fail("NotFound", file, "the file does not exist", undefined, envHint)
      }
      return fail(
        "Unreadable",
        file,
        `the file cannot be read (${code ?? String(cause)}); check that it is a regular file readable by this process (uid ${
          process.getuid?.() ?? "?"
        })`,
        cause
      )
    })
  )

/** Parses kubeconfig YAML; errors name the line and column only (the text may hold secrets). */
export const parse = (text: string, source: string): Effect.Effect<Raw, KubeConfigError> =>
  Effect.try({
    try: () => loadYaml<unknown>(text),
    catch: (error) => error
  }).pipe(
    Effect.catch((error) => {
      const mark = isObject(error) && isObject(error["mark"]) ? error["mark"] : undefined
      const where = mark !== undefined && typeof mark["line"] === "number" && typeof mark["column"] === "number"
        ? ` at line ${mark["line"] + 1}, column ${mark["column"] + 1}`
        : ""
      const reason = isObject(error) && typeof error["reason"] === "string" ? `: ${error["reason"]}` : ""
      return fail("Invalid", source, `not valid YAML${where}${reason}; fix the file or point KUBECONFIG at another one`)
    }),
    Effect.flatMap((value) =>
      isObject(value)
        ? Effect.succeed(value)
        : fail(
          "Invalid",
          source,
          `not a kubeconfig (expected a YAML mapping with clusters, contexts and users, found ${
            value === null || value === undefined ? "nothing" : Array.isArray(value) ? "a list" : typeof value
          }); generate one with \`kubectl config view --raw --minify\``
        )
    )
  )

const namedEntries = (raw: Raw, field: string): Array<Raw> => {
  const list = raw[field]
  return Array.isArray(list) ? list.filter(isObject) : []
}

const nameOf = (entry: Raw): string | undefined => typeof entry["name"] === "string" ? entry["name"] : undefined

/** Merges kubeconfig files as client-go does: the first file to define a name wins. */
export const merge = (configs: ReadonlyArray<Raw>): Raw => {
  const merged: Raw = { apiVersion: "v1", kind: "Config", clusters: [], contexts: [], users: [] }
  for (const field of ["clusters", "contexts", "users"] as const) {
    const seen = new Set<string>()
    const out: Array<Raw> = []
    for (const config of configs) {
      for (const entry of namedEntries(config, field)) {
        const name = nameOf(entry)
        if (name === undefined || seen.has(name)) continue
        seen.add(name)
        out.push(entry)
      }
    }
    merged[field] = out
  }
  const current = configs.map((c) => c["current-context"]).find((c) => typeof c === "string" && c !== "")
  if (current !== undefined) merged["current-context"] = current
  return merged
}

const fileExists = (file: string) =>
  Effect.promise(() => fs.access(file).then(() => true, () => false))

const resolveIn = (baseDir: string | undefined, file: string): string =>
  baseDir === undefined || path.isAbsolute(file) ? file : path.join(baseDir, file)

const readToken = (file: string, source: string, user: string) =>
  Effect.tryPromise({ try: () => fs.readFile(file, "utf8"), catch: (cause) => cause }).pipe(
    Effect.map((text) => text.trim()),
    Effect.catch((cause) =>
      fail(
        "NoCredentials",
        source,
        `the token file ${file} of user "${user}" cannot be read (${
          errnoCode(cause) ?? "error"
        }); check the path under users[].user.tokenFile, or that the service-account token is mounted`,
        cause
      )
    ),
    Effect.flatMap((token) =>
      token === ""
        ? fail("NoCredentials", source, `the token file ${file} of user "${user}" is empty`)
        : Effect.succeed(token)
    )
  )

/**
 * Validates the selected context of a raw kubeconfig and builds the client configuration.
 * `baseDir` resolves relative file paths (the kubeconfig file's directory), as kubectl does.
 */
export const fromRaw = (
  raw: Raw,
  source: string,
  baseDir: string | undefined,
  options: SelectOptions = {}
): Effect.Effect<Loaded, KubeConfigError> =>
  Effect.gen(function*() {
    const contexts = namedEntries(raw, "contexts")
    const clusters = namedEntries(raw, "clusters")
    const users = namedEntries(raw, "users")
    const available = contexts.map(nameOf).filter((n) => n !== undefined)
    const availableText = available.length === 0 ? "it defines no contexts" : `defined: ${available.join(", ")}`

    const requested = options.context ?? (typeof raw["current-context"] === "string" ? raw["current-context"] : "")
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
    const context = isObject(contextEntry["context"]) ? contextEntry["context"] : {}
    const clusterName = typeof context["cluster"] === "string" ? context["cluster"] : ""
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
    const cluster = isObject(clusterEntry["cluster"]) ? clusterEntry["cluster"] : {}
    const server = typeof cluster["server"] === "string" ? cluster["server"] : ""
    if (server === "") {
      return yield* fail("NoCluster", source, `cluster "${clusterName}" has no server URL; set clusters[].cluster.server`)
    }
    if (!/^https?:\/\//.test(server)) {
      return yield* fail(
        "NoCluster",
        source,
        `cluster "${clusterName}" has server "${server}", which is not an http(s) URL; set clusters[].cluster.server to https://HOST:PORT`
      )
    }
    if (server.startsWith("http:") && cluster["insecure-skip-tls-verify"] !== true) {
      return yield* fail(
        "NoCluster",
        source,
        `cluster "${clusterName}" uses plain http (${server}) without insecure-skip-tls-verify: true; use https, or set insecure-skip-tls-verify: true to accept an unencrypted connection`
      )
    }
    const caFile = typeof cluster["certificate-authority"] === "string"
      ? resolveIn(baseDir, cluster["certificate-authority"])
      : undefined
    if (caFile !== undefined && !(yield* fileExists(caFile))) {
      return yield* fail(
        "Unreadable",
        source,
        `the certificate-authority file ${caFile} of cluster "${clusterName}" cannot be read; fix the path or use certificate-authority-data`
      )
    }

    const userName = typeof context["user"] === "string" && context["user"] !== "" ? context["user"] : undefined
    const userEntry = userName === undefined ? undefined : users.find((u) => nameOf(u) === userName)
    if (userName !== undefined && userEntry === undefined) {
      return yield* fail(
        "NoCredentials",
        source,
        `context "${requested}" names user "${userName}", which is not defined under users; add it or fix the context`
      )
    }
    const user = userEntry !== undefined && isObject(userEntry["user"]) ? userEntry["user"] : {}
    for (const field of ["client-certificate", "client-key"] as const) {
      const file = user[field]
      if (typeof file === "string" && !(yield* fileExists(resolveIn(baseDir, file)))) {
        return yield* fail(
          "NoCredentials",
          source,
          `the ${field} file ${resolveIn(baseDir, file)} of user "${userName}" cannot be read; fix the path or use ${field}-data`
        )
      }
    }

    const has = (field: string) =>
      (typeof user[field] === "string" && user[field] !== "") ||
      (typeof user[`${field}-data`] === "string" && user[`${field}-data`] !== "")
    if (has("client-certificate") !== has("client-key")) {
      const [present, missing] = has("client-certificate")
        ? ["client-certificate", "client-key"]
        : ["client-key", "client-certificate"]
      return yield* fail(
        "NoCredentials",
        source,
        `user "${userName}" has a ${present} but no ${missing}: a client certificate needs both; add ${missing} (or ${missing}-data)`
      )
    }

    // Token files: client-node reads `token-file` once (and throws for a missing one of *any*
    // user) and ignores kubectl's `tokenFile`. Take both out and serve them ourselves.
    const kubeConfig = new LeasekitKubeConfig()
    const cleanedUsers: Array<Raw> = []
    for (const entry of users) {
      const inner = isObject(entry["user"]) ? { ...entry["user"] } : undefined
      if (inner === undefined) {
        cleanedUsers.push(entry)
        continue
      }
      const tokenFile = typeof inner["tokenFile"] === "string"
        ? inner["tokenFile"]
        : typeof inner["token-file"] === "string"
        ? inner["token-file"]
        : undefined
      delete inner["tokenFile"]
      delete inner["token-file"]
      cleanedUsers.push({ ...entry, user: inner })
      const name = nameOf(entry)
      if (tokenFile !== undefined && tokenFile !== "" && name !== undefined && name === userName) {
        const file = resolveIn(baseDir, tokenFile)
        kubeConfig.tokenFiles.set(name, new TokenFile(file, yield* readToken(file, source, name)))
      }
    }

    yield* Effect.try({
      try: () => {
        kubeConfig.loadFromString(JSON.stringify({ ...raw, users: cleanedUsers }), { onInvalidEntry: "filter" })
        kubeConfig.setCurrentContext(requested)
        if (baseDir !== undefined) kubeConfig.makePathsAbsolute(baseDir)
      },
      catch: (error) => error
    }).pipe(
      Effect.catch((error) =>
        fail(
          "Invalid",
          source,
          `the kubeconfig could not be loaded (${error instanceof Error ? error.message : "unknown error"})`
        )
      )
    )
    if (kubeConfig.getCurrentCluster() === null) {
      return yield* fail("NoCluster", source, `context "${requested}" resolves to no usable cluster`)
    }

    const namespace = options.namespace ??
      (typeof context["namespace"] === "string" && context["namespace"] !== "" ? context["namespace"] : "default")
    return {
      kubeConfig,
      source,
      context: requested,
      cluster: clusterName,
      user: userName ?? "(anonymous)",
      server: server.replace(/\/$/, ""),
      namespace
    }
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
      const raw = yield* parse(yield* readFile(file), file)
      return yield* fromRaw(raw, file, path.dirname(file), options)
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

const absolutize = (raw: Raw, baseDir: string): Raw => {
  const fix = (entries: Array<Raw>, inner: string, fields: ReadonlyArray<string>) =>
    entries.map((entry) => {
      const body = entry[inner]
      if (!isObject(body)) return entry
      const next: Raw = { ...body }
      for (const field of fields) {
        const value = next[field]
        if (typeof value === "string" && value !== "") next[field] = resolveIn(baseDir, value)
      }
      return { ...entry, [inner]: next }
    })
  return {
    ...raw,
    clusters: fix(namedEntries(raw, "clusters"), "cluster", ["certificate-authority"]),
    users: fix(namedEntries(raw, "users"), "user", ["client-certificate", "client-key", "tokenFile", "token-file"])
  }
}

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
    const podNamespace = (yield* Effect.promise(() => fs.readFile(namespaceFile, "utf8").then((s) => s.trim(), () => "")))
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
