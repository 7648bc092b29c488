/**
 * The local control plane (a real etcd + kube-apiserver from @leasekit/testing) as the CLI starts
 * it for `control-plane start` and `demo`: binaries built on first use, progress on stderr.
 *
 * When the binaries are missing and none are configured (`KUBEBUILDER_ASSETS`,
 * `TEST_ASSET_KUBE_APISERVER` / `TEST_ASSET_ETCD`), the testing package's install script is run
 * once (Debian 12: builds kube-apiserver from Debian's source package, about 5 minutes on two
 * cores, then cached) with its progress streamed to stderr.
 *
 * `@leasekit/testing` is not a dependency of the CLI (an optional peer): it is loaded here
 * (`loadTesting`), only when `control-plane start` or `demo` runs (the demo's contender processes
 * are the testing package's too), so `run`, `status`, `list` and `release` never load the test
 * rig. When it is not installed, those two commands fail with exit 69 and say how to install it.
 *
 * Guarantees: everything started is stopped and its temporary folder deleted when the scope
 * closes, also when interrupted (Ctrl-C), and — through the testing package's watchdog — when
 * this process is killed. Does not: start anything resembling a full cluster (no scheduler, no
 * controllers): Leases, RBAC, namespaces and watches are real, pods are not.
 *
 * @since 0.1.0
 */
import type { ControlPlane, ControlPlaneAssets } from "@leasekit/testing"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Durations from "../internal/Durations.ts"
import * as ExitCode from "../internal/ExitCode.ts"

/**
 * The `@leasekit/testing` module.
 *
 * @since 0.1.0
 * @category loading
 */
export type Testing = typeof import("@leasekit/testing")

/**
 * `@leasekit/testing`, loaded on first use (Node caches the module); `who` needs it (for the
 * message when it is not installed).
 *
 * @since 0.1.0
 * @category loading
 */
export const loadTesting = (who: string): Effect.Effect<Testing, ExitCode.CliExit> =>
  Effect.tryPromise({
    try: () => import("@leasekit/testing"),
    catch: (error) =>
      ExitCode.fail(
        ExitCode.codes.unavailable,
        `${who} needs @leasekit/testing, which could not be loaded (${
          error instanceof Error ? error.message.split("\n")[0] : String(error)
        })`,
        "install it beside the CLI (`npm install -g @leasekit/testing` for a global CLI, `npm install -D @leasekit/testing` in a project)"
      )
  })

const testing = loadTesting("the local control plane")

/** The exit for a failure of the testing package. */
const fromTestingError = (t: Testing) => (error: unknown): ExitCode.CliExit => {
  if (error instanceof t.ControlPlaneAssets.ControlPlaneAssetsError) {
    return ExitCode.fail(
      ExitCode.codes.unavailable,
      "the control-plane binaries (kube-apiserver, etcd) are not installed",
      `build them once with \`${t.ControlPlaneAssets.installCommand}\`, or point KUBEBUILDER_ASSETS at a folder holding them`
    )
  }
  if (error instanceof t.ControlPlane.ControlPlaneError) {
    const [first] = error.message.split("\n")
    return ExitCode.fail(ExitCode.codes.unavailable, `the local control plane failed: ${first}`, "run with --verbose to see the component's log")
  }
  return ExitCode.fromError(error)
}

const configured = () =>
  ["KUBEBUILDER_ASSETS", "TEST_ASSET_KUBE_APISERVER", "TEST_ASSET_ETCD"].some((name) => (process.env[name] ?? "") !== "")

/**
 * Runs the install script (through the testing package's `Process`: its whole process group is
 * stopped if the CLI is interrupted meanwhile), its output — stdout too — on stderr.
 */
const install = (t: Testing): Effect.Effect<void, ExitCode.CliExit> =>
  Effect.gen(function*() {
    const installScript = t.ControlPlaneAssets.installScript
    process.stderr.write(
      `leasekit: the control-plane binaries are not built yet; building them once with ${installScript}\n` +
        "leasekit: (Debian 12: apt packages + kube-apiserver from source, about 5 minutes on 2 cores; cached afterwards)\n"
    )
    // Its stderr is leasekit's (`output: "pipe"` pipes stdout only); its stdout is copied there.
    const proc = yield* t.Process.spawn("bash", [installScript], { output: "pipe" }).pipe(
      Effect.mapError((error) => ExitCode.fail(ExitCode.codes.unavailable, `cannot run the install script: ${error.detail}`, "install bash"))
    )
    const [, status] = yield* Effect.all([
      Stream.runForEach(proc.handle.stdout, (chunk) => Effect.sync(() => process.stderr.write(chunk))).pipe(Effect.ignore),
      proc.exit
    ], { concurrency: "unbounded" })
    if (status.code === 0) return
    return yield* ExitCode.fail(
      ExitCode.codes.unavailable,
      `building the control plane failed (${status.signal ?? `exit ${status.code}`}); its output is above`,
      "fix what it reports, or point KUBEBUILDER_ASSETS at a folder with kube-apiserver and etcd, or give the demo an existing cluster with --kubeconfig"
    )
  }).pipe(Effect.scoped, Effect.provide(t.Process.layer))

/**
 * The binaries, building them first when they are missing and not configured.
 *
 * @since 0.1.0
 * @category constructors
 */
export const assets: Effect.Effect<ControlPlaneAssets.ControlPlaneAssets, ExitCode.CliExit> = Effect.flatMap(testing, (t) =>
  t.ControlPlaneAssets.resolve.pipe(
    Effect.catch((error) =>
      configured()
        ? Effect.fail(ExitCode.fail(ExitCode.codes.unavailable, error.message.split("\n")[0]!, "fix KUBEBUILDER_ASSETS / TEST_ASSET_* or unset them"))
        : install(t).pipe(
          Effect.andThen(t.ControlPlaneAssets.resolve),
          Effect.mapError(fromTestingError(t))
        )
    )
  ))

/**
 * Starts the control plane for the lifetime of the scope, telling stderr what happens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (
  options: { readonly namespace?: string | undefined; readonly quiet?: boolean | undefined } = {}
): Effect.Effect<ControlPlane.ControlPlaneService, ExitCode.CliExit, Scope.Scope> =>
  Effect.gen(function*() {
    const t = yield* testing
    const found = yield* assets
    const say = (text: string) => options.quiet === true ? Effect.void : Effect.sync(() => process.stderr.write(`${text}\n`))
    yield* say(`starting a local control plane (etcd + kube-apiserver from ${found.source}) …`)
    const started = yield* Clock.currentTimeMillis
    const cp = yield* t.ControlPlane.make({ assets: found, namespace: options.namespace }).pipe(Effect.mapError(fromTestingError(t)))
    yield* say(`control plane ready in ${Durations.formatMillis((yield* Clock.currentTimeMillis) - started)}: ${cp.server}`)
    return cp
  })

/**
 * Writes a user's kubeconfig of a started control plane to `path` (see `ControlPlane`'s
 * `writeKubeconfig`), its failure as a `CliExit`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const writeKubeconfig = (
  cp: ControlPlane.ControlPlaneService,
  options: Parameters<ControlPlane.ControlPlaneService["writeKubeconfig"]>[0]
): Effect.Effect<string, ExitCode.CliExit> =>
  Effect.flatMap(testing, (t) => cp.writeKubeconfig(options).pipe(Effect.mapError(fromTestingError(t))))
