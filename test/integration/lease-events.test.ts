/**
 * Leadership Events (`LeaseEvents`) on a real API server: a contender acquires, loses the lease to
 * a takeover (an admin writes another holder), acquires again and releases; the Events listed with
 * `GET /api/v1/namespaces/NS/events?fieldSelector=involvedObject.name=NAME` (what `kubectl get
 * events` reads) say so, on the Lease (kind, apiVersion, uid). An identity without `create events`
 * holds and releases its lease as usual; its Events are dropped and counted in
 * `leasekit_events_dropped_total`.
 */
import { assert, layer } from "@effect/vitest"
import { Lease, LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore, LeaseEvents } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Metric, Schedule } from "effect"

const namespace = "leasekit-events"
const controlPlane = ControlPlane.layer({ namespace })
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const timing = { duration: "6 seconds", renewInterval: "1 second", renewDeadline: "4 seconds", retryPeriod: "500 millis" } as const

interface Event {
  readonly reason: string
  readonly message: string
  readonly type: string
  readonly count: number
  readonly source: { readonly component: string }
  readonly involvedObject: { readonly kind: string; readonly apiVersion: string; readonly name: string; readonly uid?: string }
}

const eventsOf = (name: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const response = yield* cp.request({
      path: `/api/v1/namespaces/${namespace}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`
    })
    assert.strictEqual(response.status, 200, response.body)
    return (response.json as { items: ReadonlyArray<Event> }).items
  })

const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>, within: Duration.Input = "20 seconds") =>
  check.pipe(
    Effect.flatMap((ok) => ok ? Effect.void : Effect.fail(`not yet: ${what}`)),
    Effect.retry(Schedule.spaced("100 millis")),
    Effect.timeoutOrElse({ duration: within, orElse: () => Effect.die(new Error(`timed out waiting until ${what}`)) })
  )

const contenderAs = (user: ControlPlane.UserName, name: string, holder: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const client = yield* KubeClient.makeFromFile(cp.users[user].kubeconfig)
    const self = yield* Lease.contender({ namespace, name, holder, ...timing }).pipe(
      Effect.provideServiceEffect(Lease.Lease, Lease.make),
      Effect.provideService(LeaseStore.LeaseStore, KubernetesLeaseStore.make(client))
    )
    yield* LeaseEvents.record(self).pipe(Effect.provideService(KubeClient.KubeClient, client))
    return self
  })

layer(controlPlane, { excludeTestServices: true, timeout: "4 minutes" })("LeaseEvents on a real API server", (it) => {
  it.effect("acquire, loss to a takeover and release are listed as Events on the Lease", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `events-${suffix()}`
      const self = yield* contenderAs("admin", name, "holder-a")
      const first = yield* self.acquire()
      // Taken over: an admin writes another holder into the record.
      const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`
      const current = yield* cp.request({ path })
      const lease = current.json as { metadata: Record<string, unknown>; spec: Record<string, unknown> }
      const taken = yield* cp.request({
        method: "PUT",
        path,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", leaseTransitions: first.token + 1 } }
      })
      assert.strictEqual(taken.status, 200, taken.body)
      yield* Effect.flip(first.lost).pipe(Effect.timeout("10 seconds"))
      // Free again: the intruder releases (clears the holder).
      const now = yield* cp.request({ path })
      const after = now.json as { metadata: Record<string, unknown>; spec: Record<string, unknown> }
      const cleared = yield* cp.request({
        method: "PUT",
        path,
        body: { ...after, spec: { ...after.spec, holderIdentity: "", leaseDurationSeconds: 1 } }
      })
      assert.strictEqual(cleared.status, 200, cleared.body)
      yield* self.acquire()
      yield* self.release
      yield* eventually("four Events", Effect.map(eventsOf(name), (events) => events.length >= 4))
      const events = [...(yield* eventsOf(name))]
      const messages = events.map((e) => e.message)
      assert.deepStrictEqual(messages.toSorted(), [
        "holder-a became leader",
        "holder-a became leader",
        "holder-a stopped leading: released",
        "holder-a stopped leading: taken over by \"intruder\""
      ])
      const uid = (lease.metadata as { uid: string }).uid
      for (const event of events) {
        assert.strictEqual(event.reason, "LeaderElection")
        assert.strictEqual(event.involvedObject.kind, "Lease")
        assert.strictEqual(event.involvedObject.apiVersion, "coordination.k8s.io/v1")
        assert.strictEqual(event.involvedObject.uid, uid)
        assert.strictEqual(event.source.component, "leasekit")
        assert.strictEqual(event.count, 1)
      }
      assert.strictEqual(events.find((e) => e.message.includes("intruder"))?.type, "Warning")
    }))

  it.effect("without `create events` the lease works as usual; the Events are dropped and counted", () =>
    Effect.gen(function*() {
      const name = `events-${suffix()}`
      const dropped = Effect.map(Metric.snapshot, (snapshots) =>
        snapshots.filter((s) =>
          s.id === "leasekit_events_dropped_total" && s.attributes?.["lease.name"] === name &&
          s.attributes?.["reason"] === "forbidden"
        ).reduce((sum, s) => sum + Number((s.state as { count: number }).count), 0))
      const self = yield* contenderAs("restricted", name, "holder-r")
      const held = yield* self.acquire()
      assert.isTrue(yield* held.isHeld)
      yield* self.release
      yield* eventually("two Events dropped", Effect.map(dropped, (n) => n >= 2))
      assert.deepStrictEqual(yield* eventsOf(name), [])
    }))
})
