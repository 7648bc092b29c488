/**
 * Server and proxy URLs in messages and credentials: `redactUrl` hides a URL's user name and
 * password, `splitUserinfo` takes them out of a server URL (Go's net/http sends them as basic auth).
 *
 * Guarantees: `redactUrl` never lets text between `scheme://` and the last `@` through.
 * Does not: validate URLs (the cluster resolver does).
 *
 * @internal
 */

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
export const splitUserinfo = (server: string): { readonly url: string; readonly username: string; readonly password: string } => {
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
