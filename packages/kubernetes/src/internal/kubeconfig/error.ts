/**
 * Why a kubeconfig could not be used, said without secrets: `KubeConfigError` with its `reason`, and
 * the one way the loader fails (`fail`).
 *
 * Guarantees: the message is `kubeconfig SOURCE: REASON: DETAIL[; HINT]` — callers put no token,
 * password or key material in `detail` or `hint` (URLs go through `redactUrl` first).
 * Does not: decide what is wrong; the loader's modules do.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { isObject } from "./raw.ts"

/**
 * Why a kubeconfig could not be used.
 *
 * - `NotFound`: no kubeconfig file where one was expected (or none at all).
 * - `Unreadable`: a file exists but cannot be read (permissions, a directory, …).
 * - `Invalid`: not YAML, not a kubeconfig (wrong structure, a field of the wrong type), or settings
 *   that contradict each other (a CA with `insecure-skip-tls-verify`, a token with a password, …).
 * - `UnknownContext`: the requested (or current) context is not defined, or none is set.
 * - `NoCluster`: the context names no usable cluster (undefined, no server), or not in a pod.
 * - `NoCredentials`: the context's user is undefined, or its token / certificate files are missing.
 *
 * @since 0.1.0
 * @category errors
 */
export type KubeConfigErrorReason = "NotFound" | "Unreadable" | "Invalid" | "UnknownContext" | "NoCluster" | "NoCredentials"

/**
 * A kubeconfig (or in-cluster configuration) that cannot be used. The message names the problem
 * and the fix; it never contains credentials. `detail` says what is wrong in terms of the
 * configuration itself; `hint`, where there is one, how a program using this library points it
 * elsewhere (its options and `layerConfig`'s variables) — a command-line tool shows `detail` with
 * its own flags instead.
 *
 * @since 0.1.0
 * @category errors
 */
export class KubeConfigError extends Data.TaggedError("KubeConfigError")<{
  readonly reason: KubeConfigErrorReason
  /** Where the configuration came from: a file path, `"kubeconfig string"`, `"in-cluster"`. */
  readonly source: string
  readonly detail: string
  /** How a program using this library chooses another configuration (the message ends with it). */
  readonly hint?: string | undefined
  readonly cause?: unknown
}> {
  override get message(): string {
    return `kubeconfig ${this.source}: ${this.reason}: ${this.detail}${this.hint === undefined ? "" : `; ${this.hint}`}`
  }
}

/** The `code` of a Node system error (`ENOENT`, …), if it has one. */
export const errnoCode = (error: unknown): string | undefined =>
  isObject(error) && typeof error["code"] === "string" ? error["code"] : undefined

/** Fails with a `KubeConfigError`; `detail` and `hint` must hold no secret. */
export const fail = (reason: KubeConfigErrorReason, source: string, detail: string, cause?: unknown, hint?: string) =>
  Effect.fail(
    new KubeConfigError({
      reason,
      source,
      detail,
      ...(hint === undefined ? {} : { hint }),
      ...(cause === undefined ? {} : { cause })
    })
  )

/** How a program using this library points it at a configuration (the hint of "nothing found" errors). */
export const envHint =
  "set KUBECONFIG (or LEASEKIT_KUBECONFIG with KubeClient.layerConfig) to a kubeconfig file, create ~/.kube/config, or run in a pod with a service account"
