/**
 * Where the control-plane binaries (`etcd`, `kube-apiserver`, optionally `kubectl`) come from.
 *
 * Looked up in this order, the first that is configured wins:
 * 1. `KUBEBUILDER_ASSETS` — the envtest convention: a folder containing `kube-apiserver` and
 *    `etcd` (and `kubectl` when present);
 * 2. `TEST_ASSET_KUBE_APISERVER` + `TEST_ASSET_ETCD` (+ optional `TEST_ASSET_KUBECTL`);
 * 3. the cache filled by the package's install script (`installCommand`):
 *    `${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/control-plane/<version>/bin`, newest version first.
 *
 * Variables are read through Effect's `Config`, so a test can supply its own `ConfigProvider`.
 *
 * Guarantees: a resolved `ControlPlaneAssets` names files that existed and were executable when
 * it was resolved; when a source is configured but incomplete (say `KUBEBUILDER_ASSETS` lacks
 * `etcd`) the lookup fails naming that source, it does not silently fall through to the next.
 * Does not guarantee: that the binaries run on this machine, or their versions — the control
 * plane reports a failed start with the process's own log.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { isExecutable } from "./internal/files.ts"

/**
 * The script that builds and caches the binaries on Debian 12 (`scripts/install-control-plane.sh`
 * of this package, wherever it is installed: the same path from `src/` and from `dist/`).
 *
 * @since 0.1.0
 * @category constants
 */
export const installScript: string = fileURLToPath(new URL("../scripts/install-control-plane.sh", import.meta.url))

/**
 * The command that builds and caches the binaries on Debian 12.
 *
 * @since 0.1.0
 * @category constants
 */
export const installCommand: string = `bash ${installScript}`

/**
 * Resolved paths of the control-plane binaries.
 *
 * @since 0.1.0
 * @category models
 */
export interface ControlPlaneAssets {
  readonly kubeApiserver: string
  readonly etcd: string
  /** `kubectl`, when the source provides one. */
  readonly kubectl: Option.Option<string>
  /** Which source the binaries came from, e.g. `KUBEBUILDER_ASSETS=/opt/envtest`. */
  readonly source: string
}

/**
 * The binaries could not be found. `missing` names what is missing where; the message says
 * which command installs them.
 *
 * @since 0.1.0
 * @category errors
 */
export class ControlPlaneAssetsError extends Data.TaggedError("ControlPlaneAssetsError")<{
  readonly missing: ReadonlyArray<string>
  readonly searched: ReadonlyArray<string>
}> {
  override get message(): string {
    return [
      `control-plane binaries not found: missing ${this.missing.join(", ")}.`,
      `Searched: ${this.searched.join("; ")}.`,
      `On Debian 12 build and cache them with: ${installCommand}`,
      "or point KUBEBUILDER_ASSETS at a folder containing kube-apiserver and etcd",
      "(or set TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD)."
    ].join("\n")
  }
}

const optionalString = (name: string) => Config.String(name).pipe(Config.option)

/**
 * The cache folder the install script fills: `${XDG_CACHE_HOME:-$HOME/.cache}/leasekit/control-plane`.
 *
 * @since 0.1.0
 * @category constants
 */
export const cacheRoot: Effect.Effect<string, never> = Effect.gen(function*() {
  const xdg = yield* optionalString("XDG_CACHE_HOME").pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const home = yield* optionalString("HOME").pipe(Effect.orElseSucceed(() => Option.none<string>()))
  const base = Option.match(Option.filter(xdg, (s) => s !== ""), {
    onSome: (dir) => dir,
    onNone: () => Path.join(Option.getOrElse(home, () => Os.homedir()), ".cache")
  })
  return Path.join(base, "leasekit", "control-plane")
})

const compareVersionsDescending = (a: string, b: string): number => {
  const parse = (v: string) => v.replace(/^v/, "").split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0)
  const [pa, pb] = [parse(a), parse(b)]
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

const fromFolder = (dir: string, source: string): Effect.Effect<ControlPlaneAssets, ControlPlaneAssetsError> => {
  const kubeApiserver = Path.join(dir, "kube-apiserver")
  const etcd = Path.join(dir, "etcd")
  const kubectl = Path.join(dir, "kubectl")
  const missing = [kubeApiserver, etcd].filter((f) => !isExecutable(f))
  return missing.length > 0
    ? Effect.fail(new ControlPlaneAssetsError({ missing, searched: [source] }))
    : Effect.succeed({
      kubeApiserver,
      etcd,
      kubectl: isExecutable(kubectl) ? Option.some(kubectl) : Option.none(),
      source
    })
}

/**
 * Resolves the binaries from the environment (see the module comment for the order).
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolve: Effect.Effect<ControlPlaneAssets, ControlPlaneAssetsError> = Effect.gen(function*() {
  const read = (name: string) =>
    optionalString(name).pipe(
      Effect.map(Option.filter((s) => s !== "")),
      Effect.orElseSucceed(() => Option.none<string>())
    )
  const kubebuilder = yield* read("KUBEBUILDER_ASSETS")
  if (Option.isSome(kubebuilder)) {
    return yield* fromFolder(kubebuilder.value, `KUBEBUILDER_ASSETS=${kubebuilder.value}`)
  }
  const apiserver = yield* read("TEST_ASSET_KUBE_APISERVER")
  const etcd = yield* read("TEST_ASSET_ETCD")
  const kubectl = yield* read("TEST_ASSET_KUBECTL")
  if (Option.isSome(apiserver) || Option.isSome(etcd)) {
    const source = "TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD"
    const missing = [
      Option.match(apiserver, {
        onNone: () => "TEST_ASSET_KUBE_APISERVER (unset)",
        onSome: (f) => isExecutable(f) ? undefined : `TEST_ASSET_KUBE_APISERVER=${f} (not an executable file)`
      }),
      Option.match(etcd, {
        onNone: () => "TEST_ASSET_ETCD (unset)",
        onSome: (f) => isExecutable(f) ? undefined : `TEST_ASSET_ETCD=${f} (not an executable file)`
      })
    ].filter((m): m is string => m !== undefined)
    if (missing.length > 0 || Option.isNone(apiserver) || Option.isNone(etcd)) {
      return yield* new ControlPlaneAssetsError({ missing, searched: [source] })
    }
    return {
      kubeApiserver: apiserver.value,
      etcd: etcd.value,
      kubectl: Option.filter(kubectl, isExecutable),
      source
    }
  }
  const root = yield* cacheRoot
  const versions = Fs.existsSync(root)
    ? Fs.readdirSync(root).filter((v) => /^v\d/.test(v)).sort(compareVersionsDescending)
    : []
  for (const version of versions) {
    const dir = Path.join(root, version)
    if (Fs.existsSync(Path.join(dir, ".complete"))) {
      const found = yield* Effect.result(fromFolder(Path.join(dir, "bin"), `cache ${Path.join(dir, "bin")}`))
      if (found._tag === "Success") return found.success
    }
  }
  return yield* new ControlPlaneAssetsError({
    missing: ["kube-apiserver", "etcd"],
    searched: [
      "KUBEBUILDER_ASSETS (unset)",
      "TEST_ASSET_KUBE_APISERVER / TEST_ASSET_ETCD (unset)",
      `cache ${root} (${versions.length === 0 ? "empty" : `no complete build in ${versions.join(", ")}`})`
    ]
  })
})
