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
 * Data (all strings, as ConfigMaps require): `token` (highest accepted, `-1` before any write),
 * `holder` (who wrote it), `writes` (accepted writes), `log` (one `token id at` line per accepted
 * write, the newest `maxLog`), `dropped` (log lines dropped from the front).
 */
import { Data, Effect } from "effect"
import * as Fs from "node:fs"
import * as Https from "node:https"
import type { FenceTarget } from "./protocol.ts"

/** Log lines kept in the ConfigMap (well below its 1 MiB limit). */
export const maxLog = 6000

export class FenceError extends Data.TaggedError("FenceError")<{
  readonly kind: "Transport" | "Timeout" | "Status"
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

/** The fence target from a kubeconfig written by `ControlPlane` (JSON, first cluster and user). */
export const targetFromKubeconfig = (file: string, namespace: string, name: string): FenceTarget => {
  const config = JSON.parse(Fs.readFileSync(file, "utf8")) as {
    clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>
    users: Array<{ user: { token: string } }>
  }
  const cluster = config.clusters[0]!.cluster
  return {
    server: cluster.server,
    ca: Buffer.from(cluster["certificate-authority-data"], "base64").toString("utf8"),
    token: config.users[0]!.user.token,
    namespace,
    name
  }
}

const path = (target: FenceTarget, withName: boolean) =>
  `/api/v1/namespaces/${target.namespace}/configmaps${withName ? `/${target.name}` : ""}`

/** One request on a fresh connection, bounded by `timeoutMillis`, aborted when interrupted. */
const request = (
  target: FenceTarget,
  method: string,
  urlPath: string,
  body: unknown,
  timeoutMillis: number
): Effect.Effect<{ readonly status: number; readonly body: string }, FenceError> =>
  Effect.callback<{ readonly status: number; readonly body: string }, FenceError>((resume) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${target.token}` }
    if (payload !== undefined) {
      headers["content-type"] = "application/json"
      headers["content-length"] = String(Buffer.byteLength(payload))
    }
    let settled = false
    const settle = (effect: Effect.Effect<{ readonly status: number; readonly body: string }, FenceError>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resume(effect)
    }
    const req = Https.request(`${target.server}${urlPath}`, { method, ca: target.ca, headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("error", (cause) => settle(Effect.fail(new FenceError({ kind: "Transport", detail: String(cause) }))))
      res.on("end", () =>
        settle(Effect.succeed({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })))
    })
    const timer = setTimeout(() => {
      settle(Effect.fail(new FenceError({ kind: "Timeout", detail: `${method} ${urlPath}: no answer in ${timeoutMillis} ms` })))
      req.destroy()
    }, timeoutMillis)
    req.on("error", (cause) => settle(Effect.fail(new FenceError({ kind: "Transport", detail: cause.message }))))
    req.end(payload)
    return Effect.sync(() => {
      settled = true
      clearTimeout(timer)
      req.destroy()
    })
  })

const parseLog = (text: string | undefined): Array<FenceEntry> =>
  (text ?? "").split("\n").filter((l) => l !== "").map((line) => {
    const [token, id, at] = line.split(" ")
    return { token: Number(token), id: id ?? "", at: Number(at) }
  })

const toState = (json: unknown): FenceState => {
  const object = json as { metadata: { resourceVersion: string }; data?: Record<string, string> }
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
export const create = (target: FenceTarget): Effect.Effect<void, FenceError> =>
  request(target, "POST", path(target, false), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: target.name },
    data: { token: "-1", holder: "", writes: "0", log: "", dropped: "0" }
  }, 10_000).pipe(
    Effect.flatMap((res) => res.status === 201 ? Effect.void : Effect.fail(statusError("create", res.status, res.body)))
  )

export const read = (target: FenceTarget, timeoutMillis = 3_000): Effect.Effect<FenceState, FenceError> =>
  request(target, "GET", path(target, true), undefined, timeoutMillis).pipe(
    Effect.flatMap((res) => res.status === 200 ? Effect.succeed(toState(JSON.parse(res.body))) : Effect.fail(statusError("get", res.status, res.body)))
  )

/**
 * Compare-and-swap: writes `token` (by `holder`, write `id`) on top of `from`, conditioned on
 * `from.resourceVersion`. `"conflict"` when someone wrote in between. The caller has checked the
 * fence rule against `from`.
 */
export const put = (
  target: FenceTarget,
  from: FenceState,
  write: { readonly token: number; readonly holder: string; readonly id: string },
  timeoutMillis = 3_000
): Effect.Effect<"ok" | "conflict", FenceError> => {
  const entries = [...from.log, { token: write.token, id: write.id, at: Math.round(Date.now()) }]
  const drop = Math.max(0, entries.length - maxLog)
  const log = entries.slice(drop).map((e) => `${e.token} ${e.id} ${e.at}`).join("\n")
  return request(target, "PUT", path(target, true), {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: target.name, namespace: target.namespace, resourceVersion: from.resourceVersion },
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
