/**
 * The fenced resource: a ConfigMap on the same real API server that remembers the highest
 * fencing token that wrote to it and the history of accepted writes.
 *
 * This module is only its storage — read it, create it, and one compare-and-swap `PUT` carrying
 * the `resourceVersion` that was read. The fence *rule* (refuse a token lower than the stored one)
 * is applied by the writer inside its CAS loop (`contender.ts`): read, compare, PUT conditioned on
 * the version read; a concurrent write makes the PUT fail with 409 and the loop reads again, so a
 * lower token can never overwrite a higher one. The checker re-verifies the history afterwards.
 *
 * The resource is reached directly (not through a contender's FaultProxy) with admin credentials:
 * it stands for another system the holder writes to, which stays reachable while the holder is
 * cut off from the lease — exactly when fencing matters.
 *
 * Requests go through `KubeClient.http` of @leasekit/kubernetes: `open` builds one client per
 * process from the admin kubeconfig (its keep-alive pool lives in the caller's scope), and every
 * request is bounded by its own timeout (an interrupted request's connection is destroyed). A
 * pooled connection that a killed or restarted API server dropped fails the next request
 * (`Transport`); the writer's CAS loop then reads again, as it does after any lost answer — a PUT
 * whose answer was lost is found in the history by its write id.
 *
 * Data (all strings, as ConfigMaps require): `token` (highest accepted, `-1` before any write),
 * `holder` (who wrote it), `writes` (accepted writes), `log` (one `token id at` line per accepted
 * write, the newest `maxLog`), `dropped` (log lines dropped from the front).
 */
import { KubeClient } from "@leasekit/kubernetes"
import { Data, Duration, Effect, Schema } from "effect"
import type { Scope } from "effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type { FenceTarget } from "./protocol.ts"

/** Log lines kept in the ConfigMap (well below its 1 MiB limit). */
export const maxLog = 6000

export class FenceError extends Data.TaggedError("FenceError")<{
  readonly kind: "Setup" | "Transport" | "Timeout" | "Status" | "Invalid"
  readonly status?: number | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `fenced resource: ${this.kind}${this.status === undefined ? "" : ` ${this.status}`}: ${this.detail}`
  }
}

export interface FenceEntry {
  readonly token: number
  readonly id: string
  readonly at: number
}

export interface FenceState {
  readonly resourceVersion: string
  readonly token: number
  readonly holder: string
  readonly writes: number
  readonly log: ReadonlyArray<FenceEntry>
  readonly dropped: number
}

/** The fenced resource with the client that reaches it (see `open`). */
export interface Fence {
  readonly client: KubeClient.KubeClientService
  readonly namespace: string
  readonly name: string
}

/** The client for `target` (its connection pool closes with the scope). */
export const open = (target: FenceTarget): Effect.Effect<Fence, FenceError, Scope.Scope> =>
  KubeClient.makeFromFile(target.kubeconfig).pipe(
    Effect.map((client): Fence => ({ client, namespace: target.namespace, name: target.name })),
    Effect.mapError((error) => new FenceError({ kind: "Setup", detail: error.message }))
  )

const path = (fence: Fence, withName: boolean) =>
  `/api/v1/namespaces/${fence.namespace}/configmaps${withName ? `/${fence.name}` : ""}`

/** The part of a ConfigMap this module reads. */
const ConfigMap = Schema.Struct({
  metadata: Schema.Struct({ resourceVersion: Schema.String }),
  data: Schema.optional(Schema.Record(Schema.String, Schema.String))
})

/** One request, bounded by `timeoutMillis`, aborted (its connection destroyed) when interrupted. */
const request = (
  fence: Fence,
  method: "GET" | "POST" | "PUT",
  urlPath: string,
  body: unknown,
  timeoutMillis: number
): Effect.Effect<{ readonly status: number; readonly body: string }, FenceError> => {
  const bare = HttpClientRequest.make(method)(urlPath, { acceptJson: true })
  return fence.client.http.execute(body === undefined ? bare : HttpClientRequest.bodyJsonUnsafe(bare, body)).pipe(
    Effect.flatMap((response) => Effect.map(response.text, (text) => ({ status: response.status, body: text }))),
    Effect.scoped,
    Effect.mapError((error) =>
      new FenceError({
        kind: "Transport",
        detail: `${method} ${urlPath}: ${error.cause instanceof Error ? error.cause.message : error.message}`
      })
    ),
    Effect.timeoutOrElse({
      duration: Duration.millis(timeoutMillis),
      orElse: () =>
        Effect.fail(new FenceError({ kind: "Timeout", detail: `${method} ${urlPath}: no answer in ${timeoutMillis} ms` }))
    })
  )
}

const parseLog = (text: string | undefined): Array<FenceEntry> =>
  (text ?? "").split("\n").filter((l) => l !== "").map((line) => {
    const [token, id, at] = line.split(" ")
    return { token: Number(token), id: id ?? "", at: Number(at) }
  })

const toState = (object: typeof ConfigMap.Type): FenceState => {
  const data = object.data ?? {}
  return {
    resourceVersion: object.metadata.resourceVersion,
    token: Number(data["token"] ?? "-1"),
    holder: data["holder"] ?? "",
    writes: Number(data["writes"] ?? "0"),
    log: parseLog(data["log"]),
    dropped: Number(data["dropped"] ?? "0")
  }
}

const statusError = (what: string, status: number, body: string) =>
  new FenceError({ kind: "Status", status, detail: `${what}: ${body.slice(0, 300)}` })

/** Creates the resource with token -1 (any first token is accepted). */
export const create = (fence: Fence): Effect.Effect<void, FenceError> =>
  request(fence, "POST", path(fence, false), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: fence.name },
    data: { token: "-1", holder: "", writes: "0", log: "", dropped: "0" }
  }, 10_000).pipe(
    Effect.flatMap((res) => res.status === 201 ? Effect.void : Effect.fail(statusError("create", res.status, res.body)))
  )

const decodeConfigMap = Schema.decodeUnknownEffect(Schema.fromJsonString(ConfigMap))

export const read = (fence: Fence, timeoutMillis = 3_000): Effect.Effect<FenceState, FenceError> =>
  request(fence, "GET", path(fence, true), undefined, timeoutMillis).pipe(
    Effect.flatMap((res) =>
      res.status === 200
        ? decodeConfigMap(res.body).pipe(
          Effect.map(toState),
          Effect.mapError((error) => new FenceError({ kind: "Invalid", detail: `get: ${error.message}` }))
        )
        : Effect.fail(statusError("get", res.status, res.body))
    )
  )

/**
 * Compare-and-swap: writes `token` (by `holder`, write `id`) on top of `from`, conditioned on
 * `from.resourceVersion`. `"conflict"` when someone wrote in between. The caller has checked the
 * fence rule against `from`.
 */
export const put = (
  fence: Fence,
  from: FenceState,
  write: { readonly token: number; readonly holder: string; readonly id: string },
  timeoutMillis = 3_000
): Effect.Effect<"ok" | "conflict", FenceError> => {
  const entries = [...from.log, { token: write.token, id: write.id, at: Math.round(Date.now()) }]
  const drop = Math.max(0, entries.length - maxLog)
  const log = entries.slice(drop).map((e) => `${e.token} ${e.id} ${e.at}`).join("\n")
  return request(fence, "PUT", path(fence, true), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: fence.name, namespace: fence.namespace, resourceVersion: from.resourceVersion },
    data: {
      token: String(write.token),
      holder: write.holder,
      writes: String(from.writes + 1),
      log,
      dropped: String(from.dropped + drop)
    }
  }, timeoutMillis).pipe(
    Effect.flatMap((res) =>
      res.status === 200
        ? Effect.succeed("ok" as const)
        : res.status === 409
        ? Effect.succeed("conflict" as const)
        : Effect.fail(statusError("put", res.status, res.body))
    )
  )
}
