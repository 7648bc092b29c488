/**
 * Counting semaphores (`LeaseSemaphore`) on a real kube-apiserver (with etcd): N = 3 permits and
 * 5 contenders, in process over the Kubernetes store (each with its own client and its own `Lease`
 * service, as separate processes would have) and as `leasekit run --permits` processes. Never more
 * than N holders; waiters served in the order they enqueued; a SIGKILLed holder's permit taken
 * once it expired; `resize` down (withdrawn, drained) and up (waiters served at once); `status`
 * and `list` output; a plain `run` on a semaphore or a permit refused (64). Every wait polls a
 * condition and is bounded; nothing is mocked.
 */
import { assert, layer } from "@effect/vitest"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { admin, leasekit, makeTempDir, type Running, sh, start, waitFor, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-semaphore"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

/** Short timings: a dead holder's permit frees itself in 3 s. */
const timing = {
  duration: Duration.seconds(3),
  renewInterval: Duration.seconds(1),
  renewDeadline: Duration.seconds(2),
  retryPeriod: Duration.millis(250),
  requestTimeout: Duration.seconds(1)
}

/** A contender's own Kubernetes client, store and `Lease` service (its own observation memory). */
const contenderServices = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  const scope = yield* Scope.fork(yield* Scope.Scope)
  return yield* Layer.buildWithScope(
    KubernetesLeaseStore.layer({ requestTimeout: timing.requestTimeout }).pipe(
      Layer.provide(KubeClient.layerFromFile(cp.users.admin.kubeconfig))
    ),
    scope
  )
})

/** Reads the semaphore as an observer with its own services. */
const inspect = (name: string) =>
  Effect.flatMap(contenderServices, (services) => LeaseSemaphore.inspect({ namespace, name }).pipe(Effect.provide(services)))

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "5 minutes" })("semaphores on the real API server", (it) => {
  it.effect("N = 3, 5 contenders: at most 3 hold at once, the 2 waiters are served in enqueue order", () =>
    Effect.gen(function*() {
      const name = `sem-${suffix()}`
      let inside = 0
      let maxInside = 0
      const served: Array<string> = []
      const releases = new Map<string, Effect.Effect<void>>()
      // Each contender: acquire in its own scope, note it, hold until told to release.
      const contend = (holder: string) =>
        Effect.gen(function*() {
          const services = yield* contenderServices
          const scope = yield* Scope.make()
          const permit = yield* LeaseSemaphore.acquire({ namespace, name, holder, permits: 3, ...timing }).pipe(
            Effect.provide(services),
            Scope.provide(scope)
          )
          inside++
          maxInside = Math.max(maxInside, inside)
          served.push(holder)
          releases.set(holder, Effect.suspend(() => {
            inside--
            return Scope.close(scope, Exit.void)
          }))
          return permit
        })
      const holders = []
      for (const h of ["c0", "c1", "c2"]) holders.push(yield* contend(h))
      assert.deepStrictEqual(holders.map((p) => p.permit).sort(), [0, 1, 2])
      assert.deepStrictEqual(holders.map((p) => p.key.name).sort(), [`${name}-0`, `${name}-1`, `${name}-2`])

      // c3 enqueues first, then c4 (each once the previous one is in the queue).
      const c3 = yield* Effect.forkChild(contend("c3"))
      yield* waitFor("c3 in the queue", Effect.map(inspect(name), (s) => s.waiting.some((w) => w.holder === "c3" && w.live)))
      const c4 = yield* Effect.forkChild(contend("c4"))
      yield* waitFor("c4 in the queue behind c3", Effect.map(inspect(name), (s) => s.waiting.map((w) => w.holder).join() === "c3,c4"))
      const full = yield* inspect(name)
      assert.strictEqual(full.permits, 3)
      assert.strictEqual(full.holders.length, 3)

      // One permit frees: c3 (ahead) takes it, c4 keeps waiting.
      yield* releases.get("c1")!
      const p3 = yield* Fiber.join(c3).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(p3.permit, holders[1]!.permit, "the freed permit")
      assert.isTrue(p3.token > holders[1]!.token, "the permit's token increases")
      yield* Effect.sleep("1 second") // c4 had time to take a permit, if it (wrongly) could
      assert.deepStrictEqual(served, ["c0", "c1", "c2", "c3"])
      yield* releases.get("c0")!
      yield* Fiber.join(c4).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(served, ["c0", "c1", "c2", "c3", "c4"], "served in enqueue order")
      assert.strictEqual(maxInside, 3, "never more than 3 at once")
      const after = yield* inspect(name)
      assert.strictEqual(after.waiting.filter((w) => w.live).length, 0, "the queue is empty")
      for (const h of ["c2", "c3", "c4"]) yield* releases.get(h)!
    }).pipe(Effect.scoped))

  it.effect("resize on the real server: down withdraws (holders keep their permits until they release), up serves a waiter at once", () =>
    Effect.gen(function*() {
      const name = `resize-${suffix()}`
      const services = yield* contenderServices
      const take = (holder: string) => LeaseSemaphore.acquire({ namespace, name, holder, permits: 3, ...timing }).pipe(Effect.provide(services))
      const a = yield* take("a")
      const b = yield* take("b")
      const c = yield* take("c")
      const args = [...(yield* admin), "-n", namespace]
      const down = yield* leasekit(["resize", name, "--permits", "1", ...args])
      assert.strictEqual(down.code, 0, down.stderr)
      assert.match(down.stdout, /: 3 → 1 permit; permits 1–2 are withdrawn/)
      // Every holder keeps its permit; the two withdrawn ones are told.
      const withdrawn = [a, b, c].filter((p) => p.permit >= 1)
      for (const p of withdrawn) yield* p.withdrawn.pipe(Effect.timeout("10 seconds"))
      for (const p of [a, b, c]) assert.isTrue(yield* p.isHeld, `permit ${p.permit} is still held`)
      const state = yield* inspect(name)
      assert.strictEqual(state.permits, 1)
      assert.deepStrictEqual(state.holders.filter((h) => h.withdrawn).map((h) => h.permit).sort(), [1, 2])

      // A waiter: none free below 1 — it waits even after a withdrawn permit is released.
      const other = yield* contenderServices
      const waiter = yield* Effect.forkChild(
        LeaseSemaphore.acquire({ namespace, name, holder: "d", ...timing }).pipe(Effect.provide(other), Effect.scoped, Effect.as("served"))
      )
      yield* waitFor("d in the queue", Effect.map(inspect(name), (s) => s.waiting.some((w) => w.holder === "d" && w.live)))
      yield* withdrawn[0]!.release
      yield* Effect.sleep("1 second")
      assert.isUndefined(waiter.pollUnsafe(), "a released withdrawn permit is not handed out")

      const up = yield* leasekit(["resize", name, "--permits", "4", ...args, "-o", "json"])
      assert.strictEqual(up.code, 0, up.stderr)
      assert.deepInclude(JSON.parse(up.stdout), { namespace, name, from: 1, to: 4, withdrawn: [] })
      assert.strictEqual(yield* Fiber.join(waiter).pipe(Effect.timeout("20 seconds")), "served")

      const missing = yield* leasekit(["resize", `nothing-${suffix()}`, "--permits", "2", ...args])
      assert.strictEqual(missing.code, 64, missing.stderr)
      // A plain lease is no semaphore: --permits and resize on it are refused (64).
      const plain = `plain-${suffix()}`
      assert.strictEqual((yield* leasekit(["run", plain, ...args, "--", "true"])).code, 0)
      const asSemaphore = yield* leasekit(["run", plain, "--permits", "2", ...args, "--", "true"])
      assert.strictEqual(asSemaphore.code, 64, asSemaphore.stderr)
      assert.include(asSemaphore.stderr, "is a plain lease")
      assert.strictEqual((yield* leasekit(["resize", plain, "--permits", "2", ...args])).code, 64)
    }).pipe(Effect.scoped))

  it.effect("leasekit run --permits 3: five processes, at most 3 commands at once, env per permit; a SIGKILLed holder's permit is taken after expiry; status, list, refusals", () =>
    Effect.gen(function*() {
      const args = [...(yield* admin), "-n", namespace]
      const dir = yield* makeTempDir("leasekit-semaphore-")
      const name = `cli-${suffix()}`
      const stop = Path.join(dir, "stop")
      // Each command records its env, counts itself in while it runs, and waits for `stop`.
      const command = (i: number) =>
        sh(
          `echo "$LEASEKIT_PERMIT $LEASEKIT_TOKEN $LEASEKIT_LEASE $LEASEKIT_HOLDER" > ${dir}/env-${i}; ` +
            `touch ${dir}/in-${i}; while [ ! -f ${stop} ]; do sleep 0.05; done; rm ${dir}/in-${i}`
        )
      const runs: Array<Running> = []
      for (let i = 0; i < 3; i++) {
        runs.push(yield* start(["run", name, "--permits", "3", "--duration", "3s", "--holder", `p${i}`, ...args, "--", ...command(i)]))
        yield* waitUntil(`run ${i} inside`, () => Fs.existsSync(Path.join(dir, `in-${i}`)))
      }
      const envOf = (i: number) => {
        const [permit, token, lease, holder] = Fs.readFileSync(Path.join(dir, `env-${i}`), "utf8").trim().split(" ")
        return { permit: Number(permit), token: Number(token), lease: lease!, holder: holder! }
      }
      const first = [0, 1, 2].map(envOf)
      assert.deepStrictEqual(first.map((e) => e.permit).sort(), [0, 1, 2])
      for (const e of first) {
        assert.strictEqual(e.lease, `${namespace}/${name}-${e.permit}`)
        assert.match(e.holder, /^p\d_[a-z0-9]{5}$/)
      }

      // --try on the full semaphore: 75 at once, naming the holders.
      const tried = yield* leasekit(["run", name, "--permits", "3", "--try", ...args, "--", "true"])
      assert.strictEqual(tried.code, 75, tried.stderr)
      assert.include(tried.stderr, `semaphore ${namespace}/${name} is full (3 permits`)

      // Two more wait in the queue, in order.
      runs.push(yield* start(["run", name, "--permits", "3", "--duration", "3s", "--holder", "p3", ...args, "--", ...command(3)]))
      yield* waitUntil("p3 waiting", () => runs[3]!.stderr().includes("waiting in its queue"))
      runs.push(yield* start(["run", name, "--permits", "3", "--duration", "3s", "--holder", "p4", ...args, "--", ...command(4)]))
      yield* waitUntil("p4 waiting", () => runs[4]!.stderr().includes("waiting in its queue"))

      // status: permits, holders and the queue in order; JSON the same.
      const status = yield* leasekit(["status", name, ...args])
      assert.strictEqual(status.code, 0, status.stderr)
      assert.match(status.stdout, /^Permits:\s+3 \(3 held, 0 free\)$/m)
      assert.match(status.stdout, /^Waiting:\s+2$/m)
      assert.match(status.stdout, /PERMIT\s+HOLDER\s+TOKEN\s+EXPIRES IN\s+WITHDRAWN/)
      assert.isBelow(status.stdout.indexOf("p3_"), status.stdout.indexOf("p4_"), "the queue in order")
      const json = JSON.parse((yield* leasekit(["status", name, ...args, "-o", "json"])).stdout)
      assert.strictEqual(json.kind, "semaphore")
      assert.strictEqual(json.permits, 3)
      assert.deepStrictEqual(json.holders.map((h: { permit: number }) => h.permit).sort(), [0, 1, 2])
      assert.deepStrictEqual(json.waiting.map((w: { holder: string }) => w.holder.split("_")[0]), ["p3", "p4"])

      // list: one row for the semaphore, its permits and tickets folded in.
      const list = yield* leasekit(["list", ...args])
      assert.strictEqual(list.code, 0, list.stderr)
      const rows = list.stdout.split("\n").filter((l) => l.startsWith(name))
      assert.deepStrictEqual(rows.length, 1, list.stdout)
      assert.match(rows[0]!, /3 of 3 permits held, 2 waiting\s+semaphore/)

      // A plain run on the semaphore, or on one of its permits: refused (64), saying how.
      for (const target of [name, `${name}-0`]) {
        const plain = yield* leasekit(["run", target, ...args, "--try", "--", "true"])
        assert.strictEqual(plain.code, 64, plain.stderr)
        assert.include(plain.stderr, `leasekit run ${name} --permits N`)
      }

      // SIGKILL a holder (its dead man's switch ends its command; the permit is left to expire):
      // p3, first in the queue, takes that permit once it expired; p4 keeps waiting.
      const watcher = yield* start(["status", name, ...args, "--watch", "-o", "json"])
      const watched = () =>
        watcher.stdout().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { holders: Array<{ holder: string }> })
      yield* waitUntil("the watcher's first object", () => watched().length >= 1)
      const killed = first.findIndex((e) => e.holder.startsWith("p0"))
      runs[0]!.kill("SIGKILL")
      const killedAt = Date.now()
      yield* waitUntil("p3 inside", () => Fs.existsSync(Path.join(dir, "in-3")), "20 seconds")
      // Expiry runs from the holder's last renewal, which came at most renewInterval (duration/3 =
      // 1 s) before the kill: the permit is free no sooner than 2 s after it.
      assert.isAtLeast(Date.now() - killedAt, 2_000, "taken only after the permit expired (3 s after its last renewal)")
      const p3 = envOf(3)
      assert.strictEqual(p3.permit, first[killed]!.permit, "the dead holder's permit")
      assert.isAbove(p3.token, first[killed]!.token)
      assert.isFalse(Fs.existsSync(Path.join(dir, "in-4")), "p4 still waits")
      // --watch showed the change: p3 holding the dead holder's permit. (Whether it showed p0
      // judged expired first depends on when it first saw p0's record: p3, waiting longer, may
      // have judged it expired and taken it before the watcher did.)
      yield* waitUntil("the watcher showing p3 as a holder", () => watched().some((o) => o.holders.some((h) => h.holder.startsWith("p3_"))))
      watcher.kill("SIGINT")
      assert.strictEqual((yield* watcher.ended.pipe(Effect.timeout("10 seconds"))).code, 0)
      const now = JSON.parse((yield* leasekit(["status", name, ...args, "-o", "json"])).stdout)
      assert.strictEqual(now.held, 3, "3 held, never more")
      assert.deepStrictEqual(now.waiting.filter((w: { live: boolean }) => w.live).map((w: { holder: string }) => w.holder.split("_")[0]), ["p4"])

      // Everyone finishes: p4 gets the next permit.
      Fs.writeFileSync(stop, "")
      for (const i of [1, 2, 3]) {
        const ended = yield* runs[i]!.ended.pipe(Effect.timeout("20 seconds"))
        assert.strictEqual(ended.code, 0, ended.stderr)
      }
      const last = yield* runs[4]!.ended.pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(last.code, 0, last.stderr)
      assert.strictEqual(envOf(4).lease, `${namespace}/${name}-${envOf(4).permit}`)
    }).pipe(Effect.scoped))
})
