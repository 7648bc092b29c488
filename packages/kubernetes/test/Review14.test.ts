/**
 * Review 14: failing tests for the new HTTP stack of the Kubernetes store (nodeRunner, transport,
 * credentials, apiRequest). Each test states the contract it pins; none of them needs a
 * Kubernetes API server — the failures happen before a request reaches one (a proxy's answer to
 * CONNECT, a connection reset, a credential plugin, a header Node refuses).
 */
import { assert, describe, it } from "@effect/vitest"
import type { LeaseRecord } from "@leasekit/core"
import { LeaseStore } from "@leasekit/core"
import { Cause, Duration, Effect, Exit, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as os from "node:os"
import * as path from "node:path"
import { KubeClient, KubernetesLeaseStore } from "../src/index.ts"

const secret = "s3cr3t-bearer-token-review14"
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "leasekit-review14-"))
const key = { namespace: "default", name: "review14" }

/** A TCP server on loopback whose connections are handled by `onConnection`; closed with the scope. */
const tcpServer = (onConnection: (socket: net.Socket, index: number) => void) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ readonly server: net.Server; readonly port: number; readonly sockets: Set<net.Socket> }>((resolve) => {
        const sockets = new Set<net.Socket>()
        let index = 0
        const server = net.createServer((socket) => {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => undefined)
          onConnection(socket, index++)
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ server, sockets, port: typeof address === "object" && address !== null ? address.port : 0 })
        })
      })
    ),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )

/** A loopback port nothing listens on. */
const closedPort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
)

const kubeconfig = (options: {
  readonly server: string
  readonly user?: Record<string, unknown>
  readonly cluster?: Record<string, unknown>
}) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c1", cluster: { server: options.server, ...options.cluster } }],
    users: [{ name: "u1", user: options.user ?? { token: secret } }],
    contexts: [{ name: "ctx1", context: { cluster: "c1", user: "u1", namespace: "default" } }],
    "current-context": "ctx1"
  })

/** A store over a client built from `yaml`, inside the current scope. */
const storeFrom = (yaml: string, options: KubernetesLeaseStore.Options = {}) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.makeFromString(yaml)
    return { client, store: KubernetesLeaseStore.make(client, options) }
  })

const handBuiltRecord: LeaseRecord.LeaseRecord = {
  key,
  version: "12345/0b0f0c8e-0000-4000-8000-000000000000",
  holder: "me",
  durationSeconds: 15,
  transitions: 1,
  metadata: {}
}

describe("review14: KubernetesLeaseStore over the new HTTP stack", () => {
  // Finding 1. `ApiError.fromCause` treats any error object with a numeric `statusCode` as an answer
  // of the API server. Node's built-in proxy support fails a request whose CONNECT was refused with
  // `ERR_PROXY_TUNNEL` carrying the *proxy's* status code as `statusCode`. A proxy that answers
  // CONNECT with 404 therefore makes `get` answer None ("the lease does not exist") although no
  // request reached any Kubernetes API server — the contract says None only for a real 404 Status.
  it.live("a proxy answering CONNECT with 404 is not a Kubernetes 'lease does not exist' (get must not answer None)", () =>
    Effect.gen(function*() {
      const proxy = yield* tcpServer((socket) =>
        socket.once("data", () => socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
      )
      const { store } = yield* storeFrom(kubeconfig({
        server: "https://leases.example.invalid:6443",
        cluster: { "proxy-url": `http://127.0.0.1:${proxy.port}` }
      }), { requestTimeout: "3 seconds" })
      const exit = yield* Effect.exit(store.get(key))
      assert.isFalse(
        Exit.isSuccess(exit) && Option.isNone(exit.value),
        "get answered None: the proxy's 404 to CONNECT was taken for a Kubernetes 404 Status"
      )
      assert.isTrue(Exit.isFailure(exit))
    }).pipe(Effect.scoped))

  // Same root cause, on a write that was never sent: `update` fails with the *definite* reason
  // NotFound ("the lease was deleted") — the holder then declares the lease lost, and a release
  // (update with an empty holder) that finds "NotFound" is reported as a successful release
  // although nothing was written. The write never left this machine: the honest answer is a
  // transient `Unavailable`.
  it.live("a proxy answering CONNECT with 404/409 does not turn an unsent update into NotFound/Conflict", () =>
    Effect.gen(function*() {
      for (const [code, text] of [[404, "Not Found"], [409, "Conflict"]] as const) {
        const proxy = yield* tcpServer((socket) =>
          socket.once("data", () => socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\n\r\n`))
        )
        const { store } = yield* storeFrom(kubeconfig({
          server: "https://leases.example.invalid:6443",
          cluster: { "proxy-url": `http://127.0.0.1:${proxy.port}` }
        }), { requestTimeout: "3 seconds" })
        const error = yield* Effect.flip(store.update(handBuiltRecord, { holder: "me", durationSeconds: 15, transitions: 1 }))
        assert.isTrue(
          LeaseStore.isTransient(error),
          `proxy CONNECT ${code}: update failed with ${error.reason} (${error.message}) although the PUT never reached the API server`
        )
      }
    }).pipe(Effect.scoped))

  // Finding 2. `ApiRequest.json` retries a GET after a connection reset *outside* its
  // `Effect.timeoutOrElse`, so the retry gets a fresh `requestTimeout`: a `get` through a view made
  // with `withRequestTimeout(t)` can take almost 2·t, breaking the bound the algorithm relies on
  // instead of its own timeout (LeaseStore.withRequestTimeout: "every call but watch failing with
  // Timeout after timeout").
  it.live("a read retried after a connection reset still answers within requestTimeout", () =>
    Effect.gen(function*() {
      // First connection: reset after 1.5 s. Every later one: accepted and never answered.
      const server = yield* tcpServer((socket, index) => {
        if (index === 0) setTimeout(() => socket.resetAndDestroy(), 1500)
      })
      const { store } = yield* storeFrom(kubeconfig({
        server: `http://127.0.0.1:${server.port}`,
        cluster: { "insecure-skip-tls-verify": true },
        user: {}
      }))
      const bounded = store.withRequestTimeout!(Duration.seconds(2))
      const started = Date.now()
      const exit = yield* Effect.exit(bounded.get(key))
      const elapsed = Date.now() - started
      assert.isTrue(Exit.isFailure(exit))
      assert.isBelow(elapsed, 2600, `get with requestTimeout 2 s took ${elapsed} ms (the reset retry restarts the timeout)`)
    }).pipe(Effect.scoped))

  // Finding 3. An `auth-provider` user gets a brand-new client-node KubeConfig for *every request*
  // (credentials.ts `authProviderHeader`). Whatever the provider refreshes is written into that
  // throw-away object, so an expired token is refreshed again on every request: the gcp provider
  // runs its `cmd-path` with `execSync` (blocking the whole event loop — renewal timers, the
  // deadline watchdog, every fiber) once per renewal; an OIDC provider calls the IdP with the same
  // refresh token every time (a rotating IdP rejects the second use).
  // (Adapted by the lead: rather than caching the gcp provider's token, the removed gcp and azure
  // providers — which client-go dropped in 1.26 and which ran their command synchronously — are
  // refused when the client is built, naming the exec plugin that replaces them. Other providers
  // (oidc) keep one client-node configuration for the credentials' lifetime.)
  it.live("the removed gcp auth-provider is refused when the client is built, naming its replacement, and runs nothing", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const runs = path.join(dir, "runs")
      const cmd = path.join(dir, "gcloud-token")
      fs.writeFileSync(
        cmd,
        `#!/bin/sh\necho run >> '${runs}'\necho '{"access_token":"fresh-token","token_expiry":"2099-01-01T00:00:00Z"}'\n`,
        { mode: 0o755 }
      )
      const port = yield* closedPort
      const exit = yield* Effect.exit(storeFrom(kubeconfig({
        server: `https://127.0.0.1:${port}`,
        user: {
          "auth-provider": {
            name: "gcp",
            config: {
              "cmd-path": cmd,
              "token-key": "{.access_token}",
              "expiry-key": "{.token_expiry}",
              "access-token": "expired-token",
              expiry: "2000-01-01T00:00:00Z"
            }
          }
        }
      }), { requestTimeout: "5 seconds" }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.include(Cause.pretty(exit.cause), "gke-gcloud-auth-plugin")
      assert.isFalse(fs.existsSync(runs), "the provider's command ran")
    }).pipe(Effect.scoped))

  // Finding 4. Header values are validated when the kubeconfig is loaded (an inline token or token
  // file with a line break is refused), but not when a token file is re-read after rotation
  // (credentials.ts `rereadTokenFile`), nor for exec-plugin tokens or impersonation values. Node's
  // `https.request` then throws ERR_INVALID_CHAR synchronously inside nodeRunner's
  // `Effect.callback`: the store call dies with a defect instead of failing with a
  // LeaseStoreError (reason Credentials) — the algorithm's error handling is bypassed.
  // (Adapted by the lead: a re-read token that cannot be sent is not adopted — the old token stays
  // in use, as for an empty or unreadable file during a rotation; an impersonation value that cannot
  // be sent fails the client's construction. Neither reaches Node as a header, so no call dies.)
  it.live("a rotated token file with two lines is not adopted: calls go on with the old token, no defect", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const tokenFile = path.join(dir, "token")
      fs.writeFileSync(tokenFile, `${secret}\n`)
      const port = yield* closedPort
      const { client, store } = yield* storeFrom(kubeconfig({
        server: `https://127.0.0.1:${port}`,
        user: { tokenFile }
      }), { requestTimeout: "3 seconds" })
      fs.writeFileSync(tokenFile, `${secret}-rotated\nsecond-line\n`)
      assert.isFalse(yield* client.reloadCredentials, "a token with a line break is not adopted")
      const exit = yield* Effect.exit(store.get(key))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.hasDies(exit.cause), `the call died with a defect: ${Cause.pretty(exit.cause).split("\n")[0]}`)
        assert.notInclude(Cause.pretty(exit.cause), secret)
        // Nothing listens: the failure is the connection, not the token.
        assert.include(Cause.pretty(exit.cause), "Unavailable")
      }
    }).pipe(Effect.scoped))

  it.live("an impersonated user name Node cannot send fails the client's construction, naming the setting, not a call with a defect", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const exit = yield* Effect.exit(storeFrom(kubeconfig({
        server: `https://127.0.0.1:${port}`,
        user: { token: secret, as: "用户" }
      }), { requestTimeout: "3 seconds" }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.hasDies(exit.cause), `the build died with a defect: ${Cause.pretty(exit.cause).split("\n")[0]}`)
        assert.include(Cause.pretty(exit.cause), "Impersonate-User")
        assert.notInclude(Cause.pretty(exit.cause), secret)
      }
    }).pipe(Effect.scoped))
  // Finding 6. A watch answered `410 Gone` (KubernetesLeaseStore `open`) fails with `Gone` without
  // reading the answer's body, so its connection is neither returned to the pool nor destroyed
  // (only a garbage collection of the response, via Effect's FinalizationRegistry, aborts it). And
  // `Gone` re-lists and reconnects at once, without the backoff other failures get: a server that
  // keeps answering 410 drives a tight list/watch loop that leaks one socket per round until the
  // client's 100-socket pool is exhausted and every other request of the process times out.
  // (A stand-in HTTP server is used here only to produce the 410 answer.)
  it.live("watches answered 410 neither leak connections nor starve other requests", () =>
    Effect.gen(function*() {
      let requests = 0
      const open = new Set<unknown>()
      const server = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<http.Server>((resolve) => {
            const s = http.createServer((req, res) => {
              requests++
              const url = new URL(req.url ?? "/", "http://x")
              res.setHeader("content-type", "application/json")
              if (url.searchParams.get("watch") === "true") {
                res.statusCode = 410
                res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "Gone", code: 410, message: "too old resource version" }))
              } else if (url.pathname.endsWith("/leases")) {
                res.end(JSON.stringify({ kind: "LeaseList", apiVersion: "coordination.k8s.io/v1", metadata: { resourceVersion: "5" }, items: [] }))
              } else {
                res.statusCode = 404
                res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, details: { kind: "leases", name: "x" } }))
              }
            })
            s.on("connection", (socket) => {
              open.add(socket)
              socket.on("close", () => open.delete(socket))
            })
            s.listen(0, "127.0.0.1", () => resolve(s))
          })
        ),
        (s) => Effect.sync(() => { s.closeAllConnections(); s.close() })
      )
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const { store } = yield* storeFrom(kubeconfig({
        server: `http://127.0.0.1:${port}`,
        cluster: { "insecure-skip-tls-verify": true },
        user: {}
      }), { requestTimeout: "2 seconds" })
      yield* store.watch(key).pipe(Stream.runDrain, Effect.ignore, Effect.forkScoped)
      yield* Effect.sleep("1500 millis")
      const openConnections = open.size
      const exit = yield* Effect.exit(store.get(key))
      assert.isTrue(Exit.isSuccess(exit), `a get after the 410 storm failed: ${Exit.isFailure(exit) ? Cause.pretty(exit.cause).split("\n")[0] : ""} (${requests} requests, ${openConnections} connections left open)`)
      assert.isAtMost(openConnections, 5, `${openConnections} connections left open by 410 answers (${requests} requests in 1.5 s)`)
    }).pipe(Effect.scoped))
  // Finding 8 (low). transport.ts claims the credential headers stay outside the
  // `HttpClientRequest` "so they never appear in an error, a log or a span". For a request whose
  // body is a stream (or form data) nodeRunner's `streaming` path copies them into the request
  // (`HttpClientRequest.setHeaders(request, prepared.headers)`) and hands it to the platform
  // client, whose errors carry that request: the bearer token is then a plain value inside the
  // error (`error.reason.request.headers.authorization`) — redacted by `util.inspect`, but not by
  // anything that reads the object's values.
  it.live("a streamed request's failure does not carry the bearer token", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const client = yield* KubeClient.makeFromString(kubeconfig({ server: `https://127.0.0.1:${port}` }))
      const request = HttpClientRequest.post("/api/v1/namespaces/default/configmaps").pipe(
        HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("{}")))
      )
      const error = yield* Effect.flip(client.http.execute(request))
      const carried = error.reason.request.headers as Record<string, string>
      assert.notInclude(Object.values(carried).join("\n"), secret, "the error's request holds the Authorization header")
    }).pipe(Effect.scoped))
})
