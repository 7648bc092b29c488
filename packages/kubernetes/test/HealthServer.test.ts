/**
 * The Node health server on a real socket (loopback): the routes answer over HTTP, and a port in
 * use is a clear error at the layer's build. The judgement itself is pinned in core's
 * LeaderHealth tests (TestClock); the behaviour against a real API server in
 * test/integration/health.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import * as LeaderElection from "@leasekit/core/LeaderElection"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import type * as Net from "node:net"
import * as HealthServer from "../src/HealthServer.ts"

const election = LeaderElection.layer({ namespace: "jobs", name: "singleton", holder: "me" }, () => Effect.never).pipe(
  Layer.provide(LeaseStore.layerMemory())
)

/** A free port on loopback (listened on and closed again). */
const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const server = Http.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
)

const get = (port: number, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`)
    return { status: response.status, body: await response.text() }
  })

describe("HealthServer", () => {
  it.live("serves /healthz, /livez, /readyz and /metrics of the election on the port asked for", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Layer.build(HealthServer.layer({ port, host: "127.0.0.1", readiness: "leading" }).pipe(Layer.provide(election)))
      const health = yield* get(port, "/healthz")
      assert.strictEqual(health.status, 200)
      assert.match(health.body, /^ok: lease jobs\/singleton as me: leading with token 0/)
      assert.strictEqual((yield* get(port, "/livez")).status, 200)
      assert.strictEqual((yield* get(port, "/readyz")).status, 200)
      const metrics = yield* get(port, "/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.body, /leasekit_lease_held\{[^}]*\} 1/)
      assert.strictEqual((yield* get(port, "/nothing")).status, 404)
    }).pipe(Effect.scoped))

  it.live("a port in use fails the layer's build with HealthServerError naming the address", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const blocker = Http.createServer()
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", () => resolve()))),
        () => Effect.promise(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
      )
      const error = yield* Effect.flip(
        Layer.build(HealthServer.layer({ port, host: "127.0.0.1" }).pipe(Layer.provide(election)))
      )
      assert.strictEqual(error._tag, "HealthServerError")
      assert.strictEqual(error._tag === "HealthServerError" ? error.code : undefined, "EADDRINUSE")
      assert.strictEqual(error.message, `health server: 127.0.0.1:${port} is already in use; pick another port`)
    }).pipe(Effect.scoped))
})
