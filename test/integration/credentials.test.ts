/**
 * Credentials end to end — `KubeClient` and the Kubernetes store (and `leasekit status` where
 * said) against a real kube-apiserver: `exec` credential plugins (a client certificate, a token
 * that rotates, an empty answer, a failure that prints secrets, a slow plugin shared by concurrent
 * requests, a plugin that hangs, a relative command) and the proxy environment variables.
 *
 * Credential plugins are `#!/bin/sh` scripts written into a temporary folder; each counts its runs
 * in a file. Which identity a request used, and whether a request was sent at all, is read from
 * the API server's audit log, which this suite turns on for every user (the control plane's
 * default policy audits only its own token users).
 */
import { assert, layer } from "@effect/vitest"
import { Lease, LeaseStore } from "@leasekit/core"
import type { LeaseRecord } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { leasekit, running } from "./leasekitProcess.ts"
import { captureLogs, connectProxy, dump, pathsTo, withEnv } from "./loopback.ts"

const namespace = "leasekit-credentials"
const execApiVersion = "client.authentication.k8s.io/v1"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

/** Every request audited at Metadata level, whoever sent it (and failed authentications too). */
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*", "/version", "/openapi*", "/api", "/api/*", "/apis", "/apis/*"]
  - level: Metadata
`

const controlPlane = Layer.unwrap(Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-credentials-audit-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
  const policy = Path.join(dir, "audit-policy.yaml")
  Fs.writeFileSync(policy, auditPolicy)
  return ControlPlane.layer({ namespace, apiserverArgs: [`--audit-policy-file=${policy}`] })
}))

interface KubeconfigJson {
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>
  users: Array<{ name: string; user: Record<string, unknown> }>
  contexts: Array<{ name: string; context: Record<string, unknown> }>
  "current-context": string
}

/** The admin kubeconfig as an object, to derive variants from. */
const adminKubeconfig = Effect.map(
  ControlPlane.ControlPlane,
  (cp) => JSON.parse(Fs.readFileSync(cp.users.admin.kubeconfig, "utf8")) as KubeconfigJson
)

/** A fresh folder in the control plane's temporary folder. */
const folder = (prefix: string) => Effect.map(ControlPlane.ControlPlane, (cp) => Fs.mkdtempSync(Path.join(cp.dir, prefix)))

/** Writes `dir/bin/plugin`, a `#!/bin/sh` script that first appends a line to `dir/runs`. */
const writePlugin = (dir: string, script: string) => {
  Fs.mkdirSync(Path.join(dir, "bin"), { recursive: true })
  const file = Path.join(dir, "bin", "plugin")
  Fs.writeFileSync(file, `#!/bin/sh\necho run >> "${dir}/runs"\n${script}\n`, { mode: 0o755 })
  return file
}

/** How many times the plugin in `dir` ran. */
const runsIn = (dir: string) =>
  Fs.existsSync(Path.join(dir, "runs")) ? Fs.readFileSync(Path.join(dir, "runs"), "utf8").split("\n").filter((l) => l !== "").length : 0

/** An ExecCredential as a plugin prints it. */
const execCredential = (status: Record<string, unknown>) => JSON.stringify({ apiVersion: execApiVersion, kind: "ExecCredential", status })

/** `dir/config`: the admin kubeconfig's cluster with user `user` authenticating through `exec`. */
const execKubeconfig = (dir: string, user: string, exec: Record<string, unknown>) =>
  Effect.map(adminKubeconfig, (config) => {
    config.users = [{ name: user, user: { exec: { apiVersion: execApiVersion, interactiveMode: "Never", ...exec } } }]
    config.contexts[0]!.context = { ...config.contexts[0]!.context, user, namespace }
    const file = Path.join(dir, "config")
    Fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
    return file
  })

/** A client and a store on `file`, closed with the current scope. */
const storeOn = (file: string, requestTimeout: Duration.Input = "5 seconds") =>
  Effect.map(KubeClient.makeFromFile(file), (client) => ({
    client,
    store: KubernetesLeaseStore.make(client, { requestTimeout })
  }))

const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`

/** Fails the test when `self` has not ended within `duration`. */
const within = (what: string, duration: Duration.Input) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.timeoutOrElse(self, {
    duration,
    orElse: () => Effect.die(new Error(`${what}: not done within ${Duration.format(Duration.fromInputUnsafe(duration))}`))
  })

/**
 * The audited requests about lease `name` since `mark`, apart from a GET the admin sends now as a
 * sentinel: once the sentinel is in the log, everything sent before it is too.
 */
const requestsAbout = (mark: ControlPlane.AuditMark, name: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    yield* cp.request({ path: `${leasePath(name)}?sentinel=true` })
    const about = (events: ReadonlyArray<ControlPlane.AuditEvent>) =>
      events.filter((event) =>
        event.name === name || event.requestURI.includes(`/leases/${name}`) || event.requestURI.includes(`metadata.name%3D${name}`)
      )
    const events = yield* cp.auditEvents({ after: mark }).pipe(
      Effect.map(about),
      Effect.repeat({ until: (events) => events.some((e) => e.requestURI.includes("sentinel=true")), schedule: Schedule.spaced("50 millis") }),
      within("the sentinel request in the audit log", "10 seconds")
    )
    return events.filter((e) => !e.requestURI.includes("sentinel=true"))
  })

layer(controlPlane, { excludeTestServices: true, timeout: "4 minutes" })("credentials on a real API server", (it) => {
  it.effect("an exec plugin's client certificate authenticates get, create, update and watch; an empty ExecCredential fails Credentials naming the user, nothing sent", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* folder("exec-certificate-")
      Fs.writeFileSync(
        Path.join(dir, "credential.json"),
        execCredential({
          clientCertificateData: Fs.readFileSync(cp.clientCertificate.certFile, "utf8"),
          clientKeyData: Fs.readFileSync(cp.clientCertificate.keyFile, "utf8")
        })
      )
      writePlugin(dir, `cat "${dir}/credential.json"`)
      const file = yield* execKubeconfig(dir, "certificate-user", { command: Path.join(dir, "bin", "plugin") })
      const mark = yield* cp.auditMark
      const { store } = yield* storeOn(file)
      const key = { namespace, name: `exec-certificate-${suffix()}` }

      const created = yield* store.create(key, { holder: "exec-certificate", durationSeconds: 10 })
      const read = Option.getOrThrow(yield* store.get(key))
      assert.strictEqual(read.version, created.version)
      const states = yield* Queue.unbounded<Option.Option<LeaseRecord.LeaseRecord>>()
      const watching = yield* store.watch(key).pipe(Stream.runForEach((state) => Queue.offer(states, state)), Effect.forkScoped)
      const first = yield* Queue.take(states).pipe(within("the watch's first state", "10 seconds"))
      assert.strictEqual(Option.getOrThrow(first).version, read.version)
      const updated = yield* store.update(read, { ...read, holder: "exec-certificate-2" })
      const next = yield* Queue.take(states).pipe(within("the watch event of the update", "10 seconds"))
      assert.strictEqual(Option.getOrThrow(next).version, updated.version, "the update came through the watch")
      assert.strictEqual(runsIn(dir), 1, "one plugin run served them all")

      // Every request went as the certificate's user, the watch included (a watch is audited
      // once it ends).
      yield* Fiber.interrupt(watching)
      const events = yield* requestsAbout(mark, key.name).pipe(
        Effect.repeat({ until: (events) => events.some((e) => e.verb === "watch"), schedule: Schedule.spaced("100 millis") }),
        within("the watch in the audit log", "10 seconds")
      )
      assert.deepStrictEqual([...new Set(events.map((e) => e.user))], [cp.clientCertificate.user])
      const verbs = new Set(events.filter((e) => e.code !== undefined && e.code < 300).map((e) => e.verb))
      for (const verb of ["create", "get", "update", "list", "watch"]) assert.isTrue(verbs.has(verb), `a successful ${verb}`)

      // An ExecCredential with an empty status: no credential at all.
      const empty = yield* folder("exec-empty-")
      writePlugin(empty, `echo '{"apiVersion":"${execApiVersion}","kind":"ExecCredential","status":{}}'`)
      const emptyStore = (yield* storeOn(yield* execKubeconfig(empty, "empty-user", { command: Path.join(empty, "bin", "plugin") }))).store
      const before = yield* cp.auditMark
      const name = `exec-empty-${suffix()}`
      const error = yield* Effect.flip(emptyStore.get({ namespace, name }))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Credentials")
      assert.include(error.detail, "\"empty-user\"")
      assert.include(error.detail, "neither a token nor a client certificate")
      assert.strictEqual(runsIn(empty), 1)
      assert.deepStrictEqual(yield* requestsAbout(before, name), [], "nothing was sent")
    }))

  it.effect("a relative exec command (./bin/plugin) runs from the kubeconfig's folder, not the working directory", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* folder("exec-relative-")
      Fs.writeFileSync(Path.join(dir, "credential.json"), execCredential({ token: cp.users.admin.token }))
      writePlugin(dir, `cat "${dir}/credential.json"`)
      // The working directory has a ./bin/plugin of its own, with a token the server rejects.
      const elsewhere = yield* folder("exec-elsewhere-")
      writePlugin(elsewhere, `echo '${execCredential({ token: "not-the-token" })}'`)
      const file = yield* execKubeconfig(dir, "relative-user", { command: "./bin/plugin" })
      const cwd = process.cwd()
      yield* Effect.acquireRelease(Effect.sync(() => process.chdir(elsewhere)), () => Effect.sync(() => process.chdir(cwd)))

      const { store } = yield* storeOn(file)
      const state = yield* store.get({ namespace, name: `exec-relative-${suffix()}` })
      assert.isTrue(Option.isNone(state))
      assert.strictEqual(runsIn(dir), 1, "the kubeconfig folder's plugin ran")
      assert.strictEqual(runsIn(elsewhere), 0, "the working directory's did not")
    }))

  it.effect("a failing plugin that prints secrets: Credentials, and neither secret in the error, its causes, the logs of a failing renewal — nor in `leasekit status` (exit 77)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const onStdout = `stdout-secret-${suffix()}${suffix()}`
      const onStderr = `stderr-secret-${suffix()}${suffix()}`
      const secrets = [onStdout, onStderr]
      // Prints a credential holding one secret and a complaint holding the other, then fails.
      const fail = `echo '${execCredential({ token: onStdout })}'\necho "refresh token ${onStderr} expired" >&2\nexit 3`
      const dir = yield* folder("exec-failing-")
      writePlugin(dir, fail)
      const file = yield* execKubeconfig(dir, "failing-user", { command: Path.join(dir, "bin", "plugin") })
      const name = `exec-failing-${suffix()}`
      const mark = yield* cp.auditMark
      const error = yield* Effect.flip(Effect.scoped(Effect.flatMap(storeOn(file), ({ store }) => store.get({ namespace, name }))))
      assert.instanceOf(error, LeaseStore.LeaseStoreError)
      assert.strictEqual(error.reason, "Credentials")
      assert.include(error.detail, "\"failing-user\"")
      assert.include(error.detail, "exited with code 3")
      assert.deepStrictEqual(yield* requestsAbout(mark, name), [], "nothing was sent")
      for (const secret of secrets) {
        assert.notInclude(dump(error), secret)
        assert.deepStrictEqual(pathsTo(error, secret), [])
      }

      // A holder whose plugin starts failing once its first credential expired: the renewals
      // fail and are logged (warnings, then the loss), without the secrets.
      const expiring = yield* folder("exec-expiring-")
      writePlugin(expiring, `if [ -e "${expiring}/issued" ]; then\n${fail}\nfi\n: > "${expiring}/issued"\ncat "${expiring}/credential.json"`)
      Fs.writeFileSync(
        Path.join(expiring, "credential.json"),
        execCredential({ token: cp.users.admin.token, expirationTimestamp: new Date(Date.now() + 1200).toISOString() })
      )
      const lines: Array<string> = []
      yield* Effect.scoped(Effect.gen(function*() {
        const { store } = yield* storeOn(yield* execKubeconfig(expiring, "failing-user", { command: Path.join(expiring, "bin", "plugin") }))
        const held = yield* Lease.acquire({
          namespace,
          name: `exec-expiring-${suffix()}`,
          duration: "3 seconds",
          renewInterval: "500 millis",
          renewDeadline: "1500 millis",
          retryPeriod: "250 millis",
          requestTimeout: "1 second"
        }).pipe(Effect.provideService(LeaseStore.LeaseStore, store))
        const lost = yield* Effect.flip(held.guard(Effect.never)).pipe(within("the lease to be lost", "15 seconds"))
        lines.push(dump(lost))
      })).pipe(captureLogs(lines))
      const text = lines.join("\n")
      assert.match(text, /renewal failed[^\n]*failing-user/, "the capture did capture the failing renewals")
      assert.isAtLeast(runsIn(expiring), 2)
      for (const secret of secrets) assert.notInclude(text, secret)

      for (const verbose of [[], ["--verbose"]]) {
        const ended = yield* leasekit(["status", name, "--kubeconfig", file, "-n", namespace, ...verbose])
        assert.strictEqual(ended.code, 77, `leasekit status ${verbose.join(" ")}: ${ended.stderr}`)
        assert.include(ended.stderr, "failing-user")
        for (const output of [ended.stdout, ended.stderr]) {
          for (const secret of secrets) assert.notInclude(output, secret)
        }
      }
    }))

  it.effect("20 concurrent gets share one run of a slow plugin; a plugin that hangs fails the request with Timeout within requestTimeout and is stopped with the client", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const slow = yield* folder("exec-slow-")
      Fs.writeFileSync(Path.join(slow, "credential.json"), execCredential({ token: cp.users.admin.token }))
      writePlugin(slow, `sleep 0.5\ncat "${slow}/credential.json"`)
      const { store } = yield* storeOn(yield* execKubeconfig(slow, "slow-user", { command: Path.join(slow, "bin", "plugin") }))
      const key = { namespace, name: `exec-slow-${suffix()}` }
      const states = yield* Effect.all(Array.from({ length: 20 }, () => store.get(key)), { concurrency: "unbounded" })
      assert.strictEqual(states.length, 20)
      assert.isTrue(states.every(Option.isNone))
      assert.strictEqual(runsIn(slow), 1, "one run for 20 concurrent requests")

      // The plugin's own timeout (30 s) is not configurable through KubeClient: the store's
      // requestTimeout bounds the request meanwhile.
      const hanging = yield* folder("exec-hanging-")
      writePlugin(hanging, `echo $$ > "${hanging}/pid"\nexec sleep 120`)
      const scope = yield* Scope.make()
      const hangingStore = (yield* storeOn(
        yield* execKubeconfig(hanging, "hanging-user", { command: Path.join(hanging, "bin", "plugin") }),
        "1 second"
      ).pipe(Scope.provide(scope))).store
      const started = Date.now()
      const timedOut = yield* Effect.flip(hangingStore.get(key)).pipe(within("a request whose plugin hangs", "10 seconds"))
      const elapsed = Date.now() - started
      assert.instanceOf(timedOut, LeaseStore.LeaseStoreError)
      assert.strictEqual(timedOut.reason, "Timeout")
      assert.isBelow(elapsed, 3000, `failed after ${elapsed} ms`)
      // A second request joins the same run (it does not start another) and times out as well.
      assert.strictEqual((yield* Effect.flip(hangingStore.get(key))).reason, "Timeout")
      assert.strictEqual(runsIn(hanging), 1)
      const pid = Number(Fs.readFileSync(Path.join(hanging, "pid"), "utf8").trim())
      assert.isTrue(running(pid), "the plugin is still running while the client lives")
      yield* Scope.close(scope, Exit.void)
      yield* Effect.sync(() => !running(pid)).pipe(
        Effect.repeat({ until: (gone) => gone, schedule: Schedule.spaced("50 millis") }),
        within("the hanging plugin to be stopped with its client", "5 seconds")
      )
    }))

  it.effect("token rotation: a plugin whose first token is rejected runs again after the 401, and the request succeeds (one 401, two runs)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* folder("exec-rotation-")
      const stale = `stale-token-${suffix()}`
      Fs.writeFileSync(Path.join(dir, "stale.json"), execCredential({ token: stale }))
      Fs.writeFileSync(Path.join(dir, "valid.json"), execCredential({ token: cp.users.admin.token }))
      writePlugin(dir, `if [ -e "${dir}/rotated" ]; then cat "${dir}/valid.json"; else : > "${dir}/rotated"; cat "${dir}/stale.json"; fi`)
      const { store } = yield* storeOn(yield* execKubeconfig(dir, "rotating-user", { command: Path.join(dir, "bin", "plugin") }))
      const key = { namespace, name: `exec-rotation-${suffix()}` }
      const mark = yield* cp.auditMark

      assert.isTrue(Option.isNone(yield* store.get(key)))
      assert.strictEqual(runsIn(dir), 2)
      const events = yield* requestsAbout(mark, key.name)
      assert.deepStrictEqual(events.map((e) => [e.user, e.code]), [["", 401], ["admin", 404]])
      // The new token is kept: the next request runs nothing.
      yield* store.create(key, { holder: "rotated", durationSeconds: 10 })
      assert.strictEqual(runsIn(dir), 2)
    }))

  it.effect("HTTPS_PROXY / https_proxy are honoured and NO_PROXY respected; loopback servers never go through them, a kubeconfig proxy-url always", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      // Any host the proxy is asked for is this machine: a name that resolves nowhere (.invalid)
      // reaches the API server through it, and only through it.
      const proxy = yield* connectProxy({ route: () => "127.0.0.1" })
      const viaName = `apiserver.leasekit.invalid:${cp.port}`
      const kubeconfig = (cluster: Record<string, unknown>) =>
        Effect.gen(function*() {
          const config = yield* adminKubeconfig
          config.clusters[0]!.cluster = { ...config.clusters[0]!.cluster, ...cluster }
          const file = Path.join(yield* folder("proxy-"), "config")
          Fs.writeFileSync(file, JSON.stringify(config), { mode: 0o600 })
          return file
        })
      const byName = yield* kubeconfig({ server: `https://${viaName}`, "tls-server-name": "kubernetes.default.svc" })
      const byIp = cp.users.admin.kubeconfig
      const byLocalhost = yield* kubeconfig({ server: `https://localhost:${cp.port}` })
      const byProxyUrl = yield* kubeconfig({ "proxy-url": proxy.url })
      const none = { HTTPS_PROXY: undefined, https_proxy: undefined, HTTP_PROXY: undefined, http_proxy: undefined, NO_PROXY: undefined, no_proxy: undefined }

      /** A get through a client built with `env`; the tunnels the proxy opened for it. */
      const attempt = (file: string, env: Record<string, string>) =>
        Effect.scoped(Effect.gen(function*() {
          yield* withEnv({ ...none, ...env })
          const before = proxy.tunnels.length
          const { store } = yield* storeOn(file, "3 seconds")
          const exit = yield* Effect.exit(store.get({ namespace, name: `proxy-${suffix()}` }))
          return { exit, tunnels: proxy.tunnels.slice(before).map((t) => t.target) }
        }))

      const upper = yield* attempt(byName, { HTTPS_PROXY: proxy.url })
      assert.isTrue(Exit.isSuccess(upper.exit), `HTTPS_PROXY: ${Exit.isFailure(upper.exit) ? dump(upper.exit.cause) : ""}`)
      assert.deepStrictEqual(upper.tunnels, [viaName])
      const lower = yield* attempt(byName, { https_proxy: proxy.url })
      assert.isTrue(Exit.isSuccess(lower.exit), "https_proxy")
      assert.deepStrictEqual(lower.tunnels, [viaName])

      // NO_PROXY: a domain entry matches its subdomains; the request goes direct (and, the name
      // resolving nowhere, fails naming the server).
      const bypassed = yield* attempt(byName, { HTTPS_PROXY: proxy.url, NO_PROXY: "example.com, leasekit.invalid" })
      assert.deepStrictEqual(bypassed.tunnels, [])
      assert.isTrue(Exit.isFailure(bypassed.exit))
      const direct = yield* Effect.flip(bypassed.exit)
      assert.instanceOf(direct, LeaseStore.LeaseStoreError)
      assert.include(direct.detail, `https://${viaName}`)

      // Loopback servers are never proxied from the environment (Go's rule)…
      for (const file of [byIp, byLocalhost]) {
        const loopback = yield* attempt(file, { HTTPS_PROXY: proxy.url })
        assert.isTrue(Exit.isSuccess(loopback.exit), file)
        assert.deepStrictEqual(loopback.tunnels, [], `${file} went through HTTPS_PROXY`)
      }
      // …but a kubeconfig's proxy-url applies to them.
      const configured = yield* attempt(byProxyUrl, { NO_PROXY: "*" })
      assert.isTrue(Exit.isSuccess(configured.exit))
      assert.deepStrictEqual(configured.tunnels, [`127.0.0.1:${cp.port}`])
    }))
})
