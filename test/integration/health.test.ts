/**
 * Health, readiness and metrics over HTTP on a real API server (issue 15): `LeaderElection.layer`
 * with `HealthServer.layer` on a real socket, and `leasekit run --health-port`.
 *
 * - `/healthz` turns 503 when the leader's connection to the API server is blackholed (FaultProxy)
 *   past its renew deadline + slack, and 200 again once the fault heals;
 * - `/readyz` with `readiness: "leading"` is 200 on the leader of two elections only, and moves
 *   with the leadership;
 * - `/metrics` shows leasekit's series;
 * - RBAC: a user with no lease permission fails `LeaderElection.layer`'s build (Forbidden); a
 *   permission taken away later makes `/healthz` report the election failing, with the error;
 * - `leasekit run --health-port` serves `/healthz` and `/readyz` while holding (and, waiting,
 *   is alive but not ready).
 *
 * Short timings (duration 3 s, renewDeadline 2 s) keep it fast; every wait polls, bounded.
 * Local control plane only (the fault proxy and the static `nobody` user need it).
 */
import { assert, layer } from "@effect/vitest"
import * as LeaderElection from "@leasekit/core/LeaderElection"
import * as HealthServer from "@leasekit/kubernetes/HealthServer"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { Context, type Duration, Effect, Exit, Layer, Scope } from "effect"
import { admin, sh, start, waitFor } from "./leasekitProcess.ts"
import { closedPort } from "./loopback.ts"

const namespace = "leasekit-health"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const timings = { duration: "3 seconds", renewDeadline: "2 seconds", renewInterval: "1 second", retryPeriod: "500 millis" } as const

/** One GET on loopback: status and body (status 0 when nothing answers within 2 s). */
const get = (port: number, path: string) =>
  Effect.promise(async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) })
      return { status: response.status, body: await response.text() }
    } catch (error) {
      return { status: 0, body: String(error) }
    }
  })

/** Waits until GET `path` answers `status` (bounded); returns the body. */
const until = (port: number, path: string, status: number, within: Duration.Input = "30 seconds") =>
  Effect.gen(function*() {
    let last = { status: 0, body: "" }
    yield* waitFor(
      `GET ${path} → ${status}`,
      Effect.map(get(port, path), (r) => {
        last = r
        return r.status === status
      }),
      within
    ).pipe(Effect.catchDefect((defect) => Effect.die(new Error(`${String(defect)}; last answer ${last.status} ${last.body}`))))
    return last.body
  })

/** An election with its health server, as `user` (or through `kubeconfig`), in the test's scope. */
const electionWithHealth = (options: {
  readonly name: string
  readonly holder: string
  readonly kubeconfig: string
  readonly health?: Omit<HealthServer.Options, "port" | "host">
  readonly namespace?: string
}) =>
  Effect.gen(function*() {
    const port = yield* closedPort
    const app = HealthServer.layer({ port, host: "127.0.0.1", ...options.health }).pipe(
      Layer.provideMerge(
        LeaderElection.layer(
          { namespace: options.namespace ?? namespace, name: options.name, holder: options.holder, ...timings },
          () => Effect.never
        )
      ),
      Layer.provide(KubernetesLeaseStore.layer()),
      Layer.provide(KubeClient.layerFromFile(options.kubeconfig))
    )
    const scope = yield* Scope.fork(yield* Scope.Scope)
    const context = yield* Layer.buildWithScope(app, scope)
    return { port, election: Context.get(context, LeaderElection.LeaderElection), stop: Scope.close(scope, Exit.void) }
  })

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("health endpoints", (it) => {
  it.effect("/healthz turns 503 when the leader is cut off from the API server past renewDeadline + slack, and 200 once it heals", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const kubeconfig = yield* FaultProxy.kubeconfig(proxy, "admin")
      const { election, port } = yield* electionWithHealth({ name: `cut-${suffix()}`, holder: "a", kubeconfig, health: { slack: "1 second" } })
      yield* waitFor("leading", Effect.map(election.status, (s) => s._tag === "Leading"))
      assert.match(yield* until(port, "/healthz", 200), /^ok: lease leasekit-health\/cut-\w+ as a: leading with token 0/)

      yield* proxy.blackhole(true)
      const cut = Date.now()
      const body = yield* until(port, "/healthz", 503)
      const after = Date.now() - cut
      // The last renewal was confirmed at most renewInterval (1 s) before the cut: 503 comes no
      // earlier than renewDeadline + slack − 1 s = 2 s after it.
      assert.isAtLeast(after, 2_000, `unhealthy ${after} ms after the cut`)
      assert.match(body, /unhealthy: .*more than renewDeadline 2s \+ slack 1s/)
      assert.isFalse((yield* election.status)._tag === "Leading", "the leader gave the lease up at its deadline")

      yield* proxy.blackhole(false)
      const healed = yield* until(port, "/healthz", 200)
      assert.match(healed, /leading with token|following/)
      console.log(`healthz: 503 ${after} ms after the cut; healthy again after the heal: ${healed.trim()}`)
    }), { timeout: 90_000 })

  it.effect("/readyz with readiness \"leading\" is ready on the leader only, and moves with the leadership; /metrics shows leasekit's series", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `ready-${suffix()}`
      const kubeconfig = cp.users.admin.kubeconfig
      const a = yield* electionWithHealth({ name, holder: "a", kubeconfig, health: { readiness: "leading" } })
      yield* waitFor("a leads", Effect.map(a.election.status, (s) => s._tag === "Leading"))
      const b = yield* electionWithHealth({ name, holder: "b", kubeconfig, health: { readiness: "leading" } })
      yield* waitFor("b follows a", Effect.map(b.election.status, (s) => s._tag === "Following"))
      assert.strictEqual((yield* get(a.port, "/readyz")).status, 200)
      const follower = yield* get(b.port, "/readyz")
      assert.strictEqual(follower.status, 503)
      assert.match(follower.body, /following a \(ready only while leading\)/)
      assert.strictEqual((yield* get(b.port, "/healthz")).status, 200, "a follower is alive")

      // The renewal counter appears with the first renewal (renewInterval 1 s).
      yield* waitFor("a renewal counted", Effect.map(get(a.port, "/metrics"), (r) => r.body.includes("leasekit_renewals_total")), "10 seconds")
      const metrics = yield* get(a.port, "/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.body, /# TYPE leasekit_acquisitions_total counter/)
      assert.match(metrics.body, /leasekit_lease_held\{[^}]*\} 1/)
      assert.match(metrics.body, /leasekit_renewals_total\{[^}]*\} [1-9]/)

      // a steps down (its layer is released: a graceful release): b leads and becomes ready.
      yield* a.stop
      yield* until(b.port, "/readyz", 200, "15 seconds")
      assert.strictEqual((yield* b.election.status)._tag, "Leading")
    }), { timeout: 90_000 })

  it.effect("a user without lease permissions: LeaderElection.layer fails at build with Forbidden", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const error = yield* Effect.flip(
        electionWithHealth({ name: `nobody-${suffix()}`, holder: "n", kubeconfig: cp.users.nobody.kubeconfig })
      )
      assert.strictEqual(error._tag, "LeaseAcquisitionError")
      assert.strictEqual(
        error._tag === "LeaseAcquisitionError" && error.reason._tag === "Store" ? error.reason.error.reason : undefined,
        "Forbidden"
      )
    }), { timeout: 60_000 })

  it.effect("a lease permission taken away later: /healthz and /readyz report the election failing, with the error", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const grant = `health-nobody-${suffix()}`
      const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`
      const created = [
        yield* cp.request({
          method: "POST",
          path: `${rbac}/roles`,
          body: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: { name: grant },
            rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update", "watch"] }]
          }
        }),
        yield* cp.request({
          method: "POST",
          path: `${rbac}/rolebindings`,
          body: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: { name: grant },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: grant },
            subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "nobody" }]
          }
        })
      ]
      for (const r of created) assert.strictEqual(r.status, 201, r.body)
      const name = `revoked-${suffix()}`
      // The authorizer learns of the binding through an informer: build once it lets us in.
      const built = yield* electionWithHealth({ name, holder: "n", kubeconfig: cp.users.nobody.kubeconfig }).pipe(
        Effect.retry({ times: 40, while: (e) => e._tag === "LeaseAcquisitionError" }),
        Effect.tapError(() => Effect.sleep("250 millis"))
      )
      yield* waitFor("leading", Effect.map(built.election.status, (s) => s._tag === "Leading"))
      assert.strictEqual((yield* get(built.port, "/healthz")).status, 200)

      const removed = yield* cp.request({ method: "DELETE", path: `${rbac}/rolebindings/${grant}` })
      assert.strictEqual(removed.status, 200, removed.body)
      const body = yield* until(built.port, "/healthz", 503, "60 seconds")
      assert.match(body, /election failing \(retrying in [\d.]+s\): .*forbidden/i)
      assert.strictEqual((yield* built.election.status)._tag, "Failing")
      assert.strictEqual((yield* get(built.port, "/readyz")).status, 503)
    }), { timeout: 120_000 })

  it.effect("leasekit run --health-port: alive and not ready while waiting, /healthz and /readyz 200 while holding", () =>
    Effect.gen(function*() {
      const name = `run-${suffix()}`
      const flags = yield* admin
      const holderPort = yield* closedPort
      const holder = yield* start([
        ...flags, "-n", namespace, "run", name, "--duration", "3s", "--health-port", String(holderPort), "--health-host", "127.0.0.1",
        "--", ...sh("sleep 60")
      ])
      const holding = yield* until(holderPort, "/readyz", 200)
      assert.match(holding, /^ready: lease leasekit-health\/run-\w+ as .*: holding the lease with token 0/)
      assert.match(yield* until(holderPort, "/healthz", 200), /holding the lease/)
      yield* waitFor("a renewal counted", Effect.map(get(holderPort, "/metrics"), (r) => r.body.includes("leasekit_renewals_total")), "10 seconds")

      const waiterPort = yield* closedPort
      const waiter = yield* start([
        ...flags, "-n", namespace, "run", name, "--duration", "3s", "--health-port", String(waiterPort), "--health-host", "127.0.0.1",
        "--", ...sh("true")
      ])
      const waiting = yield* until(waiterPort, "/readyz", 503)
      assert.match(waiting, /waiting for the lease \(ready only while leading\)/)
      assert.strictEqual((yield* get(waiterPort, "/healthz")).status, 200, "waiting is alive")

      // A third run on the port in use: a usage error before anything is acquired.
      const clash = yield* start([...flags, "-n", namespace, "run", name, "--health-port", String(holderPort), "--health-host", "127.0.0.1", "--", "true"])
      const ended = yield* clash.ended
      assert.strictEqual(ended.code, 64, ended.stderr)
      assert.match(ended.stderr, /--health-port \d+: health server: 127\.0\.0\.1:\d+ is already in use/)

      holder.kill("SIGTERM")
      const holderEnded = yield* holder.ended.pipe(Effect.timeout("15 seconds"))
      assert.strictEqual(holderEnded.code, 143, `CMD's status after the forwarded SIGTERM: ${holderEnded.stderr}`)
      assert.strictEqual((yield* get(holderPort, "/healthz")).status, 0, "the server stopped with run")
      const waiterEnded = yield* waiter.ended.pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(waiterEnded.code, 0, waiterEnded.stderr)
    }), { timeout: 120_000 })
})
