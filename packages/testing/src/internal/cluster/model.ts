/**
 * The vocabulary of a `Cluster` — its identities, plain requests and answers, kubectl results and
 * its one error — shared by the modules that make one. Re-exported by the public `Cluster`
 * module; it lives here so that the internal modules do not import the module that composes them.
 *
 * @internal
 */
import * as Data from "effect/Data"
import type { HttpMethod } from "effect/http/HttpMethod"

/**
 * As whom a request or kubectl run is made: the cluster's admin, or the restricted identity that
 * may only get, create and update leases in the namespace.
 *
 * @since 0.2.0
 * @category models
 */
export type ClusterIdentity = "admin" | "restricted"

/**
 * A cluster operation failed; `detail` says what and, where it can, how to fix it.
 *
 * @since 0.2.0
 * @category errors
 */
export class ClusterError extends Data.TaggedError("ClusterError")<{
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail
  }
}

/**
 * A plain API request.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClusterRequest {
  /** Default `GET`. */
  readonly method?: HttpMethod | undefined
  /** Absolute path and query, e.g. `/apis/coordination.k8s.io/v1/namespaces/x/leases/y`. */
  readonly path: string
  /** Sent as JSON unless it is a string. */
  readonly body?: unknown
  /** Default `application/json`. */
  readonly contentType?: string | undefined
  /** Default `admin`. */
  readonly as?: ClusterIdentity | undefined
}

/**
 * The answer to a `ClusterRequest`, whatever its status.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClusterResponse {
  readonly status: number
  readonly body: string
  /** The body parsed as JSON; `undefined` when it is not JSON. */
  readonly json: unknown
}

/**
 * A finished `kubectl` run.
 *
 * @since 0.2.0
 * @category models
 */
export interface KubectlResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}
