/**
 * The control plane's vocabulary — its components, its users and its one error,
 * `ControlPlaneError` — shared by the modules that make a control plane. Re-exported by the public
 * `ControlPlane` module; it lives here so that the internal modules that raise the error do not
 * import the public module that composes them.
 *
 * @internal
 */
import * as Data from "effect/Data"

/**
 * A process of the control plane.
 *
 * @since 0.1.0
 * @category models
 */
export type Component = "apiserver" | "etcd"

/**
 * What a component is doing, as this control plane knows it.
 *
 * @since 0.1.0
 * @category models
 */
export type ComponentState = "running" | "paused" | "stopped" | "exited"

/**
 * The users the API server knows (static bearer tokens).
 *
 * - `admin`: group `system:masters`, may do anything.
 * - `restricted`: may only `get`, `create` and `update` leases in the test namespace.
 * - `nobody`: authenticated, without any permission.
 *
 * @since 0.1.0
 * @category models
 */
export type UserName = "admin" | "restricted" | "nobody"

/**
 * Why a control-plane operation failed.
 *
 * - `Setup`: preparing files, keys, ports, the namespace or RBAC failed.
 * - `Spawn`: the binary could not be started.
 * - `Exited`: the process exited while it was expected to become ready.
 * - `NotReady`: it did not become ready within `startTimeout`.
 * - `Timeout`: an API request got no complete answer within its timeout (e.g. paused server).
 * - `Transport`: an API request failed on the connection (refused, reset, TLS).
 * - `InvalidState`: a control was used in a state where it means nothing (pause a stopped process).
 *
 * @since 0.1.0
 * @category errors
 */
export type ControlPlaneErrorReason = "Setup" | "Spawn" | "Exited" | "NotReady" | "Timeout" | "Transport" | "InvalidState"

/**
 * A control-plane operation failed. `logTail` holds the last lines the component logged, when
 * that helps (failed start).
 *
 * @since 0.1.0
 * @category errors
 */
export class ControlPlaneError extends Data.TaggedError("ControlPlaneError")<{
  readonly reason: ControlPlaneErrorReason
  readonly component?: Component | undefined
  readonly detail: string
  readonly logTail?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    const head = `${this.component ?? "control plane"}: ${this.reason}: ${this.detail}`
    return this.logTail ? `${head}\n--- last lines of the ${this.component} log ---\n${this.logTail}` : head
  }
}

/** A `Setup` failure: `detail` followed by what the cause says. @internal */
export const setupError = (detail: string) => (cause: unknown): ControlPlaneError =>
  new ControlPlaneError({
    reason: "Setup",
    detail: `${detail}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause
  })
