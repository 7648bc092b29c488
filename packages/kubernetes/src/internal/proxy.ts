/**
 * Which proxy a request to the API server goes through, decided as client-go decides it.
 *
 * A cluster's `proxy-url` in the kubeconfig wins, for every server including `localhost` (client-go
 * installs it with `http.ProxyURL`). Without one, the environment decides, with the rules of Go's
 * `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy):
 * - `HTTPS_PROXY` (else `https_proxy`) for an `https:` server, `HTTP_PROXY` (else `http_proxy`)
 *   for an `http:` server; the upper-case name wins when both are set and non-empty. A value
 *   without a scheme (`proxy:3128`) means `http://proxy:3128`; a value that is no URL even then is
 *   ignored, as Go ignores it.
 * - `NO_PROXY` (else `no_proxy`): a comma-separated list of `*` (nothing is proxied), IP addresses
 *   (`10.0.0.1`, `::1`, `[::1]:6443`), CIDR blocks (`10.0.0.0/8`, `fd00::/8`), and domain names
 *   (`example.com` matches it and its subdomains, `.example.com` and `*.example.com` only its
 *   subdomains), each optionally with a port (`example.com:6443` matches only that port). Domain
 *   entries never match IP addresses, and IP entries never match names. Case does not matter;
 *   malformed entries are skipped.
 * - `localhost` and loopback addresses (127.0.0.0/8, `::1`, IPv4-mapped loopback) are never
 *   proxied from the environment.
 * - In a CGI process (`REQUEST_METHOD` set) `HTTP_PROXY` is not used: a client could set it through
 *   a `Proxy:` header (httpoxy). Go fails such a request; here it goes direct.
 *
 * `ProxyFailure` is what a request fails with when the proxy itself failed it — it could not be
 * reached, its TLS certificate was refused, or it answered the CONNECT with an error status — as
 * opposed to a failure beyond it (the API server's certificate, its answers). It names the proxy
 * without user name and password.
 *
 * Does not: check that the proxy's scheme is one the transport speaks (the environment may name a
 * `socks5://` proxy, which Go supports and leasekit's transport does not; the kubeconfig loader
 * already refuses one in `proxy-url`), resolve names, or read the environment itself (the caller
 * passes it, so tests and callers choose).
 *
 * @internal
 */
import * as Net from "node:net"
import * as NodeUrl from "node:url"

/**
 * A request failed on the way to the proxy: connecting to it, its TLS handshake, or the CONNECT
 * it refused. `cause` is Node's error; `code` and `status` are copied from it.
 *
 * @internal
 */
export class ProxyFailure extends Error {
  /** The proxy's URL without user name and password (`https://proxy:3128`). */
  readonly proxy: string
  /** Node's error code (`ECONNREFUSED`, a TLS code such as `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_PROXY_TUNNEL`). */
  readonly code: string | undefined
  /** The status the proxy answered the CONNECT with, when it refused the tunnel. */
  readonly status: number | undefined
  constructor(proxy: URL, cause: unknown) {
    const shown = `${proxy.protocol}//${proxy.host}`
    const code = typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
      ? cause.code
      : undefined
    const status = typeof cause === "object" && cause !== null && "statusCode" in cause &&
        typeof cause.statusCode === "number"
      ? cause.statusCode
      : undefined
    super(`the proxy ${shown} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
    this.name = "ProxyFailure"
    this.proxy = shown
    this.code = code
    this.status = status
  }
}

/** An IP address as Go keeps it for these rules: IPv4 (also IPv4-mapped IPv6) in 4 bytes, else 16. */
interface Ip {
  readonly v4: boolean
  readonly bytes: ReadonlyArray<number>
}

const parseIpv4 = (text: string): Ip | undefined =>
  Net.isIPv4(text) ? { v4: true, bytes: text.split(".").map(Number) } : undefined

const parseIpv6 = (text: string): Ip | undefined => {
  if (!Net.isIPv6(text) || text.includes("%")) return undefined
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) becomes two groups.
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  const v4Tail = tail.includes(".") ? parseIpv4(tail) : undefined
  const hex = v4Tail === undefined
    ? text
    : `${text.slice(0, lastColon + 1)}${((v4Tail.bytes[0]! << 8) | v4Tail.bytes[1]!).toString(16)}:${
      ((v4Tail.bytes[2]! << 8) | v4Tail.bytes[3]!).toString(16)
    }`
  const [left = "", right] = hex.split("::")
  const groups = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16))
  const head = groups(left)
  const rest = right === undefined ? [] : groups(right)
  const words = right === undefined ? head : [...head, ...Array<number>(8 - head.length - rest.length).fill(0), ...rest]
  if (words.length !== 8) return undefined
  const bytes = words.flatMap((w) => [w >> 8, w & 0xff])
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  return mapped ? { v4: true, bytes: bytes.slice(12) } : { v4: false, bytes }
}

/** Go's `net.ParseIP`: dotted IPv4 or IPv6 (no zone); IPv4-mapped addresses count as IPv4. */
const parseIp = (text: string): Ip | undefined => parseIpv4(text) ?? parseIpv6(text)

const sameIp = (a: Ip, b: Ip) => a.v4 === b.v4 && a.bytes.every((byte, i) => byte === b.bytes[i])

const isLoopback = (ip: Ip) =>
  ip.v4 ? ip.bytes[0] === 127 : ip.bytes.slice(0, 15).every((b) => b === 0) && ip.bytes[15] === 1

/** Go's `net.ParseCIDR`: an address, a slash, and a decimal prefix length within its family. */
const parseCidr = (text: string): { readonly network: Ip; readonly bits: number } | undefined => {
  const slash = text.indexOf("/")
  if (slash < 0) return undefined
  const address = text.slice(0, slash)
  const length = text.slice(slash + 1)
  // The family is the address's written form: `::ffff:10.0.0.0/104` is an IPv6 block.
  const ip = address.includes(":") ? parseIpv6(address) : parseIpv4(address)
  if (ip === undefined || !/^[0-9]{1,3}$/.test(length)) return undefined
  const bits = Number(length)
  const width = address.includes(":") ? 128 : 32
  if (bits > width) return undefined
  const bytes = width === 128 && ip.v4 ? [...Array<number>(10).fill(0), 0xff, 0xff, ...ip.bytes] : ip.bytes
  return { network: { v4: width === 32, bytes }, bits }
}

const cidrContains = (cidr: { readonly network: Ip; readonly bits: number }, ip: Ip) => {
  // Go compares an IPv4 address (mapped or not) with IPv4 blocks only.
  if (cidr.network.v4 !== ip.v4) return false
  for (let bit = 0; bit < cidr.bits; bit++) {
    const byte = bit >> 3
    const mask = 0x80 >> (bit & 7)
    if ((cidr.network.bytes[byte]! & mask) !== (ip.bytes[byte]! & mask)) return false
  }
  return true
}

/** Go's `net.SplitHostPort`: `host:port` or `[host]:port`; undefined when there is no port part. */
const splitHostPort = (text: string): { readonly host: string; readonly port: string } | undefined => {
  if (text.startsWith("[")) {
    const close = text.indexOf("]")
    if (close < 0 || text[close + 1] !== ":") return undefined
    const port = text.slice(close + 2)
    return port.includes(":") || port.includes("[") || port.includes("]")
      ? undefined
      : { host: text.slice(1, close), port }
  }
  const colon = text.lastIndexOf(":")
  if (colon < 0 || text.indexOf(":") !== colon || text.includes("[") || text.includes("]")) return undefined
  return { host: text.slice(0, colon), port: text.slice(colon + 1) }
}

type Matcher =
  | { readonly _tag: "All" }
  | { readonly _tag: "Cidr"; readonly network: Ip; readonly bits: number }
  | { readonly _tag: "Ip"; readonly ip: Ip; readonly port: string }
  | { readonly _tag: "Domain"; readonly suffix: string; readonly port: string; readonly matchHost: boolean }

const toAscii = (domain: string): string => {
  if (/^[\x00-\x7f]*$/.test(domain)) return domain
  const leadingDot = domain.startsWith(".")
  const ascii = NodeUrl.domainToASCII(leadingDot ? domain.slice(1) : domain)
  return ascii === "" ? domain : `${leadingDot ? "." : ""}${ascii}`
}

/** The entries of a `NO_PROXY` value, as httpproxy's `init` reads them. */
const parseNoProxy = (value: string): ReadonlyArray<Matcher> => {
  const matchers: Array<Matcher> = []
  for (const raw of value.split(",")) {
    const entry = raw.trim().toLowerCase()
    if (entry === "") continue
    if (entry === "*") return [{ _tag: "All" }]
    const cidr = parseCidr(entry)
    if (cidr !== undefined) {
      matchers.push({ _tag: "Cidr", ...cidr })
      continue
    }
    const split = splitHostPort(entry)
    const host = split === undefined ? entry : split.host.replace(/^\[(.*)\]$/, "$1")
    const port = split?.port ?? ""
    if (split !== undefined && split.host === "") continue
    const ip = parseIp(host)
    if (ip !== undefined) {
      matchers.push({ _tag: "Ip", ip, port })
      continue
    }
    if (host === "") continue
    const bare = host.startsWith("*.") ? host.slice(1) : host
    const matchHost = !bare.startsWith(".")
    matchers.push({ _tag: "Domain", suffix: toAscii(matchHost ? `.${bare}` : bare), port, matchHost })
  }
  return matchers
}

const matches = (matcher: Matcher, host: string, port: string, ip: Ip | undefined): boolean => {
  switch (matcher._tag) {
    case "All":
      return true
    case "Cidr":
      return ip !== undefined && cidrContains(matcher, ip)
    case "Ip":
      return ip !== undefined && sameIp(matcher.ip, ip) && (matcher.port === "" || matcher.port === port)
    case "Domain":
      return ip === undefined &&
        (host.endsWith(matcher.suffix) || (matcher.matchHost && host === matcher.suffix.slice(1))) &&
        (matcher.port === "" || matcher.port === port)
  }
}

/** httpproxy's `useProxy`: false for localhost, loopback addresses and `NO_PROXY` matches. */
const useProxy = (server: URL, noProxy: string): boolean => {
  const host = server.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase()
  if (host === "") return true
  const port = server.port !== "" ? server.port : server.protocol === "https:" ? "443" : "80"
  if (host === "localhost") return false
  const ip = parseIp(host)
  if (ip !== undefined && isLoopback(ip)) return false
  return !parseNoProxy(noProxy).some((matcher) => matches(matcher, host, port, ip))
}

/** httpproxy's `parseProxy`: a URL, or `host[:port]` meaning `http://host[:port]`; else none. */
const parseProxy = (value: string): URL | undefined => {
  const direct = URL.canParse(value) ? new URL(value) : undefined
  if (direct !== undefined && direct.host !== "") return direct
  return URL.canParse(`http://${value}`) ? new URL(`http://${value}`) : direct
}

const envAny = (env: Readonly<Record<string, string | undefined>>, ...names: ReadonlyArray<string>): string => {
  for (const name of names) {
    const value = env[name]
    if (value !== undefined && value !== "") return value
  }
  return ""
}

/**
 * The proxy for requests to `server`: the kubeconfig's `proxy-url` when set (it must be the
 * loader's validated `Loaded.proxyUrl`: an unparseable one throws), else the one the environment
 * names for it, else `undefined` (connect directly).
 *
 * @internal
 */
export const proxyFor = (
  server: URL,
  kubeconfigProxyUrl: string | undefined,
  env: Readonly<Record<string, string | undefined>>
): URL | undefined => {
  if (kubeconfigProxyUrl !== undefined && kubeconfigProxyUrl !== "") return new URL(kubeconfigProxyUrl)
  const value = server.protocol === "https:"
    ? envAny(env, "HTTPS_PROXY", "https_proxy")
    : server.protocol === "http:" && envAny(env, "REQUEST_METHOD") === ""
    ? envAny(env, "HTTP_PROXY", "http_proxy")
    : ""
  if (value === "") return undefined
  const proxy = parseProxy(value)
  if (proxy === undefined) return undefined
  return useProxy(server, envAny(env, "NO_PROXY", "no_proxy")) ? proxy : undefined
}
