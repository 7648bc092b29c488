/**
 * The local control plane of @leasekit/testing, against the real processes: authentication and
 * RBAC as configured, TLS verified, fault controls (pause, stop, restart), the fault proxy, the
 * audit log, and cleanup — on scope close, on a failed start, on interruption and when the owning
 * Node process is SIGKILLed.
 *
 * Requests go through `KubeClient.http` of @leasekit/kubernetes (as `cp.request` does), built
 * from the kubeconfigs the control plane writes, so what is checked is what a client sees. Every
 * wait is bounded and polls a condition.
 */
import { KubeClient } from "@leasekit/kubernetes"
import { assert, describe, it, layer } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { ControlPlane, FaultProxy } from "../../packages/testing/src/index.ts"

// --- helpers --------------------------------------------------------------------------------

const leases = (namespace: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name === undefined ? "" : `/${name}`}`

const leaseBody = (name: string, holder: string, resourceVersion?: string) => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: resourceVersion === undefined ? { name } : { name, resourceVersion },
  spec: { holderIdentity: holder, leaseDurationSeconds: 15 }
})

const field = (u: unknown, ...path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined), u)

/** The server a kubeconfig written by the control plane names. */
const readKubeconfig = (file: string) => {
  const config = JSON.parse(Fs.readFileSync(file, "utf8")) as unknown
  return { server: String(field(config, "clusters", "0", "cluster", "server")) }
}

/** A kubeconfig of our own for `server`: the given token, and the CA only when `ca` is given. */
const kubeconfigYaml = (server: string, options: { readonly ca?: string | undefined; readonly token: string }) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "c",
      cluster: {
        server,
        ...(options.ca === undefined ? {} : { "certificate-authority-data": Buffer.from(options.ca).toString("base64") })
      }
    }],
    users: [{ name: "u", user: { token: options.token } }],
    contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
    "current-context": "c"
  })

/**
 * One GET through a `KubeClient` of its own (from `kubeconfig`, a file or YAML), closed with it,
 * bounded by 5 s. Fails with the Node error's message (e.g. the certificate that was refused).
 */
const get = (kubeconfig: { readonly file: string } | { readonly yaml: string }, path: string) =>
  ("file" in kubeconfig ? KubeClient.makeFromFile(kubeconfig.file) : KubeClient.makeFromString(kubeconfig.yaml)).pipe(
    Effect.flatMap((client) => client.http.get(path)),
    Effect.flatMap((response) => Effect.map(response.text, (body) => ({ status: response.status, body }))),
    Effect.scoped,
    Effect.mapError((error) => new Error(`${error.message}: ${error.cause instanceof Error ? error.cause.message : ""}`)),
    Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail(new Error("no answer within 5 s")) })
  )

/** Pids of live processes whose command line mentions `text` (our servers all name their folder). */
const processesMentioning = (text: string): ReadonlyArray<number> =>
  Fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).flatMap((pid) => {
    try {
      const cmdline = Fs.readFileSync(`/proc/${pid}/cmdline`, "utf8")
      return cmdline.includes(text) && Number(pid) !== process.pid ? [Number(pid)] : []
    } catch {
      return []
    }
  })

/** Polls `condition` every 100 ms until it holds, failing after `timeout`. */
const eventually = (condition: () => boolean, what: string, timeout: Duration.Input = "20 seconds") =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail(new Error(`not yet: ${what}`)))).pipe(
    Effect.retry({ schedule: Schedule.spaced("100 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting until ${what}`)) })
  )

/** Retries `effect` every 100 ms until it succeeds, for at most `timeout`. */
const retryFor = <A, E, R>(effect: Effect.Effect<A, E, R>, timeout: Duration.Input = "20 seconds") =>
  effect.pipe(
    Effect.retry({ schedule: Schedule.spaced("100 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error("timed out retrying")) })
  )

// --- one shared control plane ---------------------------------------------------------------

layer(ControlPlane.layer(), { excludeTestServices: true, timeout: "180 seconds" })("ControlPlane", (it) => {
  it.effect("/readyz answers ok with the admin kubeconfig's credentials, TLS verified with its CA", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const kubeconfig = readKubeconfig(cp.users.admin.kubeconfig)
      assert.strictEqual(kubeconfig.server, cp.server)
      assert.match(kubeconfig.server, /^https:\/\/127\.0\.0\.1:\d+$/)
      const res = yield* get({ file: cp.users.admin.kubeconfig }, "/readyz")
      assert.strictEqual(res.status, 200)
      assert.strictEqual(res.body, "ok")
      assert.notInclude(Fs.readFileSync(cp.users.admin.kubeconfig, "utf8"), "insecure-skip-tls-verify")
    }))

  it.effect("without the control plane's CA the serving certificate is not trusted", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const error = yield* Effect.flip(get({ yaml: kubeconfigYaml(cp.server, { token: cp.users.admin.token }) }, "/readyz"))
      assert.match(error.message, /certificate/i)
    }))

  it.effect("restricted may create, get and update a Lease in the test namespace", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const created = yield* cp.request({
        user: "restricted",
        method: "POST",
        path: leases(cp.namespace),
        body: leaseBody("restricted-crud", "a")
      })
      assert.strictEqual(created.status, 201, created.body)
      const got = yield* cp.request({ user: "restricted", path: leases(cp.namespace, "restricted-crud") })
      assert.strictEqual(got.status, 200)
      assert.strictEqual(field(got.json, "spec", "holderIdentity"), "a")
      const version = String(field(got.json, "metadata", "resourceVersion"))
      const updated = yield* cp.request({
        user: "restricted",
        method: "PUT",
        path: leases(cp.namespace, "restricted-crud"),
        body: leaseBody("restricted-crud", "b", version)
      })
      assert.strictEqual(updated.status, 200, updated.body)
      assert.strictEqual(field(updated.json, "spec", "holderIdentity"), "b")
      // The version travels with the write: the stale one now conflicts.
      const stale = yield* cp.request({
        user: "restricted",
        method: "PUT",
        path: leases(cp.namespace, "restricted-crud"),
        body: leaseBody("restricted-crud", "c", version)
      })
      assert.strictEqual(stale.status, 409)
    }))

  it.effect("restricted is forbidden to delete, to list, and to touch leases in another namespace", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("restricted-delete", "a") })
      const deleted = yield* cp.request({
        user: "restricted",
        method: "DELETE",
        path: leases(cp.namespace, "restricted-delete")
      })
      assert.strictEqual(deleted.status, 403)
      assert.strictEqual((yield* cp.request({ user: "restricted", path: leases(cp.namespace) })).status, 403)
      const elsewhere = yield* cp.request({ user: "restricted", path: leases("default", "restricted-delete") })
      assert.strictEqual(elsewhere.status, 403)
      const createElsewhere = yield* cp.request({
        user: "restricted",
        method: "POST",
        path: leases("default"),
        body: leaseBody("restricted-elsewhere", "a")
      })
      assert.strictEqual(createElsewhere.status, 403)
      // The lease is still there for the admin.
      assert.strictEqual((yield* cp.request({ path: leases(cp.namespace, "restricted-delete") })).status, 200)
    }))

  it.effect("nobody is authenticated but forbidden; a wrong token is unauthorized", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("nobody-lease", "a") })
      assert.strictEqual((yield* cp.request({ user: "nobody", path: leases(cp.namespace, "nobody-lease") })).status, 403)
      const create = yield* cp.request({
        user: "nobody",
        method: "POST",
        path: leases(cp.namespace),
        body: leaseBody("nobody-own", "a")
      })
      assert.strictEqual(create.status, 403)
      const wrong = yield* get({ yaml: kubeconfigYaml(cp.server, { ca: cp.caPem, token: "not-a-token" }) }, leases(cp.namespace))
      assert.strictEqual(wrong.status, 401)
    }))

  it.effect("kubectl with the kubeconfigs sees the lease (when the assets include kubectl)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      if (Option.isNone(cp.kubectl)) return
      const kubectl = cp.kubectl.value
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("kubectl-lease", "kubectl-holder") })
      const run = (kubeconfig: string, ...args: ReadonlyArray<string>) =>
        Effect.callback<{ readonly code: number; readonly out: string }>((resume) => {
          ChildProcess.execFile(kubectl, ["--kubeconfig", kubeconfig, ...args], { timeout: 20_000 }, (error, stdout, stderr) =>
            resume(Effect.succeed({ code: error === null ? 0 : 1, out: `${stdout}${stderr}` })))
        })
      const admin = yield* run(cp.users.admin.kubeconfig, "get", "lease", "kubectl-lease", "-n", cp.namespace)
      assert.strictEqual(admin.code, 0, admin.out)
      assert.include(admin.out, "kubectl-holder")
      const restricted = yield* run(cp.users.restricted.kubeconfig, "get", "lease", "kubectl-lease")
      assert.strictEqual(restricted.code, 0, restricted.out)
      const nobody = yield* run(cp.users.nobody.kubeconfig, "get", "lease", "kubectl-lease")
      assert.strictEqual(nobody.code, 1)
      assert.include(nobody.out, "Forbidden")
    }))

  it.effect("the audit log counts the requests per verb for one lease", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const path = leases(cp.namespace, "audited")
      yield* cp.request({ user: "restricted", method: "POST", path: leases(cp.namespace), body: leaseBody("audited", "a") })
      const first = yield* cp.request({ user: "restricted", path })
      yield* cp.request({ user: "restricted", path })
      const version = String(field(first.json, "metadata", "resourceVersion"))
      yield* cp.request({ user: "restricted", method: "PUT", path, body: leaseBody("audited", "b", version) })
      const filter = { resource: "leases", namespace: cp.namespace, name: "audited", user: "restricted" }
      yield* retryFor(
        cp.countRequests(filter).pipe(
          Effect.filterOrFail((counts) => counts["update"] === 1, () => new Error("update not audited yet"))
        ),
        "10 seconds"
      )
      assert.deepStrictEqual(yield* cp.countRequests(filter), { create: 1, get: 2, update: 1 })
      const events = yield* cp.auditEvents(filter)
      assert.deepStrictEqual(events.map((e) => e.code), [201, 200, 200, 200])
      // Counting one phase only: what happens after a mark.
      const mark = yield* cp.auditMark
      yield* cp.request({ user: "restricted", path })
      yield* retryFor(
        cp.countRequests({ ...filter, after: mark }).pipe(
          Effect.filterOrFail((counts) => counts["get"] === 1, () => new Error("get not audited yet"))
        ),
        "10 seconds"
      )
      assert.deepStrictEqual(yield* cp.countRequests({ ...filter, after: mark }), { get: 1 })
    }))

  it.effect("a paused API server lets requests time out; resumed, it answers again", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.pause("apiserver")
      assert.strictEqual(yield* cp.state("apiserver"), "paused")
      const error = yield* Effect.flip(cp.request({ path: "/readyz", timeout: "1 second" }))
      assert.strictEqual(error.reason, "Timeout")
      yield* cp.resume("apiserver")
      assert.strictEqual(yield* cp.state("apiserver"), "running")
      const res = yield* cp.request({ path: "/readyz", timeout: "10 seconds" })
      assert.strictEqual(res.status, 200)
    }))

  it.effect("a paused etcd lets storage reads time out; resumed, they succeed", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("etcd-paused", "a") })
      yield* cp.pause("etcd")
      const error = yield* Effect.flip(cp.request({ path: leases(cp.namespace, "etcd-paused"), timeout: "1 second" }))
      assert.strictEqual(error.reason, "Timeout")
      yield* cp.resume("etcd")
      const res = yield* retryFor(cp.request({ path: leases(cp.namespace, "etcd-paused"), timeout: "5 seconds" }))
      assert.strictEqual(res.status, 200)
    }))

  it.effect("a restarted API server is ready again on the same port, with the same data", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("survives-restart", "a") })
      const before = yield* cp.pid("apiserver")
      yield* cp.restart("apiserver")
      const after = yield* cp.pid("apiserver")
      assert.isTrue(Option.isSome(before) && Option.isSome(after) && before.value !== after.value)
      const ready = yield* get({ file: cp.users.admin.kubeconfig }, "/readyz")
      assert.strictEqual(ready.status, 200)
      assert.strictEqual((yield* cp.request({ path: leases(cp.namespace, "survives-restart") })).status, 200)
    }))

  it.effect("a stopped API server refuses connections; started again, it answers", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.stop("apiserver")
      assert.strictEqual(yield* cp.state("apiserver"), "stopped")
      assert.isTrue(Option.isNone(yield* cp.pid("apiserver")))
      const error = yield* Effect.flip(cp.request({ path: "/readyz", timeout: "2 seconds" }))
      assert.strictEqual(error.reason, "Transport")
      assert.strictEqual((yield* Effect.flip(cp.pause("apiserver"))).reason, "InvalidState")
      yield* cp.start("apiserver")
      assert.strictEqual((yield* cp.request({ path: "/readyz" })).status, 200)
    }))

  it.effect("a restarted etcd keeps its data", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("etcd-restart", "a") })
      yield* cp.restart("etcd")
      yield* cp.waitReady("30 seconds")
      const res = yield* retryFor(
        cp.request({ path: leases(cp.namespace, "etcd-restart"), timeout: "5 seconds" }).pipe(
          Effect.filterOrFail((r) => r.status === 200, (r) => new Error(`HTTP ${r.status}`))
        )
      )
      assert.strictEqual(field(res.json, "spec", "holderIdentity"), "a")
    }))

  it.effect("FaultProxy forwards TLS to the API server with a verifying kubeconfig, and counts connections", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const file = yield* FaultProxy.kubeconfig(proxy, "restricted")
      assert.strictEqual(readKubeconfig(file).server, proxy.url)
      assert.notStrictEqual(proxy.port, cp.port)
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("via-proxy", "a") })
      const res = yield* get({ file }, leases(cp.namespace, "via-proxy"))
      assert.strictEqual(res.status, 200)
      assert.strictEqual((yield* proxy.stats).accepted, 1)
    }))

  it.effect("FaultProxy latency adds a measurable delay to every round trip", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const viaProxy = cp.request({ path: "/readyz", server: proxy.url, timeout: "10 seconds" })
      const [direct] = yield* Effect.timed(viaProxy)
      yield* proxy.latency("250 millis")
      const [delayed, res] = yield* Effect.timed(viaProxy)
      assert.strictEqual(res.status, 200)
      // A fresh TLS connection needs at least two round trips, each now 2 × 250 ms longer.
      assert.isAtLeast(Duration.toMillis(delayed), 1_000, `direct ${Duration.format(direct)}, delayed ${Duration.format(delayed)}`)
      yield* proxy.pass
      const [again] = yield* Effect.timed(viaProxy)
      assert.isBelow(Duration.toMillis(again), Duration.toMillis(delayed))
    }))

  it.effect("FaultProxy blackhole makes requests time out until it ends", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      yield* proxy.blackhole(true)
      const error = yield* Effect.flip(cp.request({ path: "/readyz", server: proxy.url, timeout: "1 second" }))
      assert.strictEqual(error.reason, "Timeout")
      const stats = yield* proxy.stats
      assert.strictEqual(stats.accepted, 1)
      assert.isAbove(stats.droppedBytes, 0)
      yield* proxy.blackhole(false)
      const res = yield* cp.request({ path: "/readyz", server: proxy.url, timeout: "10 seconds" })
      assert.strictEqual(res.status, 200)
    }))

  it.effect("FaultProxy blackhole drops what open connections carry; they are reset when it ends", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      // A watch keeps its connection open and receives an event for every change.
      const watch = yield* cp.request({ path: `${leases(cp.namespace)}?watch=true`, server: proxy.url, timeout: "60 seconds" })
        .pipe(Effect.forkChild)
      yield* eventually(() => Effect.runSync(proxy.stats).open === 1, "the watch is connected")
      yield* proxy.blackhole(true)
      yield* cp.request({ method: "POST", path: leases(cp.namespace), body: leaseBody("blackholed-event", "a") })
      yield* eventually(() => Effect.runSync(proxy.stats).droppedBytes > 0, "the watch event is dropped")
      assert.isUndefined(watch.pollUnsafe())
      yield* proxy.blackhole(false)
      const error = yield* Effect.flip(Fiber.join(watch))
      assert.strictEqual(error.reason, "Transport")
      assert.strictEqual((yield* proxy.stats).reset, 1)
    }))

  it.effect("FaultProxy resetAll resets every open connection", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const watch = yield* cp.request({ path: `${leases(cp.namespace)}?watch=true`, server: proxy.url, timeout: "60 seconds" })
        .pipe(Effect.forkChild)
      yield* eventually(() => Effect.runSync(proxy.stats).open === 1, "the watch is connected")
      assert.strictEqual(yield* proxy.resetAll, 1)
      const error = yield* Effect.flip(Fiber.join(watch))
      assert.strictEqual(error.reason, "Transport")
      assert.match(error.detail, /ECONNRESET|socket hang up|closed/)
      const res = yield* cp.request({ path: "/readyz", server: proxy.url })
      assert.strictEqual(res.status, 200)
      const stats = yield* proxy.stats
      assert.strictEqual(stats.accepted, 2)
      assert.strictEqual(stats.reset, 1)
    }))
})

// --- lifecycle: each test starts its own control plane --------------------------------------

describe("ControlPlane lifecycle", () => {
  const parentDir = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-cp-test-"))

  it.live("closing the scope stops etcd, kube-apiserver and the watchdog, and removes the folder", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const cp = yield* Scope.provide(scope)(ControlPlane.make())
      const etcd = yield* cp.pid("etcd")
      const apiserver = yield* cp.pid("apiserver")
      assert.isTrue(Option.isSome(etcd) && Option.isSome(apiserver))
      const running = processesMentioning(cp.dir)
      assert.includeMembers([...running], [Option.getOrThrow(etcd), Option.getOrThrow(apiserver)])
      assert.strictEqual(running.length, 3, "etcd, kube-apiserver and the watchdog")
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(processesMentioning(cp.dir), [])
      assert.isFalse(Fs.existsSync(`/proc/${Option.getOrThrow(apiserver)}`) && Fs.existsSync(`/proc/${Option.getOrThrow(etcd)}`))
      assert.isFalse(Fs.existsSync(cp.dir))
    }))

  it.live("a failed start reports the server's log and leaves nothing behind", () =>
    Effect.gen(function*() {
      const parent = parentDir()
      const error = yield* Effect.flip(
        ControlPlane.make({ tmpDir: parent, apiserverArgs: ["--leasekit-no-such-flag"] }).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "ControlPlaneError")
      if (error._tag === "ControlPlaneError") {
        assert.strictEqual(error.reason, "Exited")
        assert.strictEqual(error.component, "apiserver")
        assert.include(error.logTail ?? "", "leasekit-no-such-flag")
        assert.include(error.message, "leasekit-no-such-flag")
      }
      assert.deepStrictEqual(processesMentioning(parent), [])
      assert.deepStrictEqual(Fs.readdirSync(parent), [])
      Fs.rmdirSync(parent)
    }))

  it.live("interrupting the start stops what was started and removes the folder", () =>
    Effect.gen(function*() {
      const parent = parentDir()
      const starting = yield* ControlPlane.make({ tmpDir: parent }).pipe(Effect.scoped, Effect.forkChild)
      // Interrupt once etcd runs and kube-apiserver is starting.
      yield* eventually(() => processesMentioning(parent).length >= 3, "etcd and kube-apiserver run")
      yield* Fiber.interrupt(starting)
      assert.deepStrictEqual(processesMentioning(parent), [])
      assert.deepStrictEqual(Fs.readdirSync(parent), [])
      Fs.rmdirSync(parent)
    }))

  it.live("when the owning Node process is SIGKILLed, the watchdog stops the servers and removes the folder", () =>
    Effect.gen(function*() {
      const fixture = new URL("../../packages/testing/test/fixtures/hold-control-plane.ts", import.meta.url)
      const child = ChildProcess.spawn(process.execPath, [fixture.pathname], { stdio: ["ignore", "pipe", "pipe"] })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let stderr = ""
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const line = yield* Effect.callback<string, Error>((resume) => {
        let out = ""
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes("\n")) resume(Effect.succeed(out.split("\n")[0]!))
        })
        child.once("exit", (code) => resume(Effect.fail(new Error(`fixture exited (${code}): ${stderr}`))))
      }).pipe(Effect.timeoutOrElse({ duration: "90 seconds", orElse: () => Effect.fail(new Error(`fixture silent: ${stderr}`)) }))
      const started = JSON.parse(line) as { readonly dir: string; readonly pids: { readonly etcd: number; readonly apiserver: number } }
      assert.includeMembers([...processesMentioning(started.dir)], [started.pids.etcd, started.pids.apiserver])
      child.kill("SIGKILL")
      yield* eventually(() => processesMentioning(started.dir).length === 0, "no process mentions the folder")
      yield* eventually(() => !Fs.existsSync(started.dir), "the folder is gone")
      assert.isFalse(Fs.existsSync(`/proc/${started.pids.apiserver}/cmdline`) &&
        Fs.readFileSync(`/proc/${started.pids.apiserver}/cmdline`, "utf8").includes(started.dir))
    }))
})
