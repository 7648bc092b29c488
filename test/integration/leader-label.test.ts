/**
 * Leader-only routing (`LeaderLabel`) on a real API server: Pod objects created by the test (no
 * kubelet: they stay Pending, which is all the label needs), two contenders each labelling its own
 * pod through `LeaderElection.make` + `LeaderLabel.wrap`. Checked: the label is on the leader's pod
 * only; on a graceful release it is gone before the successor acquires (read back at the
 * successor's `Acquired` event); with the leader's lease connection blackholed (fault proxy; its
 * label client direct) it is removed before the successor acquires; with both of the leader's
 * connections blackholed the successor removes the stale label before labelling itself, and no
 * polled instant shows two labelled pods whose processes both believe they lead; a missing
 * `patch pods` permission, a wrong POD_NAME and a missing POD_NAME are clear errors at start.
 *
 * Runs on the local control plane (the fault proxy needs it). Short lease timings: duration 6 s,
 * renew every 1 s, deadline 4 s, retry 0.5 s (requests 0.5 s; label threshold 2.5 s).
 */
import { assert, layer } from "@effect/vitest"
import { LeaderElection, Lease, LeaseStore } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore, LeaderLabel } from "@leasekit/kubernetes"
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { ConfigProvider, Duration, Effect, Fiber, Layer, Option, Ref, Schedule, Scope, Stream } from "effect"
import * as Path from "node:path"

const namespace = "leasekit-label"
const controlPlane = ControlPlane.layer({ namespace })
const label = LeaderLabel.defaultLabel
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const timing = { duration: "6 seconds", renewInterval: "1 second", renewDeadline: "4 seconds", retryPeriod: "500 millis" } as const

/** Creates a Pod object (and the namespace's default ServiceAccount the admission plugin wants). */
const createPod = (name: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const sa = yield* cp.request({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
      body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default" } }
    })
    assert.include([201, 409], sa.status, sa.body)
    const response = yield* cp.request({
      method: "POST",
      path: `/api/v1/namespaces/${namespace}/pods`,
      body: {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, labels: { app: "label-test" } },
        spec: { automountServiceAccountToken: false, containers: [{ name: "app", image: "leasekit-test:none" }] }
      }
    })
    assert.strictEqual(response.status, 201, response.body)
  })

/** Whether the pod carries the leader label now (a quorum read as admin). */
const labelled = (pod: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const response = yield* cp.request({ path: `/api/v1/namespaces/${namespace}/pods/${pod}` })
    assert.strictEqual(response.status, 200, response.body)
    const labels = (response.json as { metadata: { labels?: Record<string, string> } }).metadata.labels ?? {}
    return labels[label] === "true"
  })

/** The pods carrying the leader label, from one list (one consistent read). */
const labelledPods = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  const response = yield* cp.request({
    path: `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(`${label}=true`)}`
  })
  assert.strictEqual(response.status, 200, response.body)
  return (response.json as { items: ReadonlyArray<{ metadata: { name: string } }> }).items.map((pod) => pod.metadata.name)
})

/** Waits (bounded) until `check` holds. */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, within: Duration.Input = "20 seconds") =>
  check.pipe(
    Effect.flatMap((ok) => ok ? Effect.void : Effect.fail(`not yet: ${what}`)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutOrElse({ duration: within, orElse: () => Effect.die(new Error(`timed out waiting until ${what}`)) })
  )

interface Contender {
  readonly election: LeaderElection.Election<never, never>
  /** The lease of the term in progress, once leading. */
  readonly lease: Ref.Ref<Option.Option<HeldLease>>
  /** Whether this process believes it leads now. */
  readonly leads: Effect.Effect<boolean>
  readonly scope: Scope.Closeable
}

/**
 * A contender in a scope of its own: its lease store through `storeKubeconfig`, its label client
 * through `labelKubeconfig` (none: no label), labelling pod `pod`.
 */
const contender = (leaseName: string, pod: string, storeKubeconfig: string, labelKubeconfig: string | undefined) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const lease = yield* Ref.make(Option.none<HeldLease>())
    const storeClient = yield* KubeClient.makeFromFile(storeKubeconfig).pipe(Scope.provide(scope))
    const store = KubernetesLeaseStore.make(storeClient)
    const work = (held: HeldLease) => Effect.andThen(Ref.set(lease, Option.some(held)), Effect.never)
    const options = { namespace, name: leaseName, holder: `holder-${pod}`, ...timing }
    const election = labelKubeconfig === undefined
      ? yield* LeaderElection.make(options, work).pipe(
        Effect.provideServiceEffect(Lease.Lease, Lease.make),
        Effect.provideService(LeaseStore.LeaseStore, store),
        Scope.provide(scope)
      )
      : yield* Effect.gen(function*() {
        const labelClient = yield* KubeClient.makeFromFile(labelKubeconfig)
        const service = yield* LeaderLabel.make({ pod: { name: pod, namespace } }).pipe(
          Effect.provideService(KubeClient.KubeClient, labelClient)
        )
        return yield* LeaderElection.make(options, LeaderLabel.wrap(work)).pipe(
          Effect.provideService(LeaderLabel.LeaderLabel, service),
          Effect.provideServiceEffect(Lease.Lease, Lease.make),
          Effect.provideService(LeaseStore.LeaseStore, store)
        )
      }).pipe(Scope.provide(scope))
    const leads = Effect.flatMap(Ref.get(lease), Option.match({ onNone: () => Effect.succeed(false), onSome: (l) => l.isHeld }))
    return { election, lease, leads, scope } satisfies Contender
  })

const status = (c: Contender) => Effect.map(c.election.status, (s) => s._tag)

/** Reads pod `pod` at the first `Acquired` event of `c`: whether it was labelled then. */
const labelAtAcquisition = (c: Contender, pod: string) =>
  c.election.events.pipe(
    Stream.filter((event) => event._tag === "Acquired"),
    Stream.take(1),
    Stream.mapEffect(() => labelled(pod)),
    Stream.runHead,
    Effect.map(Option.getOrThrow),
    Effect.forkChild
  )

layer(controlPlane, { excludeTestServices: true, timeout: "4 minutes" })("LeaderLabel on a real API server", (it) => {
  it.effect("the label is on the leader's pod only", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `label-${suffix()}`
      const [podA, podB] = [`a-${suffix()}`, `b-${suffix()}`]
      yield* createPod(podA)
      yield* createPod(podB)
      const admin = cp.users.admin.kubeconfig
      const a = yield* contender(name, podA, admin, admin)
      yield* eventually("a leads and its pod is labelled", Effect.zipWith(a.leads, labelled(podA), (x, y) => x && y))
      const b = yield* contender(name, podB, admin, admin)
      yield* eventually("b follows", Effect.map(status(b), (s) => s === "Following"))
      // Stays so across several renewals.
      for (let i = 0; i < 10; i++) {
        yield* Effect.sleep("300 millis")
        assert.isTrue(yield* labelled(podA))
        assert.isFalse(yield* labelled(podB))
      }
      yield* Scope.close(a.scope, Effect.void as never)
      yield* eventually("b leads and only its pod is labelled", Effect.all([b.leads, labelled(podB), Effect.map(labelled(podA), (x) => !x)]).pipe(Effect.map((xs) => xs.every(Boolean))))
      yield* Scope.close(b.scope, Effect.void as never)
      assert.isFalse(yield* labelled(podB), "removed before b's release was written")
    }))

  it.effect("graceful release: the label is gone before the successor acquires", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `label-${suffix()}`
      const [podA, podB] = [`a-${suffix()}`, `b-${suffix()}`]
      yield* createPod(podA)
      yield* createPod(podB)
      const admin = cp.users.admin.kubeconfig
      const a = yield* contender(name, podA, admin, admin)
      yield* eventually("a labelled", labelled(podA))
      // b takes no label of its own: only a's own removal can take a's label off.
      const b = yield* contender(name, podB, admin, undefined)
      const seen = yield* labelAtAcquisition(b, podA)
      yield* Effect.sleep("200 millis")
      yield* Scope.close(a.scope, Effect.void as never)
      assert.isFalse(yield* Fiber.join(seen).pipe(Effect.timeout("10 seconds")), "a's pod was still labelled when b acquired")
      yield* Scope.close(b.scope, Effect.void as never)
    }))

  it.effect("the leader's lease connection blackholed: its label is removed before the successor acquires", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const viaProxy = yield* cp.writeKubeconfig({ user: "admin", server: proxy.url, path: Path.join(cp.dir, `proxy-${suffix()}`) })
      const name = `label-${suffix()}`
      const [podA, podB] = [`a-${suffix()}`, `b-${suffix()}`]
      yield* createPod(podA)
      yield* createPod(podB)
      const admin = cp.users.admin.kubeconfig
      const a = yield* contender(name, podA, viaProxy, admin)
      yield* eventually("a labelled", labelled(podA))
      const b = yield* contender(name, podB, admin, undefined)
      const seen = yield* labelAtAcquisition(b, podA)
      yield* proxy.blackhole(true)
      const cut = Date.now()
      yield* eventually("a's label removed", Effect.map(labelled(podA), (x) => !x), "10 seconds")
      const removedAfter = Date.now() - cut
      assert.isBelow(removedAfter, 4_000, "removed before a's loss deadline (4 s after its last renewal)")
      assert.isFalse(yield* Fiber.join(seen).pipe(Effect.timeout("20 seconds")), "a's pod was still labelled when b acquired")
      yield* proxy.blackhole(false)
      yield* Scope.close(b.scope, Effect.void as never)
      yield* Scope.close(a.scope, Effect.void as never)
    }))

  it.effect("both of the leader's connections blackholed: the successor removes the stale label before labelling itself", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const viaProxy = yield* cp.writeKubeconfig({ user: "admin", server: proxy.url, path: Path.join(cp.dir, `proxy-${suffix()}`) })
      const name = `label-${suffix()}`
      const [podA, podB] = [`a-${suffix()}`, `b-${suffix()}`]
      yield* createPod(podA)
      yield* createPod(podB)
      const admin = cp.users.admin.kubeconfig
      const a = yield* contender(name, podA, viaProxy, viaProxy)
      yield* eventually("a labelled", labelled(podA))
      const b = yield* contender(name, podB, admin, admin)
      // Samples: [a labelled, b labelled, a believes it leads, b believes it leads].
      const samples: Array<readonly [boolean, boolean, boolean, boolean]> = []
      // One list answers both pods' labels at one instant (one resourceVersion).
      const sampler = yield* Effect.all([labelledPods, a.leads, b.leads]).pipe(
        Effect.map(([pods, aLeads, bLeads]) => [pods.includes(podA), pods.includes(podB), aLeads, bLeads] as const),
        Effect.tap((sample) => Effect.sync(() => samples.push(sample))),
        Effect.repeat(Schedule.spaced("20 millis")),
        Effect.forkChild
      )
      yield* proxy.blackhole(true)
      yield* eventually("b leads and only b's pod is labelled", Effect.all([b.leads, labelled(podB), Effect.map(labelled(podA), (x) => !x)]).pipe(Effect.map((xs) => xs.every(Boolean))), "30 seconds")
      yield* Effect.sleep("500 millis")
      yield* Fiber.interrupt(sampler)
      assert.isAbove(samples.length, 50)
      assert.isTrue(samples.some(([aL, , aLeads]) => aL && !aLeads), "a's label outlived a's belief (it could not remove it)")
      const both = samples.filter(([aL, bL, aLeads, bLeads]) => aL && bL && aLeads && bLeads)
      assert.deepStrictEqual(both, [], "two labelled pods that both believed they lead")
      assert.deepStrictEqual(samples.filter(([aL, bL]) => aL && bL), [], "two labelled pods at once")
      yield* proxy.blackhole(false)
      yield* Scope.close(b.scope, Effect.void as never)
      yield* Scope.close(a.scope, Effect.void as never)
    }))

  it.effect("a missing `patch pods` permission, a wrong POD_NAME and a missing POD_NAME are clear errors at start", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const pod = `a-${suffix()}`
      yield* createPod(pod)
      const restricted = yield* KubeClient.makeFromFile(cp.users.restricted.kubeconfig)
      const forbidden = yield* Effect.flip(
        LeaderLabel.make({ pod: { name: pod, namespace } }).pipe(Effect.provideService(KubeClient.KubeClient, restricted))
      )
      assert.strictEqual(forbidden.reason, "Forbidden")
      assert.include(forbidden.message, "may not patch pods")
      assert.include(forbidden.message, `${namespace}/${pod}`)
      assert.include(forbidden.message, "rbac/lease-role.yaml")

      const admin = yield* KubeClient.makeFromFile(cp.users.admin.kubeconfig)
      const env = (vars: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(vars))
      const missing = yield* Effect.flip(
        LeaderLabel.make().pipe(Effect.provideService(KubeClient.KubeClient, admin), Effect.provide(env({})))
      )
      assert.strictEqual(missing.reason, "PodUnknown")
      assert.include(missing.message, "POD_NAME")
      const wrong = yield* Effect.flip(
        LeaderLabel.make().pipe(
          Effect.provideService(KubeClient.KubeClient, admin),
          Effect.provide(env({ POD_NAME: "no-such-pod", POD_NAMESPACE: namespace }))
        )
      )
      assert.strictEqual(wrong.reason, "PodNotFound")
      assert.include(wrong.message, `${namespace}/no-such-pod does not exist`)
      const fine = yield* LeaderLabel.make().pipe(
        Effect.provideService(KubeClient.KubeClient, admin),
        Effect.provide(env({ POD_NAME: pod, POD_NAMESPACE: namespace }))
      )
      assert.deepStrictEqual(fine.pod, { name: pod, namespace })
      assert.isFalse(yield* labelled(pod), "the check changed nothing (dry run)")
    }))

  it.effect("LeaderElection.layer with LeaderLabel.layer fails at build when the permission is missing", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const pod = `a-${suffix()}`
      yield* createPod(pod)
      const app = LeaderElection.layer({ namespace, name: `label-${suffix()}`, ...timing }, LeaderLabel.wrap(() => Effect.never)).pipe(
        Layer.provide([LeaderLabel.layer({ pod: { name: pod, namespace } }), KubernetesLeaseStore.layer()]),
        Layer.provide(KubeClient.layerFromFile(cp.users.restricted.kubeconfig))
      )
      const error = yield* Effect.flip(Layer.build(app))
      assert.strictEqual((error as LeaderLabel.LeaderLabelError).reason, "Forbidden")
    }))
})
