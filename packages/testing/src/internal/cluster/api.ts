/**
 * Plain API requests for a `Cluster`, through a `KubeClient` of `@leasekit/kubernetes` (its
 * credentials, TLS settings and connection pool), and the namespaces it owns.
 *
 * Guarantees: a request is bounded by 15 s; any HTTP status is an answer. `ownNamespace` never
 * adopts a namespace that exists already (on a cluster that is not ours, that namespace is someone
 * else's) and deletes the one it created when the scope closes — a failed delete is reported on
 * the console, not raised, so that it does not hide the suite's own outcome.
 *
 * @internal
 */
import type * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as Scope from "effect/Scope"
import { parseJson } from "../json.ts"
import type { ClusterRequest, ClusterResponse } from "./model.ts"
import { ClusterError } from "./model.ts"

/** The label on everything a `Cluster` creates on an existing cluster. @internal */
export const managedBy = { "app.kubernetes.io/managed-by": "leasekit-tests" }

/** One request through `client`, bounded by 15 s. @internal */
export const send = (
  client: KubeClient.KubeClientService,
  request: ClusterRequest
): Effect.Effect<ClusterResponse, ClusterError> => {
  const base = HttpClientRequest.make(request.method ?? "GET")(request.path, { acceptJson: true })
  const req = request.body === undefined
    ? base
    : typeof request.body === "string"
    ? HttpClientRequest.bodyText(base, request.body, request.contentType ?? "application/json")
    : HttpClientRequest.bodyJsonUnsafe(base, request.body)
  return client.http.execute(req).pipe(
    Effect.flatMap((response) =>
      Effect.map(response.text, (text): ClusterResponse => ({ status: response.status, body: text, json: parseJson(text) }))
    ),
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: Duration.seconds(15),
      orElse: () => Effect.fail(new Error("no answer within 15 s"))
    }),
    Effect.mapError((cause) =>
      new ClusterError({
        detail: `${request.method ?? "GET"} ${client.server}${request.path} failed: ${cause.message}`,
        cause
      })
    )
  )
}

/** The response when its status is one of `ok`; else a `ClusterError` saying `what` failed. @internal */
export const expectStatus = (what: string, response: ClusterResponse, ok: ReadonlyArray<number>) =>
  ok.includes(response.status)
    ? Effect.succeed(response)
    : Effect.fail(new ClusterError({ detail: `${what}: HTTP ${response.status} ${response.body.slice(0, 500)}` }))

/** Creates a namespace of our own (never adopts an existing one) and deletes it with the scope. @internal */
export const ownNamespace = (
  client: KubeClient.KubeClientService,
  namespace: string
): Effect.Effect<void, ClusterError, Scope.Scope> =>
  Effect.acquireRelease(
    send(client, {
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: managedBy } }
    }).pipe(
      Effect.flatMap((r) =>
        r.status === 201
          ? Effect.void
          : r.status === 409
          ? Effect.fail(
            new ClusterError({
              detail: `namespace ${namespace} already exists; refusing to use a namespace the tests did not create`
            })
          )
          : Effect.fail(
            new ClusterError({
              detail: `cannot create namespace ${namespace} (the integration suites need an admin kubeconfig): HTTP ${r.status} ${
                r.body.slice(0, 300)
              }`
            })
          )
      )
    ),
    () =>
      send(client, { method: "DELETE", path: `/api/v1/namespaces/${namespace}` }).pipe(
        Effect.flatMap((r) => expectStatus(`delete namespace ${namespace}`, r, [200, 202, 404])),
        Effect.catch((e) => Effect.sync(() => console.warn(`[leasekit tests] ${e.message}`)))
      )
  )
