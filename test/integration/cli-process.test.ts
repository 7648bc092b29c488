/**
 * `leasekit run` and the processes of its command, against a real kube-apiserver (with etcd)
 * started by @leasekit/testing: the command's whole process group is stopped — SIGTERM, SIGKILL
 * after --grace — on loss and on a stop signal, not only the command's own process; processes the
 * command leaves behind keep the lease held until they exit (default) or are stopped
 * (`--survivors stop`); a SIGKILLed leasekit takes its command and the command's group with it
 * (the dead man's switch), also when stdin is a terminal; a release the API server does not
 * answer is bounded by the grace and reported plainly, with the command's status kept.
 *
 * The commands are small `sh` scripts whose children ignore SIGTERM (`trap '' TERM`) and write
 * their pid, or a heartbeat, into files the test reads. A process counts as running while
 * `/proc/PID/stat` shows it and not as a zombie: orphans are reaped by PID 1, which on some
 * machines never happens. Nothing is mocked; every wait polls a condition and is bounded.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane, FaultProxy } from "@leasekit/testing"
import { Duration, Effect, Schedule, Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const namespace = "leasekit-cli-process"
const bin = Path.resolve(import.meta.dirname, "../../packages/cli/bin/leasekit")
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)

interface Ended {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall-clock milliseconds when the process exited. */
  readonly at: number
}

interface Running {
  readonly pid: number
  readonly stderr: () => string
  /** Waits until leasekit exited (its own process: the command may hold its stdio longer). */
  readonly ended: Effect.Effect<Ended>
  readonly kill: (signal: NodeJS.Signals) => void
}

/** Starts `file args…` (stdin not a terminal); killed when the scope closes if still running. */
const spawn = (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = {}): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const { KUBECONFIG: _ignored, ...rest } = process.env
      const child = ChildProcess.spawn(file, [...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...rest, ...env } })
      let stdout = ""
      let stderr = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
      const ended = new Promise<Ended>((resolve) =>
        child.once("exit", (code, signal) => resolve({ code, signal, stdout, stderr, at: Date.now() }))
      )
      return {
        pid: child.pid!,
        stderr: () => stderr,
        // The output that was on its way when it exited, too (a moment, not the command's lifetime).
        ended: Effect.promise(() => ended).pipe(
          Effect.tap(() => Effect.sleep("50 millis")),
          Effect.map((e) => ({ ...e, stdout, stderr }))
        ),
        kill: (signal: NodeJS.Signals) => void child.kill(signal),
        child
      }
    }),
    (running) => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL"))
  )

const start = (args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv) => spawn(bin, args, env)

/** Polls `condition` every 20 ms until it holds; fails the test after `timeout`. */
const waitFor = <E, R>(what: string, condition: Effect.Effect<boolean, E, R>, timeout: Duration.Input = "20 seconds") =>
  condition.pipe(
    Effect.repeat({ schedule: Schedule.spaced("20 millis"), until: (ok) => ok }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }),
    Effect.asVoid
  )

const waitUntil = (what: string, condition: () => boolean, timeout?: Duration.Input) =>
  waitFor(what, Effect.sync(condition), timeout)

/** Waits for leasekit's exit, bounded. */
const endOf = (running: Running, timeout: Duration.Input = "30 seconds") =>
  running.ended.pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`leasekit did not exit within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)) })
  )

/** A temporary folder for a test's files, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-process-test-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

/** Whether `pid` is running (or stopped): listed in /proc and not a zombie. */
const running = (pid: number): boolean => {
  try {
    const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3)
    return state !== "Z" && state !== "X"
  } catch {
    return false
  }
}

/** The pid a command wrote into `file`, once it has. */
const pidIn = (file: string) =>
  waitUntil(`a pid in ${Path.basename(file)}`, () => Fs.existsSync(file) && /^\d+\n/.test(Fs.readFileSync(file, "utf8"))).pipe(
    Effect.map(() => Number(Fs.readFileSync(file, "utf8").trim()))
  )

/** SIGKILLs `pid` (a leftover of a failing test) when the scope closes. */
const reap = (pid: number) =>
  Effect.addFinalizer(() =>
    Effect.sync(() => {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // gone
      }
    })
  )

/** The nanosecond timestamps a heartbeat file holds. */
const beatsIn = (file: string): Array<bigint> =>
  Fs.existsSync(file) ? Fs.readFileSync(file, "utf8").split("\n").filter((l) => /^\d+$/.test(l)).map(BigInt) : []

const sh = (script: string) => ["sh", "-c", script]

/** A child of CMD (a subshell in the background) that ignores SIGTERM and SIGINT, as do its own
 * children; writes its pid into `pidFile` and, every 20 ms, a timestamp into `beats` (when given),
 * until killed. */
const stubbornChild = (pidFile: string, beats?: string) =>
  `(trap '' TERM INT; while :; do ${beats === undefined ? "" : `date +%s%N >> ${beats}; `}sleep 0.02; done) & echo $! > ${pidFile};`

const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`

interface LeaseObject {
  readonly metadata: { readonly resourceVersion: string } & Record<string, unknown>
  readonly spec: { readonly holderIdentity?: string; readonly renewTime?: string } & Record<string, unknown>
}

/** The Lease object as the API server has it (admin), or undefined when absent. */
const readLease = (name: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const response = yield* cp.request({ path: leasePath(name) })
    if (response.status === 404) return undefined
    assert.strictEqual(response.status, 200, response.body)
    return response.json as LeaseObject
  })

/** An admin's compare-and-swap that names another holder (a renewal in between: read again). */
const takeOver = (name: string, holder: string) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const overwrite = readLease(name).pipe(
      Effect.flatMap((lease) =>
        cp.request({ method: "PUT", path: leasePath(name), body: { ...lease!, spec: { ...lease!.spec, holderIdentity: holder } } })
      ),
      Effect.map((response) => response.status === 200)
    )
    yield* waitFor("the takeover to succeed", overwrite, "10 seconds")
  })

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit run: the command's processes", (it) => {
  const admin = Effect.map(ControlPlane.ControlPlane, (cp) => ["--kubeconfig", cp.users.admin.kubeconfig])

  it.effect("on a takeover, a child that ignores SIGTERM gets SIGKILL after --grace although CMD itself exited at the SIGTERM; leasekit exits 79 only once it is gone", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `takeover-${suffix()}`
      const childPid = Path.join(dir, "child")
      // CMD (sh) exits on SIGTERM; its child ignores it.
      const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--grace", "700ms", "--", ...sh(`${stubbornChild(childPid)} wait`)])
      const child = yield* pidIn(childPid)
      yield* reap(child)

      const beforeTakeover = Date.now()
      yield* takeOver(name, "admin-took-it")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.isFalse(running(child), "the child is gone when leasekit exits")
      assert.include(ended.stderr, "now held by \"admin-took-it\"")
      assert.include(ended.stderr, "sending SIGKILL")
      assert.include(ended.stderr, String(child), "the survivor is named")
      assert.isAtLeast(ended.at - beforeTakeover, 700, "the SIGKILL came after the grace, not at once")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "admin-took-it", "a lease taken over is not ours to release")
    }).pipe(Effect.scoped))

  it.effect("on a loss by the renew deadline, a child of CMD that ignores SIGTERM is SIGKILLed before the next holder's CMD starts", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `deadline-${suffix()}`
      // The first holder reaches the API server through a proxy that is then partitioned; the next
      // one directly. --duration 3s: loss declared 2 s after the last renewal, takeover 3 s after
      // it, default grace 500 ms.
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const partitioned = yield* FaultProxy.kubeconfig(proxy, "admin")
      const beats = Path.join(dir, "beats")
      const nextStarted = Path.join(dir, "next-started")
      const first = yield* start(["run", "--kubeconfig", partitioned, name, "--duration", "3s", "--", ...sh(`${stubbornChild(Path.join(dir, "child"), beats)} wait`)])
      yield* waitUntil("the child's first beat", () => beatsIn(beats).length > 0)
      yield* reap(yield* pidIn(Path.join(dir, "child")))
      const next = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`date +%s%N > ${nextStarted}`)])
      yield* proxy.blackhole(true)

      const lost = yield* endOf(first).pipe(Effect.ensuring(proxy.blackhole(false)))
      const took = yield* endOf(next)
      assert.strictEqual(took.code, 0, took.stderr)
      assert.strictEqual(lost.code, 79, lost.stderr)
      assert.include(lost.stderr, "renew deadline passed")
      assert.include(lost.stderr, "sending SIGKILL")
      const lastBeat = beatsIn(beats).at(-1)!
      const nextStart = BigInt(Fs.readFileSync(nextStarted, "utf8").trim())
      assert.isTrue(
        lastBeat < nextStart,
        `the child of the old CMD ran until ${(Number(lastBeat - nextStart) / 1e6).toFixed(0)} ms after the next holder's CMD started`
      )
    }).pipe(Effect.scoped))

  it.effect("SIGTERM and SIGINT to leasekit: CMD gets it and exits; its child that ignores it is SIGKILLed after --grace, before the lease passes to the next holder", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      // Both signals at once, each on its own lease.
      const results = yield* Effect.forEach(["SIGTERM", "SIGINT"] as const, (signal) =>
        Effect.gen(function*() {
          const name = `signal-${signal.toLowerCase()}-${suffix()}`
          const beats = Path.join(dir, `${signal}-beats`)
          const nextStarted = Path.join(dir, `${signal}-next-started`)
          const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`${stubbornChild(Path.join(dir, `${signal}-child`), beats)} wait`)])
          yield* waitUntil("the child's first beat", () => beatsIn(beats).length > 0)
          const child = yield* pidIn(Path.join(dir, `${signal}-child`))
          yield* reap(child)
          const next = yield* start(["run", ...kube, name, "--duration", "3s", "--verbose", "--", ...sh(`date +%s%N > ${nextStarted}`)])
          yield* waitUntil("the next holder to wait for the lease", () => next.stderr().includes("; waiting"))
          holder.kill(signal)
          const ended = yield* endOf(holder)
          const took = yield* endOf(next)
          return { signal, ended, took, child, beats, nextStarted }
        }), { concurrency: "unbounded" })
      for (const { beats, child, ended, nextStarted, signal, took } of results) {
        assert.strictEqual(ended.code, signal === "SIGTERM" ? 143 : 130, `CMD's status (killed by ${signal}): ${ended.stderr}`)
        assert.include(ended.stderr, `exited after ${signal}`)
        assert.include(ended.stderr, "sending SIGKILL")
        assert.isFalse(running(child), `${signal}: the child is gone`)
        assert.strictEqual(took.code, 0, took.stderr)
        const lastBeat = beatsIn(beats).at(-1)!
        const nextStart = BigInt(Fs.readFileSync(nextStarted, "utf8").trim())
        assert.isTrue(lastBeat < nextStart, `${signal}: the child ran until ${(Number(lastBeat - nextStart) / 1e6).toFixed(0)} ms after the next holder's CMD started`)
      }
    }).pipe(Effect.scoped))

  it.effect("after CMD exits, a process it left in its group keeps the lease held and renewed until it exits (the default); then the lease is released", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `survivor-wait-${suffix()}`
      const go = Path.join(dir, "go")
      const done = Path.join(dir, "done")
      const holder = yield* start([
        "run",
        ...kube,
        name,
        "--duration",
        "3s",
        "--holder",
        "waiting-holder",
        "--",
        ...sh(`(while [ ! -e ${go} ]; do sleep 0.02; done; touch ${done}) & echo $! > ${dir}/survivor`)
      ])
      yield* reap(yield* pidIn(Path.join(dir, "survivor")))
      yield* waitUntil("leasekit to say it waits for the survivor", () => holder.stderr().includes("holding the lease until they exit"))
      const before = (yield* readLease(name))!
      yield* waitFor(
        "a renewal while the survivor runs",
        readLease(name).pipe(Effect.map((l) => l?.spec.renewTime !== before.spec.renewTime)),
        "2500 millis"
      )
      assert.match((yield* readLease(name))?.spec.holderIdentity ?? "", /^waiting-holder_[a-z0-9]{5}$/, "held while the survivor runs")
      assert.isTrue(running(holder.pid), "leasekit waits for the survivor")

      Fs.writeFileSync(go, "")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 0, ended.stderr)
      assert.isTrue(Fs.existsSync(done), "the survivor finished its work")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released once the survivor exited")
    }).pipe(Effect.scoped))

  it.effect("--survivors stop: a process CMD left in its group gets SIGTERM, SIGKILL after --grace, then the lease is released; CMD's status is kept", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `survivor-stop-${suffix()}`
      const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--survivors", "stop", "--", ...sh(`${stubbornChild(`${dir}/survivor`)} exit 3`)])
      const survivor = yield* pidIn(Path.join(dir, "survivor"))
      yield* reap(survivor)
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 3, ended.stderr)
      assert.match(ended.stderr, new RegExp(`exited with status 3 and left pids? (\\d+, )*${survivor}\\b`), "the survivor is named")
      assert.include(ended.stderr, "sending SIGKILL")
      assert.isFalse(running(survivor), "the survivor was stopped")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released after the survivor was stopped")
    }).pipe(Effect.scoped))

  it.effect("SIGKILL of leasekit: its dead man's switch SIGKILLs the command and the command's children at once", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const holder = yield* start(["run", ...kube, `sigkill-${suffix()}`, "--duration", "3s", "--", ...sh(`${stubbornChild(`${dir}/child`)} echo $$ > ${dir}/cmd; wait`)])
      const cmd = yield* pidIn(Path.join(dir, "cmd"))
      const child = yield* pidIn(Path.join(dir, "child"))
      yield* reap(cmd)
      yield* reap(child)
      holder.kill("SIGKILL")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.signal, "SIGKILL")
      // At once (the lease expires only 3 s after its last renewal), not when the lease expires.
      yield* waitUntil("the command and its child to be gone", () => !running(cmd) && !running(child), "2 seconds")
      yield* waitUntil("the switch to report", () => holder.stderr().includes("died while the command ran; SIGKILLed the command's process group"), "2 seconds")
    }).pipe(Effect.scoped))

  it.effect("SIGKILL of leasekit with stdin a terminal: the command (in leasekit's own group) is SIGKILLed too", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      // util-linux's script gives leasekit a terminal; CMD records its parent, leasekit's pid, and
      // ignores SIGHUP: the terminal's hangup when leasekit, its controlling process, dies does not
      // stop it (nor would it reach a CMD of a leasekit started from an interactive shell).
      const command = [bin, "run", ...kube, `tty-${suffix()}`, "--duration", "3s", "--", "sh", "-c", `'trap "" HUP; [ -t 0 ] && touch ${dir}/tty; echo $PPID > ${dir}/leasekit; echo $$ > ${dir}/cmd; while :; do sleep 0.05; done'`]
      const script = yield* spawn("script", ["-q", "-e", "-c", command.join(" "), "/dev/null"])
      const cmd = yield* pidIn(Path.join(dir, "cmd"))
      yield* reap(cmd)
      const leasekitPid = yield* pidIn(Path.join(dir, "leasekit"))
      assert.isTrue(Fs.existsSync(Path.join(dir, "tty")), "CMD's stdin is a terminal")
      process.kill(leasekitPid, "SIGKILL")
      yield* waitUntil("the command to be gone", () => !running(cmd), "2 seconds")
      script.kill("SIGKILL")
    }).pipe(Effect.scoped))

  it.effect("a release the API server does not answer is given up after the grace and reported plainly; leasekit exits with CMD's status, and does not call the ended command's lease lost", () =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const dir = yield* tempDir
      const name = `unreleased-${suffix()}`
      const proxy = yield* FaultProxy.make({ target: { port: cp.port } })
      const partitioned = yield* FaultProxy.kubeconfig(proxy, "admin")
      const go = Path.join(dir, "go")
      const cmdEnded = Path.join(dir, "ended")
      // --duration 6s: renewals every 2 s, deadline 4 s after the last one, default grace 1 s.
      const holder = yield* start([
        "run",
        "--kubeconfig",
        partitioned,
        name,
        "--duration",
        "6s",
        "--",
        ...sh(`touch ${dir}/started; while [ ! -e ${go} ]; do sleep 0.02; done; date +%s%3N > ${cmdEnded}; exit 3`)
      ])
      yield* waitUntil("CMD to start", () => Fs.existsSync(Path.join(dir, "started")))
      yield* proxy.blackhole(true)
      Fs.writeFileSync(go, "")
      const ended = yield* endOf(holder).pipe(Effect.ensuring(proxy.blackhole(false)))
      assert.strictEqual(ended.code, 3, ended.stderr)
      const after = ended.at - Number(Fs.readFileSync(cmdEnded, "utf8").trim())
      assert.isAtMost(after, 1000 + 1500, `leasekit exited ${after} ms after CMD (grace 1 s)`)
      assert.include(ended.stderr, `could not release the lease ${namespace}/${name} (no answer from the API server within 1.00s)`)
      assert.include(ended.stderr, "it expires by itself 6s (--duration) after its last renewal")
      assert.notMatch(ended.stderr, /\blost\b/, "CMD had ended: nothing was lost")
      assert.strictEqual(ended.stderr.trim().split("\n").length, 1, ended.stderr)
      assert.notStrictEqual((yield* readLease(name))?.spec.holderIdentity, "", "not released: it expires by itself")
    }).pipe(Effect.scoped))
})
