/**
 * Review 14: failing integration test against the real control plane.
 *
 * Watches and every other request of a store share one `https.Agent` with `maxSockets: 100`
 * (transport.ts), while the store's in-flight semaphore bounds only requests *other than watches*
 * (KubernetesLeaseStore `maxRequestsInFlight`). A watch holds its socket for `watchReconnect`
 * (25 s) plus, and reconnects at once. With 100 open watches in one process (100 waiting
 * contenders or observers — a sharded controller contending for many leases), every renewal PUT
 * and every read queues inside Node's agent behind the watches and times out: each held lease is
 * then lost at its renew deadline, although the API server is healthy.
 */
import { assert, layer } from "@effect/vitest"
import { LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Deferred, Effect, Exit, Stream } from "effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"

const namespace = "leasekit-test"
const controlPlane = ControlPlane.layer({ namespace })
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

layer(controlPlane, { excludeTestServices: true, timeout: "4 minutes" })("review14: one connection pool for watches and writes", (it) => {
  it.effect("100 open watches do not starve a renewal (update) of its connection", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const client = yield* KubeClient.makeFromFile(cp.users.admin.kubeconfig)
      const store = KubernetesLeaseStore.make(client, { requestTimeout: "3 seconds" })

      const held = yield* store.create({ namespace, name: `review14-held-${suffix()}` }, {
        holder: "review14",
        durationSeconds: 15,
        transitions: 0
      })
      // Sanity: a renewal goes through while nothing else is open.
      const renewed = yield* store.update(held, { holder: "review14", durationSeconds: 15, transitions: 0 })

      // 100 waiters in this process, each watching a lease (absent ones will do).
      const watches = 100
      const ready = yield* Deferred.make<void>()
      let started = 0
      for (let i = 0; i < watches; i++) {
        yield* store.watch({ namespace, name: `review14-waited-${i}-${suffix()}` }).pipe(
          Stream.runForEach(() =>
            Effect.sync(() => {
              if (++started === watches) Deferred.doneUnsafe(ready, Exit.void)
            })
          ),
          Effect.ignore,
          Effect.forkScoped
        )
      }
      yield* Deferred.await(ready)
      // Every watch has listed (first state delivered); give the watch GETs a moment to connect.
      yield* Effect.sleep("1 second")

      const exit = yield* Effect.exit(store.update(renewed, { holder: "review14", durationSeconds: 15, transitions: 0 }))
      assert.isTrue(
        Exit.isSuccess(exit),
        `the renewal failed while ${watches} watches were open: ${
          Exit.isFailure(exit) ? String(exit.cause) : ""
        } — watches hold every socket of the client's pool (maxSockets 100)`
      )
      const read = yield* Effect.exit(store.get(held.key))
      assert.isTrue(Exit.isSuccess(read), "a read fails the same way")
      void LeaseStore
    }).pipe(Effect.scoped))
  // Finding 7. After a 401, a token-file user's `rejected` (credentials.ts `refreshFiles`) answers
  // "worth a retry" only if *this* re-read changed the token held in memory — not whether the
  // token now held differs from the one this request presented. When several requests are
  // rejected together (a token that expired while renewals were in flight, a rotation), the first
  // re-read swaps the token and retries; every other request re-reads the same new token, finds
  // "no change", and fails with the definite reason `Unauthorized` although a fresh token was there.
  it.effect("concurrent requests rejected with 401 all retry with the re-read token", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* Effect.promise(() => fs.mkdtemp(path.join(cp.dir, "review14-")))
      const tokenFile = path.join(dir, "token")
      const kubeconfigFile = path.join(dir, "config")
      const base = JSON.parse(yield* Effect.promise(() => fs.readFile(cp.users.admin.kubeconfig, "utf8")))
      base.users = [{ name: "admin", user: { tokenFile: "token" } }]
      yield* Effect.promise(() => fs.writeFile(kubeconfigFile, JSON.stringify(base)))
      // The token loaded first is no longer accepted; the file already holds the new one.
      yield* Effect.promise(() => fs.writeFile(tokenFile, "expired-token-review14\n"))
      const client = yield* KubeClient.makeFromFile(kubeconfigFile)
      const store = KubernetesLeaseStore.make(client, { requestTimeout: "5 seconds" })
      yield* Effect.promise(() => fs.writeFile(tokenFile, `${cp.users.admin.token}\n`))

      const results = yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => Effect.exit(store.get({ namespace, name: `review14-401-${i}` }))),
        { concurrency: "unbounded" }
      )
      const failed = results.filter(Exit.isFailure)
      assert.strictEqual(
        failed.length,
        0,
        `${failed.length} of 20 concurrent requests failed after the token file was rotated: ${failed[0] === undefined ? "" : String(failed[0].cause)}`
      )
    }).pipe(Effect.scoped))
})
