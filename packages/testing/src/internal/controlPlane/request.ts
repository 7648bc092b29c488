/**
 * Plain API requests to the control plane as one of its users, and the readiness probes of its
 * two servers.
 *
 * A request goes through `KubeClient.http` of `@leasekit/kubernetes` — the client leasekit itself
 * uses — built from the user's kubeconfig (`kubeconfig.ts`). Each request gets a client, and so a
 * connection, of its own, closed with it: a paused, restarted or proxied server is observed as it
 * is now, never through a socket pooled before the fault, and a `FaultProxy` sees one connection
 * per request. This costs a TLS handshake per request.
 *
 * Guarantees: any HTTP status is an answer (`ApiResponse`); only a failed connection (`Transport`)
 * or no complete answer within the timeout (`Timeout`) is an error.
 *
 * @internal
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type { ApiRequest, ApiResponse } from "../../ControlPlane.ts"
import { parseJson } from "../json.ts"
import type { Probe } from "./components.ts"
import type { Credentials } from "./kubeconfig.ts"
import { render } from "./kubeconfig.ts"
import { ControlPlaneError } from "./model.ts"

/** What went wrong on the connection, from the Node error under `error` ("connect ECONNREFUSED …"). */
const transportDetail = (error: HttpClientError.HttpClientError): string => {
  const cause = error.cause
  if (!(cause instanceof Error)) return error.message
  const code = "code" in cause && typeof cause.code === "string" ? cause.code : undefined
  return code === undefined || cause.message.includes(code) ? cause.message : `${cause.message} (${code})`
}

/** The control plane's `request`: one exchange on a fresh client (see the module comment). @internal */
export const make = (credentials: Credentials) => (req: ApiRequest): Effect.Effect<ApiResponse, ControlPlaneError> => {
  const target = req.server ?? credentials.server
  const user = req.user ?? "admin"
  const method = req.method ?? "GET"
  const what = `${method} ${target}${req.path}`
  const timeout = req.timeout ?? Duration.seconds(10)
  const bare = HttpClientRequest.make(method)(req.path, { acceptJson: true })
  const outgoing = req.body === undefined ? bare : HttpClientRequest.bodyText(
    bare,
    typeof req.body === "string" ? req.body : JSON.stringify(req.body),
    req.contentType ?? "application/json"
  )
  return KubeClient.makeFromString(render(credentials, user, target)).pipe(
    Effect.flatMap((client) => client.http.execute(outgoing)),
    Effect.flatMap((response) =>
      Effect.map(response.text, (body): ApiResponse => ({ status: response.status, body, json: parseJson(body) }))
    ),
    Effect.mapError((error) =>
      error._tag === "KubeConfigError"
        ? new ControlPlaneError({ reason: "Setup", detail: `${what}: ${error.message}`, cause: error })
        : new ControlPlaneError({
          reason: "Transport",
          component: "apiserver",
          detail: `${what}: ${transportDetail(error)}`,
          cause: error
        })
    ),
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(
          new ControlPlaneError({
            reason: "Timeout",
            component: "apiserver",
            detail: `${what}: no complete response within ${Duration.format(Duration.fromInputUnsafe(timeout))}`
          })
        )
    })
  )
}

/** etcd is ready when `/health` answers 200 with `"health":"true"`. @internal */
export const probeEtcd = (etcdUrl: string): Effect.Effect<Probe> =>
  Effect.tryPromise({
    try: (signal) =>
      fetch(`${etcdUrl}/health`, { signal: AbortSignal.any([signal, AbortSignal.timeout(2_000)]) }).then(
        async (res) => ({ ok: res.status === 200 && (await res.text()).includes("true"), seen: `HTTP ${res.status}` })
      ),
    catch: (cause) => cause
  }).pipe(Effect.catch((cause) => Effect.succeed({ ok: false, seen: String(cause) })))

/** kube-apiserver is ready when `/readyz` answers 200 to admin; `seen` lists the failed checks. @internal */
export const probeApiserver = (
  request: (req: ApiRequest) => Effect.Effect<ApiResponse, ControlPlaneError>
): Effect.Effect<Probe> =>
  request({ path: "/readyz", timeout: Duration.seconds(2) }).pipe(
    Effect.map((res) => ({
      ok: res.status === 200,
      seen: `HTTP ${res.status} ${res.body.split("\n").filter((l) => l.includes("failed")).join("; ")}`
    })),
    Effect.catch((e) => Effect.succeed({ ok: false, seen: e.detail }))
  )
