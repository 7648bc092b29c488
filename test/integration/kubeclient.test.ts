/**
 * KubeClient layers against a real kube-apiserver started by @leasekit/testing: every way of
 * loading a configuration reaches the server (or fails with a message that says what to fix),
 * TLS stays verified, and credentials never show up in errors. No HTTP is mocked.
 */
import { assert, layer } from "@effect/vitest"
import { LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { ConfigProvider, Effect, Layer, Option } from "effect"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import * as net from "node:net"
import * as path from "node:path"
import { closedPort } from "./loopback.ts"

const namespace = "leasekit-test"
const controlPlane = ControlPlane.layer({ namespace })

const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)


/** The admin kubeconfig as an object, to derive variants from. */
const adminKubeconfig = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  return JSON.parse(yield* Effect.promise(() => fs.readFile(cp.users.admin.kubeconfig, "utf8"))) as {
    clusters: Array<{ name: string; cluster: Record<string, unknown> }>
    users: Array<{ name: string; user: Record<string, unknown> }>
    contexts: Array<{ name: string; context: Record<string, unknown> }>
    "current-context": string
  }
})

const writeTemp = (name: string, text: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const dir = yield* Effect.promise(() => fs.mkdtemp(path.join(cp.dir, "kubeclient-")))
    const file = path.join(dir, name)
    yield* Effect.promise(() => fs.writeFile(file, text))
    return file
  })

/** A round trip through the store on the client the layer builds: create then get. */
const roundTrip = <E>(clientLayer: Layer.Layer<KubeClient.KubeClient, E>) =>
  Effect.gen(function*() {
    const store = yield* LeaseStore.LeaseStore
    const client = yield* KubeClient.KubeClient
    const key = { namespace: client.namespace, name: `kubeclient-${suffix()}` }
    const created = yield* store.create(key, { holder: "kubeclient-test", durationSeconds: 5 })
    const read = Option.getOrThrow(yield* store.get(key))
    assert.strictEqual(read.version, created.version)
    return client
  }).pipe(Effect.provide(KubernetesLeaseStore.layer().pipe(Layer.provideMerge(clientLayer))))

layer(controlPlane, { excludeTestServices: true, timeout: "4 minutes" })("KubeClient on a real API server", (it) => {
  it.effect("layerFromFile: the context's namespace, user and server, TLS verified with the kubeconfig's CA", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const client = yield* roundTrip(KubeClient.layerFromFile(cp.users.admin.kubeconfig))
      assert.strictEqual(client.namespace, namespace)
      assert.strictEqual(client.user, "admin")
      assert.strictEqual(client.server, cp.server)
      assert.strictEqual(client.source, cp.users.admin.kubeconfig)
    }))

  it.effect("layerFromString, with a namespace override", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const yaml = yield* Effect.promise(() => fs.readFile(cp.users.admin.kubeconfig, "utf8"))
      const client = yield* roundTrip(KubeClient.layerFromString(yaml, { namespace: "default" }))
      assert.strictEqual(client.namespace, "default")
    }))

  it.effect("layerConfig: LEASEKIT_KUBECONFIG, LEASEKIT_CONTEXT and LEASEKIT_NAMESPACE", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      config.contexts.push({ name: "second", context: { ...config.contexts[0]!.context, namespace: "default" } })
      const file = yield* writeTemp("config", JSON.stringify(config))
      const provider = (values: Record<string, string>) =>
        ConfigProvider.layer(ConfigProvider.fromUnknown(values))
      const viaContext = yield* roundTrip(KubeClient.layerConfig()).pipe(
        Effect.provide(provider({ LEASEKIT_KUBECONFIG: file, LEASEKIT_CONTEXT: "second" }))
      )
      assert.strictEqual(viaContext.context, "second")
      assert.strictEqual(viaContext.namespace, "default")
      const viaNamespace = yield* roundTrip(KubeClient.layerConfig()).pipe(
        Effect.provide(provider({ KUBECONFIG: cp.users.admin.kubeconfig, LEASEKIT_NAMESPACE: namespace }))
      )
      assert.strictEqual(viaNamespace.namespace, namespace)
    }))

  it.effect("layerDefault follows $KUBECONFIG (a list; missing entries skipped)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const previous = process.env["KUBECONFIG"]
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (previous === undefined) delete process.env["KUBECONFIG"]
          else process.env["KUBECONFIG"] = previous
        })
      )
      process.env["KUBECONFIG"] = [path.join(cp.dir, "does-not-exist"), cp.users.admin.kubeconfig].join(path.delimiter)
      const client = yield* roundTrip(KubeClient.layerDefault())
      assert.strictEqual(client.user, "admin")
    }))

  it.effect("a kubeconfig user with tokenFile (relative to the kubeconfig) authenticates with the file's token", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      config.users = [{ name: "admin", user: { tokenFile: "admin.token" } }]
      const file = yield* writeTemp("config", JSON.stringify(config))
      yield* Effect.promise(() => fs.writeFile(path.join(path.dirname(file), "admin.token"), `${cp.users.admin.token}\n`))
      yield* roundTrip(KubeClient.layerFromFile(file))
    }))

  it.effect("a missing file, garbage YAML and an unknown context fail with messages naming the fix", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const missing = path.join(cp.dir, "no-such-kubeconfig")
      const notFound = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(missing)))
      assert.instanceOf(notFound, KubeClient.KubeConfigError)
      assert.strictEqual(notFound.reason, "NotFound")
      assert.include(notFound.message, missing)
      assert.include(notFound.message, "KUBECONFIG")

      const garbage = yield* writeTemp("config", `clusters: [\n  token: ${cp.users.admin.token}\n  - {`)
      const invalid = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(garbage)))
      assert.instanceOf(invalid, KubeClient.KubeConfigError)
      assert.strictEqual(invalid.reason, "Invalid")
      assert.match(invalid.message, /line \d+, column \d+/)
      assert.notInclude(invalid.message, cp.users.admin.token, "the text of the file is never quoted")

      const unknown = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(cp.users.admin.kubeconfig, { context: "prod" })))
      assert.instanceOf(unknown, KubeClient.KubeConfigError)
      assert.strictEqual(unknown.reason, "UnknownContext")
      assert.include(unknown.message, "\"prod\"")
      assert.include(unknown.message, "admin@leasekit")
      assert.include(unknown.message, "LEASEKIT_CONTEXT")
    }))

  it.effect("a rejected token fails Unauthorized, naming user and context, never the token", () =>
    Effect.gen(function*() {
      const config = yield* adminKubeconfig
      const bogus = `bogus-${suffix()}-${suffix()}`
      config.users = [{ name: "admin", user: { token: bogus } }]
      const file = yield* writeTemp("config", JSON.stringify(config))
      const error = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(file)))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Unauthorized")
      assert.include(error.detail, "\"admin\"")
      assert.include(error.detail, "admin@leasekit")
      assert.notInclude(error.message, bogus)
      assert.notInclude(String(error.cause), bogus)
    }))

  it.effect("TLS stays verified: without the cluster's CA the server is refused, unless the kubeconfig opts out", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      delete config.clusters[0]!.cluster["certificate-authority-data"]
      const file = yield* writeTemp("config", JSON.stringify(config))
      const error = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(file)))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, "TLS verification")
      assert.include(error.detail, "certificate-authority")
      assert.include(error.detail, cp.server)

      config.clusters[0]!.cluster["insecure-skip-tls-verify"] = true
      const insecure = yield* writeTemp("config", JSON.stringify(config))
      yield* roundTrip(KubeClient.layerFromFile(insecure))
    }))

  it.effect("a client certificate authenticates, from files and from inline data", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      const { certFile, keyFile } = cp.clientCertificate
      config.users[0]!.user = { "client-certificate": certFile, "client-key": keyFile }
      const fromFiles = yield* writeTemp("config", JSON.stringify(config))
      yield* roundTrip(KubeClient.layerFromFile(fromFiles))

      const base64 = (file: string) => Effect.promise(() => fs.readFile(file).then((b) => b.toString("base64")))
      config.users[0]!.user = { "client-certificate-data": yield* base64(certFile), "client-key-data": yield* base64(keyFile) }
      const inline = yield* writeTemp("config", JSON.stringify(config))
      yield* roundTrip(KubeClient.layerFromFile(inline))

      // A certificate without its key would silently make every request anonymous: refused at once.
      config.users[0]!.user = { "client-certificate-data": yield* base64(certFile) }
      const noKey = yield* writeTemp("config", JSON.stringify(config))
      const error = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(noKey)))
      assert.instanceOf(error, KubeClient.KubeConfigError)
      assert.strictEqual(error.reason, "NoCredentials")
      assert.include(error.message, "no client-key")
    }))

  it.effect("a cluster's http proxy-url carries every request (an HTTP CONNECT proxy between client and server)", () =>
    Effect.gen(function*() {
      const tunnels: Array<string> = []
      const proxy = yield* Effect.acquireRelease(
        Effect.promise(() =>
          new Promise<http.Server>((resolve) => {
            const server = http.createServer((_, response) => response.writeHead(405).end())
            server.on("connect", (request: http.IncomingMessage, client: net.Socket, head: Buffer) => {
              tunnels.push(request.url ?? "")
              const [host, port] = (request.url ?? "").split(":")
              const upstream = net.connect(Number(port), host, () => {
                client.write("HTTP/1.1 200 Connection Established\r\n\r\n")
                upstream.write(head)
                upstream.pipe(client)
                client.pipe(upstream)
              })
              upstream.on("error", () => client.destroy())
              client.on("error", () => upstream.destroy())
            })
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
        ),
        (server) => Effect.sync(() => server.close())
      )
      const address = proxy.address()
      const proxyPort = typeof address === "object" && address !== null ? address.port : 0
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      config.clusters[0]!.cluster["proxy-url"] = `http://127.0.0.1:${proxyPort}`
      const file = yield* writeTemp("config", JSON.stringify(config))
      yield* roundTrip(KubeClient.layerFromFile(file))
      assert.isAbove(tunnels.length, 0, "the requests went through the proxy")
      assert.include(tunnels, `127.0.0.1:${cp.port}`)
    }))

  it.effect("a client builds while the server is unreachable and fails its requests with Unavailable", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const config = yield* adminKubeconfig
      const server = `https://127.0.0.1:${yield* closedPort}`
      config.clusters[0]!.cluster["server"] = server
      const file = yield* writeTemp("config", JSON.stringify(config))
      const error = yield* Effect.flip(roundTrip(KubeClient.layerFromFile(file)))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, server)
      assert.include(error.detail, "ECONNREFUSED")
      assert.notInclude(error.message, cp.users.admin.token)
    }))
})
