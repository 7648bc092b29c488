/**
 * The `leasekit` binary, run as a child process against a real kube-apiserver (with etcd) started
 * by @leasekit/testing: `run` (exit codes, environment, signal forwarding, loss, release),
 * `status` / `list` / `release --force` in text and JSON, the error exit codes (usage, forbidden,
 * unreachable, bad kubeconfig), and the demo. Nothing is mocked; every wait polls a condition
 * and is bounded. Two tests pause or partition one `leasekit` process on purpose: a preload that
 * SIGSTOPs the process at a chosen log line (as a GC pause or SIGSTOP would), and a FaultProxy
 * between one process and the API server.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { leaseObjects } from "./leaseObjects.ts"
import { admin, adminThroughProxy, alive, beatsIn, leasekit, makeTempDir, processState, sh, start, waitFor, waitUntil } from "./leasekitProcess.ts"
import { closedPort } from "./loopback.ts"

const namespace = "leasekit-cli"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { overwriteHolder, readLease } = leaseObjects(namespace)

/** A temporary folder for a test's marker files, removed with the scope. */
const tempDir = makeTempDir("leasekit-cli-test-")


/** A `--require` preload that SIGSTOPs the process once, right after it wrote a stderr line
 * containing `marker` (a pause at an exact point, as a GC pause or a SIGSTOP would make one). */
const pauseAfter = (dir: string, marker: string): NodeJS.ProcessEnv => {
  const file = Path.join(dir, "pause-after.cjs")
  Fs.writeFileSync(
    file,
    `const marker = ${JSON.stringify(marker)}
let paused = false
const pause = () => {
  paused = true
  process.kill(process.pid, "SIGSTOP")
}
const write = process.stderr.write.bind(process.stderr)
process.stderr.write = (chunk, ...rest) => {
  const result = write(chunk, ...rest)
  if (!paused && String(chunk).includes(marker)) pause()
  return result
}
// leasekit's own lines go through asynchronous fs.write on fd 2 (Stderr.ts): the marked one is
// written synchronously here, then the process stops — right after the line, as above.
const fs = require("node:fs")
const fsWrite = fs.write
fs.write = function (fd, data, ...rest) {
  if (fd !== 2 || paused || !String(data).includes(marker)) return fsWrite.call(this, fd, data, ...rest)
  const callback = rest.find((arg) => typeof arg === "function")
  let error = null
  try {
    fs.writeSync(2, data)
  } catch (e) {
    error = e
  }
  pause()
  if (callback !== undefined) process.nextTick(() => callback(error, String(data).length, data))
}
require("node:module").syncBuiltinESMExports()
`
  )
  return { NODE_OPTIONS: `--require ${file}` }
}

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit CLI", (it) => {
  it.effect("run exits with CMD's status, gives CMD the fencing token, holder and lease, and releases the lease when CMD exits", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `exit-${suffix()}`
      const out = Path.join(dir, "env")
      const ended = yield* leasekit([
        "run",
        ...kube,
        name,
        "--holder",
        "cli-test-holder",
        "--",
        ...sh(`echo "$LEASEKIT_TOKEN $LEASEKIT_HOLDER $LEASEKIT_LEASE" > ${out}; exit 3`)
      ])
      assert.strictEqual(ended.code, 3, ended.stderr)
      assert.strictEqual(ended.stderr, "", "a command's own failure is not leasekit's to report")
      // --holder ID is made unique to the process: ID_ and five random characters
      assert.match(Fs.readFileSync(out, "utf8").trim(), new RegExp(`^0 cli-test-holder_[a-z0-9]{5} ${namespace}/${name}$`))
      const lease = yield* readLease(name)
      assert.strictEqual(lease?.spec.holderIdentity, "", "released: the holder is cleared")

      const again = yield* leasekit(["run", ...kube, name, "--verbose", "--", ...sh(`echo "$LEASEKIT_TOKEN" > ${out}`)])
      assert.strictEqual(again.code, 0, again.stderr)
      assert.strictEqual(Fs.readFileSync(out, "utf8").trim(), "1", "the next tenure gets a higher token")
      const logs = again.stderr.trim().split("\n").map((line) => JSON.parse(line) as { message: unknown; level: string })
      assert.isTrue(
        logs.some((l) => String(l.message).includes(`acquired lease ${namespace}/${name}`)),
        "--verbose logs structured JSON lines on stderr"
      )
    }).pipe(Effect.scoped))

  it.effect("run --try exits 75 at once while another process holds the lease (or --conflict-exit-code), without running CMD", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `try-${suffix()}`
      const started = Path.join(dir, "started")
      const holder = yield* start(["run", ...kube, name, "--holder", "the-holder", "--", ...sh(`touch ${started}; sleep 60`)])
      yield* waitUntil("the holder's command to start", () => Fs.existsSync(started))

      const refused = yield* leasekit(["run", ...kube, name, "--try", "--", ...sh(`touch ${dir}/ran`)])
      assert.strictEqual(refused.code, 75, refused.stderr)
      assert.match(refused.stderr, new RegExp(`lease ${namespace}/${name} is held by "the-holder_[a-z0-9]{5}"`))
      assert.include(refused.stderr, "fix:")
      assert.notInclude(refused.stderr, "    at ", "no stack trace")

      const quiet = yield* leasekit(["run", ...kube, name, "--try", "--conflict-exit-code", "0", "--", ...sh(`touch ${dir}/ran`)])
      assert.strictEqual(quiet.code, 0, quiet.stderr)
      assert.isFalse(Fs.existsSync(Path.join(dir, "ran")), "CMD never ran")
      holder.kill("SIGKILL")
    }).pipe(Effect.scoped))

  it.effect("run --timeout exits 75 when the lease stays held", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `timeout-${suffix()}`
      const started = Path.join(dir, "started")
      const holder = yield* start(["run", ...kube, name, "--", ...sh(`touch ${started}; sleep 60`)])
      yield* waitUntil("the holder's command to start", () => Fs.existsSync(started))

      const gaveUp = yield* leasekit(["run", ...kube, name, "--timeout", "2s", "--", ...sh(`touch ${dir}/ran`)])
      assert.strictEqual(gaveUp.code, 75, gaveUp.stderr)
      assert.include(gaveUp.stderr, "gave up waiting after 2s")
      assert.isFalse(Fs.existsSync(Path.join(dir, "ran")))
      holder.kill("SIGKILL")
    }).pipe(Effect.scoped))

  it.effect("run stops CMD — SIGTERM, then SIGKILL after --grace — and exits 79 when an admin takes the lease over", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `lost-${suffix()}`
      const pidFile = Path.join(dir, "pid")
      const termFile = Path.join(dir, "term")
      // CMD ignores SIGTERM: only the SIGKILL after --grace stops it.
      const holder = yield* start([
        "run",
        ...kube,
        name,
        "--duration",
        "3s",
        "--grace",
        "700ms",
        "--",
        ...sh(`trap 'echo TERM >> ${termFile}' TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done`)
      ])
      yield* waitUntil("CMD to start", () => Fs.existsSync(pidFile) && Fs.readFileSync(pidFile, "utf8").trim() !== "")
      const childPid = Number(Fs.readFileSync(pidFile, "utf8").trim())

      // A compare-and-swap like any writer's; a renewal in between (409) means read again.
      yield* waitFor("the admin's overwrite to succeed", overwriteHolder(name, "admin-took-it"), "10 seconds")

      const ended = yield* holder.ended
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.isTrue(Fs.existsSync(termFile), "CMD got SIGTERM first")
      assert.include(ended.stderr, "now held by \"admin-took-it\"")
      assert.include(ended.stderr, "sending SIGKILL")
      assert.include(ended.stderr, "killed by SIGKILL")
      assert.isFalse(alive(childPid), "CMD is gone")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "admin-took-it", "a lease taken over is not ours to release")
    }).pipe(Effect.scoped))

  it.effect("run stops CMD and exits 79 when no renewal reaches the API server before the renew deadline", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const kube = yield* admin
      const dir = yield* tempDir
      const started = Path.join(dir, "started")
      const holder = yield* start([
        "run",
        ...kube,
        `deadline-${suffix()}`,
        "--duration",
        "3s",
        "--",
        ...sh(`touch ${started}; while :; do sleep 0.1; done`)
      ])
      yield* waitUntil("CMD to start", () => Fs.existsSync(started))
      yield* cp.pause("apiserver")
      const ended = yield* holder.ended.pipe(Effect.ensuring(Effect.orDie(cp.resume("apiserver"))))
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.include(ended.stderr, "renew deadline passed")
      yield* cp.waitReady("30 seconds")
    }).pipe(Effect.scoped))

  it.effect("on a loss by the renew deadline, the default --grace SIGKILLs a CMD that ignores SIGTERM before the next holder's CMD starts", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `grace-${suffix()}`
      // The first holder reaches the API server through a proxy that is then partitioned; the
      // second one directly. --duration 3s: loss declared 2 s after the last renewal, takeover
      // 3 s after it; the default grace is 500 ms (10 s before: the old CMD ran on for seconds
      // into the next holder's tenure).
      const { kubeconfig: partitioned, proxy } = yield* adminThroughProxy
      const beats = Path.join(dir, "beats")
      const nextStarted = Path.join(dir, "next-started")
      const first = yield* start([
        "run",
        "--kubeconfig",
        partitioned,
        name,
        "--duration",
        "3s",
        "--",
        ...sh(`trap '' TERM; while :; do date +%s%N >> ${beats}; sleep 0.02; done`)
      ])
      yield* waitUntil("the first holder's CMD to start", () => Fs.existsSync(beats))
      const next = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`date +%s%N > ${nextStarted}`)])
      yield* proxy.blackhole(true)

      const lost = yield* first.ended.pipe(Effect.ensuring(proxy.blackhole(false)))
      const took = yield* next.ended
      assert.strictEqual(took.code, 0, took.stderr)
      const lastBeat = beatsIn(beats).at(-1)!
      const nextStart = BigInt(Fs.readFileSync(nextStarted, "utf8").trim())
      assert.isTrue(
        lastBeat < nextStart,
        `the old CMD ran until ${(Number(lastBeat - nextStart) / 1e6).toFixed(0)} ms after the next holder's CMD started`
      )
      assert.strictEqual(lost.code, 79, lost.stderr)
      assert.include(lost.stderr, "renew deadline passed")
      assert.include(lost.stderr, "SIGKILL after 500ms")
      assert.include(lost.stderr, "killed by SIGKILL")
    }).pipe(Effect.scoped))

  it.effect("run re-checks the lease right before starting CMD: lost after the acquisition (paused, another holder took over), it exits 79 and CMD never starts", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `prespawn-${suffix()}`
      const ran = Path.join(dir, "ran")
      const nextStarted = Path.join(dir, "next-started")
      // Stopped right after the core logged the acquisition (its debug line is written as it is
      // logged: the lines before it went out during the acquisition's round trips), before `run`
      // re-checks the lease and starts CMD.
      const paused = yield* start(
        ["run", ...kube, name, "--duration", "2s", "--holder", "paused-holder", "--verbose", "--", ...sh(`touch ${ran}`)],
        pauseAfter(dir, "lease acquired, token")
      )
      yield* waitUntil("leasekit to stop right after the acquisition", () => processState(paused.pid) === "T")
      assert.include(paused.stderr(), "lease acquired, token")

      const next = yield* start(["run", ...kube, name, "--duration", "2s", "--holder", "next-holder", "--", ...sh(`touch ${nextStarted}; sleep 60`)])
      yield* waitUntil("the next holder's CMD to start", () => Fs.existsSync(nextStarted), "20 seconds")
      paused.kill("SIGCONT")

      const ended = yield* paused.ended
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.include(ended.stderr, "renew deadline passed")
      assert.include(ended.stderr, "the command was not started")
      assert.notInclude(ended.stderr, "started sh")
      assert.isFalse(Fs.existsSync(ran), "CMD never ran")
      assert.match((yield* readLease(name))?.spec.holderIdentity ?? "", /^next-holder_[a-z0-9]{5}$/, "the next holder keeps the lease")

      next.kill("SIGTERM")
      const nextEnded = yield* next.ended
      assert.strictEqual(nextEnded.code, 143, "CMD's status: killed by the forwarded SIGTERM")
    }).pipe(Effect.scoped))

  it.effect("SIGTERM to leasekit reaches CMD; the lease stays held and renewed until CMD exits, then is released", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `signal-${suffix()}`
      const started = Path.join(dir, "started")
      const termFile = Path.join(dir, "term")
      // CMD takes 3 s to shut down — longer than the renew deadline (2 s of a 3 s lease).
      const holder = yield* start([
        "run",
        ...kube,
        name,
        "--duration",
        "3s",
        "--holder",
        "signal-holder",
        "--",
        ...sh(`trap 'touch ${termFile}; sleep 3; exit 42' TERM; touch ${started}; while :; do sleep 0.1; done`)
      ])
      yield* waitUntil("CMD to start", () => Fs.existsSync(started))
      holder.kill("SIGTERM")
      yield* waitUntil("CMD to receive SIGTERM", () => Fs.existsSync(termFile), "10 seconds")
      const atTerm = (yield* readLease(name))!
      yield* waitFor(
        "a renewal while CMD shuts down",
        readLease(name).pipe(Effect.map((l) => l?.spec.renewTime !== atTerm.spec.renewTime)),
        "2500 millis"
      )
      const during = (yield* readLease(name))!
      assert.match(during.spec.holderIdentity ?? "", /^signal-holder_[a-z0-9]{5}$/, "still held while CMD shuts down")
      assert.isTrue(alive(holder.pid), "leasekit waits for CMD")

      const ended = yield* holder.ended
      assert.strictEqual(ended.code, 42, ended.stderr)
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released after CMD exited")
    }).pipe(Effect.scoped))

  it.effect("status, list and release --force, in text and JSON", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `show-${suffix()}`
      const started = Path.join(dir, "started")
      const holder = yield* start([
        "run",
        ...kube,
        name,
        "--duration",
        "3s",
        "--holder",
        "show-holder",
        "--",
        ...sh(`touch ${started}; while :; do sleep 0.1; done`)
      ])
      yield* waitUntil("CMD to start", () => Fs.existsSync(started))

      const text = yield* leasekit(["status", ...kube, name])
      assert.strictEqual(text.code, 0, text.stderr)
      assert.match(text.stdout, new RegExp(`Lease:\\s+${namespace}/${name}`))
      assert.match(text.stdout, /State:\s+held/)
      assert.match(text.stdout, /Holder:\s+show-holder_[a-z0-9]{5}\n/)
      const showHolder = /Holder:\s+(show-holder_[a-z0-9]{5})/.exec(text.stdout)![1]!
      assert.match(text.stdout, /Token:\s+0 /)
      assert.match(text.stdout, /Duration:\s+3s/)
      assert.match(text.stdout, /Expires:.*at most (3\.00|2\.9\d)s/, "a one-shot observer waits up to the duration")

      const json = yield* leasekit(["status", ...kube, name, "-o", "json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const status = JSON.parse(json.stdout) as Record<string, unknown>
      assert.deepInclude(status, {
        namespace,
        name,
        exists: true,
        state: "held",
        holder: showHolder,
        token: 0,
        durationSeconds: 3
      })
      // Judged from this observer's first sight of the record, a few milliseconds ago at most.
      assert.closeTo(status["expiresInSeconds"] as number, 3, 0.1)
      assert.isString(status["renewTime"])

      const absent = JSON.parse((yield* leasekit(["status", ...kube, `${name}-absent`, "-o", "json"])).stdout) as Record<string, unknown>
      assert.deepInclude(absent, { exists: false, state: "absent", holder: null })

      const list = yield* leasekit(["list", ...kube, "-n", namespace])
      assert.strictEqual(list.code, 0, list.stderr)
      assert.match(list.stdout, /^NAME\s+HOLDER\s+STATE\s+TOKEN\s+RENEWED\s+DURATION$/m)
      assert.match(list.stdout, new RegExp(`^${name}\\s+${showHolder}\\s+held\\s+0\\s+.*ago\\s+3s$`, "m"))
      const all = yield* leasekit(["list", ...kube, "-A", "-o", "json"])
      assert.strictEqual(all.code, 0, all.stderr)
      const listed = (JSON.parse(all.stdout) as Array<Record<string, unknown>>).find((v) => v["name"] === name)
      assert.deepInclude(listed, { namespace, holder: showHolder, state: "held" })

      const refused = yield* leasekit(["release", ...kube, name])
      assert.strictEqual(refused.code, 64, refused.stderr)
      assert.include(refused.stderr, "without --force")

      const released = yield* leasekit(["release", ...kube, name, "--force", "-o", "json"])
      assert.strictEqual(released.code, 0, released.stderr)
      assert.deepStrictEqual(JSON.parse(released.stdout), {
        namespace,
        name,
        released: true,
        outcome: "released",
        previousHolder: showHolder,
        token: 0
      })
      const lease = yield* readLease(name)
      assert.strictEqual(lease?.spec.holderIdentity, "")

      // The holder notices (through the lease's watch, or at its next renewal): CMD is stopped and leasekit exits 79.
      const ended = yield* holder.ended
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.include(ended.stderr, "someone else released it")

      const again = yield* leasekit(["release", ...kube, name, "--force"])
      assert.strictEqual(again.code, 0, again.stderr)
      assert.include(again.stdout, "already free; nothing to release")
    }).pipe(Effect.scoped))

  it.effect("a command-line mistake exits 64 with one line and the fix, never a stack trace", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      for (
        const [args, expected] of [
          [["run", ...kube, "x"], "no command given"],
          [["run", ...kube, "x", "--bogus", "--", "true"], "Unrecognized flag: --bogus"],
          [["run", ...kube, "Not_A_Name", "--", "true"], "invalid lease option name"],
          [["run", ...kube, "x", "--duration", "1.5s", "--", "true"], "whole number of seconds"],
          [["run", ...kube, "x", "--duration", "2h", "--", "true"], "--duration 2h: invalid lease option duration = 2h: must be at most 1h"],
          [["run", ...kube, "x", "--grace", "10s", "--", "true"], "--grace 10s does not fit the lease's safety margin"],
          [["run", ...kube, "x", "--duration", "3s", "--grace", "1s", "--", "true"], "--grace 1s does not fit"],
          [["run", "--kubeconfig", "/nonexistent", "x", "--grace", "10s", "--", "true"], "--grace 10s does not fit"],
          [["demo", "--duration", "2h"], "--duration 2h: invalid lease option duration = 2h: must be at most 1h"],
          [["list", ...kube, "-A", "-n", "x"], "exclude each other"]
        ] as const
      ) {
        const ended = yield* leasekit(args)
        assert.strictEqual(ended.code, 64, `${args.join(" ")}: ${ended.stderr}`)
        const lines = ended.stderr.trimEnd().split("\n")
        assert.strictEqual(lines.length, 2, ended.stderr)
        assert.include(lines[0], expected)
        assert.match(lines[1]!, /^ {2}fix: /)
      }
    }))

  it.effect("forbidden by RBAC exits 77 and names the missing rule", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const nobody = yield* leasekit(["run", "--kubeconfig", cp.users.nobody.kubeconfig, "forbidden", "--", "true"])
      assert.strictEqual(nobody.code, 77, nobody.stderr)
      assert.include(nobody.stderr, "may not get leases.coordination.k8s.io")
      const list = yield* leasekit(["list", "--kubeconfig", cp.users.restricted.kubeconfig])
      assert.strictEqual(list.code, 77, list.stderr)
      assert.include(list.stderr, "verbs: [\"list\"]")
    }))

  it.effect("an unreachable API server exits 69; an unusable kubeconfig exits 78", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* tempDir
      const dead = yield* cp.writeKubeconfig({
        user: "admin",
        server: `https://127.0.0.1:${yield* closedPort}`,
        path: Path.join(dir, "dead.kubeconfig")
      })
      const unreachable = yield* leasekit(["run", "--kubeconfig", dead, "x", "--", "true"])
      assert.strictEqual(unreachable.code, 69, unreachable.stderr)
      assert.include(unreachable.stderr, "cannot reach the API server")
      const status = yield* leasekit(["status", "--kubeconfig", dead, "x"])
      assert.strictEqual(status.code, 69, status.stderr)

      const missing = yield* leasekit(["status", "--kubeconfig", Path.join(dir, "nope"), "x"])
      assert.strictEqual(missing.code, 78, missing.stderr)
      const context = yield* leasekit(["status", "--kubeconfig", cp.users.admin.kubeconfig, "--context", "nope", "x"])
      assert.strictEqual(context.code, 78, context.stderr)
      assert.include(context.stderr, "context \"nope\" is not defined")
    }).pipe(Effect.scoped))

  it.effect("the demo runs three workers through handovers and failovers and reports increasing tokens", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const ended = yield* leasekit(["demo", ...kube, "-n", namespace, "--duration", "3s"], {}, "110 seconds")
      assert.strictEqual(ended.code, 0, `${ended.stdout}\n${ended.stderr}`)
      assert.include(ended.stdout, "Summary")
      assert.strictEqual(ended.stdout.match(/^\s+\d+\s+handover\s/gm)?.length, 3, ended.stdout)
      assert.strictEqual(ended.stdout.match(/^\s+\d+\s+failover\s/gm)?.length, 2, ended.stdout)
      assert.include(ended.stdout, "strictly increasing")
      assert.include(ended.stdout, "overlapping between holders: 0")
      const leftovers = JSON.parse((yield* leasekit(["list", ...kube, "-n", namespace, "-o", "json"])).stdout) as Array<{ name: string }>
      assert.isFalse(leftovers.some((l) => l.name.startsWith("leasekit-demo-")), "the demo deletes its lease on a cluster it did not start")
    }), { timeout: 150_000 })
})
