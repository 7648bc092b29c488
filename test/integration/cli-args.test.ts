/**
 * The `leasekit` binary's command line and output, end to end against a real kube-apiserver (with
 * etcd) from @leasekit/testing: `run`'s CMD must follow `--` (CMD's own flags are never read as
 * leasekit's), an empty CMD is a usage error and a missing one exits 127, global flags may come
 * before the subcommand, `--help` shows defaults, a server that is not a Kubernetes API server is
 * not taken for "the lease does not exist", clock skew is not shown as a negative age,
 * `release -o json` refusals are JSON, and what is printed from a Lease (a hostile holder
 * identity) cannot drive the terminal. Nothing is mocked but the one non-Kubernetes server; every
 * wait polls a condition and is bounded.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import * as Path from "node:path"
import { leaseObjects, microTime } from "./leaseObjects.ts"
import { admin, leasekit, makeTempDir } from "./leasekitProcess.ts"

const namespace = "leasekit-cli-args"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { createLease, readLease } = leaseObjects(namespace)

/** A temporary folder, removed with the scope. */
const tempDir = makeTempDir("leasekit-cli-args-")

/** An HTTP server on loopback that answers every request with `status` and `body`, and a
 * kubeconfig pointing at it; closed with the scope. */
const notKubernetes = (dir: string, status: number, body: string) =>
  Effect.gen(function*() {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() =>
        new Promise<Http.Server>((resolve) => {
          const s = Http.createServer((_request, response) => {
            response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8" })
            response.end(body)
          })
          s.listen(0, "127.0.0.1", () => resolve(s))
        })
      ),
      (s) => Effect.promise(() => new Promise<void>((resolve) => s.close(() => resolve())))
    )
    const port = (server.address() as { port: number }).port
    const file = Path.join(dir, "not-kubernetes.kubeconfig")
    Fs.writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "web", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "web", context: { cluster: "web", user: "u", namespace } }],
        "current-context": "web"
      })
    )
    return file
  })

/** Any character a terminal acts on: C0 but newline, DEL, C1. */
const terminalControls = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit command line and output", (it) => {
  it.effect("run without `--` exits 64 with the corrected line: CMD's own flags are not read as leasekit's, nothing is run or written", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `nodash-${suffix()}`
      const marker = Path.join(dir, "ran")
      for (
        const [args, fix] of [
          // Was: `-n hi` taken for the namespace, and a wait for the lease in it.
          [["run", ...kube, name, "echo", "-n", "hi"], `leasekit run --kubeconfig ${kube[1]} ${name} -- echo -n hi`],
          // Was: leasekit's help printed, CMD not run, exit 0.
          [["run", ...kube, name, "printf", "x", "--help"], `leasekit run --kubeconfig ${kube[1]} ${name} -- printf x --help`],
          [["run", ...kube, name, "touch", marker], `leasekit run --kubeconfig ${kube[1]} ${name} -- touch ${marker}`]
        ] as const
      ) {
        const ended = yield* leasekit(args)
        assert.strictEqual(ended.code, 64, `${args.join(" ")}: ${ended.stderr}`)
        assert.strictEqual(ended.stdout, "", "no help, no output")
        const lines = ended.stderr.trimEnd().split("\n")
        assert.strictEqual(lines.length, 2, ended.stderr)
        assert.include(lines[0], `the command must follow \`--\`: found "${args[4]}" after NAME "${name}"`)
        assert.strictEqual(lines[1], `  fix: ${fix}`)
      }
      assert.isFalse(Fs.existsSync(marker), "CMD never ran")
      assert.isUndefined(yield* readLease(name), "nothing was written")

      const noName = yield* leasekit(["run", ...kube, "--", "touch", marker])
      assert.strictEqual(noName.code, 64, noName.stderr)
      assert.include(noName.stderr, "no NAME before `--`")
      assert.isFalse(Fs.existsSync(marker))
    }).pipe(Effect.scoped))

  it.effect("after `--`, CMD gets its own flags — `-n`, `--help`, even `--` — untouched", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const name = `dash-${suffix()}`
      const echo = yield* leasekit(["run", ...kube, name, "--", "echo", "-n", "hi"])
      assert.strictEqual(echo.code, 0, echo.stderr)
      assert.strictEqual(echo.stdout, "hi", "echo saw -n")
      const printf = yield* leasekit(["run", ...kube, name, "--try", "--", "printf", "%s|", "--help", "-n", "--", "--verbose"])
      assert.strictEqual(printf.code, 0, printf.stderr)
      assert.strictEqual(printf.stdout, "--help|-n|--|--verbose|")
      assert.strictEqual(printf.stderr, "")
    }))

  it.effect("an empty CMD exits 64 before anything is sent; a missing one exits 127, a non-executable one 126, and the lease is released", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `cmd-${suffix()}`
      const empty = yield* leasekit(["run", ...kube, name, "--", ""])
      assert.strictEqual(empty.code, 64, empty.stderr)
      assert.include(empty.stderr, "the command after `--` is empty")
      assert.notInclude(empty.stderr, "internal error")
      assert.isUndefined(yield* readLease(name), "nothing was written")

      for (const missing of [Path.join(dir, "no-such-program"), `no-such-program-${suffix()}`]) {
        const ended = yield* leasekit(["run", ...kube, name, "--", missing, "arg"])
        assert.strictEqual(ended.code, 127, ended.stderr)
        assert.include(ended.stderr, missing)
        assert.notInclude(ended.stderr, "    at ", "no stack trace")
        assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released after the failed start")
      }
      const script = Path.join(dir, "not-executable.sh")
      Fs.writeFileSync(script, "#!/bin/sh\necho hi\n", { mode: 0o644 })
      const notExecutable = yield* leasekit(["run", ...kube, name, "--", script])
      assert.strictEqual(notExecutable.code, 126, notExecutable.stderr)
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "")
    }).pipe(Effect.scoped))

  it.effect("--kubeconfig, --context, -n/--namespace and --verbose are accepted before the subcommand", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const kubeconfig = cp.users.admin.kubeconfig
      const name = `global-${suffix()}`
      const ran = yield* leasekit(["--kubeconfig", kubeconfig, "-n", namespace, "--verbose", "run", name, "--holder", "global-holder", "--", "true"])
      assert.strictEqual(ran.code, 0, ran.stderr)
      const logs = ran.stderr.trim().split("\n").map((line) => JSON.parse(line) as { message: unknown })
      assert.isTrue(logs.some((l) => String(l.message).includes(`acquired lease ${namespace}/${name}`)), "--verbose: JSON log lines")

      const status = yield* leasekit(["--kubeconfig", kubeconfig, "--namespace", namespace, "status", name, "-o", "json"])
      assert.strictEqual(status.code, 0, status.stderr)
      assert.deepInclude(JSON.parse(status.stdout), { namespace, name, exists: true, state: "free", token: 0 })

      const list = yield* leasekit([`--kubeconfig=${kubeconfig}`, "list", "-n", namespace])
      assert.strictEqual(list.code, 0, list.stderr)
      assert.match(list.stdout, new RegExp(`^${name}\\s`, "m"))

      const context = yield* leasekit(["--kubeconfig", kubeconfig, "--context", "nope", "release", name])
      assert.strictEqual(context.code, 78, context.stderr)
      assert.include(context.stderr, "context \"nope\" is not defined")
    }))

  it.effect("--help shows every flag's default", () =>
    Effect.gen(function*() {
      const helps = new Map<string, string>()
      for (const path of [["run"], ["status"], ["list"], ["release"], ["demo"], ["control-plane", "start"]]) {
        const help = yield* leasekit([...path, "--help"])
        assert.strictEqual(help.code, 0, help.stderr)
        helps.set(path.join(" "), help.stdout)
        const flags = help.stdout.split("\nFLAGS\n")[1]!.split("\n\n")[0]!.split("\n")
        assert.isAbove(flags.length, 2, help.stdout)
        for (const line of flags) {
          const [spelling] = line.trim().split(/\s{2,}/)
          const takesValue = !spelling!.split(/[ ,]+/).at(-1)!.startsWith("-")
          if (takesValue) assert.match(line, /default|ignored/, `${path.join(" ")}: ${line}`)
        }
      }
      const run = helps.get("run")!
      assert.match(run, /--duration DURATION .*\(default: 20s\)/)
      assert.match(run, /--conflict-exit-code N .*\(default: 75\)/)
      assert.match(run, /--try .*\(default: off — wait\)/)
      assert.include(run, "it must follow `--`")
      assert.match(helps.get("status")!, /--output, -o choice\s+output format \(default: text\)/)
      assert.match(helps.get("demo")!, /--kubeconfig PATH\s+run on this cluster \(default: a local control plane/)
    }))

  it.effect("status against a server that is not a Kubernetes API server fails (69) naming it, instead of reporting the lease absent", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const kubeconfig = yield* notKubernetes(dir, 404, "404 page not found\n")
      for (const output of ["text", "json"]) {
        const status = yield* leasekit(["status", "--kubeconfig", kubeconfig, "nightly", "-o", output])
        assert.strictEqual(status.code, 69, status.stderr)
        assert.strictEqual(status.stdout, "", "no 'does not exist', no exists: false")
        assert.include(status.stderr, "is not a Kubernetes API server")
        assert.include(status.stderr, "answered 404 with \"404 page not found\"")
        assert.include(status.stderr, "fix: point --kubeconfig / --context")
      }
      const release = yield* leasekit(["release", "--kubeconfig", kubeconfig, "nightly", "--force"])
      assert.strictEqual(release.code, 69, release.stderr)
      assert.notInclude(release.stdout, "does not exist")
      const run = yield* leasekit(["run", "--kubeconfig", kubeconfig, "nightly", "--", "true"])
      assert.strictEqual(run.code, 69, run.stderr)
      assert.include(run.stderr, "is not a Kubernetes API server")
    }).pipe(Effect.scoped))

  it.effect("a renewTime ahead of this clock (clock skew) is shown as in the future, not as '-59m ago'", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const name = `skew-${suffix()}`
      yield* createLease(name, {
        holderIdentity: "fast-clock",
        leaseDurationSeconds: 20,
        acquireTime: microTime(Date.now() + 3_500_000),
        renewTime: microTime(Date.now() + 3_540_000),
        leaseTransitions: 1
      })
      const status = yield* leasekit(["status", ...kube, "-n", namespace, name])
      assert.strictEqual(status.code, 0, status.stderr)
      assert.notMatch(status.stdout, /-\d+m\d\ds ago/)
      assert.match(status.stdout, /^Renewed:\s+\S+ \(5[89]m\d\ds in the future \(clock skew\?\)\)$/m)
      assert.match(status.stdout, /^Acquired:\s+\S+ \(5[78]m\d\ds in the future \(clock skew\?\)\)$/m)
      const list = yield* leasekit(["list", ...kube, "-n", namespace])
      assert.match(list.stdout, new RegExp(`^${name}\\s+fast-clock\\s+held\\s+1\\s+5[89]m\\d\\ds in the future \\(clock skew\\?\\)\\s+20s$`, "m"))
      const json = JSON.parse((yield* leasekit(["status", ...kube, "-n", namespace, name, "-o", "json"])).stdout) as Record<string, number>
      assert.isBelow(json["renewedSecondsAgo"]!, -3500, "the JSON keeps the signed figure")
    }))

  it.effect("release -o json prints its refusal as JSON on stdout and exits 64", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const name = `refuse-${suffix()}`
      yield* createLease(name, { holderIdentity: "busy-holder", leaseDurationSeconds: 30, renewTime: microTime(Date.now()), leaseTransitions: 4 })
      const refused = yield* leasekit(["release", ...kube, "-n", namespace, name, "-o", "json"])
      assert.strictEqual(refused.code, 64, refused.stderr)
      assert.deepStrictEqual(JSON.parse(refused.stdout), {
        namespace,
        name,
        released: false,
        outcome: "refused",
        previousHolder: null,
        token: 4,
        holder: "busy-holder",
        error: `refusing to release lease ${namespace}/${name} held by "busy-holder" without --force`
      })
      assert.include(refused.stderr, "without --force", "stderr says it too")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "busy-holder", "nothing was written")
      const text = yield* leasekit(["release", ...kube, "-n", namespace, name])
      assert.strictEqual(text.code, 64)
      assert.strictEqual(text.stdout, "", "text output: the refusal on stderr only")
    }))

  it.effect("a hostile holder identity cannot clear the screen or forge lines: status, list, release and run --try escape it; JSON keeps it", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const name = `hostile-${suffix()}`
      const holder = "evil\u001b[2J\u001b[H\nState:  free (forged)\r\u009b2K\u0007"
      const shown = "evil\\x1b[2J\\x1b[H\\nState:  free (forged)\\r\\x9b2K\\x07"
      yield* createLease(name, { holderIdentity: holder, leaseDurationSeconds: 60, renewTime: microTime(Date.now()), leaseTransitions: 2 })

      const status = yield* leasekit(["status", ...kube, "-n", namespace, name])
      assert.strictEqual(status.code, 0, status.stderr)
      assert.notMatch(status.stdout, terminalControls)
      assert.include(status.stdout, `Holder:   ${shown}\n`)
      assert.strictEqual(status.stdout.match(/^State:/gm)?.length, 1, "no forged State line")

      const list = yield* leasekit(["list", ...kube, "-n", namespace])
      assert.notMatch(list.stdout, terminalControls)
      assert.include(list.stdout, shown)
      assert.notMatch(list.stdout, /^State:/m)

      const tried = yield* leasekit(["run", ...kube, "-n", namespace, name, "--try", "--", "true"])
      assert.strictEqual(tried.code, 75, tried.stderr)
      assert.notMatch(tried.stderr, terminalControls)
      assert.include(tried.stderr, "is held by")
      assert.strictEqual(tried.stderr.trimEnd().split("\n").length, 2, "one line and the fix")

      const refused = yield* leasekit(["release", ...kube, "-n", namespace, name])
      assert.notMatch(refused.stderr, terminalControls)
      assert.strictEqual(refused.stderr.trimEnd().split("\n").length, 2)

      const released = yield* leasekit(["release", ...kube, "-n", namespace, name, "--force"])
      assert.strictEqual(released.code, 0, released.stderr)
      assert.notMatch(released.stdout, terminalControls)
      assert.include(released.stdout, shown)

      const json = yield* leasekit(["status", ...kube, "-n", namespace, name, "-o", "json"])
      assert.strictEqual((JSON.parse(json.stdout) as { state: string }).state, "free")
      yield* createLease(`${name}-2`, { holderIdentity: holder, leaseDurationSeconds: 60, renewTime: microTime(Date.now()) })
      const raw = JSON.parse((yield* leasekit(["status", ...kube, "-n", namespace, `${name}-2`, "-o", "json"])).stdout) as { holder: string }
      assert.strictEqual(raw.holder, holder, "JSON carries the exact value (escaped by JSON)")
    }))

  it.effect("errors speak the command line's words: no library options, no reason tags", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* tempDir
      const library = /layerConfig|LEASEKIT_KUBECONFIG|LEASEKIT_CONTEXT|\{ context \}|scope close|Effect|: (Unavailable|NotFound|Forbidden):/
      const missing = yield* leasekit(["status", "--kubeconfig", Path.join(dir, "nope"), "x"])
      assert.strictEqual(missing.code, 78, missing.stderr)
      assert.include(missing.stderr, "the file does not exist")
      const context = yield* leasekit(["status", "--kubeconfig", cp.users.admin.kubeconfig, "--context", "nope", "x"])
      assert.strictEqual(context.code, 78, context.stderr)
      assert.include(context.stderr, "fix: pick one of its contexts with --context")
      const forbidden = yield* leasekit(["status", "--kubeconfig", cp.users.nobody.kubeconfig, "-n", namespace, "x"])
      assert.strictEqual(forbidden.code, 77, forbidden.stderr)
      assert.include(forbidden.stderr, `leasekit: reading lease ${namespace}/x: user`)
      const acquire = yield* leasekit(["run", "--kubeconfig", cp.users.restricted.kubeconfig, "-n", "default", `x-${suffix()}`, "--", "true"])
      assert.strictEqual(acquire.code, 77, acquire.stderr)
      for (const ended of [missing, context, forbidden, acquire]) assert.notMatch(ended.stderr, library, ended.stderr)
    }).pipe(Effect.scoped))
})
