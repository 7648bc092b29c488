/**
 * `kubectl` for a `Cluster`: which binary, and running it as one of the cluster's identities.
 *
 * Which binary: `LEASEKIT_TEST_KUBECTL` when set; on the local control plane its own kubectl (the
 * one built with it), else the one on `PATH`; on an existing cluster the one on `PATH` first (it
 * matches the cluster's version and auth plugins best), else the cached build's.
 *
 * Guarantees: a run is bounded (30 s, then stopped), uses the identity's kubeconfig through
 * `KUBECONFIG` and a cache folder of the cluster's own, and answers whatever the exit code; it
 * fails only when no kubectl was found, it could not start or it timed out. Goes through
 * `Process.exec` (Effect's `ChildProcess`).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Path from "node:path"
import * as ControlPlaneAssets from "../../ControlPlaneAssets.ts"
import * as Process from "../../Process.ts"
import { isExecutable } from "../files.ts"
import type { ClusterIdentity, KubectlResult } from "./model.ts"
import { ClusterError } from "./model.ts"

const onPath = (env: Readonly<Record<string, string | undefined>>, command: string): Option.Option<string> =>
  Option.fromUndefinedOr(
    (env["PATH"] ?? "").split(Path.delimiter).filter((d) => d !== "").map((d) => Path.join(d, command)).find(
      isExecutable
    )
  )

/** The kubectl to use (see the module comment); `preferred` is the local control plane's. @internal */
export const find = (
  env: Readonly<Record<string, string | undefined>>,
  preferred: Option.Option<string>,
  external: boolean
): Effect.Effect<Option.Option<string>> =>
  Effect.gen(function*() {
    const explicit = env["LEASEKIT_TEST_KUBECTL"]?.trim() ?? ""
    if (explicit !== "") return Option.some(explicit)
    if (!external) return Option.orElse(preferred, () => onPath(env, "kubectl"))
    const cached = yield* ControlPlaneAssets.resolve.pipe(
      Effect.map((assets) => assets.kubectl),
      Effect.orElseSucceed(() => Option.none<string>())
    )
    return Option.orElse(onPath(env, "kubectl"), () => cached)
  })

/** A `kubectl` runner over the given binary and identities' kubeconfigs. @internal */
export const runner = (
  kubectl: Option.Option<string>,
  kubeconfigs: { readonly admin: string; readonly restricted: Option.Option<string> },
  cacheDir: string
) =>
(
  args: ReadonlyArray<string>,
  options: { readonly stdin?: string | undefined; readonly as?: ClusterIdentity | undefined } = {}
): Effect.Effect<KubectlResult, ClusterError> =>
  Effect.gen(function*() {
    if (Option.isNone(kubectl)) {
      return yield* new ClusterError({
        detail: "kubectl not found: install it, put it on PATH, or set LEASEKIT_TEST_KUBECTL to its path"
      })
    }
    const kubeconfig = options.as === "restricted"
      ? yield* Option.match(kubeconfigs.restricted, {
        onNone: () => Effect.fail(new ClusterError({ detail: "this Cluster layer was built without `restricted: true`" })),
        onSome: Effect.succeed
      })
      : kubeconfigs.admin
    const output = yield* Process.exec(kubectl.value, [`--cache-dir=${cacheDir}`, ...args], {
      env: { KUBECONFIG: kubeconfig },
      stdin: options.stdin,
      timeout: Duration.seconds(30)
    }).pipe(
      Effect.provide(Process.layer),
      Effect.mapError((error) => new ClusterError({ detail: `kubectl ${args.join(" ")}: ${error.message}`, cause: error }))
    )
    if (output.code === null) {
      return yield* new ClusterError({ detail: `kubectl ${args.join(" ")}: killed by ${output.signal}` })
    }
    return { code: output.code, stdout: output.stdout, stderr: output.stderr }
  })
