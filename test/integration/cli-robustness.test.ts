/**
 * `leasekit run` when its own surroundings misbehave, against a real kube-apiserver (with etcd):
 * a stderr nobody reads (a full pipe) or nobody can read (a closed one), a SIGUSR1 (which would
 * open Node's inspector), a SIGTERM while the final release waits for an unreachable API server.
 * Written by an adversarial review of issue 20; each failed before its fix (Stderr.ts, main.ts,
 * RunCommand's releaseWithin).
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { leaseObjects } from "./leaseObjects.ts"
import { admin, beatsIn, makeTempDir, pidIn, reap, sh, start, waitFor, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-cli-robust"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { overwriteHolder, readLease } = leaseObjects(namespace)
const tempDir = makeTempDir("leasekit-cli-robust-")

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit run, robust", (it) => {
  it.effect("a stderr pipe that is full (its reader stalled): on a takeover CMD's group is still stopped within the grace", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `stalled-stderr-${suffix()}`
      const beats = Path.join(dir, "beats")
      const fifo = Path.join(dir, "stderr")
      assert.strictEqual(ChildProcess.spawnSync("mkfifo", [fifo]).status, 0)
      // A reader that never reads (a stalled log shipper), closed when the scope closes.
      yield* Effect.acquireRelease(
        Effect.sync(() => Fs.openSync(fifo, Fs.constants.O_RDONLY | Fs.constants.O_NONBLOCK)),
        (fd) => Effect.sync(() => Fs.closeSync(fd))
      )
      const writer = Fs.openSync(fifo, Fs.constants.O_WRONLY)
      yield* start(
        [
          "run",
          ...kube,
          "-n",
          namespace,
          name,
          "--duration",
          "3s",
          "--grace",
          "500ms",
          "--",
          // Something of CMD's fills the shared stderr (and blocks on it); CMD itself works on.
          ...sh(`echo $$ > ${dir}/cmd; head -c 70000 /dev/zero >&2 & while :; do date +%s%N >> ${beats}; sleep 0.02; done`)
        ],
        {},
        { stdio: ["ignore", "ignore", writer] }
      )
      Fs.closeSync(writer)
      const cmd = yield* pidIn(Path.join(dir, "cmd"))
      yield* reap(-cmd)
      yield* waitUntil("CMD to work", () => beatsIn(beats).length > 5)
      yield* waitFor("the takeover to succeed", overwriteHolder(name, "admin-took-it"), "10 seconds")
      const tookAt = BigInt(Date.now()) * 1_000_000n
      // CMD's heartbeats must stop within the grace (plus the watch's and a poll's latency)
      yield* waitUntil("CMD's heartbeats to stop", () => {
        const last = beatsIn(beats).at(-1)!
        return BigInt(Date.now()) * 1_000_000n - last > 500_000_000n
      }, "5 seconds")
      const lastBeat = beatsIn(beats).at(-1)!
      assert.isTrue(lastBeat < tookAt + 1_500_000_000n, `CMD still ran ${(Number(lastBeat - tookAt) / 1e6).toFixed(0)} ms after the takeover (grace 500 ms)`)
    }))

  it.effect("SIGUSR1 to a leasekit that waits for the lease does not open a debugger (Node's inspector)", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `usr1-${suffix()}`
      yield* start(["run", ...kube, "-n", namespace, name, "--duration", "3s", "--", ...sh(`touch ${dir}/started; sleep 20`)])
      yield* waitUntil("the first holder's CMD", () => Fs.existsSync(Path.join(dir, "started")))
      const waiting = yield* start(["run", ...kube, "-n", namespace, name, "--duration", "3s", "--", "true"])
      yield* waitUntil("the second to wait", () => waiting.stderr().includes("waiting"))
      process.kill(waiting.pid, "SIGUSR1")
      // the inspector announces itself on stderr at once when it opens; give it that moment
      yield* Effect.sleep("1 second")
      assert.notMatch(waiting.stderr(), /Debugger listening|inspector/i, "no debugger opened by SIGUSR1")
      assert.isTrue(waiting.stderr().includes("waiting"), "still waiting")
    }))

  it.effect("SIGTERM to leasekit while its final release waits for an unreachable API server ends it at once (not after the grace)", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* tempDir
      const name = `release-sigterm-${suffix()}`
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const partitioned = yield* FaultProxy.kubeconfig(proxy, "admin")
      const go = Path.join(dir, "go")
      // --duration 30s: the release waits up to the default grace, 5 s (at --duration 1h: 10 minutes).
      const holder = yield* start([
        "run",
        "--kubeconfig",
        partitioned,
        "-n",
        namespace,
        name,
        "--duration",
        "30s",
        "--",
        ...sh(`touch ${dir}/started; while [ ! -e ${go} ]; do sleep 0.02; done; touch ${dir}/ended; exit 3`)
      ], {}, { endedOn: "exit" })
      yield* waitUntil("CMD to start", () => Fs.existsSync(Path.join(dir, "started")))
      yield* proxy.blackhole(true)
      Fs.writeFileSync(go, "")
      yield* waitUntil("CMD to end", () => Fs.existsSync(Path.join(dir, "ended")))
      // leasekit is now in its release (nothing it prints marks the moment): let it get there
      yield* Effect.sleep("500 millis")
      const signalled = Date.now()
      holder.kill("SIGTERM")
      const ended = yield* holder.ended.pipe(Effect.ensuring(proxy.blackhole(false)))
      assert.isAtMost(ended.at - signalled, 1500, `leasekit exited ${ended.at - signalled} ms after SIGTERM; stderr: ${ended.stderr}`)
      assert.strictEqual(ended.code, 3, "CMD's status")
    }))

  it.effect("a closed stderr (its reader gone): leasekit still waits for CMD's survivor, exits with CMD's status and releases the lease", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `epipe-${suffix()}`
      const done = Path.join(dir, "done")
      const holder = yield* start(
        ["run", ...kube, "-n", namespace, name, "--duration", "3s", "--", ...sh(`(sleep 1; touch ${done}) & exit 0`)],
        {},
        { stdio: ["ignore", "ignore", "pipe"], endedOn: "exit" }
      )
      // The reader of leasekit's stderr goes away (a log shipper that died, `| head`).
      holder.child.stderr!.destroy()
      const ended = yield* holder.ended
      assert.isTrue(Fs.existsSync(done), "the survivor finished its work (it was not SIGKILLed)")
      assert.strictEqual(ended.code, 0, "CMD's status")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released")
    }))
})
