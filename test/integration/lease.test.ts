/**
 * The lease algorithm end to end on a real API server, with lease durations of a few seconds:
 * acquire, watch-driven handover on release, renewal across several durations, expiry after the
 * holder *process* is SIGKILLed, loss when an admin overwrites or deletes the record with
 * kubectl (and no loss when kubectl only labels it), fencing tokens, the restricted user
 * (get/create/update only) polling through the whole cycle, the record's fields compared with
 * what client-go's LeaseLock writes, and `kubectl get lease -A` showing our holder.
 *
 * Runs on "a cluster" (`./cluster.ts`): an existing one when `LEASEKIT_TEST_KUBECONFIG` or
 * `KUBECONFIG` names it, else a local control plane. Every contender has its own Kubernetes
 * client, as separate processes would. Waits poll a condition and are bounded; the only fixed
 * waits give a contender time to block before a test checks that it did.
 */
import { assert, layer } from "@effect/vitest"
import { Lease, LeaseAcquisitionError, LeaseLostError, LeaseStore } from "@leasekit/core"
import type { HeldLease } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Duration, Effect, Fiber, Option, Schedule, Stream } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as Cluster from "./cluster.ts"

const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/

interface RawLease {
  readonly metadata: {
    readonly name: string
    readonly namespace: string
    readonly resourceVersion: string
    readonly labels?: Record<string, string>
  }
  readonly spec: {
    readonly holderIdentity?: string
    readonly leaseDurationSeconds?: number
    readonly acquireTime?: string
    readonly renewTime?: string
    readonly leaseTransitions?: number
  }
}

/** A store with its own client (connections closed with the test's scope), as admin or restricted. */
const storeAs = (user: "admin" | "restricted" = "admin") =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    const kubeconfig = user === "admin" ? cluster.kubeconfig : Option.getOrThrow(cluster.restrictedKubeconfig)
    const client = yield* KubeClient.makeFromFile(kubeconfig)
    return KubernetesLeaseStore.make(client)
  })

/** `Lease.acquire` in the suite's namespace through `store`, held in the current scope. */
const acquire = (store: LeaseStore.LeaseStoreService, options: Omit<Lease.AcquireOptions, "namespace">) =>
  Effect.flatMap(Cluster.Cluster, (cluster) =>
    Lease.acquire({ namespace: cluster.namespace, ...options }).pipe(
      Effect.provideService(LeaseStore.LeaseStore, store)
    ))

/** The Lease as the API server has it (plain GET as admin); `undefined` when absent. */
const readLease = (name: string) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    const response = yield* cluster.request({
      path: `/apis/coordination.k8s.io/v1/namespaces/${cluster.namespace}/leases/${name}`
    })
    if (response.status === 404) return undefined
    assert.strictEqual(response.status, 200, response.body)
    return response.json as RawLease
  })

/** `kubectl args…` as admin; fails the test unless it exits 0. */
const kubectl = (args: ReadonlyArray<string>, stdin?: string) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    const result = yield* cluster.kubectl(args, { stdin })
    assert.strictEqual(result.code, 0, `kubectl ${args.join(" ")}: ${result.stderr}`)
    return result.stdout
  })

/** The Lease read raw with `kubectl get lease -o json`. */
const kubectlLease = (name: string) =>
  Effect.flatMap(Cluster.Cluster, (cluster) =>
    kubectl(["get", "lease", name, "-n", cluster.namespace, "-o", "json"]).pipe(
      Effect.map((out) => JSON.parse(out) as RawLease)
    ))

/** Polls `condition` every 100 ms until it holds; fails the test after `timeout`. */
const waitFor = <E, R>(what: string, condition: Effect.Effect<boolean, E, R>, timeout: Duration.Input = "20 seconds") =>
  condition.pipe(
    Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }),
    Effect.asVoid
  )

/** Still waiting after `period`? (Joining with a timeout does not interrupt the fiber.) */
const stillWaiting = <A, E>(fiber: Fiber.Fiber<A, E>, period: Duration.Input) =>
  Fiber.join(fiber).pipe(Effect.timeoutOption(period), Effect.map(Option.isNone))

/** Milliseconds since `start` (a `performance.now()` instant). */
const since = (start: number) => Math.round(performance.now() - start)

interface HolderProcess {
  readonly holder: string
  readonly token: number
  readonly pid: number
  readonly kill: (signal: NodeJS.Signals) => void
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

const holdLeaseScript = Path.join(import.meta.dirname, "fixtures", "hold-lease.ts")

/**
 * Starts `fixtures/hold-lease.ts` as its own Node process and waits (bounded) until it holds the
 * lease. SIGKILLed when the scope closes if still running.
 */
const spawnHolder = (name: string, durationSeconds: number) =>
  Effect.gen(function*() {
    const cluster = yield* Cluster.Cluster
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(
          process.execPath,
          [holdLeaseScript, cluster.kubeconfig, cluster.namespace, name, String(durationSeconds)],
          { stdio: ["ignore", "pipe", "pipe"] }
        )
      ),
      (child) => Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal }))
    )
    yield* waitFor(
      "the holder process to print its token",
      Effect.sync(() => stdout.includes("\n") || child.exitCode !== null),
      "60 seconds"
    )
    const line = JSON.parse(stdout.split("\n")[0]!) as { holder?: string; token?: number; pid?: number }
    assert.isString(line.holder, `holder process: ${stdout} ${stderr}`)
    return {
      holder: line.holder!,
      token: line.token!,
      pid: child.pid!,
      kill: (signal) => void child.kill(signal),
      exited: Effect.promise(() => exit)
    } satisfies HolderProcess
  })

/** A guarded piece of work that runs until interrupted, and a flag telling whether it was. */
const guardForever = (held: HeldLease) =>
  Effect.gen(function*() {
    let interrupted = false
    const fiber = yield* held.guard(Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))))
      .pipe(Effect.flip, Effect.forkChild)
    return { fiber, interrupted: () => interrupted }
  })

layer(Cluster.layer({ namespace: "leasekit-lease", restricted: true }), {
  excludeTestServices: true,
  timeout: "4 minutes"
})("Lease on a real API server", (it) => {
  it.effect("acquires an absent lease by creating it: our holder, the duration, token 0", () =>
    Effect.gen(function*() {
      const store = yield* storeAs()
      const name = `absent-${suffix()}`
      assert.isUndefined(yield* readLease(name))
      const held = yield* acquire(store, { name, duration: "3 seconds" })
      assert.strictEqual(held.token, 0)
      assert.isTrue(yield* held.isHeld)
      const raw = yield* readLease(name)
      assert.strictEqual(raw?.spec.holderIdentity, held.holder)
      assert.strictEqual(raw?.spec.leaseDurationSeconds, 3)
      assert.strictEqual(raw?.spec.leaseTransitions, 0)
    }))

  it.effect("a blocked contender gets the lease within milliseconds of a graceful release (watch, not a poll)", () =>
    Effect.gen(function*() {
      const name = `handover-${suffix()}`
      // retryPeriod 2.5 s: a contender that polled would wait up to that long; the lease's own
      // expiry (4 s after the last renewal) is further still. Only the watch explains a fast handover.
      const options = {
        name,
        duration: Duration.seconds(4),
        renewInterval: Duration.seconds(1),
        renewDeadline: Duration.seconds(3),
        retryPeriod: Duration.millis(2500)
      }
      const stores = [yield* storeAs(), yield* storeAs()] as const
      let holder = yield* acquire(stores[0], options)
      const handovers: Array<number> = []
      for (let round = 1; round <= 3; round++) {
        const waiter = yield* acquire(stores[round % 2]!, options).pipe(Effect.forkChild)
        assert.isTrue(yield* stillWaiting(waiter, "1500 millis"), `round ${round}: the contender waits while the lease is held`)
        const start = performance.now()
        yield* holder.release
        const next = yield* Fiber.join(waiter).pipe(Effect.timeout("10 seconds"))
        handovers.push(since(start))
        assert.strictEqual(next.token, holder.token + 1, "a new holder gets the next token")
        holder = next
      }
      console.log(`handover after release (ms): ${handovers.join(", ")} (retryPeriod 2500)`)
      for (const ms of handovers) assert.isBelow(ms, 750, `handover took ${ms} ms; a poll would take up to 2500 ms`)
    }))

  it.effect("renewals keep the lease across several durations while another contender waits", () =>
    Effect.gen(function*() {
      const name = `renew-${suffix()}`
      const held = yield* acquire(yield* storeAs(), { name, duration: "2 seconds" })
      const first = (yield* readLease(name))!
      const started = Date.now()
      const waited = yield* Effect.flip(acquire(yield* storeAs(), { name, duration: "2 seconds", timeout: "7 seconds" }))
      assert.instanceOf(waited, LeaseAcquisitionError)
      assert.strictEqual(waited.reason._tag, "Timeout", waited.message)
      assert.strictEqual(waited.reason._tag === "Timeout" ? waited.reason.holder : undefined, held.holder)
      assert.isAtLeast(Date.now() - started, 6_500, "the contender waited out its whole timeout (3.5 durations)")

      assert.isTrue(yield* held.isHeld, "still held after 3.5 durations")
      const last = (yield* readLease(name))!
      assert.strictEqual(last.spec.holderIdentity, held.holder)
      assert.strictEqual(last.spec.acquireTime, first.spec.acquireTime, "a renewal keeps acquireTime")
      assert.strictEqual(last.spec.leaseTransitions, first.spec.leaseTransitions, "a renewal keeps the token")
      const renewedFor = Date.parse(last.spec.renewTime!) - Date.parse(first.spec.renewTime!)
      assert.isAtLeast(renewedFor, 5_000, "renewTime moved on with the renewals")
      assert.isAtMost(Date.now() - Date.parse(last.spec.renewTime!), 1_500, "the last renewal is recent")
    }))

  it.effect("after the holder process is SIGKILLed, a contender takes over once the duration has passed, not before", () =>
    Effect.gen(function*() {
      const name = `sigkill-${suffix()}`
      const durationMs = 3_000
      const victim = yield* spawnHolder(name, durationMs / 1000)
      assert.strictEqual(victim.token, 0)
      const contender = yield* acquire(yield* storeAs(), { name, duration: "3 seconds" }).pipe(Effect.forkChild)
      assert.isTrue(yield* stillWaiting(contender, "1500 millis"), "the contender waits while the process renews")

      victim.kill("SIGKILL")
      const killedAt = performance.now()
      const exited = yield* victim.exited
      assert.strictEqual(exited.signal, "SIGKILL")
      // A renewal already on the wire may still land: read until two reads 300 ms apart agree.
      let settled = (yield* readLease(name))!
      while (true) {
        yield* Effect.sleep("300 millis")
        const again = (yield* readLease(name))!
        if (again.metadata.resourceVersion === settled.metadata.resourceVersion) break
        settled = again
      }
      assert.strictEqual(settled.spec.holderIdentity, victim.holder, "the dead process still names itself")
      const lastRenewal = Date.parse(settled.spec.renewTime!)

      const held = yield* Fiber.join(contender).pipe(Effect.timeout("15 seconds"))
      const afterKill = since(killedAt)
      const afterLastRenewal = Date.now() - lastRenewal
      console.log(`takeover ${afterKill} ms after SIGKILL, ${afterLastRenewal} ms after the last renewal (duration ${durationMs})`)
      assert.isAtLeast(afterLastRenewal, durationMs - 50, "not before the record was unchanged for the duration")
      assert.isAtMost(afterKill, durationMs + 3_000, "soon after the duration passed")
      assert.strictEqual(held.token, victim.token + 1)
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, held.holder)
    }))

  it.effect("an admin overwriting the holder with kubectl patch: lost fails with Taken, guarded work is interrupted", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.Cluster
      const name = `patched-${suffix()}`
      yield* Effect.scoped(Effect.gen(function*() {
        const held = yield* acquire(yield* storeAs(), { name, duration: "3 seconds" })
        const work = yield* guardForever(held)
        yield* kubectl([
          "patch",
          "lease",
          name,
          "-n",
          cluster.namespace,
          "--type",
          "merge",
          "-p",
          `{"spec":{"holderIdentity":"intruder"}}`
        ])
        const start = performance.now()
        const lost = yield* Effect.flip(held.lost).pipe(Effect.timeout("10 seconds"))
        assert.isAtMost(since(start), 1_000 + 2_000, "noticed at the next renewal")
        assert.instanceOf(lost, LeaseLostError)
        assert.deepStrictEqual(lost.reason, { _tag: "Taken", by: "intruder" })
        const stopped = yield* Fiber.join(work.fiber).pipe(Effect.timeout("5 seconds"))
        assert.instanceOf(stopped, LeaseLostError, "guard fails with the loss")
        assert.isTrue(work.interrupted(), "the guarded work was interrupted")
        assert.isFalse(yield* held.isHeld)
      }))
      // Closing the scope released nothing: the lease is the intruder's.
      const raw = yield* kubectlLease(name)
      assert.strictEqual(raw.spec.holderIdentity, "intruder")
    }))

  it.effect("an admin deleting the lease with kubectl: lost fails with Deleted", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.Cluster
      const name = `deleted-${suffix()}`
      const held = yield* acquire(yield* storeAs(), { name, duration: "3 seconds" })
      const work = yield* guardForever(held)
      yield* kubectl(["delete", "lease", name, "-n", cluster.namespace])
      const lost = yield* Effect.flip(held.lost).pipe(Effect.timeout("10 seconds"))
      assert.instanceOf(lost, LeaseLostError)
      assert.strictEqual(lost.reason._tag, "Deleted", lost.message)
      assert.instanceOf(yield* Fiber.join(work.fiber).pipe(Effect.timeout("5 seconds")), LeaseLostError)
      assert.isTrue(work.interrupted())
    }))

  it.effect("a label added with kubectl label is not a loss: renewals go on and keep the label", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.Cluster
      const name = `labelled-${suffix()}`
      const held = yield* acquire(yield* storeAs(), { name, duration: "3 seconds" })
      const work = yield* guardForever(held)
      yield* kubectl(["label", "lease", name, "-n", cluster.namespace, "team=ops"])
      const labelled = (yield* readLease(name))!
      assert.strictEqual(labelled.metadata.labels?.["team"], "ops")
      // Two renewals on top of the labelled object (each one CAS-fails once on the label's
      // version at most, reads back, finds us, and adopts).
      let renewals = 0
      let seen = labelled
      yield* waitFor(
        "two renewals after the label",
        Effect.gen(function*() {
          const now = (yield* readLease(name))!
          if (now.metadata.resourceVersion !== seen.metadata.resourceVersion) {
            assert.strictEqual(now.spec.holderIdentity, held.holder)
            renewals++
            seen = now
          }
          return renewals >= 2
        }),
        "10 seconds"
      )
      assert.strictEqual(seen.metadata.labels?.["team"], "ops", "renewals keep the label")
      assert.strictEqual(seen.spec.leaseTransitions, labelled.spec.leaseTransitions)
      assert.isTrue(yield* held.isHeld)
      assert.isFalse(work.interrupted())
      assert.isTrue(Option.isNone(yield* Effect.flip(held.lost).pipe(Effect.timeoutOption("10 millis"))), "not lost")
    }))

  it.effect("fencing tokens strictly increase across holders", () =>
    Effect.gen(function*() {
      const name = `fencing-${suffix()}`
      const tokens: Array<number> = []
      for (let i = 0; i < 4; i++) {
        const held = yield* acquire(yield* storeAs(), { name, duration: "3 seconds", holder: `fencing-holder-${i}` })
        tokens.push(held.token)
        yield* held.release
      }
      assert.deepStrictEqual(tokens, [0, 1, 2, 3])
      const raw = yield* readLease(name)
      assert.strictEqual(raw?.spec.leaseTransitions, 3)
      assert.strictEqual(raw?.spec.holderIdentity, "")
    }))

  it.effect("the restricted user (get, create, update; no watch, no delete) takes, hands over and clears a lease by polling", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.Cluster
      const name = `restricted-${suffix()}`
      const key = { namespace: cluster.namespace, name }
      const first = yield* storeAs("restricted")
      const second = yield* storeAs("restricted")
      const refused = yield* first.watch(key).pipe(Stream.runDrain, Effect.flip, Effect.timeout("10 seconds"))
      assert.strictEqual(refused.reason, "Forbidden", "this user really cannot watch")
      assert.strictEqual((yield* cluster.kubectl(["auth", "can-i", "delete", "leases", "-n", cluster.namespace], { as: "restricted" })).stdout.trim(), "no")

      const options = { name, duration: Duration.seconds(3) } // retryPeriod defaults to 1 s (renewInterval)
      const a = yield* acquire(first, options)
      const waiter = yield* acquire(second, options).pipe(Effect.forkChild)
      assert.isTrue(yield* stillWaiting(waiter, "1500 millis"))
      const start = performance.now()
      yield* a.release
      const b = yield* Fiber.join(waiter).pipe(Effect.timeout("10 seconds"))
      const handover = since(start)
      console.log(`restricted handover by polling: ${handover} ms (retryPeriod 1000)`)
      assert.isAtMost(handover, 1_000 + 1_500, "within a poll period (and margin)")
      assert.strictEqual(b.token, a.token + 1)

      const acquiredAt = Date.parse((yield* readLease(name))!.spec.acquireTime!)
      yield* waitFor(
        "renewals for longer than the duration",
        Effect.map(readLease(name), (raw) => Date.parse(raw!.spec.renewTime!) - acquiredAt > 3_500)
      )
      assert.isTrue(yield* b.isHeld)
      yield* b.release
      const released = (yield* readLease(name))!
      assert.strictEqual(released.spec.holderIdentity, "", "cleared, not deleted")
      assert.strictEqual(released.spec.leaseDurationSeconds, 1)
    }))

  it.effect("the record matches what client-go's LeaseLock writes, field by field (kubectl get -o json)", () =>
    Effect.gen(function*() {
      const name = `clientgo-${suffix()}`
      const holders = [`leasekit-a-${suffix()}`, `leasekit-b-${suffix()}`] as const
      const specKeys = ["acquireTime", "holderIdentity", "leaseDurationSeconds", "leaseTransitions", "renewTime"]
      // client-go v1.20 tools/leaderelection (leaderelection.go, resourcelock/leaselock.go):
      // LeaderElectionRecordToLeaseSpec always writes all five fields; times are MicroTime
      // (RFC 3339, six fractional digits, UTC "Z").
      const assertShape = (raw: RawLease, what: string) => {
        assert.deepStrictEqual(Object.keys(raw.spec).sort(), specKeys, `${what}: the five spec fields`)
        assert.match(raw.spec.acquireTime!, microTime, `${what}: acquireTime`)
        assert.match(raw.spec.renewTime!, microTime, `${what}: renewTime`)
      }

      // Create (tryAcquireOrRenew, lease absent): holder, duration, acquireTime = renewTime = now, transitions 0.
      const a = yield* acquire(yield* storeAs(), { name, duration: "3 seconds", holder: holders[0] })
      const created = yield* kubectlLease(name)
      assertShape(created, "create")
      assert.strictEqual(created.spec.holderIdentity, holders[0])
      assert.strictEqual(created.spec.leaseDurationSeconds, 3)
      assert.strictEqual(created.spec.acquireTime, created.spec.renewTime)
      assert.strictEqual(created.spec.leaseTransitions, 0)

      // Renew (IsLeader): acquireTime and transitions kept, renewTime = now.
      yield* waitFor(
        "a renewal",
        Effect.map(readLease(name), (raw) => raw!.spec.renewTime !== created.spec.renewTime)
      )
      const renewed = yield* kubectlLease(name)
      assertShape(renewed, "renew")
      assert.strictEqual(renewed.spec.holderIdentity, holders[0])
      assert.strictEqual(renewed.spec.leaseDurationSeconds, 3)
      assert.strictEqual(renewed.spec.acquireTime, created.spec.acquireTime)
      assert.isAbove(Date.parse(renewed.spec.renewTime!), Date.parse(created.spec.renewTime!))
      assert.strictEqual(renewed.spec.leaseTransitions, 0)

      // Release: holderIdentity "", leaseDurationSeconds 1, acquireTime = renewTime = now, transitions kept.
      yield* a.release
      const released = yield* kubectlLease(name)
      assertShape(released, "release")
      assert.strictEqual(released.spec.holderIdentity, "")
      assert.strictEqual(released.spec.leaseDurationSeconds, 1)
      assert.strictEqual(released.spec.acquireTime, released.spec.renewTime)
      assert.isAtLeast(Date.parse(released.spec.renewTime!), Date.parse(renewed.spec.renewTime!))
      assert.strictEqual(released.spec.leaseTransitions, 0)

      // Another holder takes it (not IsLeader): transitions + 1, acquireTime = renewTime = now.
      const b = yield* acquire(yield* storeAs(), { name, duration: "4 seconds", holder: holders[1] })
      const taken = yield* kubectlLease(name)
      assertShape(taken, "take over")
      assert.strictEqual(taken.spec.holderIdentity, holders[1])
      assert.strictEqual(taken.spec.leaseDurationSeconds, 4)
      assert.strictEqual(taken.spec.acquireTime, taken.spec.renewTime)
      assert.isAbove(Date.parse(taken.spec.acquireTime!), Date.parse(released.spec.acquireTime!))
      assert.strictEqual(taken.spec.leaseTransitions, 1)
      assert.strictEqual(b.token, 1)
      yield* b.release
    }))

  it.effect("kubectl get lease -A shows the lease with its leasekit holder while it is held", () =>
    Effect.gen(function*() {
      const cluster = yield* Cluster.Cluster
      const name = `visible-${suffix()}`
      const held = yield* acquire(yield* storeAs(), { name, duration: "3 seconds" })
      const out = yield* kubectl(["get", "lease", "-A"])
      const [header, ...rows] = out.trimEnd().split("\n")
      assert.match(header!, /^NAMESPACE\s+NAME\s+HOLDER\s+AGE/)
      const row = rows.map((r) => r.trim().split(/\s+/)).find((cols) => cols[0] === cluster.namespace && cols[1] === name)
      assert.isDefined(row, `no row for ${cluster.namespace}/${name} in:\n${out}`)
      assert.strictEqual(row![2], held.holder)
      assert.isTrue(yield* held.isHeld)
    }))
})
