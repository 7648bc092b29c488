/**
 * The flags every command takes — `--kubeconfig`, `--context`, `--verbose` — and the shared
 * `-n, --namespace` and `-o, --output`: declarations only (what they build is `GlobalOptions.ts`),
 * so that the command line can be parsed and its help printed without loading the Kubernetes
 * client.
 *
 * @since 0.1.0
 */
import * as Flag from "effect/cli/Flag"

/**
 * The flags, to spread into a command's configuration.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  kubeconfig: Flag.String("kubeconfig").pipe(
    Flag.withMetavar("PATH"),
    Flag.withDescription("kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the pod's service account)"),
    Flag.optional
  ),
  context: Flag.String("context").pipe(
    Flag.withMetavar("NAME"),
    Flag.withDescription("kubeconfig context to use (default: its current-context)"),
    Flag.optional
  ),
  verbose: Flag.Boolean("verbose").pipe(
    Flag.withDescription("structured logs (JSON lines, debug level) on stderr (default: off — warnings and errors only, one line each)"),
    Flag.withDefault(false)
  )
} as const

/**
 * `-n, --namespace`, for commands that address one namespace.
 *
 * @since 0.1.0
 * @category flags
 */
export const namespace = Flag.String("namespace").pipe(
  Flag.withAlias("n"),
  Flag.withMetavar("NS"),
  Flag.withDescription("namespace of the lease (default: the context's namespace, else \"default\")"),
  Flag.optional
)

/**
 * `-o, --output text|json`.
 *
 * @since 0.1.0
 * @category flags
 */
export const output = Flag.Literals("output", ["text", "json"]).pipe(
  Flag.withAlias("o"),
  Flag.withDescription("output format (default: text)"),
  Flag.withDefault("text" as const)
)
