/**
 * Bad input and security, at the library level, against a real API server: every way a
 * configuration can be wrong ends in a typed error whose message names the problem and the fix;
 * TLS is verified unless the kubeconfig itself opts out; bearer tokens never appear in anything
 * leasekit outputs (logs at debug level, spans, errors, console); and a Role with only get, create
 * and update on leases in one namespace is enough for the whole acquire / renew / release /
 * handover cycle (what watch and delete add is pinned too).
 */
import { assert, layer } from "@effect/vitest"
import { InvalidLeaseOptions, Lease, LeaseAcquisitionError, LeaseRelinquishmentError, LeaseStore } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { ControlPlane } from "@leasekit/testing"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Logger, Option, References, Schedule, Scope, Tracer } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Util from "node:util"
import { closedPort } from "./loopback.ts"

const namespace = "leasekit-security"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const timing = {
  duration: "4 seconds",
  renewInterval: "1 second",
  renewDeadline: "2500 millis",
  retryPeriod: "500 millis",
  requestTimeout: "1500 millis"
} as const

interface KubeconfigJson {
  clusters: Array<{ name: string; cluster: Record<string, unknown> }>
  users: Array<{ name: string; user: Record<string, unknown> }>
  contexts: Array<{ name: string; context: Record<string, unknown> }>
  "current-context": string
}

/** A user's kubeconfig as an object, to derive variants from. */
const kubeconfigOf = (user: ControlPlane.UserName) =>
  Effect.map(ControlPlane.ControlPlane, (cp) => JSON.parse(Fs.readFileSync(cp.users[user].kubeconfig, "utf8")) as KubeconfigJson)

/** Writes `text` to a fresh file in the control plane's folder. */
const writeFile = (name: string, text: string) =>
  Effect.map(ControlPlane.ControlPlane, (cp) => {
    const dir = Fs.mkdtempSync(Path.join(cp.dir, "security-"))
    const file = Path.join(dir, name)
    Fs.writeFileSync(file, text, { mode: 0o600 })
    return file
  })

const writeKubeconfig = (config: KubeconfigJson) => writeFile("kubeconfig", JSON.stringify(config))

/** Runs `self` with a store built from the kubeconfig file, in its own scope. */
const via = <A, E>(file: string, self: Effect.Effect<A, E, LeaseStore.LeaseStore | Scope.Scope>) =>
  Effect.scoped(self.pipe(Effect.provide(KubernetesLeaseStore.layer().pipe(Layer.provide(KubeClient.layerFromFile(file))))))

/** A store on its own client (closed with the test's scope). */
const storeFrom = (file: string) =>
  Effect.map(KubeClient.makeFromFile(file), (client) => KubernetesLeaseStore.make(client))

const tryAcquire = (name = `security-${suffix()}`) => Lease.tryAcquire({ namespace, name, ...timing })


const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url")

/** A service-account token signed with the control plane's own service-account key. */
const serviceAccountToken = (options: { readonly name: string; readonly uid: string; readonly expiresIn: number }) =>
  Effect.map(ControlPlane.ControlPlane, (cp) => {
    const issuer = "https://kubernetes.default.svc.cluster.local"
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: issuer,
      aud: [issuer],
      sub: `system:serviceaccount:${namespace}:${options.name}`,
      iat: now - 3600,
      nbf: now - 3600,
      exp: now + options.expiresIn,
      "kubernetes.io": { namespace, serviceaccount: { name: options.name, uid: options.uid } }
    }
    const signed = `${base64url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${base64url(JSON.stringify(claims))}`
    const key = Fs.readFileSync(Path.join(cp.dir, "pki", "sa.key"), "utf8")
    return `${signed}.${base64url(Crypto.sign("sha256", Buffer.from(signed), key))}`
  })

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("security and bad input", (it) => {
  it.effect("invalid options fail with InvalidLeaseOptions naming field, value and rule, before any API request", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const mark = yield* cp.auditMark
      const cases: ReadonlyArray<readonly [Partial<Lease.AcquireOptions>, string, RegExp]> = [
        [{ duration: "1500 millis" }, "duration", /whole number of seconds/],
        [{ duration: "soon" as Duration.Input }, "duration", /must be a duration/],
        [{ duration: "10 seconds", renewDeadline: "10 seconds" }, "renewDeadline", /less than duration/],
        [{ duration: "10 seconds", renewInterval: "8 seconds", renewDeadline: "6 seconds" }, "renewDeadline", /greater than renewInterval/],
        [{ renewInterval: "0 millis" }, "renewInterval", /greater than 0/],
        [{ retryPeriod: "1 minute" }, "retryPeriod", /at most renewDeadline/],
        [{ requestTimeout: "1 hour" }, "requestTimeout", /at most renewDeadline/],
        [{ maxHonouredDuration: "1 second" }, "maxHonouredDuration", /at least 1h/],
        [{ duration: "2 hours" }, "duration", /at most 1h/],
        [{ namespace: "Bad_Namespace" }, "namespace", /DNS-1123 label/],
        [{ namespace: "n".repeat(64) }, "namespace", /at most 63/],
        [{ name: "" }, "name", /required/],
        [{ name: "UPPER" }, "name", /DNS-1123 subdomain/],
        [{ name: "n".repeat(254) }, "name", /at most 253/],
        [{ holder: "" }, "holder", /must not be empty/],
        [{ holder: " padded" }, "holder", /whitespace/],
        [{ holder: "h".repeat(129) }, "holder", /at most 128/],
        [{ timeout: -5 }, "timeout", /must not be negative/]
      ]
      for (const [options, field, rule] of cases) {
        const error = yield* Effect.flip(
          via(cp.users.admin.kubeconfig, Lease.acquire({ namespace, name: "valid-name", ...options }))
        )
        assert.instanceOf(error, InvalidLeaseOptions, JSON.stringify(options))
        assert.strictEqual(error.field, field)
        assert.include(error.message, `invalid lease option ${field} = `)
        assert.match(error.message, rule)
      }
      const requests = yield* cp.auditEvents({ after: mark, resource: "leases" })
      assert.deepStrictEqual(requests, [], "no request reached the API server")
    }))

  it.effect("an unreadable, invalid or incomplete kubeconfig, or an unknown context, fails with KubeConfigError naming the fix", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const directory = Fs.mkdtempSync(Path.join(cp.dir, "not-a-file-"))
      const unreadable = yield* Effect.flip(via(directory, tryAcquire()))
      assert.instanceOf(unreadable, KubeClient.KubeConfigError)
      assert.strictEqual(unreadable.reason, "Unreadable")
      assert.include(unreadable.message, directory)
      assert.include(unreadable.message, "regular file")

      const garbage = yield* writeFile("kubeconfig", `users: [ { token: ${cp.users.admin.token}`)
      const invalid = yield* Effect.flip(via(garbage, tryAcquire()))
      assert.instanceOf(invalid, KubeClient.KubeConfigError)
      assert.strictEqual(invalid.reason, "Invalid")
      assert.include(invalid.message, "not valid YAML")
      assert.notInclude(invalid.message, cp.users.admin.token)

      const list = yield* writeFile("kubeconfig", "- just\n- a list\n")
      const notKubeconfig = yield* Effect.flip(via(list, tryAcquire()))
      assert.strictEqual((notKubeconfig as KubeClient.KubeConfigError).reason, "Invalid")
      assert.include(notKubeconfig.message, "not a kubeconfig")

      const noUser = yield* kubeconfigOf("admin")
      noUser.users = []
      const missingUser = yield* Effect.flip(via(yield* writeKubeconfig(noUser), tryAcquire()))
      assert.strictEqual((missingUser as KubeClient.KubeConfigError).reason, "NoCredentials")
      assert.include(missingUser.message, "not defined under users")

      const context = yield* Effect.flip(
        tryAcquire().pipe(
          Effect.provide(KubernetesLeaseStore.layer().pipe(
            Layer.provide(KubeClient.layerFromFile(cp.users.admin.kubeconfig, { context: "production" }))
          )),
          Effect.scoped
        )
      )
      assert.instanceOf(context, KubeClient.KubeConfigError)
      assert.strictEqual(context.reason, "UnknownContext")
      assert.include(context.message, "\"production\"")
      assert.include(context.message, "admin@leasekit")
    }))

  it.effect("an unreachable server fails as a transient store error naming the server; a waiting acquire times out", () =>
    Effect.gen(function*() {
      const config = yield* kubeconfigOf("admin")
      const server = `https://127.0.0.1:${yield* closedPort}`
      config.clusters[0]!.cluster["server"] = server
      const file = yield* writeKubeconfig(config)
      const error = yield* Effect.flip(via(file, tryAcquire()))
      assert.instanceOf(error, LeaseAcquisitionError)
      assert.strictEqual(error.reason._tag, "Store")
      assert.strictEqual(error.cause?.reason, "Unavailable")
      assert.include(error.message, server)
      assert.include(error.message, "ECONNREFUSED")
      const waited = yield* Effect.flip(
        via(file, Lease.acquire({ namespace, name: `security-${suffix()}`, ...timing, timeout: "2 seconds" }))
      )
      assert.instanceOf(waited, LeaseAcquisitionError)
      assert.strictEqual(waited.reason._tag, "Timeout")
    }))

  it.effect("TLS is verified: another CA, or none, is refused naming the fix; only the kubeconfig's own insecure-skip-tls-verify opts out", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = Fs.mkdtempSync(Path.join(cp.dir, "wrong-ca-"))
      ChildProcess.execFileSync("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", Path.join(dir, "ca.key"), "-out", Path.join(dir, "ca.crt"), "-days", "1", "-subj", "/CN=some-other-ca"
      ], { stdio: "ignore" })
      const wrongCa = yield* kubeconfigOf("admin")
      wrongCa.clusters[0]!.cluster["certificate-authority-data"] = Fs.readFileSync(Path.join(dir, "ca.crt")).toString("base64")
      const wrong = yield* Effect.flip(via(yield* writeKubeconfig(wrongCa), tryAcquire()))
      assert.instanceOf(wrong, LeaseAcquisitionError)
      assert.strictEqual(wrong.cause?.reason, "Unavailable")
      assert.include(wrong.message, "TLS verification")
      assert.include(wrong.message, "certificate-authority")

      const noCa = yield* kubeconfigOf("admin")
      delete noCa.clusters[0]!.cluster["certificate-authority-data"]
      const none = yield* Effect.flip(via(yield* writeKubeconfig(noCa), tryAcquire()))
      assert.instanceOf(none, LeaseAcquisitionError)
      assert.include(none.message, "TLS verification")

      noCa.clusters[0]!.cluster["insecure-skip-tls-verify"] = true
      const held = yield* via(yield* writeKubeconfig(noCa), tryAcquire())
      assert.isTrue(Option.isSome(held), "the kubeconfig's own opt-out is honoured")
    }))

  it.effect("a wrong or expired token is Unauthorized (naming user and context, never the token); a valid one is not", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const wrongToken = `wrong-${suffix()}${suffix()}`
      const wrong = yield* kubeconfigOf("admin")
      wrong.users[0]!.user = { token: wrongToken }
      const rejected = yield* Effect.flip(via(yield* writeKubeconfig(wrong), tryAcquire()))
      assert.instanceOf(rejected, LeaseAcquisitionError)
      assert.strictEqual(rejected.cause?.reason, "Unauthorized")
      assert.include(rejected.message, "rejected the credentials of user \"admin\"")
      assert.include(rejected.message, "renew the token")
      assert.notInclude(rejected.message, wrongToken)

      // A service account, and tokens for it signed with the API server's own key.
      const name = `sa-${suffix()}`
      const created = yield* cp.request({
        method: "POST",
        path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
        body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } }
      })
      assert.strictEqual(created.status, 201, created.body)
      const uid = String((created.json as { metadata: { uid: string } }).metadata.uid)
      const withToken = (token: string) =>
        Effect.gen(function*() {
          const config = yield* kubeconfigOf("admin")
          config.users[0]!.user = { token }
          return yield* writeKubeconfig(config)
        })
      const valid = yield* serviceAccountToken({ name, uid, expiresIn: 3600 })
      const authenticated = yield* Effect.flip(via(yield* withToken(valid), tryAcquire()))
      assert.instanceOf(authenticated, LeaseAcquisitionError)
      assert.strictEqual(authenticated.cause?.reason, "Forbidden", "a valid token authenticates (and has no RBAC)")
      assert.include(authenticated.message, `system:serviceaccount:${namespace}:${name}`)

      const expired = yield* serviceAccountToken({ name, uid, expiresIn: -60 })
      const late = yield* Effect.flip(via(yield* withToken(expired), tryAcquire()))
      assert.instanceOf(late, LeaseAcquisitionError)
      assert.strictEqual(late.cause?.reason, "Unauthorized")
      assert.include(late.message, "renew the token")
      assert.notInclude(late.message, expired)
    }))

  it.effect("an RBAC denial is Forbidden and names the verb, the resource, the namespace and the Role rule to add", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const error = yield* Effect.flip(via(cp.users.nobody.kubeconfig, tryAcquire()))
      assert.instanceOf(error, LeaseAcquisitionError)
      assert.strictEqual(error.reason._tag, "Store")
      assert.strictEqual(error.cause?.reason, "Forbidden")
      assert.include(error.message, "user \"nobody\"")
      assert.include(error.message, "may not get leases.coordination.k8s.io in namespace \"leasekit-security\"")
      assert.include(error.message, "verbs: [\"get\"]")
      assert.include(error.message, "Role in namespace")
    }))

  it.effect("bearer tokens never appear in logs (debug), spans, errors or console output", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const out: Array<string> = []
      const spans: Array<Tracer.NativeSpan> = []
      const tracer = Tracer.make({
        span(options) {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const capturing = Logger.make((options) => {
        out.push(Util.inspect(options.message, { depth: 10 }))
        out.push(Cause.pretty(options.cause))
      })
      // Console and stdout/stderr, for the built-in loggers and anything printing directly.
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const saved = {
            log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug,
            trace: console.trace, out: process.stdout.write, err: process.stderr.write
          }
          const record = (...args: Array<unknown>) => {
            out.push(Util.format(...args))
          }
          console.log = console.info = console.warn = console.error = console.debug = console.trace = record
          process.stdout.write = ((chunk: unknown) => {
            out.push(String(chunk))
            return true
          }) as typeof process.stdout.write
          process.stderr.write = ((chunk: unknown) => {
            out.push(String(chunk))
            return true
          }) as typeof process.stderr.write
          return saved
        }),
        (saved) =>
          Effect.sync(() => {
            Object.assign(console, {
              log: saved.log, info: saved.info, warn: saved.warn, error: saved.error, debug: saved.debug, trace: saved.trace
            })
            process.stdout.write = saved.out
            process.stderr.write = saved.err
          })
      )

      const bogus = `bogus-${suffix()}${suffix()}`
      const tokenDir = Fs.mkdtempSync(Path.join(cp.dir, "token-file-"))
      Fs.writeFileSync(Path.join(tokenDir, "token"), `${cp.users.admin.token}\n`)
      const fromTokenFile = yield* kubeconfigOf("admin")
      fromTokenFile.users[0]!.user = { tokenFile: Path.join(tokenDir, "token") }
      const wrong = yield* kubeconfigOf("admin")
      wrong.users[0]!.user = { token: bogus }
      const unreachable = yield* kubeconfigOf("admin")
      unreachable.clusters[0]!.cluster["server"] = `https://127.0.0.1:${yield* closedPort}`
      const files = {
        tokenFile: yield* writeKubeconfig(fromTokenFile),
        wrong: yield* writeKubeconfig(wrong),
        unreachable: yield* writeKubeconfig(unreachable)
      }

      const errors: Array<unknown> = []
      const failing = <A, E>(self: Effect.Effect<A, E, never>) =>
        Effect.exit(self).pipe(Effect.tap((exit) => Effect.sync(() => {
          if (Exit.isFailure(exit)) errors.push(exit.cause)
        })))

      const session = Effect.gen(function*() {
        // A full cycle as admin, with several renewals, and a contender that is refused meanwhile.
        const name = `secret-${suffix()}`
        for (const file of [cp.users.admin.kubeconfig, files.tokenFile, cp.users.restricted.kubeconfig]) {
          yield* Effect.scoped(Effect.gen(function*() {
            const store = yield* storeFrom(file)
            const held = yield* Lease.acquire({ namespace, name, ...timing }).pipe(Effect.provideService(LeaseStore.LeaseStore, store))
            const first = yield* held.record
            yield* held.record.pipe(
              Effect.flatMap((r) => r.version !== first.version ? Effect.void : Effect.fail("not renewed")),
              Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 })
            )
            const other = yield* storeFrom(cp.users.admin.kubeconfig)
            yield* failing(
              Lease.acquire({ namespace, name, ...timing, timeout: "500 millis" }).pipe(
                Effect.provideService(LeaseStore.LeaseStore, other),
                Effect.scoped
              )
            )
            yield* held.release
          }))
        }
        // Failures: rejected token, no rights, no server, a lost lease, a forbidden delete.
        yield* failing(via(files.wrong, tryAcquire()))
        yield* failing(via(cp.users.nobody.kubeconfig, tryAcquire()))
        yield* failing(via(files.unreachable, tryAcquire()))
        yield* failing(Effect.scoped(Effect.gen(function*() {
          const store = yield* storeFrom(cp.users.restricted.kubeconfig)
          const held = yield* Lease.acquire({ namespace, name: `secret-${suffix()}`, ...timing, releaseMode: "delete" }).pipe(
            Effect.provideService(LeaseStore.LeaseStore, store)
          )
          yield* held.release
        })))
        yield* failing(Effect.scoped(Effect.gen(function*() {
          const lease = `secret-${suffix()}`
          const store = yield* storeFrom(cp.users.admin.kubeconfig)
          const held = yield* Lease.acquire({ namespace, name: lease, ...timing }).pipe(Effect.provideService(LeaseStore.LeaseStore, store))
          yield* cp.request({ method: "DELETE", path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${lease}` })
          yield* held.guard(Effect.never)
        })))
      })

      yield* session.pipe(
        Effect.provideService(Tracer.Tracer, tracer),
        Effect.provide(Logger.layer(
          [capturing, Logger.consolePretty(), Logger.consoleJson, Logger.consoleLogFmt, Logger.defaultLogger],
          { mergeWithExisting: false }
        )),
        Effect.provideService(References.MinimumLogLevel, "All")
      )

      const text = [
        ...out,
        ...spans.map((s) =>
          Util.inspect({ name: s.name, attributes: s.attributes, events: s.events, links: s.links, status: s.status }, { depth: 12 })
        ),
        ...errors.flatMap((cause) => [Cause.pretty(cause as Cause.Cause<unknown>), Util.inspect(cause, { depth: 12 })]),
        ...errors.map((cause) => JSON.stringify(Cause.squash(cause as Cause.Cause<unknown>)))
      ].join("\n")
      // The capture did capture: debug logs, spans and the failures are there.
      assert.include(text, "lease acquired")
      assert.include(text, "lease renewed")
      assert.include(text, "Unauthorized")
      assert.include(text, "Forbidden")
      assert.include(text, "ECONNREFUSED")
      assert.isTrue(spans.some((s) => s.name === "leasekit.lease.renew"))
      assert.isAtLeast(errors.length, 5)
      for (const [who, token] of Object.entries({ ...Object.fromEntries(Object.values(cp.users).map((u) => [u.name, u.token])), bogus })) {
        assert.notInclude(text, token, `the ${who} token appeared in the output`)
      }
    }))

  it.effect("least privilege: get/create/update on leases suffice for acquire, renew, release and a polled handover", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const name = `least-${suffix()}`
      const mark = yield* cp.auditMark
      const a = yield* storeFrom(cp.users.restricted.kubeconfig)
      const b = yield* storeFrom(cp.users.restricted.kubeconfig)
      const first = yield* Lease.acquire({ namespace, name, ...timing }).pipe(Effect.provideService(LeaseStore.LeaseStore, a))
      // The second contender waits; its watch is forbidden, so it polls every retryPeriod.
      const waiting = yield* Lease.acquire({ namespace, name, ...timing, timeout: "30 seconds" }).pipe(
        Effect.provideService(LeaseStore.LeaseStore, b),
        Effect.forkChild
      )
      const version = (yield* first.record).version
      yield* first.record.pipe(
        Effect.flatMap((r) => r.version !== version ? Effect.void : Effect.fail("not renewed")),
        Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 })
      )
      assert.isTrue(yield* first.isHeld)
      yield* first.release
      const second = yield* Fiber.join(waiting)
      assert.strictEqual(second.token, first.token + 1)
      yield* second.release

      const events = yield* cp.auditEvents({ after: mark, user: "restricted", resource: "leases" })
      const allowed = new Set(events.filter((e) => e.code !== undefined && e.code < 400).map((e) => e.verb))
      const denied = new Set(events.filter((e) => e.code === 403).map((e) => e.verb))
      assert.deepStrictEqual([...allowed].sort(), ["create", "get", "update"].filter((v) => allowed.has(v)).sort())
      assert.isTrue(allowed.has("get") && allowed.has("update"))
      for (const verb of denied) assert.include(["list", "watch"], verb, "only the optional watch was refused")

      // What delete adds: releaseMode "delete" — refused here with a message naming the rule.
      const deleting = yield* Lease.acquire({ namespace, name, ...timing, releaseMode: "delete" }).pipe(
        Effect.provideService(LeaseStore.LeaseStore, a)
      )
      const refused = yield* Effect.flip(deleting.release)
      assert.instanceOf(refused, LeaseRelinquishmentError)
      assert.strictEqual(refused.reason._tag, "Store")
      assert.include(refused.message, "verbs: [\"delete\"]")
      assert.include(refused.message, "release with the default mode")
    }))
})
