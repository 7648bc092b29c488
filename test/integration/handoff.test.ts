/**
 * Graceful handoff end to end on a real API server (issue 16), with lease durations of 3 s: a
 * holder hands the lease to a named successor among three waiting contenders, and it is that
 * successor that gets it, through its watch, in milliseconds; a successor that died meanwhile
 * holds the lease up for the handoff window only (then another waiter takes it, not before); a
 * waiter's `requestHandoff` is honoured by a leasekit holder; `leasekit handoff NAME --to ID`
 * against a `leasekit run` holder hands the lease to a waiting `leasekit run`, CMD stopped first;
 * `leasekit status` shows the pending handoff; labels from `LeaseOptions.labels` are on the Lease
 * (a label selector finds it).
 *
 * The kube-apiserver 1.20 of the local control plane drops `spec.preferredHolder` and
 * `spec.strategy` (coordinated leader election, 1.31+ behind a feature gate): everything here
 * runs on leasekit's annotations, which every API server keeps. The coordinated-election fields
 * are pinned by unit tests on the memory store and the wire format.
 *
 * Every contender has its own Kubernetes client, as separate processes would. Waits are bounded
 * and poll; timings are logged, and asserted only with generous bounds (the issue's "within 100 ms
 * in the common case" is what figure 8 of the benchmarks measures, median and p99).
 */
import { assert, layer } from "@effect/vitest"
import { LeaderElection, Lease, LeaseLostError, LeaseRecord, LeaseStore } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Exit, Fiber, Option, Ref, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { leaseObjects } from "./leaseObjects.ts"
import { admin, leasekit, makeTempDir, sh, start, waitFor, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-handoff"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { leasesPath, readLease } = leaseObjects(namespace)

/** A store with its own client (connections closed with the test's scope). */
const store = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  return KubernetesLeaseStore.make(yield* KubeClient.makeFromFile(cp.users.admin.kubeconfig))
})

/** Short timings: duration 3 s, renewals every second. */
const timing = {
  duration: Duration.seconds(3),
  renewInterval: Duration.seconds(1),
  renewDeadline: Duration.seconds(2)
}

/** `Lease.acquire` in the suite's namespace through its own store, held in the current scope. */
const acquire = (options: Omit<Lease.AcquireOptions, "namespace">) =>
  Effect.flatMap(store, (own) =>
    Lease.acquire({ namespace, ...timing, ...options }).pipe(Effect.provideService(LeaseStore.LeaseStore, own)))

/** Still waiting after `period`? (Joining with a timeout does not interrupt the fiber.) */
const stillWaiting = <A, E>(fiber: Fiber.Fiber<A, E>, period: Duration.Input) =>
  Fiber.join(fiber).pipe(Effect.timeoutOption(period), Effect.map(Option.isNone))

/** Milliseconds since `start` (a `performance.now()` instant). */
const since = (start: number) => Math.round(performance.now() - start)

/** Guarded work that runs until interrupted; `stopped` fails with why it was stopped. */
const guardForever = (held: HeldLease) =>
  Effect.gen(function*() {
    const fiber = yield* held.guard(Effect.never).pipe(Effect.flip, Effect.forkChild)
    return { stopped: Fiber.join(fiber) }
  })

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("Handoff on a real API server", (it) => {
  it.effect("a handoff to a named successor among three waiters goes to that successor, through its watch", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      for (let round = 0; round < 3; round++) {
        yield* Effect.scoped(Effect.gen(function*() {
          const name = `named-${suffix()}`
          const holder = yield* acquire({ name, holder: `holder-${round}` })
          const work = yield* guardForever(holder)
          const waiters = ["a", "b", "c"].map((id) => `waiter-${id}-${round}`)
          const fibers = yield* Effect.forEach(waiters, (id) => acquire({ name, holder: id }).pipe(Effect.forkChild))
          for (const fiber of fibers) assert.isTrue(yield* stillWaiting(fiber, "300 millis"), "every waiter waits while the lease is held")
          yield* Effect.sleep("700 millis") // every waiter has read the lease and watches it
          const chosen = round % 3
          const start = performance.now()
          yield* holder.handoff(waiters[chosen]!)
          const successor = yield* Fiber.join(fibers[chosen]!).pipe(Effect.timeout("5 seconds"))
          const ms = since(start)
          times.push(ms)
          assert.strictEqual(successor.holder, waiters[chosen])
          assert.strictEqual(successor.token, holder.token + 1, "the successor's token is the next one")
          const stopped = yield* work.stopped.pipe(Effect.timeout("1 second"))
          assert.instanceOf(stopped, LeaseLostError)
          assert.deepStrictEqual(stopped.reason, { _tag: "HandedOff", to: waiters[chosen]! }, "the holder's guarded work was stopped by the handoff")
          for (const [i, fiber] of fibers.entries()) {
            if (i !== chosen) assert.isTrue(yield* stillWaiting(fiber, "200 millis"), `${waiters[i]} still waits`)
          }
          const raw = yield* readLease(name)
          assert.strictEqual(raw?.spec.holderIdentity, waiters[chosen])
          const annotations = (raw?.metadata as { annotations?: Record<string, string> }).annotations ?? {}
          for (const annotation of Object.values(LeaseRecord.Annotations)) {
            assert.notProperty(annotations, annotation, "the successor's acquisition removed the handoff annotations")
          }
        }))
      }
      console.log(`handoff → named successor acquired (ms): ${times.join(", ")}`)
      for (const ms of times) assert.isBelow(ms, 2_000, `a handoff took ${ms} ms; the watch delivers it in milliseconds`)
    }))

  it.effect("a successor that died: another waiter takes the lease once the handoff window has passed, not before", () =>
    Effect.gen(function*() {
      const name = `dead-successor-${suffix()}`
      const windowMs = 3_000
      const holder = yield* acquire({ name, holder: "holder" })
      const successor = yield* acquire({ name, holder: "successor" }).pipe(Effect.forkChild)
      const other = yield* acquire({ name, holder: "other" }).pipe(Effect.forkChild)
      assert.isTrue(yield* stillWaiting(other, "1 second"))
      yield* Fiber.interrupt(successor) // the successor dies before the handoff
      const start = performance.now()
      yield* holder.handoff("successor")

      // `leasekit status` shows the lease reserved for the successor meanwhile.
      const status = yield* leasekit(["status", name, "-n", namespace, "-o", "json", ...(yield* admin)])
      assert.strictEqual(status.code, 0, status.stderr)
      const view = JSON.parse(status.stdout) as { state: string; handoff: { to: string; windowSeconds: number | null } | null }
      assert.strictEqual(view.state, "free")
      assert.strictEqual(view.handoff?.to, "successor")
      assert.strictEqual(view.handoff?.windowSeconds, 3, "the window defaults to the duration")

      const taken = yield* Fiber.join(other).pipe(Effect.timeout("15 seconds"))
      const ms = since(start)
      console.log(`successor dead: another waiter took the lease ${ms} ms after the handoff (window ${windowMs} ms)`)
      assert.strictEqual(taken.holder, "other")
      assert.isAtLeast(ms, windowMs - 50, "not before the window has passed")
      assert.isAtMost(ms, windowMs + 3_000, "soon after the window")
      assert.strictEqual(taken.token, holder.token + 1)
    }))

  it.effect("a waiter's requestHandoff is honoured by a leasekit holder: guarded work stopped, the lease handed to the waiter", () =>
    Effect.gen(function*() {
      const name = `request-${suffix()}`
      const holder = yield* acquire({ name, holder: "holder" })
      const work = yield* guardForever(holder)
      const service = yield* Lease.make.pipe(Effect.provideService(LeaseStore.LeaseStore, yield* store))
      const contender = yield* service.contender({ namespace, name, holder: "asker", ...timing })
      const waiting = yield* contender.acquire().pipe(Effect.forkChild)
      assert.isTrue(yield* stillWaiting(waiting, "500 millis"))
      const start = performance.now()
      const answer = yield* contender.requestHandoff
      assert.strictEqual(answer._tag, "Requested")
      assert.strictEqual(answer._tag === "Requested" ? answer.holder : undefined, "holder")
      const asked = yield* readLease(name)
      assert.strictEqual(
        (asked?.metadata as { annotations?: Record<string, string> }).annotations?.[LeaseRecord.Annotations.handoffRequest],
        "asker"
      )
      assert.strictEqual(asked?.spec.holderIdentity, "holder", "a request changes no spec field")

      const handed = yield* Fiber.join(waiting).pipe(Effect.timeout("10 seconds"))
      const ms = since(start)
      console.log(`requestHandoff → the asker holds the lease: ${ms} ms (renewInterval 1000)`)
      assert.strictEqual(handed.holder, "asker")
      assert.strictEqual(handed.token, holder.token + 1)
      assert.isAtMost(ms, 1_000 + 2_000, "at the holder's next renewal (and margin)")
      const stopped = yield* work.stopped.pipe(Effect.timeout("1 second"))
      assert.instanceOf(stopped, LeaseLostError)
      assert.deepStrictEqual(stopped.reason, { _tag: "HandedOff", to: "asker" })
    }))

  it.effect("leasekit handoff NAME --to ID: a `leasekit run` holder stops CMD, hands over to the waiting run, and exits 79", () =>
    Effect.gen(function*() {
      const dir = yield* makeTempDir("leasekit-handoff-")
      const name = `cli-${suffix()}`
      const flags = ["-n", namespace, "--duration", "3s", ...(yield* admin)]
      const stoppedFile = Path.join(dir, "first-stopped")
      const secondFile = Path.join(dir, "second")
      const first = yield* start(["run", name, "--holder", "first", ...flags, "--", ...sh(`trap 'echo stopped > ${stoppedFile}; exit 0' TERM; while :; do sleep 0.1; done`)])
      yield* waitFor(
        "the first run to hold the lease",
        Effect.map(readLease(name), (raw) => raw?.spec.holderIdentity?.startsWith("first_") === true)
      )
      const second = yield* start(["run", name, "--holder", "second", ...flags, "--", ...sh(`echo "$LEASEKIT_HOLDER" > ${secondFile}; sleep 30`)])
      yield* waitUntil("the second run to wait, naming itself", () => /waiting as "second_\w+"/.test(second.stderr()))
      const id = /waiting as "(second_\w+)"/.exec(second.stderr())![1]!

      const started = performance.now()
      const asked = yield* leasekit(["handoff", name, "--to", id, "-o", "json", ...flags.filter((f) => f !== "--duration" && f !== "3s")])
      assert.strictEqual(asked.code, 0, asked.stderr)
      const result = JSON.parse(asked.stdout) as { outcome: string; to: string; holder: string }
      assert.strictEqual(result.outcome, "requested")
      assert.strictEqual(result.to, id)
      assert.match(result.holder, /^first_/)

      const ended = yield* first.ended.pipe(Effect.timeout("15 seconds"))
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.include(ended.stderr, `asked to hand the lease over to "${id}"`)
      assert.include(ended.stderr, `handed lease ${namespace}/${name} over to "${id}"`)
      assert.isTrue(Fs.existsSync(stoppedFile), "CMD got SIGTERM before the handoff")
      yield* waitUntil("the second run's command to start", () => Fs.existsSync(secondFile) && Fs.readFileSync(secondFile, "utf8").trim() === id)
      console.log(`leasekit handoff → the waiting run's command started: ${since(started)} ms (duration 3 s)`)
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, id)

      const text = yield* leasekit(["handoff", name, "--to", id, ...flags.filter((f) => f !== "--duration" && f !== "3s")])
      assert.strictEqual(text.code, 0, text.stderr)
      assert.include(text.stdout, `is already held by "${id}"; nothing to do`)
      second.kill("SIGTERM")
      yield* second.ended.pipe(Effect.timeout("15 seconds"))
      const free = yield* leasekit(["handoff", name, "--to", "anyone", "-o", "json", ...flags.filter((f) => f !== "--duration" && f !== "3s")])
      assert.strictEqual(free.code, 0, free.stderr)
      assert.strictEqual((JSON.parse(free.stdout) as { outcome: string }).outcome, "free")
    }))

  it.effect("a leader whose health check fails steps down, another leads at once, and it leads again later in the same process", () =>
    Effect.gen(function*() {
      const name = `step-down-${suffix()}`
      const healthy = yield* Ref.make(true)
      /** An election through its own store (its own client), in the test's scope. */
      const elect = (holder: string, extra: Partial<LeaderElection.ElectionOptions> = {}) =>
        Effect.gen(function*() {
          const service = yield* Lease.make.pipe(Effect.provideService(LeaseStore.LeaseStore, yield* store))
          return yield* LeaderElection.make({ namespace, name, holder, ...timing, ...extra }, () => Effect.never).pipe(
            Effect.provideService(Lease.Lease, service)
          )
        })
      const statusOf = (election: LeaderElection.Election<unknown, unknown>) => Effect.map(election.status, (s) => s._tag)
      const a = yield* elect("a", {
        stepDown: { check: Ref.get(healthy), interval: "300 millis", failures: 2, coolDown: "2 seconds" }
      })
      yield* waitFor("a leads", Effect.map(statusOf(a), (tag) => tag === "Leading"), "10 seconds")
      const bScope = yield* Scope.make()
      const b = yield* elect("b").pipe(Scope.provide(bScope))
      yield* waitFor("b follows a", Effect.map(statusOf(b), (tag) => tag === "Following"), "10 seconds")

      yield* Ref.set(healthy, false)
      const start = performance.now()
      yield* waitFor("b leads once a stepped down", Effect.map(statusOf(b), (tag) => tag === "Leading"), "10 seconds")
      const ms = since(start)
      console.log(`step-down: b led ${ms} ms after a's check started failing (2 failures, 300 ms apart)`)
      assert.strictEqual(yield* statusOf(a), "SteppedDown", "a reports the step-down during its cool-down")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "b")
      assert.isBelow(ms, 3_000, "a released (b took over through its watch), it did not wait for the lease to expire")

      // a recovers and campaigns again after its cool-down; it leads again once b steps aside.
      yield* Ref.set(healthy, true)
      yield* waitFor("a campaigns again after its cool-down", Effect.map(statusOf(a), (tag) => tag === "Following"), "10 seconds")
      const current = yield* readLease(name)
      assert.strictEqual(current?.spec.holderIdentity, "b")
      yield* Scope.close(bScope, Exit.void) // b's election ends and releases
      yield* waitFor("a leads again, same process", Effect.map(statusOf(a), (tag) => tag === "Leading"), "15 seconds")
    }))

  it.effect("labels from LeaseOptions.labels are on the Lease: a label selector finds it", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `labelled-${suffix()}`
      const team = `team-${suffix()}`
      const held = yield* acquire({ name, labels: { "app.kubernetes.io/managed-by": "leasekit", team } })
      const listed = yield* cp.request({ path: `${leasesPath}?labelSelector=${encodeURIComponent(`team=${team}`)}` })
      assert.strictEqual(listed.status, 200, listed.body)
      const items = (listed.json as { items: ReadonlyArray<{ metadata: { name: string; labels?: Record<string, string> } }> }).items
      assert.deepStrictEqual(items.map((i) => i.metadata.name), [name])
      assert.strictEqual(items[0]!.metadata.labels?.["app.kubernetes.io/managed-by"], "leasekit")
      yield* Effect.sleep("1500 millis") // a renewal or two keep them
      const labels = (yield* readLease(name))?.metadata["labels"] as Record<string, string> | undefined
      assert.strictEqual(labels?.["team"], team)
      assert.isTrue(yield* held.isHeld)
    }))
})
