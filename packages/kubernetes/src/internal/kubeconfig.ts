/**
 * Loading kubeconfig files the way `kubectl` does, into plain data, with errors that say what to fix.
 *
 * `fromFiles`, `fromString`, `inCluster` and `fromDefault` read and validate a kubeconfig (or a pod's
 * service account) and resolve its selected context to a `Loaded`: the server, TLS material,
 * proxy, credentials and impersonation a transport needs, and nothing of `@kubernetes/client-node`.
 *
 * YAML is read as kubectl reads it (go-yaml v2 behind sigs.k8s.io/yaml): YAML 1.1 scalars
 * (`yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0777` is octal, `0x1f` hex), merge keys (`<<`),
 * duplicate keys (the last wins), only the first document of a stream; unlike YAML 1.1, and like
 * go-yaml, no sexagesimal numbers (`1:20` stays text) and no timestamps (dates stay text). A value
 * of the wrong type in a field that is used (`token: 12345`, `server: yes`) is refused with the
 * field's path, as kubectl refuses it; `null` is the same as absent. Aliases are limited: a
 * document in which one anchor's uses times the aliases nested in it exceed 10,000 (a "billion
 * laughs" alias bomb) is refused within milliseconds, as kubectl refuses "excessive aliasing".
 *
 * Which credentials are used when a user sets several — client-go's rules
 * (`clientcmd.getUserIdentificationPartialConfig`, `transport.HTTPWrappersForConfig`, the exec
 * plugin's `UpdateTransportConfig`):
 * 1. `token` and/or `tokenFile` (also `token-file`): a bearer token. With both, client-go sends the
 *    inline token and, from its first re-read a minute later, the file's: `TokenFile` carries the
 *    inline token and the path. `tokenFile` alone is read now (trimmed, non-empty).
 * 2. `username` (+ `password`): basic auth. A bearer token together with a username or password is
 *    refused, as client-go refuses it ("more than one authentication method"); a password without
 *    a username is ignored with a warning (client-go sends no basic auth without a username).
 * 3. `exec`: a credential plugin — only if none of the above is set and the user has no client
 *    certificate (client-go does not run the plugin then); the plugin is ignored with a warning.
 * 4. `auth-provider`: a client-node plugin — only if neither 1 nor 2 is set (the header they set
 *    wins); it is used together with a client certificate. `exec` with `auth-provider` is refused.
 * 5. Otherwise none.
 * A client certificate (`client-certificate[-data]` + `client-key[-data]`) is TLS, not a header: it
 * is kept in `tls` whatever `auth` is. A user name and password in the server URL
 * (`https://user:pass@host`) are removed from `server` and used as basic auth when the user has no
 * header credentials (Go's net/http sends them); together with header credentials they are
 * refused (Go would send the URL's and drop the others — too surprising to follow silently).
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
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import type * as YAML from "yaml"

/**
 * Why a kubeconfig could not be used.
 *
 * - `NotFound`: no kubeconfig file where one was expected (or none at all).
 * - `Unreadable`: a file exists but cannot be read (permissions, a directory, …).
 * - `Invalid`: not YAML, not a kubeconfig (wrong structure, a field of the wrong type), or settings
 *   that contradict each other (a CA with `insecure-skip-tls-verify`, a token with a password, …).
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

/** Where TLS material comes from: a file (the transport reads it, and may re-read it) or bytes. */
export type TlsSource = { readonly _tag: "File"; readonly path: string } | { readonly _tag: "Data"; readonly data: Buffer }

/** How requests authenticate in their headers (a client certificate is in `Loaded.tls`). */
export type Auth =
  | { readonly _tag: "None" }
  | { readonly _tag: "Token"; readonly token: string }
  | {
    readonly _tag: "TokenFile"
    readonly path: string
    /** The file's content read at load (trimmed, non-empty) — or the inline `token` when both are set. */
    readonly token: string
  }
  | { readonly _tag: "Basic"; readonly username: string; readonly password: string }
  | {
    readonly _tag: "Exec"
    /** The raw `users[].user.exec` mapping (a relative `command` with a `/` made absolute). */
    readonly exec: unknown
  }
  | {
    readonly _tag: "AuthProvider"
    readonly name: string
    /** The raw `users[].user` mapping, for `@kubernetes/client-node`. */
    readonly user: Readonly<Record<string, unknown>>
  }

/** What a loaded configuration resolved to: plain data for a transport. It holds secrets: never log it whole. */
export interface Loaded {
  /** Where the configuration came from (a file path, several joined, `"(kubeconfig string)"`, `"(in-cluster)"`). */
  readonly source: string
  readonly context: string
  readonly cluster: string
  /** The kubeconfig user's name, or `"(anonymous)"` when the context names none. */
  readonly user: string
  readonly namespace: string
  /** The API server URL without a trailing slash and without user name or password. */
  readonly server: string
  /** The kubeconfig file's directory (for exec commands); undefined for strings, merged lists and in-cluster. */
  readonly baseDir: string | undefined
  readonly tls: {
    readonly ca?: TlsSource
    readonly cert?: TlsSource
    readonly key?: TlsSource
    readonly insecureSkipTlsVerify: boolean
    readonly serverName?: string
  }
  /** The cluster's `proxy-url` (http or https; it may hold a user name and password — redact it in messages). */
  readonly proxyUrl?: string
  readonly auth: Auth
  readonly impersonate: {
    readonly user?: string
    readonly uid?: string
    readonly groups: ReadonlyArray<string>
    readonly extra: Readonly<Record<string, ReadonlyArray<string>>>
  }
  /** Things to log once at start; they hold no secrets. */
  readonly warnings: ReadonlyArray<string>
  /** The CA as base64 (from the data or the file's content), for an exec plugin's cluster info; set for `Exec` users. */
  readonly certificateAuthorityData?: string
}

type Raw = Record<string, unknown>

const isObject = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

const errnoCode = (error: unknown): string | undefined =>
  isObject(error) && typeof error["code"] === "string" ? error["code"] : undefined

/** The directory service-account credentials are mounted at in a pod. */
export const serviceAccountRoot = "/var/run/secrets/kubernetes.io/serviceaccount"

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

// ---------------------------------------------------------------------------------------------
// URLs

const schemePrefix = (url: string): string => /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url)?.[0] ?? ""

/**
 * `url` with any user name and password replaced by `***`, for messages: everything between its
 * `scheme://` (or its start) and its last `@` goes. That also covers strings that are no URL and
 * passwords with an unescaped `/` or `@` in them; an `@` in a path costs the message its host, never
 * a secret. A string without an `@` is returned as it is.
 *
 * @internal
 */
export const redactUrl = (url: string): string => {
  const prefix = schemePrefix(url)
  const rest = url.slice(prefix.length)
  const at = rest.lastIndexOf("@")
  return at < 0 ? url : `${prefix}***${rest.slice(at)}`
}

/** A server URL split into the URL without its userinfo and the (decoded) user name and password. */
const splitUserinfo = (server: string): { readonly url: string; readonly username: string; readonly password: string } => {
  const prefix = schemePrefix(server)
  const rest = server.slice(prefix.length)
  // The authority ends at the first `/`, `?`, `#` or `\` (http and https are "special" schemes).
  const end = rest.search(/[/?#\\]/)
  const at = (end < 0 ? rest : rest.slice(0, end)).lastIndexOf("@")
  if (at < 0) return { url: server, username: "", password: "" }
  const parsed = new URL(server)
  const decode = (text: string) => {
    try {
      return decodeURIComponent(text)
    } catch {
      return text
    }
  }
  return { url: `${prefix}${rest.slice(at + 1)}`, username: decode(parsed.username), password: decode(parsed.password) }
}

// ---------------------------------------------------------------------------------------------
// YAML

/** What each `yaml` error code means, in words that quote nothing from the file. */
const yamlProblems: Readonly<Record<string, string>> = {
  ALIAS_PROPS: "an alias has an anchor or a tag",
  BAD_ALIAS: "a malformed alias",
  BAD_DIRECTIVE: "a malformed directive",
  BAD_DQ_ESCAPE: "an invalid escape sequence in a double-quoted string",
  BAD_INDENT: "wrong indentation",
  BAD_PROP_ORDER: "anchor and tag in the wrong order",
  BAD_SCALAR_START: "a plain value starts with a reserved character (quote it)",
  BLOCK_AS_IMPLICIT_KEY: "a nested mapping where a key was expected",
  BLOCK_IN_FLOW: "a block collection inside a flow collection",
  DUPLICATE_KEY: "a duplicate key",
  IMPOSSIBLE: "an internal parser error",
  KEY_OVER_1024_CHARS: "a key longer than 1024 characters",
  MISSING_CHAR: "a missing closing character (quote or bracket)",
  MULTILINE_IMPLICIT_KEY: "a key that spans lines",
  MULTIPLE_ANCHORS: "two anchors on one node",
  MULTIPLE_DOCS: "several documents",
  MULTIPLE_TAGS: "two tags on one node",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "nesting too deep",
  TAB_AS_INDENT: "a tab used for indentation",
  TAG_RESOLVE_FAILED: "a value that does not fit its tag",
  UNEXPECTED_TOKEN: "an unexpected token"
}

/** Aliases one anchor may expand to before the document counts as an alias bomb. */
const maxAliasCount = 10_000

const yamlOptions = {
  version: "1.1",
  merge: true,
  uniqueKeys: false,
  prettyErrors: false,
  // go-yaml v2 reads neither sexagesimal numbers nor timestamps: keep them as text.
  customTags: (tags: Array<YAML.Tags[number]>) =>
    tags.filter((tag) =>
      !(typeof tag === "object" && (tag.format === "TIME" || tag.tag === "tag:yaml.org,2002:timestamp"))
    )
} as const

type YamlOutcome =
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Error"; readonly problem: string; readonly line?: number; readonly column?: number }

/**
 * The `yaml` package, loaded on first use (Node caches it): a process configured in-cluster, with
 * no kubeconfig to read, never loads it. It is CommonJS: `default` is its `module.exports`, under
 * Node and in a bundle alike (a bundler's chunk for it may export nothing else).
 */
const loadYaml: Effect.Effect<Yaml> = Effect.promise(() => import("yaml").then((module): Yaml => module.default))

/** What is used of the `yaml` package. */
type Yaml = Pick<typeof YAML, "LineCounter" | "parseAllDocuments">

/** Parses the first document; never lets text of the file into the outcome. */
const parseYaml = (YAML: Yaml, text: string): YamlOutcome => {
  const lineCounter = new YAML.LineCounter()
  try {
    const first = YAML.parseAllDocuments(text, { ...yamlOptions, lineCounter })[0]
    if (first === undefined) return { _tag: "Value", value: null }
    const error = first.errors[0]
    if (error !== undefined) {
      const { line, col } = lineCounter.linePos(error.pos[0])
      return { _tag: "Error", problem: yamlProblems[error.code] ?? "a syntax error", line, column: col }
    }
    return { _tag: "Value", value: first.toJS({ maxAliasCount }) }
  } catch (error) {
    // Alias errors are thrown while converting; their messages name the anchor, so keep none.
    const message = error instanceof Error ? error.message : ""
    return {
      _tag: "Error",
      problem: message.startsWith("Excessive alias count")
        ? "excessive aliasing (refused as a possible alias bomb)"
        : message.startsWith("Unresolved alias")
        ? "an alias with no anchor defined before it"
        : error instanceof RangeError
        ? "nesting too deep"
        : "a document that cannot be read"
    }
  }
}

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
  Effect.gen(function*() {
    const outcome = parseYaml(yield* loadYaml, text)
    if (outcome._tag === "Error") {
      const where = outcome.line === undefined ? "" : ` at line ${outcome.line}, column ${outcome.column}`
      return yield* fail(
        "Invalid",
        source,
        `not valid YAML${where}: ${outcome.problem}; fix the file or point KUBECONFIG at another one`
      )
    }
    const value = outcome.value
    if (!isObject(value)) {
      return yield* fail(
        "Invalid",
        source,
        `not a kubeconfig (expected a YAML mapping with clusters, contexts and users, found ${
          value === null || value === undefined ? "nothing" : Array.isArray(value) ? "a list" : typeof value
        }); generate one with \`kubectl config view --raw --minify\``
      )
    }
    return value
  })

// ---------------------------------------------------------------------------------------------
// Raw structure

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

const resolveIn = (baseDir: string | undefined, file: string): string =>
  baseDir === undefined ? path.resolve(file) : path.resolve(baseDir, file)

/**
 * Makes a file's relative paths absolute against its directory, as client-go's `ResolveLocalPaths`:
 * CA, client certificate and key, token file, and an exec command that contains a path separator.
 */
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
      const exec = next["exec"]
      if (isObject(exec) && typeof exec["command"] === "string" && exec["command"].includes(path.sep)) {
        next["exec"] = { ...exec, command: resolveIn(baseDir, exec["command"]) }
      }
      return { ...entry, [inner]: next }
    })
  return {
    ...raw,
    clusters: fix(namedEntries(raw, "clusters"), "cluster", ["certificate-authority"]),
    users: fix(namedEntries(raw, "users"), "user", ["client-certificate", "client-key", "tokenFile", "token-file"])
  }
}

const fileExists = (file: string) => Effect.promise(() => fs.access(file).then(() => true, () => false))

const controlCharacter = /[\u0000-\u001f\u007f]/

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
        : controlCharacter.test(token)
        ? fail(
          "NoCredentials",
          source,
          `the token file ${file} of user "${user}" holds more than one line (or control characters); it must hold the token alone`
        )
        : Effect.succeed(token)
    )
  )

const readBase64File = (file: string) =>
  Effect.tryPromise({ try: () => fs.readFile(file), catch: (cause) => cause }).pipe(
    Effect.map((bytes) => bytes.toString("base64")),
    Effect.result
  )

/** Go's base64 for `[]byte` fields: standard alphabet, padded; line breaks are skipped. */
const decodeBase64 = (text: string): Buffer | undefined => {
  const compact = text.replace(/[\r\n]/g, "")
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact) ? Buffer.from(compact, "base64") : undefined
}

const describeType = (value: unknown): string =>
  Array.isArray(value) ? "a list" : isObject(value) ? "a mapping" : typeof value === "boolean" ? "a boolean" : `a ${typeof value}`

/** Typed access to the fields of one mapping; a field of the wrong type fails with its path. */
const fieldsOf = (source: string, body: Raw, where: string) => {
  const wrongType = (key: string, expected: string, value: unknown, advice: string) =>
    fail("Invalid", source, `${where}.${key} must be ${expected}, found ${describeType(value)}; ${advice}`)
  const quoteAdvice = "quote the value (YAML reads unquoted yes/no/on/off as booleans and digits as numbers)"
  const string = (key: string): Effect.Effect<string | undefined, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null || value === "") return Effect.succeed(undefined)
    return typeof value === "string" ? Effect.succeed(value) : wrongType(key, "a string", value, quoteAdvice)
  }
  const boolean = (key: string): Effect.Effect<boolean, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null) return Effect.succeed(false)
    return typeof value === "boolean" ? Effect.succeed(value) : wrongType(key, "true or false", value, "write true or false")
  }
  const mapping = (key: string): Effect.Effect<Raw | undefined, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null) return Effect.succeed(undefined)
    return isObject(value) ? Effect.succeed(value) : wrongType(key, "a mapping", value, "see `kubectl config view`")
  }
  const stringList = (value: unknown, key: string): Effect.Effect<ReadonlyArray<string>, KubeConfigError> => {
    if (value === undefined || value === null) return Effect.succeed([])
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return Effect.succeed(value)
    return wrongType(key, "a list of strings", value, quoteAdvice)
  }
  const strings = (key: string) => stringList(body[key], key)
  const stringLists = (key: string): Effect.Effect<Readonly<Record<string, ReadonlyArray<string>>>, KubeConfigError> =>
    Effect.gen(function*() {
      const map = yield* mapping(key)
      const out: Record<string, ReadonlyArray<string>> = {}
      for (const [name, value] of Object.entries(map ?? {})) out[name] = yield* stringList(value, `${key}.${name}`)
      return out
    })
  const base64 = (key: string): Effect.Effect<Buffer | undefined, KubeConfigError> =>
    Effect.flatMap(string(key), (text) => {
      if (text === undefined) return Effect.succeed(undefined)
      const data = decodeBase64(text)
      return data === undefined
        ? fail("Invalid", source, `${where}.${key} is not valid base64; copy it again (\`kubectl config view --raw\`)`)
        : Effect.succeed(data)
    })
  return { string, boolean, mapping, strings, stringLists, base64 }
}

/** A DNS-1123 label, as kubectl requires of a context's namespace. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

const describeAuth = (auth: Auth): string | undefined => {
  switch (auth._tag) {
    case "None":
      return undefined
    case "Token":
    case "TokenFile":
      return "bearer token"
    case "Basic":
      return "username and password"
    case "Exec":
      return "exec credential plugin"
    case "AuthProvider":
      return `auth-provider "${auth.name}"`
  }
}

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

    // --- user
    const userName = yield* context.string("user")
    const userEntry = userName === undefined ? undefined : users.find((u) => nameOf(u) === userName)
    if (userName !== undefined && userEntry === undefined) {
      return yield* fail(
        "NoCredentials",
        source,
        `context "${requested}" names user "${userName}", which is not defined under users; add it or fix the context`
      )
    }
    const userBody = userEntry === undefined
      ? {}
      : (yield* fieldsOf(source, userEntry, `users["${userName}"]`).mapping("user")) ?? {}
    const user = fieldsOf(source, userBody, `users["${userName}"].user`)
    const shownUser = userName ?? "(anonymous)"

    const certFile = yield* user.string("client-certificate")
    const certData = yield* user.base64("client-certificate-data")
    const keyFile = yield* user.string("client-key")
    const keyData = yield* user.base64("client-key-data")
    for (const [field, file, data] of [["client-certificate", certFile, certData], ["client-key", keyFile, keyData]] as const) {
      if (file !== undefined && data !== undefined) {
        return yield* fail(
          "Invalid",
          source,
          `user "${shownUser}" sets both ${field} and ${field}-data; keep one (kubectl refuses both)`
        )
      }
      if (file !== undefined && !(yield* fileExists(resolveIn(baseDir, file)))) {
        return yield* fail(
          "NoCredentials",
          source,
          `the ${field} file ${resolveIn(baseDir, file)} of user "${userName}" cannot be read; fix the path or use ${field}-data`
        )
      }
    }
    const hasCert = certFile !== undefined || certData !== undefined
    const hasKey = keyFile !== undefined || keyData !== undefined
    if (hasCert !== hasKey) {
      const [present, missing] = hasCert ? ["client-certificate", "client-key"] : ["client-key", "client-certificate"]
      return yield* fail(
        "NoCredentials",
        source,
        `user "${userName}" has a ${present} but no ${missing}: a client certificate needs both; add ${missing} (or ${missing}-data)`
      )
    }
    const tlsSource = (file: string | undefined, data: Buffer | undefined): TlsSource | undefined =>
      file !== undefined
        ? { _tag: "File", path: resolveIn(baseDir, file) }
        : data !== undefined
        ? { _tag: "Data", data }
        : undefined
    const ca = tlsSource(caFile, caData)
    const cert = tlsSource(certFile, certData)
    const key = tlsSource(keyFile, keyData)

    // --- credentials in headers (precedence in the module header)
    const token = yield* user.string("token")
    if (token !== undefined && controlCharacter.test(token)) {
      return yield* fail(
        "Invalid",
        source,
        `users["${shownUser}"].user.token holds a line break or another control character; it must be the token alone`
      )
    }
    const tokenFile = (yield* user.string("tokenFile")) ?? (yield* user.string("token-file"))
    const username = yield* user.string("username")
    const password = yield* user.string("password")
    const exec = yield* user.mapping("exec")
    const authProvider = yield* user.mapping("auth-provider")
    if ((token !== undefined || tokenFile !== undefined) && (username !== undefined || password !== undefined)) {
      return yield* fail(
        "Invalid",
        source,
        `user "${shownUser}" has both a bearer token (${
          token !== undefined ? "token" : "tokenFile"
        }) and basic auth (username/password); kubectl refuses more than one authentication method: keep one`
      )
    }
    if (exec !== undefined && authProvider !== undefined) {
      return yield* fail(
        "Invalid",
        source,
        `user "${shownUser}" has both exec and auth-provider; kubectl refuses the combination: keep one`
      )
    }
    const providerName = authProvider === undefined
      ? undefined
      : yield* fieldsOf(source, authProvider, `users["${shownUser}"].user.auth-provider`).string("name")
    if (authProvider !== undefined && providerName === undefined) {
      return yield* fail(
        "Invalid",
        source,
        `users["${shownUser}"].user.auth-provider has no name; set auth-provider.name (e.g. oidc) or remove it`
      )
    }
    if (password !== undefined && username === undefined) {
      warnings.push(`user "${shownUser}" has a password but no username: no basic auth is sent (as kubectl)`)
    }
    const certAuth = hasCert && hasKey
    let auth: Auth = tokenFile !== undefined
      ? {
        _tag: "TokenFile",
        path: resolveIn(baseDir, tokenFile),
        token: token ?? (yield* readToken(resolveIn(baseDir, tokenFile), source, shownUser))
      }
      : token !== undefined
      ? { _tag: "Token", token }
      : username !== undefined
      ? { _tag: "Basic", username, password: password ?? "" }
      : exec !== undefined && !certAuth
      ? { _tag: "Exec", exec }
      : authProvider !== undefined && providerName !== undefined
      ? { _tag: "AuthProvider", name: providerName, user: userBody }
      : { _tag: "None" }
    const used = describeAuth(auth)
    if (exec !== undefined && auth._tag !== "Exec") {
      warnings.push(
        `user "${shownUser}" has an exec plugin that is not run because the user also has a ${
          used ?? "client certificate"
        } (kubectl does not run it either)`
      )
    }
    if (authProvider !== undefined && auth._tag !== "AuthProvider") {
      warnings.push(
        `user "${shownUser}" has auth-provider "${providerName}", which is not used because the user also has a ${used} (kubectl does not use it either)`
      )
    }

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
