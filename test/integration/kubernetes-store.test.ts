/**
 * KubernetesLeaseStore against a real kube-apiserver (with etcd) started by @leasekit/testing:
 * the core conformance suite, RBAC (restricted and no-rights users), the MicroTime wire format,
 * token rotation, transport failures, a missing namespace, and writes that keep what leasekit does
 * not model (ownerReferences, finalizers, labels, annotations). No HTTP is mocked.
 */
import { assert, layer } from "@effect/vitest"
import { LeaseRecord, LeaseStore } from "@leasekit/core"
import { suite } from "@leasekit/core/testing"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { Duration, Effect, Layer, Option, Queue, Schedule, Stream } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import * as Cluster from "./cluster.ts"
import { closedPort } from "./loopback.ts"

const namespace = "leasekit-test"
const memoMap = Effect.runSync(Layer.makeMemoMap)
const controlPlane = ControlPlane.layer({ namespace })

// The conformance run needs nothing but an admin client, so it runs on "a cluster" (./cluster.ts):
// an existing one when LEASEKIT_TEST_KUBECONFIG or KUBECONFIG names it, else this file's control
// plane (shared through memoMap). The suites below need its users and faults and always run locally.
const cluster = Cluster.layer({ namespace, otherNamespace: `${namespace}-other`, controlPlane })

suite("kubernetes", KubernetesLeaseStore.layer().pipe(Layer.provide(Cluster.adminClient), Layer.provide(cluster)), {
  namespace: Cluster.namespaceFor(namespace),
  otherNamespace: Cluster.namespaceFor(`${namespace}-other`),
  prefix: "conformance",
  memoMap,
  layerTimeout: "4 minutes"
})

const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

/** A store as `user` (its client's connections closed with the test's scope). */
const storeAs = (user: ControlPlane.UserName, options?: KubernetesLeaseStore.Options) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const client = yield* KubeClient.makeFromFile(cp.users[user].kubeconfig)
    return KubernetesLeaseStore.make(client, options)
  })

const storeFromKubeconfig = (file: string, options?: KubernetesLeaseStore.Options) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.makeFromFile(file)
    return KubernetesLeaseStore.make(client, options)
  })


const leasePath = (ns: string, name = "") =>
  `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases${name === "" ? "" : `/${name}`}`

/** Posts as admin and fails the test unless the API server accepts it. */
const adminPost = (apiPath: string, body: unknown) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const response = yield* cp.request({ method: "POST", path: apiPath, body })
    assert.isTrue(response.status >= 200 && response.status < 300, `POST ${apiPath}: ${response.status} ${response.body}`)
    return response.json as Record<string, unknown>
  })

layer(controlPlane, { memoMap, excludeTestServices: true, timeout: "4 minutes" })("KubernetesLeaseStore on a real API server", (it) => {
  it.effect("writes the fields client-go's LeaseLock writes, times as MicroTime with six digits", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const store = yield* storeAs("admin")
      const key = { namespace, name: `format-${suffix()}` }
      const created = yield* store.create(key, {
        holder: "host_1234_abcd",
        durationSeconds: 15,
        acquireTime: 1_700_000_000_123,
        renewTime: 1_700_000_000_123,
        transitions: 0
      })
      const released = yield* store.update(created, { ...created, holder: "", durationSeconds: 1 })
      const raw = yield* cp.request({ path: leasePath(namespace, key.name) })
      assert.strictEqual(raw.status, 200)
      const object = raw.json as { spec: Record<string, unknown> }
      assert.deepStrictEqual(Object.keys(object.spec).sort(), [
        "acquireTime",
        "holderIdentity",
        "leaseDurationSeconds",
        "leaseTransitions",
        "renewTime"
      ])
      assert.strictEqual(object.spec["acquireTime"], "2023-11-14T22:13:20.123000Z")
      assert.match(String(object.spec["renewTime"]), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
      assert.strictEqual(object.spec["holderIdentity"], "", "release writes an empty holder, as client-go does")
      assert.strictEqual(object.spec["leaseDurationSeconds"], 1)
      const read = Option.getOrThrow(yield* store.get(key))
      assert.strictEqual(read.version, released.version)
      assert.strictEqual(read.holder, "")
    }))

  it.effect("reads a lease written by someone else (kubectl-style, sparse and odd) without failing", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("admin")
      const name = `foreign-${suffix()}`
      yield* adminPost(leasePath(namespace), {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, labels: { owner: "kubectl" } },
        spec: { holderIdentity: "someone", renewTime: "2024-01-02T03:04:05.678901Z", leaseDurationSeconds: 3 }
      })
      const bare = `bare-${suffix()}`
      yield* adminPost(leasePath(namespace), { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: bare } })
      const foreign = Option.getOrThrow(yield* store.get({ namespace, name }))
      assert.strictEqual(foreign.holder, "someone")
      assert.strictEqual(foreign.durationSeconds, 3)
      assert.isUndefined(foreign.acquireTime)
      assert.closeTo(foreign.renewTime!, Date.UTC(2024, 0, 2, 3, 4, 5, 678) + 0.901, 0.001)
      assert.deepStrictEqual(foreign.metadata.labels, { owner: "kubectl" })
      const empty = Option.getOrThrow(yield* store.get({ namespace, name: bare }))
      assert.deepStrictEqual(
        { holder: empty.holder, durationSeconds: empty.durationSeconds, transitions: empty.transitions },
        { holder: undefined, durationSeconds: undefined, transitions: undefined }
      )
    }))

  it.effect("the restricted user (get, create, update) can take, renew and clear a lease", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("restricted")
      const key = { namespace, name: `restricted-${suffix()}` }
      const created = yield* store.create(key, { holder: "r", durationSeconds: 10, transitions: 0 })
      const renewed = yield* store.update(created, { holder: "r", durationSeconds: 10, transitions: 0, renewTime: 1 })
      const cleared = yield* store.update(renewed, { holder: "", durationSeconds: 1, transitions: 0 })
      assert.strictEqual(Option.getOrThrow(yield* store.get(key)).version, cleared.version)
      const conflict = yield* Effect.flip(store.update(created, { holder: "late" }))
      assert.strictEqual(conflict.reason, "Conflict")
    }))

  it.effect("the restricted user's watch and delete fail Forbidden, naming the rule to add", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("restricted")
      const key = { namespace, name: `restricted-${suffix()}` }
      const created = yield* store.create(key, { holder: "r" })

      const watchError = yield* store.watch(key).pipe(
        Stream.runDrain,
        Effect.flip,
        Effect.timeout("10 seconds")
      )
      assert.instanceOf(watchError, LeaseStore.LeaseStoreError)
      assert.strictEqual(watchError.reason, "Forbidden")
      assert.strictEqual(watchError.operation, "watch")
      assert.include(watchError.detail, "leases.coordination.k8s.io")
      assert.include(watchError.detail, `namespace "${namespace}"`)
      assert.include(watchError.detail, `resources: ["leases"]`)
      assert.include(watchError.detail, "poll")
      assert.include(watchError.detail, "restricted")

      const deleteError = yield* Effect.flip(store.remove(created))
      assert.strictEqual(deleteError.reason, "Forbidden")
      assert.strictEqual(deleteError.operation, "remove")
      assert.include(deleteError.detail, `verbs: ["delete"]`)
      assert.include(deleteError.detail, `namespace "${namespace}"`)

      const listError = yield* Effect.flip(store.list(namespace))
      assert.strictEqual(listError.reason, "Forbidden")
      assert.include(listError.detail, `verbs: ["list"]`)
      const allError = yield* Effect.flip(store.list(undefined))
      assert.strictEqual(allError.reason, "Forbidden")
      assert.include(allError.detail, "ClusterRole")
    }))

  it.effect("a user without rights gets Forbidden naming verb, resource, namespace and rule", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("nobody")
      const key = { namespace, name: `nobody-${suffix()}` }
      const getError = yield* Effect.flip(store.get(key))
      assert.strictEqual(getError.reason, "Forbidden")
      assert.include(getError.detail, `may not get leases.coordination.k8s.io in namespace "${namespace}"`)
      assert.include(getError.detail, `{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get"] }`)
      assert.include(getError.message, "nobody")
      const createError = yield* Effect.flip(store.create(key, { holder: "n" }))
      assert.strictEqual(createError.reason, "Forbidden")
      assert.include(createError.detail, `verbs: ["create"]`)
    }))

  it.effect("create in a namespace that does not exist fails NotFound, naming the namespace", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("admin")
      const error = yield* Effect.flip(store.create({ namespace: "no-such-namespace", name: "x" }, { holder: "a" }))
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.detail, `namespace "no-such-namespace" does not exist`)
      assert.include(error.detail, "kubectl create namespace no-such-namespace")
      assert.include(error.detail, "--namespace")
      assert.include(error.message, `namespace "no-such-namespace" does not exist`)
    }))

  it.effect("create in a namespace being deleted fails Forbidden, saying so instead of naming an RBAC rule", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const store = yield* storeAs("admin")
      // Without a namespace controller (a bare kube-apiserver) a deleted namespace stays Terminating.
      const doomed = `terminating-${suffix()}`
      yield* adminPost("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: doomed } })
      const deleted = yield* cp.request({ method: "DELETE", path: `/api/v1/namespaces/${doomed}` })
      assert.isTrue(deleted.status === 200 || deleted.status === 202, deleted.body)
      const error = yield* Effect.flip(store.create({ namespace: doomed, name: "x" }, { holder: "a" }))
      assert.strictEqual(error.reason, "Forbidden")
      assert.include(error.detail, `namespace "${doomed}" is being deleted`)
      assert.notInclude(error.detail, "Role")
    }))

  it.effect("a malformed lease is rejected with Invalid", () =>
    Effect.gen(function*() {
      const store = yield* storeAs("admin")
      const error = yield* Effect.flip(store.create({ namespace, name: `bad-${suffix()}` }, { durationSeconds: 1.5 }))
      assert.strictEqual(error.reason, "Invalid")
      const badName = yield* Effect.flip(store.create({ namespace, name: "Not_A_DNS_Name" }, { holder: "a" }))
      assert.strictEqual(badName.reason, "Invalid")
    }))

  it.effect("a rotated service-account token in a token file keeps working (401 → re-read → retry)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const sa = `rotator-${suffix()}`
      const saPath = `/api/v1/namespaces/${namespace}/serviceaccounts`
      yield* adminPost(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
        metadata: { name: sa },
        rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }]
      })
      yield* adminPost(`/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
        metadata: { name: sa },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa }
      })
      const mint = Effect.gen(function*() {
        yield* adminPost(saPath, { metadata: { name: sa } })
        const request = yield* adminPost(`${saPath}/${sa}/token`, {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds: 3600 }
        })
        return (request["status"] as { token: string }).token
      })

      const dir = yield* Effect.promise(() => fs.mkdtemp(path.join(cp.dir, "rotation-")))
      const tokenFile = path.join(dir, "token")
      const kubeconfigFile = path.join(dir, "config")
      const base = JSON.parse(yield* Effect.promise(() => fs.readFile(cp.users.admin.kubeconfig, "utf8")))
      base.users = [{ name: "admin", user: { tokenFile: "token" } }]
      yield* Effect.promise(() => fs.writeFile(kubeconfigFile, JSON.stringify(base)))

      const first = yield* mint
      yield* Effect.promise(() => fs.writeFile(tokenFile, `${first}\n`))
      const store = yield* storeFromKubeconfig(kubeconfigFile)
      const key = { namespace, name: `rotation-${suffix()}` }
      const created = yield* store.create(key, { holder: "rotating", durationSeconds: 5 })

      // Rotate: a new ServiceAccount object (new UID) invalidates every token of the old one.
      const deleted = yield* cp.request({ method: "DELETE", path: `${saPath}/${sa}` })
      assert.strictEqual(deleted.status, 200, deleted.body)
      const second = yield* mint
      yield* Effect.promise(() => fs.writeFile(tokenFile, `${second}\n`))

      const oldTokenConfig = path.join(dir, "old-token")
      yield* Effect.promise(() =>
        fs.writeFile(oldTokenConfig, JSON.stringify({ ...base, users: [{ name: "admin", user: { token: first } }] }))
      )
      const stale = yield* storeFromKubeconfig(oldTokenConfig)
      // The API server caches token reviews for 10 s: wait until it rejects the first token.
      const staleError = yield* stale.get(key).pipe(
        Effect.andThen(Effect.fail("still accepted" as const)),
        Effect.retry({ while: (e) => e === "still accepted", schedule: Schedule.spaced("500 millis") }),
        Effect.flip,
        Effect.timeout("30 seconds")
      )
      assert.instanceOf(staleError, LeaseStore.LeaseStoreError)
      assert.strictEqual(staleError.reason, "Unauthorized", "the first token is revoked")
      assert.notInclude(staleError.message, first)
      assert.include(staleError.detail, "rejected the credentials")

      const renewed = yield* store.update(created, { holder: "rotating", durationSeconds: 5, renewTime: 2 })
      assert.notStrictEqual(renewed.version, created.version)
      assert.isTrue(Option.isSome(yield* store.get(key)))
    }))

  it.effect("an unreachable server fails Unavailable, naming the server", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const port = yield* closedPort
      const server = `https://127.0.0.1:${port}`
      const file = yield* cp.writeKubeconfig({ user: "admin", server, path: path.join(cp.dir, `closed-${suffix()}`) })
      const store = yield* storeFromKubeconfig(file)
      const error = yield* Effect.flip(store.get({ namespace, name: "any" }))
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, server)
      assert.include(error.detail, "ECONNREFUSED")
      assert.isTrue(LeaseStore.isTransient(error))
    }))

  it.effect("a server that does not answer fails Timeout after requestTimeout", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const file = yield* cp.writeKubeconfig({ user: "admin", server: proxy.url, path: path.join(cp.dir, `proxy-${suffix()}`) })
      const store = yield* storeFromKubeconfig(file, { requestTimeout: "700 millis" })
      const key = { namespace, name: `blackhole-${suffix()}` }
      yield* store.create(key, { holder: "a" })
      yield* proxy.blackhole(true)
      const started = Date.now()
      const error = yield* Effect.flip(store.get(key))
      const elapsed = Date.now() - started
      assert.strictEqual(error.reason, "Timeout")
      assert.isBelow(elapsed, 5_000)
      yield* proxy.blackhole(false)
      yield* proxy.resetAll
      assert.isTrue(Option.isSome(yield* store.get(key)), "works again once the server answers")
    }))

  it.effect("a watch keeps delivering states after its connection is reset", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const file = yield* cp.writeKubeconfig({ user: "admin", server: proxy.url, path: path.join(cp.dir, `proxy-${suffix()}`) })
      const watcher = yield* storeFromKubeconfig(file)
      const writer = yield* storeAs("admin")
      const key = { namespace, name: `reset-${suffix()}` }
      const states = yield* Stream.toQueue(watcher.watch(key), { capacity: "unbounded" })
      const next = Queue.take(states).pipe(Effect.timeout("10 seconds"))
      assert.isTrue(Option.isNone(yield* next))
      const created = yield* writer.create(key, { holder: "one" })
      assert.strictEqual(Option.getOrThrow(yield* next).version, created.version)

      const reset = yield* proxy.resetAll
      assert.isAtLeast(reset, 1)
      const updated = yield* writer.update(created, { holder: "two" })
      let seen = yield* next
      while (Option.isSome(seen) && seen.value.version === created.version) seen = yield* next
      assert.strictEqual(Option.getOrThrow(seen).version, updated.version)
    }))

  it.effect("a watch outlives the server's watch timeout by resuming from the last resourceVersion", () =>
    Effect.gen(function*() {
      const watcher = yield* storeAs("admin", { watchReconnect: "1 second" })
      const writer = yield* storeAs("admin")
      const key = { namespace, name: `resume-${suffix()}` }
      const created = yield* writer.create(key, { holder: "one" })
      const states = yield* Stream.toQueue(watcher.watch(key), { capacity: "unbounded" })
      const next = Queue.take(states).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(Option.getOrThrow(yield* next).version, created.version)
      yield* Effect.sleep(Duration.millis(2_500))
      const updated = yield* writer.update(created, { holder: "two" })
      assert.strictEqual(Option.getOrThrow(yield* next).version, updated.version)
      yield* Effect.sleep(Duration.millis(1_500))
      yield* writer.remove(updated)
      assert.isTrue(Option.isNone(yield* next))
      assert.isTrue(Option.isNone(yield* Queue.poll(states)), "no repeated states after reconnects")
    }))
})

// Hole 7 of issue 11: a write keeps the whole object as read. Runs on "a cluster" (an existing one
// when named, else this file's control plane), as admin. `spec.strategy` / `spec.preferredHolder`
// are sent too, but kube-apiserver 1.20 (the local control plane) does not know them and drops
// them on create, so here they are only checked to be kept *as the server stored them*; that they
// survive the PUT body is pinned by the unit test packages/kubernetes/test/LeaseObject.test.ts.
// Its own namespaces: on an existing cluster the conformance suite's are still Terminating when
// this block starts (layers of consecutive blocks are built one after the other, not shared).
const fieldsNamespace = "leasekit-fields"
const clusterWithClient = Layer.provideMerge(
  Cluster.adminClient,
  Cluster.layer({ namespace: fieldsNamespace, controlPlane: ControlPlane.layer({ namespace: fieldsNamespace }) })
)

type Json = { readonly [field: string]: unknown }
const field = (value: unknown, name: string): unknown =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json)[name] : undefined

/** What leasekit does not model, as the API server stores it. */
const unmodelled = (lease: unknown) => {
  const metadata = field(lease, "metadata")
  const spec = field(lease, "spec")
  return {
    ownerReferences: field(metadata, "ownerReferences"),
    finalizers: field(metadata, "finalizers"),
    labels: field(metadata, "labels"),
    annotations: field(metadata, "annotations"),
    strategy: field(spec, "strategy"),
    preferredHolder: field(spec, "preferredHolder")
  }
}

/** The field managers named in `metadata.managedFields`. */
const managersOf = (lease: unknown): ReadonlyArray<unknown> => {
  const managedFields = field(field(lease, "metadata"), "managedFields")
  return Array.isArray(managedFields) ? managedFields.map((entry) => field(entry, "manager")) : []
}

/**
 * A lease owned by a ConfigMap, with a finalizer, labels and annotations, written by another field
 * manager; the finalizer is removed and both objects deleted when the test's scope closes.
 */
const foreignLease = (prefix: string) =>
  Effect.gen(function*() {
    const c = yield* Cluster.Cluster
    const ns = c.namespace
    const name = `${prefix}-${suffix()}`
    const owner = yield* c.request({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: `${name}-owner` } }
    })
    assert.strictEqual(owner.status, 201, owner.body)
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* c.request({
          method: "PATCH",
          path: leasePath(ns, name),
          body: { metadata: { finalizers: null } },
          contentType: "application/merge-patch+json"
        })
        yield* c.request({ method: "DELETE", path: leasePath(ns, name) })
        yield* c.request({ method: "DELETE", path: `/api/v1/namespaces/${ns}/configmaps/${name}-owner` })
      }).pipe(Effect.orDie)
    )
    const created = yield* c.request({
      method: "POST",
      path: `${leasePath(ns)}?fieldManager=someone-else`,
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: {
          name,
          labels: { app: "report" },
          annotations: { "example.com/note": "kept" },
          ownerReferences: [{
            apiVersion: "v1",
            kind: "ConfigMap",
            name: `${name}-owner`,
            uid: field(field(owner.json, "metadata"), "uid")
          }],
          finalizers: ["example.com/keep"]
        },
        spec: {
          holderIdentity: "holder-1",
          leaseDurationSeconds: 15,
          acquireTime: "2025-01-01T00:00:00.000000Z",
          renewTime: "2025-01-01T00:00:00.000000Z",
          leaseTransitions: 1,
          strategy: "OldestEmulationVersion",
          preferredHolder: "holder-2"
        }
      }
    })
    assert.strictEqual(created.status, 201, created.body)
    const stored = unmodelled(created.json)
    assert.lengthOf(stored.ownerReferences as ReadonlyArray<unknown>, 1)
    assert.deepStrictEqual(stored.finalizers, ["example.com/keep"])
    assert.include(managersOf(created.json), "someone-else")
    const read = Effect.map(c.request({ path: leasePath(ns, name) }), (r) => r.json)
    return { key: { namespace: ns, name }, stored, read }
  })

layer(clusterWithClient, { excludeTestServices: true, timeout: "4 minutes" })(
  "KubernetesLeaseStore keeps what it does not model",
  (it) => {
    it.effect("a renewal and a release keep ownerReferences, finalizers, labels and annotations", () =>
      Effect.gen(function*() {
        const store = KubernetesLeaseStore.make(yield* KubeClient.KubeClient)
        const lease = yield* foreignLease("keep")
        const record = Option.getOrThrow(yield* store.get(lease.key))

        const renewed = yield* store.update(record, { ...LeaseRecord.specOf(record), renewTime: 1_700_000_010_000 })
        assert.strictEqual(renewed.renewTime, 1_700_000_010_000)
        const afterRenewal = yield* lease.read
        assert.deepStrictEqual(unmodelled(afterRenewal), lease.stored)
        // The PUT leaves managedFields out, so the server keeps the stored entries.
        assert.include(managersOf(afterRenewal), "someone-else", "the other manager's managedFields are kept")

        const released = yield* store.update(renewed, {
          holder: "",
          durationSeconds: 1,
          acquireTime: 1_700_000_020_000,
          renewTime: 1_700_000_020_000,
          transitions: 1
        })
        assert.isFalse(LeaseRecord.isHeld(released))
        const afterRelease = yield* lease.read
        assert.deepStrictEqual(unmodelled(afterRelease), lease.stored)
        assert.include(managersOf(afterRelease), "someone-else")
      }))

    it.effect("writes from a watched or listed record keep them too", () =>
      Effect.gen(function*() {
        const store = KubernetesLeaseStore.make(yield* KubeClient.KubeClient)
        const lease = yield* foreignLease("keep-watched")
        const states = yield* Stream.toQueue(store.watch(lease.key), { capacity: "unbounded" })
        const watched = Option.getOrThrow(yield* Queue.take(states).pipe(Effect.timeout("10 seconds")))
        yield* store.update(watched, { ...LeaseRecord.specOf(watched), holder: "holder-2" })
        assert.deepStrictEqual(unmodelled(yield* lease.read), lease.stored)

        const listed = (yield* store.list(lease.key.namespace)).find((r) => r.key.name === lease.key.name)
        assert.isDefined(listed)
        yield* store.update(listed, { ...LeaseRecord.specOf(listed), holder: "holder-3" })
        const after = yield* lease.read
        assert.strictEqual(field(field(after, "spec"), "holderIdentity"), "holder-3")
        assert.deepStrictEqual(unmodelled(after), lease.stored)
      }))
  }
)

// A control plane whose API server watches etcd directly (no watch cache, so no bookmarks) and
// compacts etcd every second: a watch resumed from an old resourceVersion gets 410 Gone.
const compacting = ControlPlane.layer({
  namespace,
  apiserverArgs: ["--watch-cache=false", "--etcd-compaction-interval=1s"]
})

layer(compacting, { excludeTestServices: true, timeout: "4 minutes" })("KubernetesLeaseStore when etcd compacts", (it) => {
  it.effect("a watch whose resourceVersion was compacted away re-lists and goes on", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const watcher = yield* storeAs("admin", { watchReconnect: "1 second" })
      const writer = yield* storeAs("admin")
      const key = { namespace, name: `gone-${suffix()}` }
      const created = yield* writer.create(key, { holder: "one" })
      const states = yield* Stream.toQueue(watcher.watch(key), { capacity: "unbounded" })
      const next = Queue.take(states).pipe(Effect.timeout("15 seconds"))
      assert.strictEqual(Option.getOrThrow(yield* next).version, created.version)

      // Other writes move etcd on while the watched lease stays put; compaction then removes
      // the revision the watch would resume from.
      const noise = yield* writer.create({ namespace, name: `noise-${suffix()}` }, { holder: "n", transitions: 0 })
      let current = noise
      for (let i = 1; i <= 25; i++) {
        current = yield* writer.update(current, { holder: "n", transitions: i })
        yield* Effect.sleep("200 millis")
      }
      const updated = yield* writer.update(created, { holder: "two" })
      let seen = yield* next
      while (Option.isSome(seen) && seen.value.version === created.version) seen = yield* next
      assert.strictEqual(Option.getOrThrow(seen).version, updated.version)

      const lists = (yield* cp.auditEvents({ resource: "leases", verb: "list", namespace })).filter((event) =>
        event.requestURI.includes(encodeURIComponent(`metadata.name=${key.name}`)) && !event.requestURI.includes("watch=")
      )
      assert.isAtLeast(lists.length, 2, "the watch re-listed after 410 Gone")
    }))
})
