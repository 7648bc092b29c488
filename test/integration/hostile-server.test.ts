/**
 * The Kubernetes store against servers that misbehave on purpose, on 127.0.0.1: answers far
 * larger than any Lease, a watch line without end, a server and proxies whose URLs carry
 * passwords, an https proxy the client does not trust, and a 401 that no credential refresh can
 * cure. No control plane is needed: each server is a `node:https` server with a throwaway CA the
 * kubeconfig trusts (`loopback.ts`).
 *
 * What is pinned: the store fails with a `LeaseStoreError` whose reason and detail say what was
 * wrong (the limit, the proxy, the rejected credentials), the test process survives with its
 * memory bounded and its client usable, no password from a URL shows in an error or a log, and a
 * 401 to credentials that cannot change is not sent twice.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Lease, LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Context, Duration, Effect, Exit, Layer, Option, Schedule, Stream } from "effect"
import * as Fs from "node:fs"
import type * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { captureLogs, type Certificates, closedPort, connectProxy, dump, httpsServer, makePki, pathsTo } from "./loopback.ts"

const namespace = "hostile"
const MiB = 1024 * 1024

/** Two CAs with a serving certificate each: the kubeconfigs trust `trusted`, never `untrusted`. */
class Pkis extends Context.Service<Pkis, {
  readonly trusted: Certificates
  readonly untrusted: Certificates
  readonly dir: string
}>()("@leasekit/test/hostile/Pkis") {}

const pkis = Layer.effect(
  Pkis,
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-hostile-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    const trusted = yield* makePki(Path.join(dir, "trusted"))
    const untrusted = yield* makePki(Path.join(dir, "untrusted"))
    return { trusted, untrusted, dir }
  })
)

/** A kubeconfig for `server` trusting the `trusted` CA, written to a fresh file. */
const kubeconfigFile = (options: {
  readonly server: string
  readonly user?: Record<string, unknown> | undefined
  readonly proxyUrl?: string | undefined
}) =>
  Effect.map(Pkis, ({ dir, trusted }) => {
    const folder = Fs.mkdtempSync(Path.join(dir, "kubeconfig-"))
    const file = Path.join(folder, "config")
    Fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "hostile",
          cluster: {
            server: options.server,
            "certificate-authority-data": Buffer.from(trusted.caPem).toString("base64"),
            ...(options.proxyUrl === undefined ? {} : { "proxy-url": options.proxyUrl })
          }
        }],
        users: [{ name: "hostile-user", user: options.user ?? {} }],
        contexts: [{ name: "hostile", context: { cluster: "hostile", user: "hostile-user", namespace } }],
        "current-context": "hostile"
      }),
      { mode: 0o600 }
    )
    return file
  })

/** A client and a store on `file` (closed with the test's scope). */
const storeOn = (file: string, requestTimeout: Duration.Input = "5 seconds") =>
  Effect.map(KubeClient.makeFromFile(file), (client) => ({
    client,
    store: KubernetesLeaseStore.make(client, { requestTimeout, watchReconnect: "5 seconds" })
  }))

const lease = (name: string, resourceVersion: string) => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name, namespace, resourceVersion, uid: `uid-${name}` },
  spec: { holderIdentity: "someone", leaseDurationSeconds: 10 }
})

/**
 * The text of a well-formed Lease named `name` with one annotation, `padding`, whose value the
 * caller streams between `head` and `end`.
 */
const paddedLease = (name: string) => ({
  head: `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"${name}","namespace":"${namespace}",` +
    `"resourceVersion":"5","uid":"uid-${name}","annotations":{"padding":"`,
  end: `"}},"spec":{"holderIdentity":"someone","leaseDurationSeconds":10}}`
})

const unauthorized = JSON.stringify({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message: "Unauthorized",
  reason: "Unauthorized",
  code: 401
})

/** How much a streamed answer wrote, and whether the client hung up. */
interface Pumped {
  sent: number
  closed: boolean
}

/**
 * Answers 200 with `head`, then `filler` repeated up to `total` bytes, respecting back-pressure
 * (the server itself buffers at most a chunk); ends the answer only when `end` is given, otherwise
 * keeps the connection open once `total` was written.
 */
const pump = (
  response: Http.ServerResponse,
  pumped: Pumped,
  options: { readonly head: string; readonly total: number; readonly end?: string | undefined; readonly contentLength?: boolean }
) => {
  const filler = Buffer.alloc(64 * 1024, "a")
  response.on("close", () => (pumped.closed = true))
  response.writeHead(200, {
    "content-type": "application/json",
    ...(options.contentLength === true
      ? { "content-length": String(options.head.length + options.total + (options.end?.length ?? 0)) }
      : {})
  })
  response.write(options.head)
  const more = () => {
    while (pumped.sent < options.total && !pumped.closed) {
      pumped.sent += filler.length
      if (!response.write(filler)) return void response.once("drain", more)
    }
    if (options.end !== undefined && !pumped.closed) response.end(options.end)
  }
  more()
}

/** The highest resident set size seen while `self` runs (sampled every 5 ms), minus the one before. */
const rssGrowth = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const before = process.memoryUsage().rss
    let peak = before
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5)
    const result = yield* Effect.exit(self).pipe(Effect.ensuring(Effect.sync(() => clearInterval(timer))))
    peak = Math.max(peak, process.memoryUsage().rss)
    return { exit: result, growth: peak - before }
  })

/** Fails the test when `self` has not ended within `duration`. */
const within = (what: string, duration: Duration.Input) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(self, { duration, orElse: () => Effect.die(new Error(`${what}: not done within ${Duration.format(Duration.fromInputUnsafe(duration))}`)) })

const untilTrue = (what: string, condition: () => boolean) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("20 millis") }),
    within(what, "10 seconds")
  )

layer(pkis, { excludeTestServices: true, timeout: "2 minutes" })("the store against hostile servers on loopback", (it) => {
  describe("oversized answers", () => {
    it.effect("a 64 MiB answer to a lease GET fails Invalid naming the 16 MiB limit; the connection is dropped, memory stays bounded, the client stays usable", () =>
      Effect.gen(function*() {
        const { trusted } = yield* Pkis
        const pumped: Record<string, Pumped> = {}
        const server = yield* httpsServer(trusted, (request, response) => {
          const name = (request.url ?? "").split("?")[0]!.split("/").pop() ?? ""
          if (name === "small") return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(lease("small", "7")))
          // A Lease whose annotation is 64 MiB long: well-formed, just far too large.
          const state = (pumped[name] = { sent: 0, closed: false })
          const { end, head } = paddedLease(name)
          pump(response, state, { head, total: 64 * MiB, end, contentLength: name === "sized" })
        })
        const { store } = yield* storeOn(yield* kubeconfigFile({ server: server.url, user: { token: "hostile-token" } }), "20 seconds")

        for (const name of ["chunked", "sized"]) {
          const { exit, growth } = yield* rssGrowth(store.get({ namespace, name }).pipe(within(`GET ${name}`, "30 seconds")))
          assert.isTrue(Exit.isFailure(exit), `GET ${name} must fail, not answer a 64 MiB Lease`)
          const error = yield* Effect.flip(exit)
          assert.instanceOf(error, LeaseStore.LeaseStoreError)
          assert.strictEqual(error.reason, "Invalid")
          assert.include(error.detail, `${16 * MiB} bytes`, "the detail names the limit")
          assert.include(error.detail, server.url)
          assert.notInclude(dump(error), "hostile-token")
          assert.deepStrictEqual(pathsTo(error, "hostile-token"), [], "the bearer token is reachable from the error")
          assert.isBelow(growth, 200 * MiB, `resident memory grew by ${Math.round(growth / MiB)} MiB reading ${name}`)
          // The client hung up: the rest of the answer is not read (nor left stuck on a pooled connection).
          yield* untilTrue(`the client to hang up on ${name}`, () => pumped[name]!.closed)
          assert.isBelow(pumped[name]!.sent, 48 * MiB, `the server got to write ${Math.round(pumped[name]!.sent / MiB)} MiB`)
        }
        // Still usable.
        const small = yield* store.get({ namespace, name: "small" })
        assert.strictEqual(Option.getOrThrow(small).holder, "someone")
      }))

    it.effect("a watch line without end fails Invalid naming the 1 MiB line limit; the server is hung up on, memory stays bounded", () =>
      Effect.gen(function*() {
        const { trusted } = yield* Pkis
        const pumped: Pumped = { sent: 0, closed: false }
        const server = yield* httpsServer(trusted, (request, response) => {
          const url = new URL(request.url ?? "", "https://x")
          if (url.searchParams.get("watch") !== "true") {
            return void response.writeHead(200, { "content-type": "application/json" }).end(
              JSON.stringify({ apiVersion: "coordination.k8s.io/v1", kind: "LeaseList", metadata: { resourceVersion: "1" }, items: [] })
            )
          }
          // One event that never ends: capped at 256 MiB (then the connection stays open, silent),
          // so that a client without a bound hangs instead of taking the machine down.
          pump(response, pumped, {
            head: `{"type":"ADDED","object":${paddedLease("endless").head}`,
            total: 256 * MiB
          })
        })
        const { store } = yield* storeOn(yield* kubeconfigFile({ server: server.url, user: { token: "hostile-token" } }))
        const { exit, growth } = yield* rssGrowth(
          store.watch({ namespace, name: "endless" }).pipe(Stream.runDrain, within("the watch", "30 seconds"))
        )
        const error = yield* Effect.flip(exit)
        assert.instanceOf(error, LeaseStore.LeaseStoreError)
        assert.strictEqual(error.reason, "Invalid")
        assert.include(error.detail, `${MiB} bytes`, "the detail names the line limit")
        assert.notInclude(dump(error), "hostile-token")
        assert.deepStrictEqual(pathsTo(error, "hostile-token"), [], "the bearer token is reachable from the error")
        assert.isBelow(growth, 200 * MiB, `resident memory grew by ${Math.round(growth / MiB)} MiB`)
        yield* untilTrue("the client to hang up on the watch", () => pumped.closed)
        assert.isBelow(pumped.sent, 32 * MiB, `the server got to write ${Math.round(pumped.sent / MiB)} MiB`)
      }))
  })

  it.effect("credentials in URLs — the server's user:password and a proxy-url's — never appear in an error or a log", () =>
    Effect.gen(function*() {
      const { trusted } = yield* Pkis
      const secrets = ["secretpw", "proxysecret"]
      const encoded = [Buffer.from("leasekit:secretpw").toString("base64"), Buffer.from("proxyuser:proxysecret").toString("base64")]
      const server = yield* httpsServer(trusted, (_, response) =>
        void response.writeHead(401, { "content-type": "application/json" }).end(unauthorized))
      const refusing = yield* connectProxy({ refuse: 407 })
      const closed = yield* closedPort
      const lines: Array<string> = []
      const failures: Array<unknown> = []
      const key = { namespace, name: "url-credentials" }
      /** Builds a store on the kubeconfig and reads `key`; records how it failed. */
      const attempt = (options: Parameters<typeof kubeconfigFile>[0]) =>
        Effect.gen(function*() {
          const file = yield* kubeconfigFile(options)
          const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(storeOn(file, "3 seconds"), ({ store }) => store.get(key))))
          assert.isTrue(Exit.isFailure(exit), `${JSON.stringify(options)} must fail`)
          const error = yield* Effect.flip(exit)
          failures.push(error)
          return error
        }).pipe(captureLogs(lines))

      // The server's userinfo is basic auth (as Go's net/http sends it): used, and redacted everywhere.
      const withPassword = `https://leasekit:secretpw@127.0.0.1:${server.port}`
      const rejected = yield* attempt({ server: withPassword })
      assert.instanceOf(rejected, LeaseStore.LeaseStoreError)
      assert.strictEqual(rejected.reason, "Unauthorized")
      assert.include(rejected.detail, server.url)
      assert.strictEqual(server.received[0]?.headers.authorization, `Basic ${encoded[0]}`, "the URL's credentials were sent")
      const client = yield* KubeClient.makeFromFile(yield* kubeconfigFile({ server: withPassword }))
      assert.strictEqual(client.server, server.url)

      const unreachable = yield* attempt({ server: `https://leasekit:secretpw@127.0.0.1:${closed}` })
      assert.instanceOf(unreachable, LeaseStore.LeaseStoreError)
      assert.strictEqual(unreachable.reason, "Unavailable")
      assert.include(unreachable.detail, `https://127.0.0.1:${closed}`)

      // Together with a token the kubeconfig is refused — its message shows the URL redacted.
      const both = yield* attempt({ server: withPassword, user: { token: "a-token" } })
      assert.instanceOf(both, KubeClient.KubeConfigError)
      assert.include(both.message, "***@127.0.0.1")

      // A proxy-url with userinfo: a proxy nothing listens on, and one refusing with 407.
      const noProxy = yield* attempt({ server: server.url, user: { token: "a-token" }, proxyUrl: `http://proxyuser:proxysecret@127.0.0.1:${closed}` })
      assert.instanceOf(noProxy, LeaseStore.LeaseStoreError)
      assert.strictEqual(noProxy.reason, "Unavailable")
      assert.include(noProxy.detail, `through the proxy at http://127.0.0.1:${closed}`)
      const refused = yield* attempt({
        server: server.url,
        user: { token: "a-token" },
        proxyUrl: `http://proxyuser:proxysecret@127.0.0.1:${refusing.port}`
      })
      assert.instanceOf(refused, LeaseStore.LeaseStoreError)
      assert.strictEqual(refused.reason, "Unavailable")
      assert.include(refused.detail, `the proxy at ${refusing.url} refused`)
      assert.include(refused.detail, "407")
      assert.strictEqual(refusing.tunnels[0]?.proxyAuthorization, `Basic ${encoded[1]}`, "the proxy-url's credentials were sent to the proxy")

      // Through the algorithm too, whose retries log each failure (debug).
      for (const options of [
        { server: `https://leasekit:secretpw@127.0.0.1:${closed}` },
        { server: server.url, user: { token: "a-token" }, proxyUrl: `http://proxyuser:proxysecret@127.0.0.1:${closed}` }
      ]) {
        const file = yield* kubeconfigFile(options)
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(storeOn(file, "300 millis"), ({ store }) =>
          Lease.acquire({
            namespace,
            name: "url-credentials",
            duration: "2 seconds",
            renewInterval: "500 millis",
            renewDeadline: "1 second",
            retryPeriod: "100 millis",
            requestTimeout: "300 millis",
            timeout: "600 millis"
          }).pipe(Effect.provideService(LeaseStore.LeaseStore, store))))).pipe(captureLogs(lines))
        assert.isTrue(Exit.isFailure(exit))
        failures.push(Exit.isFailure(exit) ? exit.cause : undefined)
      }
      assert.match(lines.join("\n"), /acquire attempt failed, retrying: .*cannot reach the API server at https:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED/)
      assert.match(lines.join("\n"), /acquire attempt failed, retrying: .*through the proxy at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED/)

      const text = [...lines, ...failures.map(dump)].join("\n")
      for (const secret of [...secrets, ...encoded]) {
        assert.notInclude(text, secret)
        assert.deepStrictEqual(pathsTo(failures, secret), [], `${secret} is reachable from an error`)
      }
    }))

  it.effect("an https proxy whose certificate the client does not trust: the error names the proxy, not the API server's TLS (and an untrusted server behind a proxy is still the server's)", () =>
    Effect.gen(function*() {
      const { trusted, untrusted } = yield* Pkis
      const server = yield* httpsServer(trusted, (_, response) =>
        void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(lease("behind-proxy", "3"))))
      const proxy = yield* connectProxy({ tls: untrusted })
      const file = yield* kubeconfigFile({ server: server.url, user: { token: "a-token" }, proxyUrl: proxy.url })
      const { store } = yield* storeOn(file, "3 seconds")
      const error = yield* Effect.flip(store.get({ namespace, name: "behind-proxy" }))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, proxy.url, "the detail names the proxy")
      assert.match(error.detail, /proxy/)
      assert.notInclude(error.detail, "TLS verification of the API server")
      assert.deepStrictEqual(proxy.tunnels, [], "no tunnel was asked of a proxy that was not trusted")
      assert.deepStrictEqual(server.received, [])

      // The other way round: a plain proxy that works, in front of a server the kubeconfig's CA did not sign.
      const impostor = yield* httpsServer(untrusted, (_, response) => void response.writeHead(500).end())
      const plain = yield* connectProxy()
      const behind = yield* storeOn(yield* kubeconfigFile({ server: impostor.url, user: { token: "a-token" }, proxyUrl: plain.url }), "3 seconds")
      const serverError = yield* Effect.flip(behind.store.get({ namespace, name: "behind-proxy" }))
      assert.strictEqual(serverError.reason, "Unavailable")
      assert.include(serverError.detail, `TLS verification of the API server at ${impostor.url}`)
      assert.deepStrictEqual(plain.tunnels.map((t) => t.target), [`127.0.0.1:${impostor.port}`])
      assert.deepStrictEqual(impostor.received, [], "nothing was sent to the server that was not trusted")
    }))

  it.effect("a 401 to credentials that cannot change (a static token, an unchanged token file) is sent once and fails Unauthorized", () =>
    Effect.gen(function*() {
      const { dir, trusted } = yield* Pkis
      const server = yield* httpsServer(trusted, (_, response) =>
        void response.writeHead(401, { "content-type": "application/json" }).end(unauthorized))
      const tokenFile = Path.join(Fs.mkdtempSync(Path.join(dir, "token-")), "token")
      Fs.writeFileSync(tokenFile, "file-token\n")
      for (const user of [{ token: "static-token" }, { tokenFile }]) {
        const before = server.received.length
        const { store } = yield* storeOn(yield* kubeconfigFile({ server: server.url, user }))
        const error = yield* Effect.flip(store.get({ namespace, name: "refused" }))
        assert.instanceOf(error, LeaseStore.LeaseStoreError)
        assert.strictEqual(error.reason, "Unauthorized")
        assert.include(error.detail, "\"hostile-user\"")
        const sent = server.received.slice(before)
        assert.strictEqual(sent.length, 1, `${JSON.stringify(user)}: ${sent.length} requests reached the server`)
        assert.strictEqual(sent[0]!.headers.authorization, `Bearer ${"token" in user ? user.token : "file-token"}`)
      }
    }))
})
