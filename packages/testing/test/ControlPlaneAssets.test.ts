import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ControlPlaneAssets } from "../src/index.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-assets-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const executables = (dir: string, ...names: ReadonlyArray<string>) => {
  Fs.mkdirSync(dir, { recursive: true })
  for (const name of names) Fs.writeFileSync(Path.join(dir, name), "#!/bin/sh\n", { mode: 0o755 })
}

const resolveWith = (env: Record<string, string>) =>
  ControlPlaneAssets.resolve.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)))

describe("ControlPlaneAssets.resolve", () => {
  it.effect("KUBEBUILDER_ASSETS wins: a folder with kube-apiserver and etcd, kubectl when present", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      executables(dir, "kube-apiserver", "etcd")
      const assets = yield* resolveWith({ KUBEBUILDER_ASSETS: dir, TEST_ASSET_ETCD: "/nonexistent" })
      assert.strictEqual(assets.kubeApiserver, Path.join(dir, "kube-apiserver"))
      assert.strictEqual(assets.etcd, Path.join(dir, "etcd"))
      assert.isTrue(Option.isNone(assets.kubectl))
      executables(dir, "kubectl")
      const withKubectl = yield* resolveWith({ KUBEBUILDER_ASSETS: dir })
      assert.deepStrictEqual(withKubectl.kubectl, Option.some(Path.join(dir, "kubectl")))
    }))

  it.effect("KUBEBUILDER_ASSETS without etcd fails naming the missing file and the install command", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      executables(dir, "kube-apiserver")
      const error = yield* Effect.flip(resolveWith({ KUBEBUILDER_ASSETS: dir }))
      assert.deepStrictEqual(error.missing, [Path.join(dir, "etcd")])
      assert.include(error.message, "KUBEBUILDER_ASSETS=")
      assert.include(error.message, ControlPlaneAssets.installCommand)
    }))

  it.effect("TEST_ASSET_KUBE_APISERVER alone fails naming TEST_ASSET_ETCD", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      executables(dir, "kube-apiserver")
      const error = yield* Effect.flip(resolveWith({ TEST_ASSET_KUBE_APISERVER: Path.join(dir, "kube-apiserver") }))
      assert.deepStrictEqual(error.missing, ["TEST_ASSET_ETCD (unset)"])
    }))

  it.effect("TEST_ASSET_* name the binaries one by one", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      executables(dir, "apiserver-1.30", "etcd-3.5", "kubectl-1.30")
      const assets = yield* resolveWith({
        TEST_ASSET_KUBE_APISERVER: Path.join(dir, "apiserver-1.30"),
        TEST_ASSET_ETCD: Path.join(dir, "etcd-3.5"),
        TEST_ASSET_KUBECTL: Path.join(dir, "kubectl-1.30")
      })
      assert.strictEqual(assets.kubeApiserver, Path.join(dir, "apiserver-1.30"))
      assert.strictEqual(assets.etcd, Path.join(dir, "etcd-3.5"))
      assert.deepStrictEqual(assets.kubectl, Option.some(Path.join(dir, "kubectl-1.30")))
    }))

  it.effect("otherwise the newest complete build in the cache under XDG_CACHE_HOME", () =>
    Effect.gen(function*() {
      const cache = yield* tempDir
      const root = Path.join(cache, "leasekit", "control-plane")
      for (const version of ["v1.9.0", "v1.20.2", "v1.21.0"]) executables(Path.join(root, version, "bin"), "kube-apiserver", "etcd")
      Fs.writeFileSync(Path.join(root, "v1.9.0", ".complete"), "")
      Fs.writeFileSync(Path.join(root, "v1.20.2", ".complete"), "")
      // v1.21.0 has no .complete marker: an unfinished build is ignored.
      const assets = yield* resolveWith({ XDG_CACHE_HOME: cache })
      assert.strictEqual(assets.kubeApiserver, Path.join(root, "v1.20.2", "bin", "kube-apiserver"))
      assert.include(assets.source, "cache")
    }))

  it.effect("nothing configured and an empty cache: the error says what was searched and how to install", () =>
    Effect.gen(function*() {
      const cache = yield* tempDir
      const error = yield* Effect.flip(resolveWith({ XDG_CACHE_HOME: cache }))
      assert.include(error.message, "KUBEBUILDER_ASSETS (unset)")
      assert.include(error.message, Path.join(cache, "leasekit", "control-plane"))
      assert.include(error.message, "install-control-plane")
    }))
})
