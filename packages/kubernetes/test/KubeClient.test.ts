import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { KubeClient } from "../src/index.ts"
import * as KubeConfigInternal from "../src/internal/kubeconfig.ts"

const secret = "s3cr3t-bearer-token-that-must-never-be-printed"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "leasekit-kubeclient-"))

const kubeconfig = (options: { server?: string; user?: Record<string, unknown>; current?: string; namespace?: string } = {}) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c1", cluster: { server: options.server ?? "https://127.0.0.1:6443" } }],
    users: [{ name: "u1", user: options.user ?? { token: secret } }],
    contexts: [
      { name: "ctx1", context: { cluster: "c1", user: "u1", ...(options.namespace ? { namespace: options.namespace } : {}) } },
      { name: "ctx-no-cluster", context: { cluster: "missing", user: "u1" } },
      { name: "ctx-no-user", context: { cluster: "c1", user: "ghost" } }
    ],
    "current-context": options.current ?? "ctx1"
  })

const failure = <A>(layer: Layer.Layer<A, KubeClient.KubeConfigError>) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(layer))
    assert.isTrue(Exit.isFailure(exit), "the layer should fail")
    const error = yield* Effect.flip(Layer.build(layer))
    assert.instanceOf(error, KubeClient.KubeConfigError)
    assert.notInclude(error.message, secret, "errors never contain the token")
    return error
  })

describe("KubeClient", () => {
  it.effect("a missing file fails with NotFound, naming the file and how to point at another", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "nope.yaml")
      const error = yield* failure(KubeClient.layerFromFile(file))
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.message, file)
      assert.include(error.message, "KUBECONFIG")
    }))

  it.effect("a SOCKS proxy-url fails with Invalid, saying which proxies work", () =>
    Effect.gen(function*() {
      const config = JSON.parse(kubeconfig())
      config.clusters[0].cluster["proxy-url"] = "socks5://127.0.0.1:1080"
      const error = yield* failure(KubeClient.layerFromString(JSON.stringify(config)))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "socks5://127.0.0.1:1080")
      assert.include(error.message, "http:// and https:// proxies")
    }))

  it.effect("a directory fails with Unreadable", () =>
    Effect.gen(function*() {
      const error = yield* failure(KubeClient.layerFromFile(tempDir()))
      assert.strictEqual(error.reason, "Unreadable")
    }))

  it.effect("garbage YAML fails with Invalid, naming the line but not quoting the text", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "config")
      fs.writeFileSync(file, `users:\n- name: u\n  user:\n    token: ${secret}\n  : : [\n`)
      const error = yield* failure(KubeClient.layerFromFile(file))
      assert.strictEqual(error.reason, "Invalid")
      assert.match(error.message, /line \d+/)
      const scalar = yield* failure(KubeClient.layerFromString("just a string"))
      assert.strictEqual(scalar.reason, "Invalid")
      assert.include(scalar.message, "kubectl config view")
    }))

  it.effect("an unknown context fails with UnknownContext, listing the defined ones", () =>
    Effect.gen(function*() {
      const error = yield* failure(KubeClient.layerFromString(kubeconfig(), { context: "prod" }))
      assert.strictEqual(error.reason, "UnknownContext")
      assert.include(error.message, "\"prod\"")
      assert.include(error.message, "ctx1")
      const none = yield* failure(KubeClient.layerFromString(kubeconfig({ current: "" })))
      assert.strictEqual(none.reason, "UnknownContext")
      assert.include(none.message, "use-context")
    }))

  it.effect("the detail speaks of the configuration only; the library's own options (layerConfig, { context }) are in the hint", () =>
    Effect.gen(function*() {
      const errors = [
        yield* failure(KubeClient.layerFromFile(path.join(tempDir(), "nope.yaml"))),
        yield* failure(KubeClient.layerFromString(kubeconfig(), { context: "prod" })),
        yield* failure(KubeClient.layerFromString(kubeconfig({ current: "" }))),
        yield* failure(KubeClient.layerInCluster())
      ]
      for (const error of errors) {
        assert.notMatch(error.detail, /layerConfig|LEASEKIT_|\{ context \}/, error.detail)
        assert.isString(error.hint)
        assert.isTrue(error.message.endsWith(`; ${error.hint}`), error.message)
      }
      assert.include(errors[0]!.detail, "the file does not exist")
      assert.include(errors[1]!.detail, "context \"prod\" is not defined (defined: ctx1")
    }))

  it.effect("a context without a cluster fails with NoCluster, without a user with NoCredentials", () =>
    Effect.gen(function*() {
      const noCluster = yield* failure(KubeClient.layerFromString(kubeconfig(), { context: "ctx-no-cluster" }))
      assert.strictEqual(noCluster.reason, "NoCluster")
      assert.include(noCluster.message, "\"missing\"")
      const noUser = yield* failure(KubeClient.layerFromString(kubeconfig(), { context: "ctx-no-user" }))
      assert.strictEqual(noUser.reason, "NoCredentials")
      assert.include(noUser.message, "\"ghost\"")
      const plainHttp = yield* failure(KubeClient.layerFromString(kubeconfig({ server: "http://127.0.0.1:8080" })))
      assert.strictEqual(plainHttp.reason, "NoCluster")
      assert.include(plainHttp.message, "insecure-skip-tls-verify")
    }))

  it.effect("a missing token file fails with NoCredentials, naming the file", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "config")
      fs.writeFileSync(file, kubeconfig({ user: { tokenFile: "token" } }))
      const error = yield* failure(KubeClient.layerFromFile(file))
      assert.strictEqual(error.reason, "NoCredentials")
      assert.include(error.message, path.join(dir, "token"), "a relative tokenFile resolves against the kubeconfig's folder")
    }))

  it.effect("in-cluster outside a pod fails with NoCluster", () =>
    Effect.gen(function*() {
      const error = yield* failure(KubeClient.layerInCluster())
      assert.strictEqual(error.reason, "NoCluster")
      assert.include(error.message, "KUBERNETES_SERVICE_HOST")
    }))

  it.effect("in a pod: the service account's token, CA and namespace, the API server from the environment", () =>
    Effect.gen(function*() {
      const root = tempDir()
      fs.writeFileSync(path.join(root, "token"), `${secret}\n`)
      fs.writeFileSync(path.join(root, "ca.crt"), "-----BEGIN CERTIFICATE-----\n")
      fs.writeFileSync(path.join(root, "namespace"), "jobs")
      const loaded = yield* KubeConfigInternal.inCluster({
        root,
        env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }
      })
      assert.strictEqual(loaded.server, "https://[fd00::1]:443")
      assert.strictEqual(loaded.namespace, "jobs")
      assert.strictEqual(loaded.context, "in-cluster")
      assert.strictEqual(loaded.kubeConfig.getCurrentCluster()?.caFile, path.join(root, "ca.crt"))
      assert.isTrue(loaded.kubeConfig.tokenFiles.has("service-account"))
      assert.strictEqual(loaded.kubeConfig.tokenFiles.get("service-account")?.token, secret, "trimmed")
      fs.writeFileSync(path.join(root, "token"), "rotated")
      assert.isTrue(yield* Effect.promise(() => loaded.kubeConfig.reloadCredentials()))
      assert.isFalse(yield* Effect.promise(() => loaded.kubeConfig.reloadCredentials()), "unchanged: no retry")

      fs.rmSync(path.join(root, "token"))
      const noToken = yield* Effect.flip(KubeConfigInternal.inCluster({
        root,
        env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }
      }))
      assert.strictEqual(noToken.reason, "NoCredentials")
      assert.include(noToken.message, "automountServiceAccountToken")
    }))

  it.effect("a valid kubeconfig gives the context's namespace, user and server", () =>
    Effect.gen(function*() {
      const kube = yield* KubeClient.KubeClient.pipe(
        Effect.provide(KubeClient.layerFromString(kubeconfig({ namespace: "team-a" })))
      )
      assert.strictEqual(kube.namespace, "team-a")
      assert.strictEqual(kube.context, "ctx1")
      assert.strictEqual(kube.user, "u1")
      assert.strictEqual(kube.server, "https://127.0.0.1:6443")
      assert.isFalse(yield* kube.reloadCredentials, "no token file, nothing to reload")
    }))

  it.effect("layerConfig reads LEASEKIT_KUBECONFIG, LEASEKIT_CONTEXT and LEASEKIT_NAMESPACE", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = path.join(dir, "config")
      fs.writeFileSync(file, kubeconfig())
      const program = Effect.gen(function*() {
        const kube = yield* KubeClient.KubeClient
        return { namespace: kube.namespace, context: kube.context, source: kube.source }
      })
      const result = yield* program.pipe(
        Effect.provide(KubeClient.layerConfig()),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          LEASEKIT_KUBECONFIG: file,
          LEASEKIT_NAMESPACE: "jobs"
        })))
      )
      assert.deepStrictEqual(result, { namespace: "jobs", context: "ctx1", source: file })
      const error = yield* Effect.flip(program.pipe(
        Effect.provide(KubeClient.layerConfig()),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ KUBECONFIG: file, LEASEKIT_CONTEXT: "nope" })))
      ))
      assert.instanceOf(error, KubeClient.KubeConfigError)
      assert.strictEqual((error as KubeClient.KubeConfigError).reason, "UnknownContext")
    }))
})
