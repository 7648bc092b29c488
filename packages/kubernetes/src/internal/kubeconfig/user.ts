/**
 * The user of the selected context: its client certificate and the credentials its requests carry
 * in headers.
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
 *
 * Guarantees: a bearer token is one line; a token file is read now (trimmed, non-empty, one line);
 * certificate and key come in pairs, and their files exist; no credential appears in a message.
 * Does not: read client certificates or keys (the transport reads `TlsSource`s, and can re-read
 * files), re-read token files, validate `exec` beyond its being a mapping (its decoder does), or
 * apply the server URL's user name and password and the plain-http rule (the loader does, after).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import { errnoCode, fail, type KubeConfigError } from "./error.ts"
import { fieldsOf } from "./fields.ts"
import { type Auth, describeAuth, type TlsSource, tlsSource } from "./loaded.ts"
import { fileExists, nameOf, type Raw, resolveIn } from "./raw.ts"

/** A line break or another control character: never part of a token. */
export const controlCharacter = /[\u0000-\u001f\u007f]/

/** Reads a token file: trimmed, non-empty, one line. */
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

/** The selected context's user, checked. */
export interface User {
  /** The user's name, or `"(anonymous)"` when the context names none. */
  readonly shownUser: string
  /** Typed access to the user's fields (for impersonation). */
  readonly user: ReturnType<typeof fieldsOf>
  readonly cert: TlsSource | undefined
  readonly key: TlsSource | undefined
  /** Whether the user has a client certificate and key. */
  readonly certAuth: boolean
  readonly auth: Auth
  /** `auth` in words (`describeAuth`). */
  readonly used: string | undefined
}

/**
 * Resolves and checks user `userName` (undefined: anonymous) of context `requested`; warnings about
 * credentials that are set but not used are pushed onto `warnings`.
 */
export const resolveUser = (
  source: string,
  baseDir: string | undefined,
  requested: string,
  userName: string | undefined,
  users: ReadonlyArray<Raw>,
  warnings: Array<string>
): Effect.Effect<User, KubeConfigError> =>
  Effect.gen(function*() {
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
    const cert = tlsSource(baseDir, certFile, certData)
    const key = tlsSource(baseDir, keyFile, keyData)

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
    const auth: Auth = tokenFile !== undefined
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
    return { shownUser, user, cert, key, certAuth, auth, used }
  })
