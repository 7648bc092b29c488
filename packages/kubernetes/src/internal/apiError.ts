/**
 * Conversion of everything a Kubernetes request can fail with into a `LeaseStoreError`.
 *
 * Inputs: an HTTP status with the `Status` object of the answer (`fromStatus`; `apiRequest.ts` reads
 * the body), `ERROR` watch events (a `Status` object), a `WireError` (an answer that is not the
 * object the API promises, or a Lease leasekit will not send), and network errors: the socket's own
 * (`node:https`, an errno or TLS `code`). A `Status` is read with `wire.ts`'s `Status` schema: only
 * an object of `kind: "Status"` counts as one.
 *
 * Mapping: 404 `NotFound` (a create in a namespace that does not exist says so, naming it) — but
 * only when the answer is a Kubernetes `Status` object (`kind: "Status"`): a 404 with any other body
 * (a web server's "page not found", a proxy's HTML) comes from something that is not a Kubernetes
 * API server, or not the lease API of one, and is `Unsupported`, naming the server, so that a
 * wrong server URL is never taken for "the lease does not exist"; 409
 * `AlreadyExists` or `Conflict` by the Status `reason`; 401 `Unauthorized`; 403 `Forbidden` (the
 * detail names the verb, `leases.coordination.k8s.io`, the namespace and the Role rule to add — or
 * that the namespace is being deleted); 400 / 422 `Invalid`; 429, 5xx and connection failures
 * `Unavailable`; a failure of the proxy (`proxy.ts`'s `ProxyFailure`: unreachable, its certificate
 * refused, the CONNECT refused) `Unavailable`, naming the proxy and not blaming the API server; a malformed answer or an unsendable Lease `Invalid`, naming the field. Guarantees:
 * transport errors never escape except as `cause`; details never contain request headers (where
 * bearer tokens live) nor more than a short quote of a malformed answer.
 *
 * @internal
 */
import * as LeaseStore from "@leasekit/core/LeaseStore"
import type * as LeaseRecord from "@leasekit/core/LeaseRecord"
import { ProxyFailure } from "./proxy.ts"
import * as Wire from "./wire.ts"

type LeaseStoreError = LeaseStore.LeaseStoreError
type LeaseStoreErrorReason = LeaseStore.LeaseStoreErrorReason
type LeaseStoreOperation = LeaseStore.LeaseStoreOperation

/** What a message about a failed request can say about where it went. */
export interface RequestContext {
  readonly operation: LeaseStoreOperation
  readonly key?: LeaseRecord.LeaseKey | undefined
  /** The namespace the request addressed; undefined for all namespaces. */
  readonly namespace: string | undefined
  /** The RBAC verb the request needed (`get`, `list`, `watch`, `create`, `update`, `delete`). */
  readonly verb: string
  readonly user: string
  readonly context: string
  readonly server: string
}

/** The parts of a Kubernetes `Status` object we read; none when the answer carried no Status. */
export type Status = Omit<Wire.Status, "kind">

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The JSON value of a body, `undefined` when it is not JSON. */
const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/** Whether a raw answer body is a Kubernetes `Status` object (what every API server error carries). */
export const isStatusObject = (body: string): boolean => Wire.statusOf(parseJson(body)) !== undefined

/** The start of a body, on one line, for a message (quoted and escaped). */
const preview = (body: string): string => {
  const text = body.replace(/\s+/g, " ").trim()
  return text === "" ? "an empty body" : JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)
}

/**
 * The error for a 404 that is not a Kubernetes `Status`: the server is not a Kubernetes API server
 * (or a path prefix in its URL is wrong, or it does not serve coordination.k8s.io/v1).
 */
export const notKubernetes = (ctx: RequestContext, code: number, body: string, cause: unknown): LeaseStoreError =>
  make(
    ctx,
    "Unsupported",
    `the server at ${ctx.server} is not a Kubernetes API server: it answered ${code} with ${preview(body)}, not a Kubernetes Status object (or it does not serve coordination.k8s.io/v1 Leases at that URL); check the server URL, including any path, of the kubeconfig's cluster`,
    cause
  )

/**
 * Reads a `Status` from a raw body (a JSON string, usually) or an object: empty when it is not a
 * Kubernetes Status object (`kind: "Status"`); fields of the wrong type are left out.
 */
export const parseStatus = (body: unknown): Status => {
  const status = Wire.statusOf(typeof body === "string" ? parseJson(body) : body)
  if (status === undefined) return {}
  const { kind: _kind, ...fields } = status
  return fields
}

const make = (ctx: RequestContext, reason: LeaseStoreErrorReason, detail: string, cause: unknown): LeaseStoreError =>
  new LeaseStore.LeaseStoreError({ operation: ctx.operation, key: ctx.key, reason, detail, cause })

const where = (ctx: RequestContext) =>
  ctx.namespace === undefined ? "in all namespaces" : `in namespace "${ctx.namespace}"`

const forbiddenDetail = (ctx: RequestContext, status: Status): string => {
  const allNamespaces = ctx.namespace === undefined
  const rule = `{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["${ctx.verb}"] }`
  const grant = allNamespaces
    ? `add the rule ${rule} to a ClusterRole bound to it with a ClusterRoleBinding`
    : `add the rule ${rule} to a Role in namespace "${ctx.namespace}" bound to it (see rbac/lease-role.yaml in @leasekit/kubernetes)`
  const consequence = ctx.verb === "watch" || ctx.operation === "watch"
    ? " Without list and watch, waiting contenders poll every retryPeriod instead of being told of changes."
    : ctx.verb === "delete"
    ? " Without delete, release with the default mode (clear the holder) instead of deleting the lease."
    : ctx.verb === "list"
    ? " Without list, listing leases (`leasekit list`) is unavailable."
    : ""
  const said = status.message === undefined ? "" : ` The API server said: ${status.message}.`
  return `user "${ctx.user}" (context "${ctx.context}") may not ${ctx.verb} leases.coordination.k8s.io ${
    where(ctx)
  }: ${grant}.${consequence}${said}`
}

const writes: ReadonlySet<LeaseStoreOperation> = new Set(["create", "update", "remove"])

/**
 * The error for an answer that is not the object the API promises (a Lease, a list page or a
 * watch event that fails to decode). Names the field, quotes at most a short part of its value.
 */
export const malformedAnswer = (ctx: RequestContext, error: Wire.WireError): LeaseStoreError =>
  make(
    ctx,
    "Invalid",
    `the API server at ${ctx.server} answered with ${error.message}${
      writes.has(ctx.operation) ? " (the write was applied)" : ""
    }: repair the object (kubectl edit lease), or check that the kubeconfig's server is a Kubernetes API server`,
    error
  )

/** The error for a Lease leasekit will not send: a value no API server accepts. Nothing was sent. */
export const unsendable = (ctx: RequestContext, error: Wire.WireError): LeaseStoreError =>
  make(ctx, "Invalid", `the lease was not sent: it would be ${error.message}`, error)

/** The error for an HTTP status (with the `Status` body when there is one). */
export const fromStatus = (ctx: RequestContext, code: number, status: Status, cause: unknown): LeaseStoreError => {
  const said = status.message ?? status.reason ?? `HTTP ${code}`
  switch (code) {
    case 404: {
      if (status.details?.kind === "namespaces" || (ctx.operation === "create" && status.details?.kind !== "leases")) {
        const ns = status.details?.name ?? ctx.namespace ?? "?"
        return make(
          ctx,
          "NotFound",
          `namespace "${ns}" does not exist: create it (kubectl create namespace ${ns}) or use a namespace that exists (leasekit: -n/--namespace)`,
          cause
        )
      }
      return make(ctx, "NotFound", `the lease does not exist (${said})`, cause)
    }
    case 409:
      if (status.reason === "AlreadyExists") {
        return make(ctx, "AlreadyExists", `a lease with this name already exists (${said})`, cause)
      }
      // The uid precondition of an update failed against no object at all: it was deleted.
      if (status.message !== undefined && /UID in object meta: *$/.test(status.message)) {
        return make(ctx, "NotFound", "the lease does not exist (it was deleted since the record was read)", cause)
      }
      return make(ctx, "Conflict", `the lease changed since the record was read (${said})`, cause)
    case 401:
      return make(
        ctx,
        "Unauthorized",
        `the API server at ${ctx.server} rejected the credentials of user "${ctx.user}" (context "${ctx.context}"): renew the token or client certificate in the kubeconfig (or the pod's service-account token)`,
        cause
      )
    case 403:
      // The namespace lifecycle admission refuses new objects in a namespace being deleted: not RBAC.
      if (status.message !== undefined && /because it is being terminated/.test(status.message)) {
        return make(
          ctx,
          "Forbidden",
          `namespace "${ctx.namespace ?? "?"}" is being deleted (Terminating), so no lease can be created in it: wait until it is gone and create it again, or pass another namespace (${status.message})`,
          cause
        )
      }
      return make(ctx, "Forbidden", forbiddenDetail(ctx, status), cause)
    case 400:
    case 422:
      return make(ctx, "Invalid", `the API server rejected the lease as invalid: ${said}`, cause)
    case 410:
      return make(ctx, "Unavailable", `the requested resourceVersion is too old (${said})`, cause)
    case 429:
      return make(ctx, "Unavailable", `the API server is throttling requests (429 ${said}); retry later`, cause)
    default:
      if (code >= 500) return make(ctx, "Unavailable", `the API server failed (${code} ${said})`, cause)
      return make(ctx, "Invalid", `unexpected answer from the API server (${code} ${said})`, cause)
  }
}

const tlsCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_NOT_YET_VALID"
])

/** The innermost error code of a network failure (`fetch failed` wraps the socket error). */
const networkCode = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 5 && isObject(current); depth++) {
    if (typeof current["code"] === "string") return current["code"]
    current = current["cause"]
  }
  return undefined
}

/** The innermost message of a network failure, credentials inside any URL in it removed. */
const innermostMessage = (error: unknown): string => {
  let current: unknown = error
  let message = error instanceof Error ? error.message : String(error)
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message
    current = current.cause
  }
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1***@")
}

const resetCodes = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"])

/**
 * Whether a request failed because a (pooled) connection was closed under it — worth one
 * immediate retry for reads, as client-go does.
 */
export const isConnectionReset = (error: LeaseStoreError): boolean => {
  const code = networkCode(error.cause)
  return error.reason === "Unavailable" && code !== undefined && resetCodes.has(code)
}

/** The error for a request the proxy failed: the API server was not reached. */
const fromProxyFailure = (ctx: RequestContext, failure: ProxyFailure): LeaseStoreError => {
  const code = failure.code
  if (code !== undefined && tlsCodes.has(code)) {
    return make(
      ctx,
      "Unavailable",
      `TLS verification of the proxy at ${failure.proxy} failed (${code}), so the API server at ${ctx.server} was not reached: Node.js checks an https proxy's certificate against its own CA list, not the kubeconfig's certificate-authority — add the proxy's CA with NODE_EXTRA_CA_CERTS, or correct the cluster's proxy-url (or HTTPS_PROXY)`,
      failure
    )
  }
  if (failure.status !== undefined) {
    return make(
      ctx,
      "Unavailable",
      `the proxy at ${failure.proxy} refused to open a tunnel to the API server at ${ctx.server} (HTTP ${failure.status})${
        failure.status === 407
          ? ": it requires credentials — check the user name and password in the proxy URL (http://USER:PASSWORD@HOST:PORT, in proxy-url or HTTPS_PROXY)"
          : ": check the proxy's rules for that host and port"
      }`,
      failure
    )
  }
  return make(
    ctx,
    "Unavailable",
    `cannot reach the API server at ${ctx.server} through the proxy at ${failure.proxy} (${code ?? "error"}: ${
      innermostMessage(failure.cause)
    }): check that the proxy runs, or the cluster's proxy-url (or HTTPS_PROXY / NO_PROXY)`,
    failure
  )
}

/** Converts anything a request failed with. */
export const fromCause = (ctx: RequestContext, cause: unknown): LeaseStoreError => {
  if (cause instanceof LeaseStore.LeaseStoreError) return cause
  if (cause instanceof Wire.WireError) return malformedAnswer(ctx, cause)
  if (cause instanceof ProxyFailure) return fromProxyFailure(ctx, cause)
  const code = networkCode(cause)
  if (code === "ERR_PROXY_TUNNEL") {
    // The proxy answered CONNECT with an error status: nothing reached the API server (a 404 or
    // 409 here is the proxy's, never the lease's).
    return make(
      ctx,
      "Unavailable",
      `the proxy between this process and the API server at ${ctx.server} refused to open a tunnel (${
        innermostMessage(cause)
      }): check proxy-url of the kubeconfig's cluster, or HTTPS_PROXY / NO_PROXY`,
      cause
    )
  }
  if (code !== undefined && tlsCodes.has(code)) {
    return make(
      ctx,
      "Unavailable",
      `TLS verification of the API server at ${ctx.server} failed (${code}): check certificate-authority / certificate-authority-data of the cluster in the kubeconfig`,
      cause
    )
  }
  return make(
    ctx,
    "Unavailable",
    `cannot reach the API server at ${ctx.server} (${code ?? "error"}: ${innermostMessage(cause)})`,
    cause
  )
}
