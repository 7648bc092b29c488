/**
 * Hostile or malformed Lease records, as an admin (or a broken tool) could leave them, and how
 * leasekit treats each. Used by the `hostile-records` chaos scenario and by `hostile.test.ts`,
 * which pins every behaviour listed here.
 *
 * Some of these records cannot be written through the API: kube-apiserver validates
 * `leaseDurationSeconds > 0` and `leaseTransitions >= 0` (422) and refuses an unparseable
 * MicroTime (400). They can still exist — written straight into etcd, restored from a backup, or
 * left by another API server — so they are written into etcd here (`via: "etcd"`), under the
 * API server's key `/registry/leases/<namespace>/<name>`, as JSON (the API server decodes JSON as
 * well as protobuf from storage).
 *
 * Decided behaviour (a contender's own duration `D`, its `maxHonouredDuration` `M`, default 1 h):
 *
 * | record                               | how leasekit reads it                         | a waiting contender takes it      | token after |
 * |--------------------------------------|-----------------------------------------------|-----------------------------------|-------------|
 * | no `spec`                            | no holder: free                               | at once                           | 1 (reset)   |
 * | holder, no `renewTime`               | held (renewTime is never needed for expiry)   | after seeing it unchanged for its duration | n + 1 |
 * | `leaseDurationSeconds: 0` (etcd)     | duration replaced by `D`                      | after `D` unchanged               | n + 1       |
 * | `leaseDurationSeconds: -30` (etcd)   | duration replaced by `D`                      | after `D` unchanged               | n + 1       |
 * | `leaseDurationSeconds: 1e9`          | capped at `M`                                 | after `M` unchanged               | n + 1       |
 * | `renewTime` in year 9999             | ignored (expiry is observed, not computed)    | after its duration unchanged      | n + 1       |
 * | `renewTime: "garbage"` (etcd)        | the API server answers 500 to every request   | never, until an admin repairs it  | —           |
 * | `holderIdentity: ""`                 | released: free                                | at once                           | n + 1       |
 * | garbage `holderIdentity`             | held by that (foreign) identity               | after its duration unchanged      | n + 1       |
 * | `leaseTransitions: -5` (etcd)        | counted as 0                                  | after its duration unchanged      | 1 (reset)   |
 * | `leaseTransitions: 2147483647`       | at the API's int32 maximum: wraps             | after its duration unchanged      | 0 (reset)   |
 *
 * Messages quote a foreign holder escaped (JSON) and cut to 160 characters, so a garbage
 * `holderIdentity` cannot forge log lines. (Both this and the int32 wrap were found by this suite
 * and fixed in core.)
 *
 * A holder whose record an admin overwrites loses the lease at its next renewal (`Taken` by the
 * new holder, or `Released` when the new record names nobody), never later than its deadline.
 * Records that reset the counter (no spec, negative transitions, deletion) reset fencing tokens:
 * fenced resources then refuse the new holder's writes until tokens pass their high-water mark —
 * safe, but those writes fail; the repair is to set `leaseTransitions` above that mark.
 */
import type { ControlPlane } from "@leasekit/testing"
import { Data, Effect } from "effect"

type ControlPlaneService = ControlPlane.ControlPlaneService

export class AdminWriteError extends Data.TaggedError("AdminWriteError")<{ readonly detail: string }> {
  override get message(): string {
    return `admin write failed: ${this.detail}`
  }
}

/** A garbage holder identity: control characters, a forged log line, quotes, unicode, length. */
export const garbageHolder = `\t💥 "quoted" \u0007bell\nlevel=ERROR msg="forged log line" ${"☃".repeat(200)}`

/** Far in the future, as a MicroTime. */
export const farFuture = "9999-12-31T23:59:59.999999Z"

export interface Variant {
  readonly name: string
  readonly via: "api" | "etcd"
  /** The spec to write; `undefined` writes the object without one. `transitions`: a value that
   * keeps fencing tokens increasing (for the variants that do not reset them). */
  readonly spec: (transitions: number) => Record<string, unknown> | undefined
  /** How long a contender with duration `own` and cap `cap` (ms) rightly waits on it. */
  readonly blocks: (own: number, cap: number) => number
  readonly resetsTokens: boolean
  /** The API server cannot decode the object: nobody can use the lease until it is repaired. */
  readonly corrupts: boolean
}

const intruder = "admin-intruder"
const microTime = (millis: number) => new Date(millis).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

export const variants: ReadonlyArray<Variant> = [
  {
    name: "missing renewTime",
    via: "api",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: 3, leaseTransitions: n }),
    blocks: () => 3_000,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "leaseDurationSeconds 0",
    via: "etcd",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: 0, renewTime: microTime(Date.now()), leaseTransitions: n }),
    blocks: (own) => own,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "leaseDurationSeconds -30",
    via: "etcd",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: -30, renewTime: microTime(Date.now()), leaseTransitions: n }),
    blocks: (own) => own,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "leaseDurationSeconds 1e9",
    via: "api",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: 1e9, renewTime: microTime(Date.now()), leaseTransitions: n }),
    blocks: (_own, cap) => cap,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "renewTime in year 9999",
    via: "api",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: 3, renewTime: farFuture, acquireTime: farFuture, leaseTransitions: n }),
    blocks: () => 3_000,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "empty holderIdentity",
    via: "api",
    spec: (n) => ({ holderIdentity: "", leaseDurationSeconds: 3600, renewTime: microTime(Date.now()), leaseTransitions: n }),
    blocks: () => 0,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "garbage holderIdentity",
    via: "api",
    spec: (n) => ({ holderIdentity: garbageHolder, leaseDurationSeconds: 3, renewTime: microTime(Date.now()), leaseTransitions: n }),
    blocks: () => 3_000,
    resetsTokens: false,
    corrupts: false
  },
  {
    name: "unparseable renewTime",
    via: "etcd",
    spec: (n) => ({ holderIdentity: intruder, leaseDurationSeconds: 3, renewTime: "garbage", leaseTransitions: n }),
    blocks: () => 0,
    resetsTokens: false,
    corrupts: true
  },
  {
    name: "no spec",
    via: "api",
    spec: () => undefined,
    blocks: () => 0,
    resetsTokens: true,
    corrupts: false
  },
  {
    name: "leaseTransitions 2147483647",
    via: "api",
    spec: () => ({ holderIdentity: intruder, leaseDurationSeconds: 3, renewTime: microTime(Date.now()), leaseTransitions: 2147483647 }),
    blocks: () => 3_000,
    resetsTokens: true,
    corrupts: false
  },
  {
    name: "leaseTransitions -5",
    via: "etcd",
    spec: () => ({ holderIdentity: intruder, leaseDurationSeconds: 3, renewTime: microTime(Date.now()), leaseTransitions: -5 }),
    blocks: () => 3_000,
    resetsTokens: true,
    corrupts: false
  }
]

const leasePath = (namespace: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name === undefined ? "" : `/${name}`}`

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")

/** The lease as the API server returns it (`undefined` when absent). */
export const readRaw = (cp: ControlPlaneService, namespace: string, name: string) =>
  cp.request({ path: leasePath(namespace, name), timeout: "5 seconds" }).pipe(
    Effect.mapError((e) => new AdminWriteError({ detail: e.message })),
    Effect.flatMap((res) =>
      res.status === 200
        ? Effect.succeed(res.json as { metadata: Record<string, unknown>; spec?: Record<string, unknown> })
        : res.status === 404
        ? Effect.succeed(undefined)
        : Effect.fail(new AdminWriteError({ detail: `GET lease: ${res.status} ${res.body.slice(0, 200)}` }))
    )
  )

/** Replaces the lease's spec through the API (CAS on the version read; retried on conflict). */
export const writeApi = (cp: ControlPlaneService, namespace: string, name: string, spec: Record<string, unknown> | undefined) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = yield* readRaw(cp, namespace, name)
      const body = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: current === undefined
          ? { name }
          : { name, resourceVersion: current.metadata["resourceVersion"], uid: current.metadata["uid"] },
        ...(spec === undefined ? {} : { spec })
      }
      const res = yield* cp.request({
        method: current === undefined ? "POST" : "PUT",
        path: current === undefined ? leasePath(namespace) : leasePath(namespace, name),
        body,
        timeout: "5 seconds"
      }).pipe(Effect.mapError((e) => new AdminWriteError({ detail: e.message })))
      if (res.status === 200 || res.status === 201) return
      if (res.status !== 409) return yield* new AdminWriteError({ detail: `write lease: ${res.status} ${res.body.slice(0, 300)}` })
    }
    return yield* new AdminWriteError({ detail: "write lease: 20 conflicts in a row" })
  })

/** Writes the lease object straight into etcd, bypassing the API server's validation. */
export const writeEtcd = (
  cp: ControlPlaneService,
  namespace: string,
  name: string,
  spec: Record<string, unknown> | undefined,
  metadata: { readonly uid: string; readonly creationTimestamp: string }
) =>
  Effect.tryPromise({
    try: async (signal) => {
      const object = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace, uid: metadata.uid, creationTimestamp: metadata.creationTimestamp },
        ...(spec === undefined ? {} : { spec })
      }
      const res = await fetch(`${cp.etcdUrl}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: b64(`/registry/leases/${namespace}/${name}`), value: b64(JSON.stringify(object)) }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)])
      })
      if (res.status !== 200) throw new Error(`etcd put: ${res.status} ${await res.text()}`)
    },
    catch: (cause) => new AdminWriteError({ detail: cause instanceof Error ? cause.message : String(cause) })
  })

/** The uid and creation time of the lease, read from etcd (works when the API server cannot decode it). */
export const etcdMetadata = (cp: ControlPlaneService, namespace: string, name: string) =>
  Effect.tryPromise({
    try: async (signal) => {
      const res = await fetch(`${cp.etcdUrl}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: b64(`/registry/leases/${namespace}/${name}`) }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)])
      })
      const json = await res.json() as { kvs?: Array<{ value: string }> }
      const value = json.kvs?.[0]?.value
      if (value === undefined) return undefined
      const raw = Buffer.from(value, "base64")
      // Protobuf (k8s\0 …) or JSON: find the uid either way.
      const text = raw.toString("latin1")
      const uid = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(text)?.[0]
      return uid === undefined ? undefined : { uid, creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z") }
    },
    catch: (cause) => new AdminWriteError({ detail: cause instanceof Error ? cause.message : String(cause) })
  })

/** Writes `variant` over the lease, as an admin would (API) or could (etcd). */
export const write = (cp: ControlPlaneService, namespace: string, name: string, variant: Variant, transitions: number) =>
  Effect.gen(function*() {
    const spec = variant.spec(transitions)
    if (variant.via === "api") return yield* writeApi(cp, namespace, name, spec)
    const metadata = yield* etcdMetadata(cp, namespace, name)
    yield* writeEtcd(cp, namespace, name, spec, metadata ?? { uid: globalThis.crypto.randomUUID(), creationTimestamp: "2024-01-01T00:00:00Z" })
  })

/** An admin's repair of a corrupt or reset lease: a valid, free record with `transitions`. */
export const repair = (cp: ControlPlaneService, namespace: string, name: string, transitions: number) =>
  Effect.gen(function*() {
    const metadata = yield* etcdMetadata(cp, namespace, name)
    yield* writeEtcd(cp, namespace, name, {
      holderIdentity: "",
      leaseDurationSeconds: 1,
      renewTime: microTime(Date.now()),
      leaseTransitions: transitions
    }, metadata ?? { uid: globalThis.crypto.randomUUID(), creationTimestamp: "2024-01-01T00:00:00Z" })
  })
