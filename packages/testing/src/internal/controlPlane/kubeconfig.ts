/**
 * Kubeconfigs for the control plane's users: the API server's URL (or a proxy's), the CA that
 * signed its serving certificate (inline, so TLS is verified — never `insecure-skip-tls-verify`),
 * the user's bearer token and the test namespace. Rendered as JSON, which is valid YAML.
 *
 * The same text serves the kubeconfig files handed to tests and the per-request clients of
 * `request.ts`, so a test's client and the control plane's own requests authenticate alike.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { ControlPlaneError, UserName } from "./model.ts"
import { setupError } from "./model.ts"

/** What every kubeconfig of one control plane shares. @internal */
export interface Credentials {
  /** `https://127.0.0.1:<port>` */
  readonly server: string
  readonly caPem: string
  readonly tokens: { readonly [U in UserName]: string }
  readonly namespace: string
  /** The control plane's folder, where `write` puts files by default. */
  readonly dir: string
}

/** The kubeconfig text for `user` against `server` (default the API server). @internal */
export const render = (credentials: Credentials, user: UserName, server = credentials.server): string =>
  JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "leasekit",
        cluster: {
          server,
          "certificate-authority-data": Buffer.from(credentials.caPem).toString("base64")
        }
      }],
      users: [{ name: user, user: { token: credentials.tokens[user] } }],
      contexts: [{
        name: `${user}@leasekit`,
        context: { cluster: "leasekit", user, namespace: credentials.namespace }
      }],
      "current-context": `${user}@leasekit`,
      preferences: {}
    },
    null,
    2
  ) + "\n"

/**
 * Writes a kubeconfig for `user` pointing at `server` (default the API server) to `path` (default
 * `kubeconfig-<user>[-<port>].json` in the folder, the port when `server` is another) and returns
 * its path. The file is readable by its owner only.
 *
 * @internal
 */
export const write = (credentials: Credentials, options: {
  readonly user: UserName
  readonly server?: string | undefined
  readonly path?: string | undefined
}): Effect.Effect<string, ControlPlaneError> =>
  Effect.try({
    try: () => {
      const target = options.server ?? credentials.server
      const path = options.path ??
        Path.join(
          credentials.dir,
          `kubeconfig-${options.user}${target === credentials.server ? "" : `-${new URL(target).port}`}.json`
        )
      Fs.writeFileSync(path, render(credentials, options.user, target), { mode: 0o600 })
      return path
    },
    catch: setupError("cannot write the kubeconfig")
  })
