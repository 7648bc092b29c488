/**
 * How `leasekit run` gets its lease, against a real kube-apiserver (with etcd): `--try` after a
 * crashed run (the holder dead for its duration is taken over; a live one — also one whose clock
 * makes it look dead — is answered "held"), the same `--holder` on two processes, one attempt even
 * with a tiny `--timeout`, the waiting lines and `--quiet`, and a takeover seen through the lease's
 * watch stopping CMD long before the next renewal. Every wait is bounded; nothing is mocked.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Clock, Effect, Schedule } from "effect"
import { leaseObjects, microTime } from "./leaseObjects.ts"
import { admin, leasekit, start, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-cli-acquire"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { readLease, writeLease } = leaseObjects(namespace)

/** Writes a record as another client would (admin): `holder`, renewed at `renewTime`, lasting `seconds`. */
const writeRecord = (name: string, holder: string, renewTime: number, seconds: number) =>
  writeLease(name, { holderIdentity: holder, leaseDurationSeconds: seconds, acquireTime: microTime(renewTime), renewTime: microTime(renewTime), leaseTransitions: 3 })

/** Milliseconds since the record's renewTime, by this machine's clock. */
const renewedAgo = (name: string) =>
  Effect.gen(function*() {
    const renewTime = (yield* readLease(name))!.spec.renewTime!
    return (yield* Clock.currentTimeMillis) - Date.parse(renewTime)
  })

const holderOf = (name: string) => Effect.map(readLease(name), (lease) => lease?.spec.holderIdentity)

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("leasekit run: getting the lease", (it) => {
  const flags = Effect.map(admin, (kube) => [...kube, "-n", namespace])

  it.effect("--try takes over a lease last renewed an hour ago once it stayed unchanged for its duration", () =>
    Effect.gen(function*() {
      const name = `dead-${suffix()}`
      yield* writeRecord(name, "crashed-run", (yield* Clock.currentTimeMillis) - 3_600_000, 3)
      const started = yield* Clock.currentTimeMillis
      const ended = yield* leasekit(["run", name, ...(yield* flags), "--duration", "3s", "--try", "--", "sh", "-c", "echo token=$LEASEKIT_TOKEN"])
      const took = (yield* Clock.currentTimeMillis) - started
      assert.strictEqual(ended.code, 0, ended.stderr)
      assert.include(ended.stderr, "overdue")
      assert.match(ended.stdout, /token=4/)
      // the record's 3 s, observed unchanged, plus a round of reads: well under the 6 s bound it announces
      assert.isAtLeast(took, 3_000)
      assert.isBelow(took, 8_000, `took ${took} ms`)
    }))

  it.effect("after a crashed (SIGKILLed) run, the next --try run takes the lease; before the record is overdue it answers held", () =>
    Effect.gen(function*() {
      const name = `crash-${suffix()}`
      // 6 s: longer than a leasekit process takes to start on a loaded machine, so the early run
      // below surely sees a fresh record
      const args = [...(yield* flags), "--duration", "6s"]
      const crashed = yield* start(["run", name, ...args, "--", "sleep", "60"])
      yield* holderOf(name).pipe(Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (h) => h !== undefined && h !== "" }))
      crashed.kill("SIGKILL")
      const crashedAt = yield* Clock.currentTimeMillis
      // at once: the record is fresh, the holder may be alive — held, without waiting
      const early = yield* leasekit(["run", name, ...args, "--try", "--", "true"])
      assert.strictEqual(early.code, 75, early.stderr)
      assert.include(early.stderr, "last renewed")
      assert.notInclude(early.stderr, "overdue")
      // a later run (as the next CronJob run would be, once the record is overdue): takes it over
      yield* renewedAgo(name).pipe(Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (age) => age > 6_000 }))
      const later = yield* leasekit(["run", name, ...args, "--try", "--", "true"])
      assert.strictEqual(later.code, 0, later.stderr)
      assert.include(later.stderr, "took the lease over")
      // overdue after one duration, taken after another (observed unchanged) plus reads and starts
      const took = (yield* Clock.currentTimeMillis) - crashedAt
      assert.isBelow(took, 2 * 6_000 + 8_000, `crash to takeover: ${took} ms`)
      yield* Effect.log(`crash to takeover by the next --try run: ${took} ms`)
    }))

  it.effect("--try answers held within about a renew interval for a live holder whose record looks an hour old (clock skew)", () =>
    Effect.gen(function*() {
      const name = `skewed-${suffix()}`
      const base = (yield* Clock.currentTimeMillis) - 3_600_000
      yield* writeRecord(name, "alive-elsewhere", base, 3)
      // a live holder with a clock an hour behind: renews every second
      let renewals = 0
      yield* Effect.suspend(() => writeRecord(name, "alive-elsewhere", base + ++renewals * 1_000, 3)).pipe(
        Effect.repeat(Schedule.spaced("1 second")),
        Effect.forkScoped
      )
      const run = yield* start(["run", name, ...(yield* flags), "--duration", "3s", "--try", "--", "true"])
      yield* waitUntil("--try to start observing", () => run.stderr().includes("observing it"))
      const observing = yield* Clock.currentTimeMillis
      const ended = yield* run.ended
      const took = (yield* Clock.currentTimeMillis) - observing
      assert.strictEqual(ended.code, 75, ended.stderr)
      assert.include(ended.stderr, "the holder is alive")
      // a renewal every second, polled every retry period (1 s): well before the 3 s duration
      assert.isBelow(took, 3_000, `answered ${took} ms after it started observing`)
      assert.strictEqual(yield* holderOf(name), "alive-elsewhere")
    }))

  it.effect("the same --holder on two processes: the second does not adopt the first's tenure", () =>
    Effect.gen(function*() {
      const name = `same-holder-${suffix()}`
      const args = [...(yield* flags), "--holder", "nightly"]
      const first = yield* start(["run", name, ...args, "--", "sh", "-c", "echo token=$LEASEKIT_TOKEN holder=$LEASEKIT_HOLDER; sleep 30"])
      yield* waitUntil("the first run's command to start", () => first.stdout().includes("token="))
      assert.match(first.stdout(), /holder=nightly_[a-z0-9]{5}/)
      const second = yield* leasekit(["run", name, ...args, "--try", "--", "true"])
      assert.strictEqual(second.code, 75, second.stderr)
      assert.include(second.stderr, "held by \"nightly_")
      first.kill("SIGTERM")
      yield* first.ended
    }))

  it.effect("a --timeout shorter than a round trip still makes one attempt and takes a free lease", () =>
    Effect.gen(function*() {
      const ended = yield* leasekit(["run", `tiny-timeout-${suffix()}`, ...(yield* flags), "--timeout", "1ms", "--", "true"])
      assert.strictEqual(ended.code, 0, ended.stderr)
    }))

  it.effect("waiting says who holds the lease, and --quiet says nothing until the outcome", () =>
    Effect.gen(function*() {
      const name = `waiting-${suffix()}`
      yield* writeRecord(name, "someone-else", yield* Clock.currentTimeMillis, 30)
      const loud = yield* leasekit(["run", name, ...(yield* flags), "--timeout", "1s", "--", "true"])
      assert.strictEqual(loud.code, 75, loud.stderr)
      assert.match(loud.stderr, /lease leasekit-cli-acquire\/waiting-\w+ is held by "someone-else" \(last renewed .* ago\); waiting at most 1(\.00)?s/)
      const quiet = yield* leasekit(["run", name, ...(yield* flags), "--timeout", "1s", "--quiet", "--", "true"])
      assert.strictEqual(quiet.code, 75, quiet.stderr)
      assert.notInclude(quiet.stderr, "waiting at most")
      assert.include(quiet.stderr, "gave up waiting after 1s")
    }))

  it.effect("--wait with a --timeout shorter than an overdue record's duration says why it could not take it", () =>
    Effect.gen(function*() {
      const name = `short-wait-${suffix()}`
      yield* writeRecord(name, "crashed-run", (yield* Clock.currentTimeMillis) - 3_600_000, 30)
      const ended = yield* leasekit(["run", name, ...(yield* flags), "--timeout", "1s", "--", "true"])
      assert.strictEqual(ended.code, 75, ended.stderr)
      assert.match(ended.stderr, /use --timeout of at least 30(\.0)?s/)
    }))

  it.effect("an admin's takeover stops CMD within a second through the watch, not at the next renewal (6.67 s)", () =>
    Effect.gen(function*() {
      const name = `takeover-${suffix()}`
      const args = yield* flags
      const holder = yield* start(["run", name, ...args, "--", "sh", "-c", "echo started; sleep 60"])
      yield* waitUntil("the command to start", () => holder.stdout().includes("started"))
      const release = yield* leasekit(["release", name, ...args, "--force"])
      assert.strictEqual(release.code, 0, release.stderr)
      const releasedAt = yield* Clock.currentTimeMillis // the release is stored (its process has ended)
      const ended = yield* holder.ended
      const took = (yield* Clock.currentTimeMillis) - releasedAt
      assert.strictEqual(ended.code, 79, ended.stderr)
      assert.include(ended.stderr, "seen through the lease's watch")
      assert.isBelow(took, 1_500, `leasekit exited ${took} ms after the admin's release was stored`)
      yield* Effect.log(`takeover to CMD stopped and leasekit exited: ${took} ms`)
    }))
})
