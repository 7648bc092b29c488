/**
 * The options every command takes — `--kubeconfig`, `--context`, `--verbose` (declared in
 * `GlobalFlags.ts`) — and what they build: the logger, the Kubernetes client and the lease store
 * a command runs with. Loaded with a command's implementation, never for `--help`.
 *
 * - `--kubeconfig PATH`: the kubeconfig file (several joined with `:` are merged, as kubectl
 *   does); default `$KUBECONFIG`, then `~/.kube/config`, then the pod's service account.
 * - `--context NAME`: a context of that kubeconfig instead of its `current-context`.
 * - `--verbose`: structured logs (one JSON object per line, debug level) on stderr.
 *
 * Guarantees: logs and leasekit's own messages go to stderr, never stdout (stdout carries a
 * command's results, or CMD's output under `run`); without `--verbose` only warnings and errors
 * are logged, one line each (control characters escaped, `Printable.ts`; with `--verbose`, JSON
 * escapes them). Does not: check that the cluster is reachable — the first request
 * does, and its failure is reported with exit code 69.
 *
 * @since 0.1.0
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as ExitCode from "./ExitCode.ts"
import { printable } from "./Printable.ts"
import * as Stderr from "./Stderr.ts"

/**
 * The parsed global options.
 *
 * @since 0.1.0
 * @category models
 */
export interface GlobalOptions {
  readonly kubeconfig: Option.Option<string>
  readonly context: Option.Option<string>
  readonly verbose: boolean
}

const messageText = (message: unknown): string =>
  Array.isArray(message) ? message.map(messageText).join(" ") : typeof message === "string" ? message : String(message)

/** Warnings and errors as `leasekit: warning: …` lines on stderr. */
const conciseLogger = Logger.make((options) => {
  const level = options.logLevel === "Warn" ? "warning" : options.logLevel.toLowerCase()
  const cause = options.cause.reasons.length === 0 ? "" : ` (${Cause.pretty(options.cause).split("\n")[0]})`
  Stderr.line(`leasekit: ${level}: ${printable(`${messageText(options.message)}${cause}`)}\n`)
})

/** One JSON object per line on stderr. */
const jsonLogger = Logger.map(Logger.formatJson, (line) => {
  Stderr.line(`${line}\n`)
})

/**
 * The logger for `verbose`: JSON lines at debug level, or concise warnings.
 *
 * @since 0.1.0
 * @category layers
 */
export const loggerLayer = (verbose: boolean): Layer.Layer<never> =>
  Layer.mergeAll(
    Logger.layer([verbose ? jsonLogger : conciseLogger]),
    Layer.succeed(References.MinimumLogLevel, verbose ? "Debug" : "Warn")
  )

/**
 * The Kubernetes client the options select.
 *
 * @since 0.1.0
 * @category layers
 */
export const kubeClientLayer = (options: GlobalOptions): Layer.Layer<KubeClient.KubeClient, KubeClient.KubeConfigError> => {
  const select = { context: Option.getOrUndefined(options.context) }
  return Option.match(options.kubeconfig, {
    onNone: () => KubeClient.layerDefault(select),
    onSome: (path) => KubeClient.layerFromFile(path, select)
  })
}

/**
 * The client and the Kubernetes lease store over it.
 *
 * @since 0.1.0
 * @category layers
 */
export const storeLayer = (options: GlobalOptions) =>
  KubernetesLeaseStore.layer().pipe(Layer.provideMerge(kubeClientLayer(options)))

/**
 * Runs a command's program against the Kubernetes store `options` describe, with the logger
 * `--verbose` selects; its failures become exit codes.
 *
 * @since 0.1.0
 * @category layers
 */
export const withStore = (options: GlobalOptions) =>
<A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(storeLayer(options)),
    Effect.mapError(ExitCode.fromError),
    Effect.provide(loggerLayer(options.verbose))
  )
