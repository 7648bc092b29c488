/**
 * What a kubeconfig resolves to: `Loaded`, plain data for a transport (server, TLS material, proxy,
 * credentials, impersonation), and the options that pick what to use (`SelectOptions`).
 *
 * Guarantees: nothing of `@kubernetes/client-node`; paths in it are absolute.
 * Does not: hold anything safe to log whole — `Loaded` holds secrets (`describeAuth` names a
 * credential's kind, never its value).
 *
 * @internal
 */
import { resolveIn } from "./raw.ts"

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

/** Where TLS material comes from, given a kubeconfig's file and data fields (a file wins; `baseDir` resolves it). */
export const tlsSource = (baseDir: string | undefined, file: string | undefined, data: Buffer | undefined): TlsSource | undefined =>
  file !== undefined
    ? { _tag: "File", path: resolveIn(baseDir, file) }
    : data !== undefined
    ? { _tag: "Data", data }
    : undefined

/** A credential's kind in words, for warnings (`undefined` for none). */
export const describeAuth = (auth: Auth): string | undefined => {
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
