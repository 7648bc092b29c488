/**
 * `leasekit status NAME --watch` against a real kube-apiserver (with etcd): it prints the status,
 * then a line each time another `leasekit run` takes the lease, releases it, or — SIGKILLed —
 * leaves it to be judged expired; SIGINT ends it with exit code 0. In text and in JSON (one object
 * per line). Every wait polls the watcher's output and is bounded; nothing is mocked.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { admin, makeTempDir, type Running, sh, start, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-cli-status-watch"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

/** The JSON objects a `-o json` watcher printed so far, one a line. */
const objects = (watcher: Running): Array<Record<string, unknown>> =>
  watcher.stdout().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>)

/** Sends SIGINT and waits (bounded) for the process to end. */
const interrupt = (p: Running) =>
  Effect.sync(() => p.kill("SIGINT")).pipe(
    Effect.andThen(p.ended),
    Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("the watcher did not end within 10s of SIGINT")) })
  )

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit status --watch", (it) => {
  const flags = Effect.map(admin, (kube) => [...kube, "-n", namespace])

  it.effect("prints the status, then a line when another run takes the lease and when it releases it; SIGINT exits 0", () =>
    Effect.gen(function*() {
      const args = yield* flags
      const dir = yield* makeTempDir("leasekit-status-watch-")
      const name = `watched-${suffix()}`
      const watcher = yield* start(["status", name, ...args, "--watch"])
      yield* waitUntil("the status of the absent lease", () => /State:\s+does not exist/.test(watcher.stdout()))

      const stop = Path.join(dir, "stop")
      const run = yield* start(["run", name, ...args, "--holder", "watched-run", "--", ...sh(`while [ ! -f ${stop} ]; do sleep 0.05; done`)])
      yield* waitUntil("a line naming the new holder", () => /is held by "watched-run_[a-z0-9]{5}" \(token 0\)\n/.test(watcher.stdout()))

      Fs.writeFileSync(stop, "")
      const ended = yield* run.ended
      assert.strictEqual(ended.code, 0, ended.stderr)
      yield* waitUntil("a line saying the lease is free", () => watcher.stdout().includes(`lease ${namespace}/${name} is free (released; last token 0)`))

      const out = yield* interrupt(watcher)
      assert.strictEqual(out.code, 0, out.stderr)
      assert.strictEqual(out.stderr, "")
      const lines = out.stdout.split("\n").filter((line) => /^\d{4}-\d\d-\d\dT\S+Z {2}lease /.test(line))
      // the tenure's renewals print nothing: one line for the take, one for the release
      assert.strictEqual(lines.length, 2, out.stdout)
    }).pipe(Effect.scoped))

  it.effect("-o json: one object per line — the status, the new holder, and the holder judged expired once it stopped renewing", () =>
    Effect.gen(function*() {
      const args = yield* flags
      const dir = yield* makeTempDir("leasekit-status-watch-")
      const name = `watched-json-${suffix()}`
      const watcher = yield* start(["status", name, ...args, "--watch", "-o", "json"])
      yield* waitUntil("the first object", () => objects(watcher).length === 1)
      assert.deepInclude(objects(watcher)[0], { namespace, name, exists: false, state: "absent", holder: null })

      const started = Path.join(dir, "started")
      const run = yield* start(["run", name, ...args, "--duration", "3s", "--holder", "crashing-run", "--", ...sh(`touch ${started}; sleep 60`)])
      yield* waitUntil("the run's command to start", () => Fs.existsSync(started))
      yield* waitUntil("an object naming the new holder", () => objects(watcher).length === 2)
      const taken = objects(watcher)[1]!
      assert.match(String(taken["holder"]), /^crashing-run_[a-z0-9]{5}$/)
      assert.deepInclude(taken, { exists: true, state: "held", token: 0, durationSeconds: 3 })

      // a crash: nobody renews or releases it; the watcher judges it expired 3 s after it last saw it change
      run.kill("SIGKILL")
      yield* waitUntil("an object with the holder judged expired", () => objects(watcher).length === 3, "15 seconds")
      assert.deepInclude(objects(watcher)[2], { holder: taken["holder"], token: 0, expiresInSeconds: 0 })

      const out = yield* interrupt(watcher)
      assert.strictEqual(out.code, 0, out.stderr)
      assert.strictEqual(objects(watcher).length, 3, out.stdout)
    }).pipe(Effect.scoped))
})
