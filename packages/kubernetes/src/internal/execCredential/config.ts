/**
 * The kubeconfig's `users[].user.exec` mapping (client-go's `ExecConfig`), validated, with
 * client-go's defaults applied: `decodeExecConfig`.
 *
 * Guarantees: `command` and `apiVersion` required, `apiVersion` one of v1 / v1beta1, `env` entries
 * with a name and a string value, `interactiveMode` one of `Never`, `IfAvailable`, `Always` —
 * required for v1, `IfAvailable` when absent for v1beta1. Failures name the field and the rule,
 * never an `env` value.
 * Does not: resolve the command or run anything (`protocol.ts`, and the source in `execCredential.ts`).
 *
 * @internal
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { describeIssue, optionalNullable } from "./schema.ts"

/** The `client.authentication.k8s.io` versions a plugin may speak (client-go accepts these two). */
export type ExecApiVersion = "client.authentication.k8s.io/v1" | "client.authentication.k8s.io/v1beta1"

export const apiVersions: ReadonlyArray<ExecApiVersion> = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

/** The plugin's relationship with standard input (client-go's `ExecInteractiveMode`). */
export type InteractiveMode = "Never" | "IfAvailable" | "Always"

export const interactiveModes: ReadonlyArray<InteractiveMode> = ["Never", "IfAvailable", "Always"]

/** A kubeconfig `users[].user.exec` mapping, validated, with client-go's defaults applied. */
export interface ExecConfig {
  /** The command as written in the kubeconfig (resolved by `make`, see the module comment). */
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** Added to `process.env` for the plugin (later entries win). */
  readonly env: ReadonlyArray<{ readonly name: string; readonly value: string }>
  readonly apiVersion: ExecApiVersion
  /** Absent in the kubeconfig: `IfAvailable` for v1beta1; v1 requires it (see `decodeExecConfig`). */
  readonly interactiveMode: InteractiveMode
  /** Whether `KUBERNETES_EXEC_INFO` carries `spec.cluster`. */
  readonly provideClusterInfo: boolean
  /** Shown when the command is not found. */
  readonly installHint?: string | undefined
  /**
   * The cluster's `extensions[name=client.authentication.k8s.io/exec].extension` — it lives on the
   * cluster, not in the `exec` mapping, so `decodeExecConfig` leaves it unset and the kubeconfig
   * loader adds it. Sent as `spec.cluster.config` when `provideClusterInfo` is true.
   */
  readonly config?: unknown
}

const ExecConfigWire = Schema.Struct({
  command: Schema.String,
  args: optionalNullable(Schema.Array(Schema.String)),
  env: optionalNullable(Schema.Array(Schema.Struct({ name: Schema.String, value: Schema.String }))),
  apiVersion: Schema.String,
  installHint: optionalNullable(Schema.String),
  provideClusterInfo: optionalNullable(Schema.Boolean),
  interactiveMode: optionalNullable(Schema.String)
})

/**
 * Validates a kubeconfig `exec` mapping (as parsed from YAML/JSON) the way client-go's loader
 * does: `command` and `apiVersion` required, `apiVersion` one of v1 / v1beta1, `env` entries with
 * a name and a string value, `interactiveMode` one of `Never`, `IfAvailable`, `Always` — required
 * for v1, `IfAvailable` when absent for v1beta1. The failure is a sentence naming the field and
 * the rule (never an `env` value); the loader wraps it in its own error.
 */
export const decodeExecConfig = (raw: unknown, user: string): Result.Result<ExecConfig, string> => {
  const where = `users[name=${user}].user.exec`
  const decoded = Schema.decodeUnknownResult(ExecConfigWire)(raw, { errors: "all" })
  if (Result.isFailure(decoded)) return Result.fail(describeIssue(decoded.failure.issue, where))
  const exec = decoded.success
  if (exec.command === "") return Result.fail(`${where}.command is empty: name the credential plugin to run`)
  const apiVersion = apiVersions.find((version) => version === exec.apiVersion)
  if (apiVersion === undefined) {
    return Result.fail(`${where}.apiVersion ${JSON.stringify(exec.apiVersion)} is not supported: use ${apiVersions.join(" or ")}`)
  }
  const env = exec.env ?? []
  const unnamed = env.findIndex((entry) => entry.name === "")
  if (unnamed !== -1) return Result.fail(`${where}.env[${unnamed}].name is empty: every entry needs a variable name`)
  let interactiveMode: InteractiveMode
  if (exec.interactiveMode === undefined || exec.interactiveMode === null || exec.interactiveMode === "") {
    if (apiVersion === "client.authentication.k8s.io/v1") {
      return Result.fail(`${where}.interactiveMode is required with apiVersion ${apiVersion}: set it to ${interactiveModes.join(", ")}`)
    }
    interactiveMode = "IfAvailable"
  } else {
    const mode = interactiveModes.find((value) => value === exec.interactiveMode)
    if (mode === undefined) {
      return Result.fail(`${where}.interactiveMode ${JSON.stringify(exec.interactiveMode)} is not one of ${interactiveModes.join(", ")}`)
    }
    interactiveMode = mode
  }
  return Result.succeed({
    command: exec.command,
    args: exec.args ?? [],
    env,
    apiVersion,
    interactiveMode,
    provideClusterInfo: exec.provideClusterInfo ?? false,
    installHint: exec.installHint === null || exec.installHint === "" ? undefined : exec.installHint
  })
}
