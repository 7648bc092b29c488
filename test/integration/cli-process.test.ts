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
 *
 * What CMD supervises is its session, not only its process group: a job run under GNU `timeout`
 * (which moves itself into a group of its own) is stopped on a loss, and SIGKILLed by the dead
 * man's switch. A process whose main thread exited while its other threads work (python3 calls
 * `pthread_exit` through ctypes) reads as a zombie, and still counts as running. SIGTSTP to
 * leasekit pauses CMD, not leasekit, which keeps the lease.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Duration, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { leaseObjects } from "./leaseObjects.ts"
import * as ChildProcess from "node:child_process"
import { admin, adminThroughProxy, beatsIn, bin, makeTempDir, polling, processState, reap, running, type Running, sh, spawn as spawnProcess } from "./leasekitProcess.ts"

const namespace = "leasekit-cli-process"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { overwriteHolder, readLease } = leaseObjects(namespace)

/** Starts `file args…`; its `ended` waits until the process itself exited (the command may hold
 * its stdio longer), with the output that was on its way then. */
const spawn = (file: string, args: ReadonlyArray<string>) => spawnProcess(file, args, {}, { endedOn: "exit" })

const start = (args: ReadonlyArray<string>) => spawn(bin, args)

/** This suite's waits poll every 20 ms, for 20 s unless the call names another timeout. */
const { pidIn, waitFor, waitUntil } = polling("20 millis", "20 seconds")

/** Waits for leasekit's exit, bounded. */
const endOf = (holder: Running, timeout: Duration.Input = "30 seconds") =>
  holder.ended.pipe(
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error(`leasekit did not exit within ${Duration.format(Duration.fromInputUnsafe(timeout))}`)) })
  )

/** A temporary folder for a test's files, removed with the scope. */
const tempDir = makeTempDir("leasekit-process-test-")

/** The pid a command wrote into `file`, once it has. */
/** A child of CMD (a subshell in the background) that ignores SIGTERM and SIGINT, as do its own
 * children; writes its pid into `pidFile` and, every 20 ms, a timestamp into `beats` (when given),
 * until killed. */
const stubbornChild = (pidFile: string, beats?: string) =>
  `(trap '' TERM INT; while :; do ${beats === undefined ? "" : `date +%s%N >> ${beats}; `}sleep 0.02; done) & echo $! > ${pidFile};`

/** The first pid in `/proc/PID/stat`'s process group field. */
const groupOf = (pid: number) => {
  const stat = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])
}

const python = ChildProcess.spawnSync("python3", ["-c", "import ctypes, threading"]).status === 0

/** python3 FILE BEATS PIDFILE: ignores SIGTERM, starts a thread that appends a timestamp to BEATS
 * every 20 ms, writes its pid to PIDFILE, then ends its main thread (pthread_exit): from then on
 * /proc/PID/stat shows it as a zombie ("Z") while its second thread works on. */
const zombieLeaderScript = [
  "import ctypes, threading, time, os, signal, sys",
  "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
  "def work():",
  "    while True:",
  "        with open(sys.argv[1], 'a') as f: f.write('%d\\n' % time.time_ns())",
  "        time.sleep(0.02)",
  "threading.Thread(target=work).start()",
  "with open(sys.argv[2] + '.tmp', 'w') as f: f.write('%d\\n' % os.getpid())",
  "os.rename(sys.argv[2] + '.tmp', sys.argv[2])",
  "ctypes.CDLL(None).pthread_exit(None)"
].join("\n")

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit run: the command's processes", (it) => {
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
      // An admin's compare-and-swap that names another holder (a renewal in between: read again).
      yield* waitFor("the takeover to succeed", overwriteHolder(name, "admin-took-it"), "10 seconds")
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
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `deadline-${suffix()}`
      // The first holder reaches the API server through a proxy that is then partitioned; the next
      // one directly. --duration 3s: loss declared 2 s after the last renewal, takeover 3 s after
      // it, default grace 500 ms.
      const { kubeconfig: partitioned, proxy } = yield* adminThroughProxy
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

  it.effect("leasekit re-executes itself in place with its Node flags: CMD's parent is the very pid that was started, running with --max-semi-space-size=1; LEASEKIT_NODE_FLAGS replaces them, NODE_OPTIONS prevents them", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const argsOfParent = (extra: NodeJS.ProcessEnv) =>
        Effect.gen(function*() {
          const dir = yield* tempDir
          const holder = yield* spawnProcess(
            bin,
            ["run", ...kube, `flags-${suffix()}`, "--", ...sh(`echo $PPID > ${dir}/parent; tr '\\0' ' ' < /proc/$PPID/cmdline > ${dir}/args`)],
            extra,
            { endedOn: "exit" }
          )
          const ended = yield* endOf(holder)
          assert.strictEqual(ended.code, 0, ended.stderr)
          assert.strictEqual(Number(Fs.readFileSync(Path.join(dir, "parent"), "utf8")), holder.pid, "CMD's parent is not the process that was started")
          return Fs.readFileSync(Path.join(dir, "args"), "utf8")
        })
      const flagged = yield* argsOfParent({})
      assert.include(flagged, "--max-semi-space-size=1 ")
      assert.include(flagged, "bin.js run ")
      const plain = yield* argsOfParent({ LEASEKIT_NODE_FLAGS: "" })
      assert.notInclude(plain, "--max-semi-space-size")
      assert.notInclude(yield* argsOfParent({ LEASEKIT_NODE_FLAGS: "--max-old-space-size=100" }), "--max-semi-space-size")
      // Flags the user gave Node (here through NODE_OPTIONS) are theirs: no re-execution over them.
      assert.notInclude(yield* argsOfParent({ NODE_OPTIONS: "--max-semi-space-size=16" }), "--max-semi-space-size=1 ")
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
      const dir = yield* tempDir
      const name = `unreleased-${suffix()}`
      const { kubeconfig: partitioned, proxy } = yield* adminThroughProxy
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
  it.effect("on a takeover, a job CMD runs under GNU `timeout` (which moves itself into a process group of its own) is stopped too: the whole session is", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `timeout-${suffix()}`
      const beats = Path.join(dir, "beats")
      // A cron script's usual shape: `timeout` bounds the job. The job does not ignore SIGTERM.
      const holder = yield* start([
        "run",
        ...kube,
        name,
        "--duration",
        "3s",
        "--grace",
        "500ms",
        "--",
        ...sh(`timeout 60 sh -c 'echo $$ > ${dir}/job; while :; do date +%s%N >> ${beats}; sleep 0.02; done'; echo done`)
      ])
      const job = yield* pidIn(Path.join(dir, "job"))
      const jobGroup = groupOf(job)
      yield* reap(job)
      yield* reap(-jobGroup)
      assert.notStrictEqual(jobGroup, holder.pid, "the job runs in a group of its own")
      yield* waitUntil("the job's beats", () => beatsIn(beats).length > 2)
      yield* waitFor("the takeover to succeed", overwriteHolder(name, "admin-took-it"), "10 seconds")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 79, ended.stderr)
      const before = beatsIn(beats).length
      yield* Effect.sleep("300 millis")
      assert.strictEqual(
        beatsIn(beats).length,
        before,
        `leasekit exited 79 ("the command was stopped") while the job under timeout (pid ${job}, group ${jobGroup}) still works`
      )
      assert.isFalse(running(job), "the job is gone")
    }).pipe(Effect.scoped))

  it.effect("SIGKILL of leasekit: its dead man's switch SIGKILLs a job CMD runs under GNU `timeout` (in a process group of its own) too", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const holder = yield* start([
        "run",
        ...kube,
        `sigkill-timeout-${suffix()}`,
        "--duration",
        "3s",
        "--",
        ...sh(`timeout 60 sh -c 'trap "" TERM; echo $$ > ${dir}/job; while :; do sleep 0.02; done'`)
      ])
      const job = yield* pidIn(Path.join(dir, "job"))
      const jobGroup = groupOf(job)
      yield* reap(job)
      yield* reap(-jobGroup)
      holder.kill("SIGKILL")
      yield* waitUntil("the job to be gone", () => !running(job), "2 seconds")
      yield* waitUntil("the switch to report", () => holder.stderr().includes("SIGKILLed the command's process group"), "2 seconds")
    }).pipe(Effect.scoped))

  it.effect.skipIf(!python)(
    "on a loss by the renew deadline, a process of CMD's group whose main thread exited (its other threads working, SIGTERM ignored) is SIGKILLed before the next holder's CMD starts",
    () =>
      Effect.gen(function*() {
        const kube = yield* admin
        const dir = yield* tempDir
        const name = `zombie-leader-deadline-${suffix()}`
        const script = Path.join(dir, "worker.py")
        Fs.writeFileSync(script, zombieLeaderScript)
        const beats = Path.join(dir, "beats")
        const nextStarted = Path.join(dir, "next-started")
        const { kubeconfig: partitioned, proxy } = yield* adminThroughProxy
        const first = yield* start(["run", "--kubeconfig", partitioned, name, "--duration", "3s", "--", ...sh(`python3 ${script} ${beats} ${dir}/worker & wait`)])
        const worker = yield* pidIn(Path.join(dir, "worker"))
        yield* reap(worker)
        yield* waitUntil("the worker's beats", () => beatsIn(beats).length > 2)
        const next = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`date +%s%N > ${nextStarted}`)])
        yield* proxy.blackhole(true)

        const lost = yield* endOf(first).pipe(Effect.ensuring(proxy.blackhole(false)))
        const took = yield* endOf(next)
        assert.strictEqual(lost.code, 79, lost.stderr)
        assert.strictEqual(took.code, 0, took.stderr)
        yield* Effect.sleep("200 millis")
        const lastBeat = beatsIn(beats).at(-1)!
        const nextStart = BigInt(Fs.readFileSync(nextStarted, "utf8").trim())
        assert.isTrue(
          lastBeat < nextStart,
          `the old CMD's worker ran on ${(Number(lastBeat - nextStart) / 1e6).toFixed(0)} ms after the next holder's CMD started ` +
            `(leasekit's stderr: ${lost.stderr})`
        )
      }).pipe(Effect.scoped)
  )

  it.effect.skipIf(!python)(
    "--survivors wait: a survivor whose main thread exited while its other threads work keeps the lease held until it is gone",
    () =>
      Effect.gen(function*() {
        const kube = yield* admin
        const dir = yield* tempDir
        const name = `zombie-leader-survivor-${suffix()}`
        const script = Path.join(dir, "worker.py")
        Fs.writeFileSync(script, zombieLeaderScript)
        const beats = Path.join(dir, "beats")
        const holder = yield* start([
          "run",
          ...kube,
          name,
          "--duration",
          "3s",
          "--",
          ...sh(`python3 ${script} ${beats} ${dir}/worker & while [ ! -s ${dir}/worker ]; do sleep 0.02; done`)
        ])
        const worker = yield* pidIn(Path.join(dir, "worker"))
        yield* reap(worker)
        // Longer than --duration: a lease not renewed meanwhile would have expired.
        const ended = yield* holder.ended.pipe(Effect.timeoutOption("3500 millis"))
        if (Option.isSome(ended)) {
          const before = beatsIn(beats).length
          yield* Effect.sleep("200 millis")
          const working = beatsIn(beats).length > before
          assert.isFalse(
            working,
            `leasekit exited (code ${ended.value.code}) and the lease's holder is now ` +
              `${JSON.stringify((yield* readLease(name))?.spec.holderIdentity)} while a process of CMD's group still works (stderr: ${ended.value.stderr})`
          )
        }
        assert.include(holder.stderr(), "holding the lease until they exit")
        assert.notStrictEqual((yield* readLease(name))?.spec.holderIdentity, "", "held while the survivor works")

        process.kill(worker, "SIGKILL")
        const done = yield* endOf(holder)
        assert.strictEqual(done.code, 0, done.stderr)
        assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released once the survivor is gone")
      }).pipe(Effect.scoped)
  )

  it.effect("SIGTSTP to leasekit (Ctrl-Z, `kill -TSTP`) pauses CMD's group, not leasekit, which keeps the lease; SIGCONT resumes CMD; CMD never runs under a lease that passed on", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `tstp-${suffix()}`
      const beats = Path.join(dir, "beats")
      const nextStarted = Path.join(dir, "next-started")
      const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`echo $$ > ${dir}/cmd; while :; do date +%s%N >> ${beats}; sleep 0.02; done`)])
      const cmd = yield* pidIn(Path.join(dir, "cmd"))
      yield* reap(-cmd)
      yield* waitUntil("CMD's first beat", () => beatsIn(beats).length > 0)
      const next = yield* start(["run", ...kube, name, "--duration", "3s", "--verbose", "--", ...sh(`date +%s%N > ${nextStarted}`)])
      yield* waitUntil("the next holder to wait for the lease", () => next.stderr().includes("; waiting"))
      holder.kill("SIGTSTP")
      yield* waitUntil("CMD to be stopped", () => processState(cmd) === "T", "2 seconds")
      assert.notStrictEqual(processState(holder.pid), "T", "leasekit is not stopped")
      // Longer than --duration: a lease not renewed meanwhile would pass to the next holder.
      const took = yield* next.ended.pipe(Effect.timeoutOption("4 seconds"))
      assert.isTrue(Option.isNone(took), "the next holder still waits: the lease is renewed while CMD is paused")
      assert.notStrictEqual(processState(holder.pid), "T", "leasekit is still not stopped")
      assert.strictEqual(processState(cmd), "T", "CMD is still paused")

      holder.kill("SIGCONT")
      const resumed = beatsIn(beats).length
      yield* waitUntil("CMD to beat again", () => beatsIn(beats).length > resumed, "2 seconds")
      holder.kill("SIGTERM")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 143, ended.stderr)
      const nextEnded = yield* endOf(next)
      assert.strictEqual(nextEnded.code, 0, nextEnded.stderr)
      const lastBeat = beatsIn(beats).at(-1)!
      const nextStart = BigInt(Fs.readFileSync(nextStarted, "utf8").trim())
      assert.isTrue(lastBeat < nextStart, `CMD ran on ${(Number(lastBeat - nextStart) / 1e6).toFixed(0)} ms after the next holder's CMD started`)
    }).pipe(Effect.scoped))

  it.effect("SIGTERM to leasekit while CMD is paused (SIGTSTP) reaches CMD: it is continued and stops", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `tstp-term-${suffix()}`
      const beats = Path.join(dir, "beats")
      const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--", ...sh(`echo $$ > ${dir}/cmd; while :; do date +%s%N >> ${beats}; sleep 0.02; done`)])
      const cmd = yield* pidIn(Path.join(dir, "cmd"))
      yield* reap(-cmd)
      yield* waitUntil("CMD's first beats", () => beatsIn(beats).length > 2)
      holder.kill("SIGTSTP")
      yield* waitUntil("CMD to be stopped", () => processState(cmd) === "T", "2 seconds")
      holder.kill("SIGTERM")
      const ended = yield* endOf(holder)
      assert.strictEqual(ended.code, 143, `CMD was killed by the forwarded SIGTERM: ${ended.stderr}`)
      assert.isFalse(running(cmd), "CMD is gone")
      assert.strictEqual((yield* readLease(name))?.spec.holderIdentity, "", "released")
    }).pipe(Effect.scoped))

  it.effect("--survivors stop: a takeover while the survivors are being stopped is a loss (exit 79), not CMD's status", () =>
    Effect.gen(function*() {
      const kube = yield* admin
      const dir = yield* tempDir
      const name = `survivors-stop-lost-${suffix()}`
      const holder = yield* start(["run", ...kube, name, "--duration", "3s", "--grace", "700ms", "--survivors", "stop", "--", ...sh(`${stubbornChild(`${dir}/survivor`)} exit 0`)])
      yield* reap(yield* pidIn(Path.join(dir, "survivor")))
      yield* waitUntil("leasekit to stop the survivor", () => holder.stderr().includes("stopping them"), "10 seconds")
      yield* waitFor("the takeover to succeed", overwriteHolder(name, "admin-took-it"), "10 seconds")
      const ended = yield* endOf(holder)
      assert.strictEqual(
        ended.code,
        79,
        `the lease was taken while the processes CMD left in its group ran (README: exit 79); stderr: ${ended.stderr}`
      )
      assert.include(ended.stderr, "the command had already exited with status 0")
    }).pipe(Effect.scoped))
})
