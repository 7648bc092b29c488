/**
 * Misbehaving servers on 127.0.0.1 and the means to watch what leasekit says about them, for the
 * credential and hostile-input suites (`credentials.test.ts`, `hostile-server.test.ts`).
 *
 * - `makePki`: a throwaway CA with a serving certificate for 127.0.0.1 / localhost / kubernetes…
 *   (the testing package's own PKI code, so it needs the `openssl` command, as the control plane
 *   does). Two calls give two CAs that do not trust each other.
 * - `httpsServer`: an HTTPS server with that certificate and the test's handler; every request it
 *   received is recorded (method, URL, headers).
 * - `connectProxy`: an HTTP CONNECT proxy (plain or TLS) that records each tunnel it was asked for
 *   (target and `Proxy-Authorization`), maps the target host through `route` (so a name that does
 *   not resolve can still reach a loopback server), or refuses every tunnel with a status.
 * - `captureLogs`: everything logged at any level while an effect runs, as text.
 * - `dump`: an error as a log line, a pretty cause, `util.inspect` (deep) and JSON would show it,
 *   cause chain included — to search for secrets in it; `pathsTo`: where in an error's object graph
 *   a secret is reachable at all (what a serializer that walks every property would find).
 * - `withEnv`: process environment variables set for the rest of the scope, restored after.
 *
 * Every server is closed, and every connection it holds destroyed, when the scope closes.
 * Does not: speak HTTP/2, or bound what a handler buffers (handlers respect back-pressure
 * themselves).
 */
import { Cause, Effect, Logger, References, Scope } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Https from "node:https"
import * as Net from "node:net"
import * as Util from "node:util"
// The testing package's PKI (not exported by it): the control plane's certificates come from it.
import * as Pki from "../../packages/testing/src/internal/pki.ts"

/** A loopback port nothing listens on (bound, then released). */
export const closedPort: Effect.Effect<number> = Effect.promise(() =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
)

/** A CA and a serving certificate for 127.0.0.1, as PEM text. */
export interface Certificates {
  readonly caPem: string
  readonly cert: string
  readonly key: string
}

/** Makes a fresh CA and serving certificate in `dir` (with `openssl`). */
export const makePki = (dir: string): Effect.Effect<Certificates, Error> =>
  Effect.map(Pki.make(dir), (pki) => ({
    caPem: pki.caPem,
    cert: Fs.readFileSync(pki.certFile, "utf8"),
    key: Fs.readFileSync(pki.keyFile, "utf8")
  }))

/** A request a server received. */
export interface Received {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
}

/** A running server. */
export interface Server {
  readonly port: number
  /** `https://127.0.0.1:<port>` (or `http://` for a plain proxy). */
  readonly url: string
  readonly received: ReadonlyArray<Received>
}

const listen = (server: Net.Server, sockets: Set<Net.Socket>) =>
  Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
      })
    }),
    () =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )

const track = (server: Net.Server, sockets: Set<Net.Socket>, event: "connection" | "secureConnection") =>
  server.on(event, (socket: Net.Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    // A client that hangs up mid-answer is what these servers are for: never crash on it.
    socket.on("error", () => undefined)
  })

/** An HTTPS server on 127.0.0.1 with `certificates`' serving certificate, answering with `handler`. */
export const httpsServer = (
  certificates: Certificates,
  handler: (request: Http.IncomingMessage, response: Http.ServerResponse) => void
): Effect.Effect<Server, never, Scope.Scope> =>
  Effect.gen(function*() {
    const received: Array<Received> = []
    const sockets = new Set<Net.Socket>()
    const server = Https.createServer({ cert: certificates.cert, key: certificates.key }, (request, response) => {
      received.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
      response.on("error", () => undefined)
      handler(request, response)
    })
    track(server, sockets, "secureConnection")
    server.on("tlsClientError", () => undefined)
    const port = yield* listen(server, sockets)
    return { port, url: `https://127.0.0.1:${port}`, received }
  })

/** A tunnel a proxy was asked for. */
export interface Tunnel {
  /** The CONNECT target, `host:port`. */
  readonly target: string
  readonly proxyAuthorization: string | undefined
}

/** A running CONNECT proxy. */
export interface Proxy extends Server {
  readonly tunnels: ReadonlyArray<Tunnel>
}

/**
 * An HTTP CONNECT proxy on 127.0.0.1: over TLS with `tls`' certificate when given, else plain.
 * Tunnels go to `route(host)` (default: the host asked for) at the port asked for; with `refuse`
 * every CONNECT is answered with that status instead.
 */
export const connectProxy = (options: {
  readonly tls?: Certificates | undefined
  readonly route?: ((host: string) => string) | undefined
  readonly refuse?: number | undefined
} = {}): Effect.Effect<Proxy, never, Scope.Scope> =>
  Effect.gen(function*() {
    const tunnels: Array<Tunnel> = []
    const received: Array<Received> = []
    const sockets = new Set<Net.Socket>()
    const onRequest = (request: Http.IncomingMessage, response: Http.ServerResponse) => {
      received.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers })
      response.writeHead(405).end()
    }
    const server = options.tls === undefined
      ? Http.createServer(onRequest)
      : Https.createServer({ cert: options.tls.cert, key: options.tls.key }, onRequest)
    track(server, sockets, options.tls === undefined ? "connection" : "secureConnection")
    server.on("tlsClientError", () => undefined)
    server.on("connect", (request: Http.IncomingMessage, client: Net.Socket, head: Buffer) => {
      const target = request.url ?? ""
      const header = request.headers["proxy-authorization"]
      tunnels.push({ target, proxyAuthorization: header })
      client.on("error", () => undefined)
      if (options.refuse !== undefined) {
        client.end(`HTTP/1.1 ${options.refuse} Refused\r\nContent-Length: 0\r\n\r\n`)
        return
      }
      const colon = target.lastIndexOf(":")
      const host = target.slice(0, colon).replace(/^\[(.*)\]$/, "$1")
      const upstream = Net.connect(Number(target.slice(colon + 1)), (options.route ?? ((h) => h))(host), () => {
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
        upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      sockets.add(upstream)
      upstream.on("close", () => sockets.delete(upstream))
      upstream.on("error", () => client.destroy())
      client.on("close", () => upstream.destroy())
    })
    const port = yield* listen(server, sockets)
    return { port, url: `${options.tls === undefined ? "http" : "https"}://127.0.0.1:${port}`, received, tunnels }
  })

/**
 * Runs `self` with a logger that records every entry (any level, message and cause) into
 * `lines`, and with no other logger.
 */
export const captureLogs = (lines: Array<string>) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  self.pipe(
    Effect.provide(Logger.layer([
      Logger.make((options) => {
        lines.push(`${options.logLevel} ${Util.inspect(options.message, { depth: 12, maxStringLength: Infinity })}`)
        lines.push(Cause.pretty(options.cause))
      })
    ], { mergeWithExisting: false })),
    Effect.provideService(References.MinimumLogLevel, "All")
  )

/**
 * Everything an error can show of itself: its string, a pretty `Cause`, a deep `util.inspect`,
 * JSON, and the message of each error along its `cause` chain.
 */
export const dump = (error: unknown): string => {
  const parts = [
    String(error),
    Cause.pretty(Cause.fail(error)),
    Util.inspect(error, { depth: 12, maxStringLength: Infinity, maxArrayLength: Infinity })
  ]
  try {
    parts.push(JSON.stringify(error) ?? "")
  } catch (cause) {
    parts.push(`(not JSON: ${String(cause)})`)
  }
  let current: unknown = error
  for (let depth = 0; depth < 12 && typeof current === "object" && current !== null; depth++) {
    if (current instanceof Error) parts.push(current.message)
    current = (current as { readonly cause?: unknown }).cause
  }
  return parts.join("\n")
}

/**
 * The property paths (`error.cause.…`) under `value` whose string value contains `secret`: own
 * properties, enumerable or not, followed to `maxDepth`, each object once. Strings only: a secret
 * held in a `Buffer` is not found.
 */
export const pathsTo = (value: unknown, secret: string, maxDepth = 16): Array<string> => {
  const seen = new Set<unknown>()
  const found: Array<string> = []
  const walk = (current: unknown, path: string, depth: number): void => {
    if (typeof current === "string") {
      if (current.includes(secret)) found.push(path)
      return
    }
    if (typeof current !== "object" || current === null || seen.has(current) || depth > maxDepth) return
    seen.add(current)
    for (const key of Object.getOwnPropertyNames(current)) {
      let next: unknown
      try {
        next = (current as Record<string, unknown>)[key]
      } catch {
        continue
      }
      walk(next, `${path}.${key}`, depth + 1)
    }
  }
  walk(value, "error", 0)
  return found
}

/** Sets environment variables (`undefined`: unset) until the scope closes, then restores them. */
export const withEnv = (variables: Readonly<Record<string, string | undefined>>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(Object.keys(variables).map((name) => [name, process.env[name]]))
      for (const [name, value] of Object.entries(variables)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  ).pipe(Effect.asVoid)
