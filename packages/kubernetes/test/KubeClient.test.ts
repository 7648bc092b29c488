import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { KubeClient } from "../src/index.ts"

// Loading and validating kubeconfigs is tested in Kubeconfig.test.ts; these tests cover the layers.

const secret = "s3cr3t-bearer-token-that-must-never-be-printed"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "leasekit-kubeclient-"))

const kubeconfig = (options: { user?: Record<string, unknown>; namespace?: string; proxyUrl?: string } = {}) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "c1",
      cluster: {
        server: "https://127.0.0.1:6443",
        ...(options.proxyUrl === undefined ? {} : { "proxy-url": options.proxyUrl })
      }
    }],
    users: [{ name: "u1", user: options.user ?? { token: secret } }],
    contexts: [{ name: "ctx1", context: { cluster: "c1", user: "u1", ...(options.namespace ? { namespace: options.namespace } : {}) } }],
    "current-context": "ctx1"
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
  it.effect("a configuration that cannot work fails the layer with KubeConfigError", () =>
    Effect.gen(function*() {
      const missing = yield* failure(KubeClient.layerFromFile(path.join(tempDir(), "nope.yaml")))
      assert.strictEqual(missing.reason, "NotFound")
      const socks = yield* failure(KubeClient.layerFromString(kubeconfig({ proxyUrl: "socks5://127.0.0.1:1080" })))
      assert.strictEqual(socks.reason, "Invalid")
      assert.include(socks.message, "http:// and https:// proxies")
      const outside = yield* failure(KubeClient.layerInCluster())
      assert.strictEqual(outside.reason, "NoCluster")
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

  it.effect("a token file is re-read on reloadCredentials", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      fs.writeFileSync(path.join(dir, "token"), `${secret}\n`)
      const file = path.join(dir, "config")
      fs.writeFileSync(file, kubeconfig({ user: { tokenFile: "token" } }))
      const kube = yield* KubeClient.KubeClient.pipe(Effect.provide(KubeClient.layerFromFile(file)))
      fs.writeFileSync(path.join(dir, "token"), "rotated")
      assert.isTrue(yield* kube.reloadCredentials)
      assert.isFalse(yield* kube.reloadCredentials, "unchanged: no retry")
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
