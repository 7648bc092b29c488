import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Layer, Redacted, Result, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import * as ExecCredential from "../src/internal/execCredential.ts"

const v1 = "client.authentication.k8s.io/v1"
const v1beta1 = "client.authentication.k8s.io/v1beta1"
const secret = "s3cr3t-refresh-token-that-must-never-be-printed"

const Spawner = NodeChildProcessSpawner.layer.pipe(Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)))

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "leasekit-exec-"))

/** Writes an executable `#!/bin/sh` script and returns its absolute path. */
const script = (dir: string, name: string, body: string, mode = 0o755) => {
  const file = path.join(dir, name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode })
  return file
}

/** A shell line printing `value` as JSON (a quoted here-document: nothing is expanded). */
const printJson = (value: unknown) => `cat <<'LEASEKIT_JSON'\n${JSON.stringify(value)}\nLEASEKIT_JSON`

const tokenCredential = (token: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: v1,
  kind: "ExecCredential",
  status: { token, ...extra }
})

/** A plugin that counts its runs in `<dir>/runs` and answers `tok-<run number>`. */
const countingPlugin = (dir: string, options: { readonly sleep?: string; readonly expiry?: string } = {}) =>
  script(
    dir,
    "counting-plugin",
    [
      `echo run >> "${dir}/runs"`,
      `n=$(wc -l < "${dir}/runs" | tr -d ' ')`,
      options.sleep === undefined ? "" : `sleep ${options.sleep}`,
      `cat <<LEASEKIT_JSON`,
      `{"apiVersion":"${v1}","kind":"ExecCredential","status":{"token":"tok-$n"${
        options.expiry === undefined ? "" : `,"expirationTimestamp":"${options.expiry}"`
      }}}`,
      `LEASEKIT_JSON`
    ].join("\n")
  )

const runs = (dir: string) => {
  const file = path.join(dir, "runs")
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter((line) => line !== "").length : 0
}

const execConfig = (command: string, overrides: Partial<ExecCredential.ExecConfig> = {}): ExecCredential.ExecConfig => ({
  command,
  args: [],
  env: [],
  apiVersion: v1,
  interactiveMode: "Never",
  provideClusterInfo: false,
  ...overrides
})

const cluster: ExecCredential.ClusterInfo = { server: "https://127.0.0.1:6443", insecureSkipTlsVerify: false }

const source = (config: ExecCredential.ExecConfig, options: Partial<ExecCredential.MakeOptions> = {}) =>
  ExecCredential.make(config, { user: "u1", baseDir: undefined, cluster, stdinIsTerminal: false, ...options })

const tokenOf = (credential: ExecCredential.ExecCredential) =>
  credential.token === undefined ? undefined : Redacted.value(credential.token)

/** Fails the test if any rendering of the error contains one of `secrets`. */
const assertNoLeak = (error: ExecCredential.CredentialError, secrets: ReadonlyArray<string>) => {
  const renderings = [error.message, error.detail, String(error), JSON.stringify(error), util.inspect(error, { depth: 10 })]
  for (const rendering of renderings) {
    for (const text of secrets) assert.notInclude(rendering, text, "plugin output must never reach an error")
  }
}

const failureOf = (config: ExecCredential.ExecConfig, options: Partial<ExecCredential.MakeOptions> = {}) =>
  Effect.gen(function*() {
    const credentials = yield* source(config, options)
    const error = yield* Effect.flip(credentials.current)
    assert.instanceOf(error, ExecCredential.CredentialError)
    assert.strictEqual(error.user, "u1")
    return error
  })

/** Whether `pid` is a live process (a zombie counts as gone). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

const readPid = (file: string) => Number(fs.readFileSync(file, "utf8").trim())

/** Polls (real time) until `file` exists and is non-empty. */
const waitForFile = (file: string) =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 250; attempt++) {
      if (fs.existsSync(file) && fs.readFileSync(file, "utf8").trim() !== "") return
      yield* Effect.sleep("20 millis")
    }
    assert.fail(`${file} did not appear`)
  })

/** Runs `effect` with `dir` first on this process's PATH, restoring PATH afterwards. */
const withPathPrefix = <A, E, R>(dir: string, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const saved = process.env.PATH
      process.env.PATH = `${dir}${path.delimiter}${saved ?? ""}`
      return saved
    }),
    () => effect,
    (saved) => Effect.sync(() => {
      process.env.PATH = saved
    })
  )

describe("ExecCredential: what a plugin returns", () => {
  it.effect("a token is returned, redacted", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(dir, "plugin", printJson(tokenCredential("tok-123")))
      const credential = yield* (yield* source(execConfig(plugin))).current
      assert.strictEqual(tokenOf(credential), "tok-123")
      assert.isUndefined(credential.clientCertificateData)
      assert.isUndefined(credential.expiresAt)
      assert.notInclude(util.inspect(credential), "tok-123")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a client certificate and key are returned (a request would otherwise go out anonymous)", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const cert = "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
      const key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQkey\n-----END EC PRIVATE KEY-----\n"
      const plugin = script(
        dir,
        "plugin",
        printJson({ apiVersion: v1, kind: "ExecCredential", status: { clientCertificateData: cert, clientKeyData: key } })
      )
      const credential = yield* (yield* source(execConfig(plugin))).current
      assert.isUndefined(credential.token)
      assert.strictEqual(credential.clientCertificateData, cert)
      assert.strictEqual(credential.clientKeyData === undefined ? undefined : Redacted.value(credential.clientKeyData), key)
    }).pipe(Effect.provide(Spawner)))

  it.effect("an ExecCredential with neither token nor certificate is refused", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", printJson({ apiVersion: v1, kind: "ExecCredential", status: {} }))
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "neither a token nor a client certificate and key")
    }).pipe(Effect.provide(Spawner)))

  it.effect("output that is not JSON is refused without being quoted", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", `echo "token=${secret}"`)
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "did not print JSON")
      assert.include(error.message, "yourself to see its output")
      assertNoLeak(error, [secret])
    }).pipe(Effect.provide(Spawner)))

  it.effect("an object of another kind is refused", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", printJson({ apiVersion: v1, kind: "Secret", status: { token: secret } }))
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "kind is not ExecCredential")
      assertNoLeak(error, [secret])
    }).pipe(Effect.provide(Spawner)))

  it.effect("a field of the wrong type is named, its value is not shown", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", printJson({ apiVersion: v1, kind: "ExecCredential", status: { token: [secret] } }))
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "output.status.token has the wrong type")
      assertNoLeak(error, [secret])
    }).pipe(Effect.provide(Spawner)))

  it.effect("decodeCredential names each way an ExecCredential can be unusable", () =>
    Effect.sync(() => {
      const now = Date.parse("2030-01-01T00:00:00Z")
      const detail = (value: unknown, apiVersion: ExecCredential.ExecApiVersion = v1) => {
        const result = ExecCredential.decodeCredential(JSON.stringify(value), apiVersion, now, 1)
        assert.isTrue(Result.isFailure(result), `should be refused: ${JSON.stringify(value)}`)
        return Result.isFailure(result) ? result.failure : ""
      }
      const cert = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
      const key = "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----"
      assert.include(detail(tokenCredential(secret), v1beta1), "apiVersion is not the kubeconfig's client.authentication.k8s.io/v1beta1")
      assert.include(detail({ apiVersion: v1, kind: "ExecCredential" }), "without a status")
      assert.include(detail({ apiVersion: v1, kind: "ExecCredential", status: { token: "" } }), "neither a token")
      assert.include(detail({ apiVersion: v1, kind: "ExecCredential", status: { clientCertificateData: cert } }), "certificate without a key")
      assert.include(detail({ apiVersion: v1, kind: "ExecCredential", status: { clientKeyData: key } }), "key without a certificate")
      assert.include(detail({ apiVersion: v1, kind: "ExecCredential", status: { clientCertificateData: secret, clientKeyData: key } }), "clientCertificateData is not PEM")
      assert.include(detail(tokenCredential(secret, { expirationTimestamp: "tomorrow" })), "not an RFC 3339 time")
      assert.include(detail(tokenCredential(secret, { expirationTimestamp: "2029-12-31T23:59:59Z" })), "already passed")
      assert.include(detail([secret]), "output has the wrong type")
      for (const value of [tokenCredential(secret, { expirationTimestamp: "tomorrow" }), [secret], { apiVersion: secret }]) {
        assert.notInclude(detail(value), secret)
      }
      const ok = ExecCredential.decodeCredential(
        JSON.stringify(tokenCredential("t", { expirationTimestamp: "2030-01-01T01:00:00.5+01:00" })),
        v1,
        now,
        7
      )
      assert.isTrue(Result.isSuccess(ok))
      if (Result.isSuccess(ok)) {
        assert.strictEqual(ok.success.expiresAt, Date.parse("2030-01-01T00:00:00.5Z"))
        assert.strictEqual(ok.success.generation, 7)
      }
    }))
})

describe("ExecCredential: a failing plugin", () => {
  it.effect("exit 1 with a secret on stderr and stdout: the error has the exit code, neither secret", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", [`echo "stderr ${secret}-err" >&2`, `echo "stdout ${secret}-out"`, "exit 1"].join("\n"))
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Failed")
      assert.include(error.message, "exited with code 1")
      assert.include(error.message, "yourself to see its output")
      assertNoLeak(error, [secret, "stderr", "stdout "])
    }).pipe(Effect.provide(Spawner)))

  it.effect("a plugin killed by a signal says which", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", "kill -9 $$")
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Failed")
      assert.include(error.message, "signal SIGKILL")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a file that is not executable cannot be started", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", printJson(tokenCredential("t")), 0o644)
      const error = yield* failureOf(execConfig(plugin))
      assert.strictEqual(error.reason, "Failed")
      assert.include(error.message, "could not be started (PermissionDenied: is it executable?)")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a command that is not installed fails with NotFound and the kubeconfig's installHint", () =>
    Effect.gen(function*() {
      const error = yield* failureOf(
        execConfig("leasekit-no-such-credential-plugin", { installHint: "Install it with: brew install leasekit-plugin" })
      )
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.message, "\"leasekit-no-such-credential-plugin\" was not found on PATH")
      assert.include(error.message, "Install it with: brew install leasekit-plugin")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a relative command that does not exist names the path it was resolved to", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const error = yield* failureOf(execConfig("./bin/missing"), { baseDir: dir })
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.message, `at ${path.join(dir, "bin", "missing")}`)
      assert.include(error.message, "correct exec.command")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a failed run is not cached: the next call runs the plugin again", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(dir, "plugin", `echo run >> "${dir}/runs"\nexit 3`)
      const credentials = yield* source(execConfig(plugin))
      assert.strictEqual((yield* Effect.flip(credentials.current)).reason, "Failed")
      assert.strictEqual((yield* Effect.flip(credentials.current)).reason, "Failed")
      assert.strictEqual(runs(dir), 2)
    }).pipe(Effect.provide(Spawner)))
})

describe("ExecCredential: where the command is found", () => {
  it.effect("a relative command with a path separator is resolved against the kubeconfig's directory", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      script(dir, "bin/plugin", printJson(tokenCredential("from-basedir")))
      assert.notStrictEqual(process.cwd(), dir)
      const credential = yield* (yield* source(execConfig("./bin/plugin"), { baseDir: dir })).current
      assert.strictEqual(tokenOf(credential), "from-basedir")
    }).pipe(Effect.provide(Spawner)))

  it.effect("without a kubeconfig file (baseDir undefined) a relative command is resolved against the working directory", () =>
    Effect.gen(function*() {
      const plugin = script(tempDir(), "plugin", printJson(tokenCredential("from-cwd")))
      const relative = path.relative(process.cwd(), plugin)
      assert.include(relative, path.sep)
      assert.isFalse(path.isAbsolute(relative))
      const credential = yield* (yield* source(execConfig(relative), { baseDir: undefined })).current
      assert.strictEqual(tokenOf(credential), "from-cwd")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a bare command is looked up on PATH, not in the kubeconfig's directory", () =>
    Effect.gen(function*() {
      const onPath = tempDir()
      const baseDir = tempDir()
      script(onPath, "leasekit-test-plugin", printJson(tokenCredential("from-path")))
      script(baseDir, "leasekit-test-plugin", printJson(tokenCredential("from-basedir")))
      const credential = yield* withPathPrefix(
        onPath,
        Effect.flatMap(source(execConfig("leasekit-test-plugin"), { baseDir }), (credentials) => credentials.current)
      )
      assert.strictEqual(tokenOf(credential), "from-path")
    }).pipe(Effect.provide(Spawner)))

  it("resolveCommand follows client-go", () => {
    assert.strictEqual(ExecCredential.resolveCommand("aws", "/etc/kube"), "aws")
    assert.strictEqual(ExecCredential.resolveCommand("/usr/bin/aws", "/etc/kube"), "/usr/bin/aws")
    assert.strictEqual(ExecCredential.resolveCommand("bin/aws", "/etc/kube"), "/etc/kube/bin/aws")
    assert.strictEqual(ExecCredential.resolveCommand("../aws", "/etc/kube"), "/etc/aws")
    assert.strictEqual(ExecCredential.resolveCommand("./aws", undefined), path.join(process.cwd(), "aws"))
  })
})

describe("ExecCredential: bounds", () => {
  it.live("a plugin that hangs is stopped at the timeout, with its process group", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(dir, "plugin", [`echo $$ > "${dir}/pid"`, "sleep 30 &", `echo $! > "${dir}/child"`, "wait"].join("\n"))
      const error = yield* failureOf(execConfig(plugin), { timeout: "300 millis" })
      assert.strictEqual(error.reason, "Timeout")
      assert.include(error.message, "did not finish within")
      for (const file of ["pid", "child"]) {
        const pid = readPid(path.join(dir, file))
        assert.isFalse(isAlive(pid), `${file} ${pid} should be gone`)
      }
    }).pipe(Effect.provide(Spawner)))

  it.live("a plugin that ignores SIGTERM is killed", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(
        dir,
        "plugin",
        ["trap '' TERM", `echo $$ > "${dir}/pid"`, "sleep 30 &", `echo $! > "${dir}/child"`, "wait"].join("\n")
      )
      const error = yield* failureOf(execConfig(plugin), { timeout: "300 millis" })
      assert.strictEqual(error.reason, "Timeout")
      for (const file of ["pid", "child"]) {
        assert.isFalse(isAlive(readPid(path.join(dir, file))), `${file} should be gone`)
      }
    }).pipe(Effect.provide(Spawner)))

  it.live("standard output is bounded: an endless writer is stopped and nothing it wrote is shown", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(dir, "plugin", [`echo $$ > "${dir}/pid"`, `exec yes "${secret}"`].join("\n"))
      const error = yield* failureOf(execConfig(plugin), { timeout: "10 seconds" })
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, `more than ${ExecCredential.maxOutputBytes} bytes`)
      assertNoLeak(error, [secret])
      assert.isFalse(isAlive(readPid(path.join(dir, "pid"))))
    }).pipe(Effect.provide(Spawner)))

  it.live("standard input is closed: a plugin that reads it sees end of file at once", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(
        dir,
        "plugin",
        [`if read -r line; then echo read > "${dir}/stdin"; else echo eof > "${dir}/stdin"; fi`, printJson(tokenCredential("t"))].join("\n")
      )
      const credential = yield* (yield* source(execConfig(plugin, { interactiveMode: "IfAvailable" }), { timeout: "5 seconds" })).current
      assert.strictEqual(tokenOf(credential), "t")
      assert.strictEqual(fs.readFileSync(path.join(dir, "stdin"), "utf8").trim(), "eof")
    }).pipe(Effect.provide(Spawner)))

  it.live("closing the owning scope stops a running plugin and interrupts its callers", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(dir, "plugin", [`echo $$ > "${dir}/pid"`, "sleep 30 &", `echo $! > "${dir}/child"`, "wait"].join("\n"))
      const scope = yield* Scope.make()
      const credentials = yield* source(execConfig(plugin)).pipe(Scope.provide(scope))
      const caller = yield* Effect.forkChild(credentials.current)
      yield* waitForFile(path.join(dir, "child"))
      const pid = readPid(path.join(dir, "pid"))
      const child = readPid(path.join(dir, "child"))
      assert.isTrue(isAlive(pid))
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Effect.exit(Fiber.join(caller))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause), "the caller is interrupted")
      assert.isFalse(isAlive(pid), "the plugin is gone")
      assert.isFalse(isAlive(child), "its process group is gone")
      const late = yield* Effect.exit(credentials.current)
      assert.isTrue(Exit.isFailure(late) && Cause.hasInterruptsOnly(late.cause), "calls after close are interrupted")
      assert.strictEqual(fs.readFileSync(path.join(dir, "pid"), "utf8").trim(), String(pid), "the plugin did not run again")
    }).pipe(Effect.provide(Spawner)))
})

describe("ExecCredential: one run for many callers, cached until expiry", () => {
  it.effect("20 concurrent callers share one run", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const credentials = yield* source(execConfig(countingPlugin(dir, { sleep: "0.2" })))
      const all = yield* Effect.all(Array.from({ length: 20 }, () => credentials.current), { concurrency: "unbounded" })
      assert.strictEqual(runs(dir), 1)
      assert.deepStrictEqual(new Set(all.map(tokenOf)), new Set(["tok-1"]))
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-1")
      assert.strictEqual(runs(dir), 1, "the result is cached")
    }).pipe(Effect.provide(Spawner)))

  it.effect("a credential is cached until its expirationTimestamp, then the plugin runs again", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2030-01-01T00:00:00Z"))
      const dir = tempDir()
      const credentials = yield* source(execConfig(countingPlugin(dir, { expiry: "2030-01-01T00:05:00Z" })))
      const first = yield* credentials.current
      assert.strictEqual(first.expiresAt, Date.parse("2030-01-01T00:05:00Z"))
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-1")
      assert.strictEqual(runs(dir), 1)
      yield* TestClock.adjust("1 minute")
      // at the expirationTimestamp the credential is no longer used; this plugin answers with the
      // same (now past) timestamp, which is refused
      const error = yield* Effect.flip(credentials.current)
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "already passed")
      assert.strictEqual(runs(dir), 2)
    }).pipe(Effect.provide(Spawner)))

  it.effect("an expired credential is replaced by the plugin's next one", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2030-01-01T00:00:00Z"))
      const dir = tempDir()
      // each run answers with an expiry one hour after run n's start
      const plugin = script(
        dir,
        "plugin",
        [
          `echo run >> "${dir}/runs"`,
          `n=$(wc -l < "${dir}/runs" | tr -d ' ')`,
          "cat <<LEASEKIT_JSON",
          `{"apiVersion":"${v1}","kind":"ExecCredential","status":{"token":"tok-$n","expirationTimestamp":"2030-01-01T0$n:00:00Z"}}`,
          "LEASEKIT_JSON"
        ].join("\n")
      )
      const credentials = yield* source(execConfig(plugin))
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-1")
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-1")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-2")
      assert.strictEqual(runs(dir), 2)
    }).pipe(Effect.provide(Spawner)))

  it.effect("a credential without expirationTimestamp is kept until refreshed", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const credentials = yield* source(execConfig(countingPlugin(dir)))
      yield* credentials.current
      yield* TestClock.adjust("3650 days")
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-1")
      assert.strictEqual(runs(dir), 1)
    }).pipe(Effect.provide(Spawner)))

  it.effect("refresh re-runs the plugin once for concurrent callers; a late refresh of an old credential does not", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const credentials = yield* source(execConfig(countingPlugin(dir, { sleep: "0.2" })))
      const first = yield* credentials.current
      assert.strictEqual(first.generation, 1)
      const refreshed = yield* Effect.all(Array.from({ length: 10 }, () => credentials.refresh(first)), { concurrency: "unbounded" })
      assert.strictEqual(runs(dir), 2, "ten concurrent refreshes ran the plugin once")
      assert.deepStrictEqual(new Set(refreshed.map(tokenOf)), new Set(["tok-2"]))
      assert.strictEqual(refreshed[0]?.generation, 2)
      assert.strictEqual(tokenOf(yield* credentials.refresh(first)), "tok-2", "a 401 for the replaced credential")
      assert.strictEqual(runs(dir), 2)
      assert.strictEqual(tokenOf(yield* credentials.current), "tok-2")
      assert.strictEqual(tokenOf(yield* credentials.refresh(refreshed[0])), "tok-3")
      assert.strictEqual(tokenOf(yield* credentials.refresh()), "tok-4", "refresh() replaces the cached credential")
      assert.strictEqual(runs(dir), 4)
    }).pipe(Effect.provide(Spawner)))

  it.effect("a refresh while a newer run is in progress joins it", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const credentials = yield* source(execConfig(countingPlugin(dir, { sleep: "0.2" })))
      const first = yield* credentials.current
      const running = yield* Effect.forkChild(credentials.refresh(first), { startImmediately: true })
      const joined = yield* credentials.refresh(first)
      const second = yield* Fiber.join(running)
      assert.strictEqual(runs(dir), 2)
      assert.strictEqual(tokenOf(joined), "tok-2")
      assert.strictEqual(tokenOf(second), "tok-2")
    }).pipe(Effect.provide(Spawner)))
})

describe("ExecCredential: environment and standard input", () => {
  const infoPlugin = (dir: string, apiVersion: ExecCredential.ExecApiVersion = v1) =>
    script(
      dir,
      "plugin",
      [`printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/info"`, printJson({ ...tokenCredential("t"), apiVersion })].join("\n")
    )

  it.effect("KUBERNETES_EXEC_INFO carries apiVersion, kind and interactive, and no cluster unless asked", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const config = execConfig(infoPlugin(dir, v1beta1), { apiVersion: v1beta1, interactiveMode: "IfAvailable", config: { audience: "a" } })
      yield* (yield* source(config)).current
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(dir, "info"), "utf8")), {
        kind: "ExecCredential",
        apiVersion: v1beta1,
        spec: { interactive: false }
      })
    }).pipe(Effect.provide(Spawner)))

  it.effect("with provideClusterInfo, KUBERNETES_EXEC_INFO carries the cluster and the exec extension", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const config = execConfig(infoPlugin(dir), { provideClusterInfo: true, config: { audience: "06e3fbd18de8" } })
      const fullCluster: ExecCredential.ClusterInfo = {
        server: "https://k8s.example:6443",
        certificateAuthorityData: "LS0tLS1CRUdJTg==",
        insecureSkipTlsVerify: true,
        tlsServerName: "k8s.internal",
        proxyUrl: "http://proxy:3128"
      }
      yield* (yield* source(config, { cluster: fullCluster })).current
      assert.deepStrictEqual(JSON.parse(fs.readFileSync(path.join(dir, "info"), "utf8")), {
        kind: "ExecCredential",
        apiVersion: v1,
        spec: {
          interactive: false,
          cluster: {
            server: "https://k8s.example:6443",
            "certificate-authority-data": "LS0tLS1CRUdJTg==",
            "insecure-skip-tls-verify": true,
            "tls-server-name": "k8s.internal",
            "proxy-url": "http://proxy:3128",
            config: { audience: "06e3fbd18de8" }
          }
        }
      })
    }).pipe(Effect.provide(Spawner)))

  it.effect("a minimal cluster omits the empty fields", () =>
    Effect.sync(() => {
      const info = JSON.parse(ExecCredential.execInfo(execConfig("x", { provideClusterInfo: true }), cluster, true))
      assert.deepStrictEqual(info.spec, { interactive: true, cluster: { server: "https://127.0.0.1:6443" } })
    }))

  it.effect("exec.env is added on top of the process environment", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const plugin = script(
        dir,
        "plugin",
        [`printf '%s|%s|%s' "$LEASEKIT_FOO" "$HOME" "\${PATH:+has-path}" > "${dir}/env"`, printJson(tokenCredential("t"))].join("\n")
      )
      const env = [{ name: "LEASEKIT_FOO", value: "bar" }, { name: "HOME", value: "/custom-home" }]
      yield* (yield* source(execConfig(plugin, { env }))).current
      assert.strictEqual(fs.readFileSync(path.join(dir, "env"), "utf8"), "bar|/custom-home|has-path")
    }).pipe(Effect.provide(Spawner)))

  it.effect("interactiveMode Always without a terminal fails with Interactive and does not run the plugin", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const error = yield* failureOf(execConfig(countingPlugin(dir), { interactiveMode: "Always" }), { stdinIsTerminal: false })
      assert.strictEqual(error.reason, "Interactive")
      assert.include(error.message, "not a terminal")
      assert.strictEqual(runs(dir), 0)
    }).pipe(Effect.provide(Spawner)))

  it.effect("IfAvailable with a terminal tells the plugin it is interactive", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      yield* (yield* source(execConfig(infoPlugin(dir), { interactiveMode: "IfAvailable" }), { stdinIsTerminal: true })).current
      assert.strictEqual(JSON.parse(fs.readFileSync(path.join(dir, "info"), "utf8")).spec.interactive, true)
    }).pipe(Effect.provide(Spawner)))

  it("interactivity follows client-go's isInteractive", () => {
    assert.strictEqual(ExecCredential.interactivity("Never", true), false)
    assert.strictEqual(ExecCredential.interactivity("Never", false), false)
    assert.strictEqual(ExecCredential.interactivity("IfAvailable", true), true)
    assert.strictEqual(ExecCredential.interactivity("IfAvailable", false), false)
    assert.strictEqual(ExecCredential.interactivity("Always", true), true)
    assert.strictEqual(ExecCredential.interactivity("Always", false), "unavailable")
  })
})

describe("ExecCredential: decodeExecConfig", () => {
  const decode = (raw: unknown) => ExecCredential.decodeExecConfig(raw, "u1")
  const failure = (raw: unknown) => {
    const result = decode(raw)
    assert.isTrue(Result.isFailure(result), `should be refused: ${JSON.stringify(raw)}`)
    return Result.isFailure(result) ? result.failure : ""
  }

  it("a v1beta1 mapping as kubectl writes it decodes, interactiveMode defaulting to IfAvailable", () => {
    const result = decode({ command: "aws", args: ["eks", "get-token"], env: null, apiVersion: v1beta1, provideClusterInfo: false })
    assert.isTrue(Result.isSuccess(result))
    if (Result.isSuccess(result)) {
      assert.deepStrictEqual(result.success, {
        command: "aws",
        args: ["eks", "get-token"],
        env: [],
        apiVersion: v1beta1,
        interactiveMode: "IfAvailable",
        provideClusterInfo: false,
        installHint: undefined
      })
    }
  })

  it("a v1 mapping keeps its fields", () => {
    const result = decode({
      command: "plugin",
      apiVersion: v1,
      interactiveMode: "Never",
      env: [{ name: "A", value: "b" }],
      installHint: "install it",
      provideClusterInfo: true
    })
    assert.isTrue(Result.isSuccess(result))
    if (Result.isSuccess(result)) {
      assert.deepStrictEqual(result.success.env, [{ name: "A", value: "b" }])
      assert.strictEqual(result.success.interactiveMode, "Never")
      assert.strictEqual(result.success.installHint, "install it")
      assert.isTrue(result.success.provideClusterInfo)
      assert.deepStrictEqual(result.success.args, [])
    }
  })

  it("v1 requires interactiveMode", () => {
    assert.include(failure({ command: "plugin", apiVersion: v1 }), "users[name=u1].user.exec.interactiveMode is required with apiVersion client.authentication.k8s.io/v1")
  })

  it("each rule names its field", () => {
    assert.include(failure({ apiVersion: v1beta1 }), "users[name=u1].user.exec.command is missing")
    assert.include(failure({ command: "", apiVersion: v1beta1 }), "command is empty")
    assert.include(failure({ command: "p" }), "exec.apiVersion is missing")
    assert.include(failure({ command: "p", apiVersion: "client.authentication.k8s.io/v1alpha1" }), "is not supported: use client.authentication.k8s.io/v1 or")
    assert.include(failure({ command: "p", apiVersion: v1, interactiveMode: "Sometimes" }), "interactiveMode \"Sometimes\" is not one of Never, IfAvailable, Always")
    assert.include(failure({ command: "p", apiVersion: v1beta1, env: [{ name: "", value: "x" }] }), "env[0].name is empty")
    assert.include(failure({ command: "p", apiVersion: v1beta1, args: "eks get-token" }), "exec.args has the wrong type")
    assert.include(failure("command: p"), "users[name=u1].user.exec has the wrong type")
  })

  it("an env value of the wrong type is named, never shown", () => {
    const detail = failure({ command: "p", apiVersion: v1beta1, env: [{ name: "TOKEN", value: [secret] }] })
    assert.include(detail, "exec.env.0.value has the wrong type")
    assert.notInclude(detail, secret)
  })
})
