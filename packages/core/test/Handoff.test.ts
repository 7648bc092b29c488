/**
 * The promises of a graceful handoff (issue 16): `HeldLease.handoff`, the reservation of a handed-off
 * lease for its successor, requests (`Lease.requestHandoff`, `LeaseContender.requestHandoff`)
 * honoured, refused and expired, coordinated leases refused, `spec.strategy` /
 * `spec.preferredHolder` kept, `labels` applied, and the liveness caution: requests never keep a
 * dead holder's lease from expiring. Virtual time only (TestClock), memory store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError } from "../src/LeaseError.ts"
import { Annotations, specOf } from "../src/LeaseRecord.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, contend, contenderIn, key, makeTimeline, opts, settle, start, withStore } from "./Scene.ts"

const annotationsOf = Effect.map(read(key), (record) => record.metadata.annotations ?? {})

describe("handoff", () => {
  it.effect("the named successor among several watching waiters gets it at once; the others not during the window; tokens increase", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      const b = yield* contend("b")
      const c = yield* contend("c")
      const d = yield* contend("d")
      yield* settle
      yield* a.handoff("c")
      const got = yield* Deferred.await(c.acquired)
      assert.strictEqual(got.at, 0, "the successor acquired at the virtual instant of the handoff")
      assert.strictEqual(got.token, a.token + 1, "the successor's token is greater")
      const record = yield* read(key)
      assert.strictEqual(record.holder, "c")
      assert.isUndefined(record.metadata.annotations?.[Annotations.handoffTo], "the acquisition removed the reservation")
      assert.isUndefined(record.metadata.annotations?.[Annotations.handoffWindowSeconds])
      assert.isUndefined(record.preferredHolder, "no preferredHolder (the handoff writes none)")
      yield* advance(25)
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      assert.isFalse(yield* Deferred.isDone(d.acquired))
    })))

  it.effect("the handoff's write: holder cleared, the reservation set (no preferredHolder: the API server allows it only with strategy), the counter kept", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a", { handoffWindow: "12 seconds" }))
      yield* a.handoff("ghost")
      const record = yield* read(key)
      assert.strictEqual(record.holder, "")
      assert.strictEqual(record.transitions, a.token)
      assert.isUndefined(record.preferredHolder)
      assert.strictEqual(record.metadata.annotations?.[Annotations.handoffTo], "ghost")
      assert.strictEqual(record.metadata.annotations?.[Annotations.handoffWindowSeconds], "12")
      assert.isFalse(yield* a.isHeld)
      const inspected = yield* Lease.inspect(key)
      assert.deepStrictEqual(Option.map(inspected.pendingHandoff, (p) => p.to), Option.some("ghost"))
      assert.deepStrictEqual(
        Option.map(inspected.pendingHandoff, (p) => Duration.toMillis(p.remaining)),
        Option.some(12_000)
      )
    })))

  it.effect("a successor that never comes: anyone may take the lease once the declared window has passed", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a", { handoffWindow: "10 seconds" }))
      const b = yield* contend("b")
      yield* settle
      yield* a.handoff("ghost")
      yield* advance(9)
      assert.isFalse(yield* Deferred.isDone(b.acquired), "reserved for the successor during the window")
      const refused = yield* Lease.tryAcquire(opts("x"))
      assert.isTrue(Option.isNone(refused), "a single attempt during the window finds it taken by the successor")
      yield* advance(1)
      const got = yield* Deferred.await(b.acquired)
      assert.strictEqual(got.at, 10_000)
      assert.strictEqual(got.token, a.token + 1)
    })))

  it.effect("a tryAcquire during the window names the successor as the holder", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      yield* a.handoff("c")
      const { contender } = yield* contenderIn("b")
      const result = yield* contender.tryAcquire
      assert.strictEqual(result._tag, "HeldByOther")
      assert.strictEqual(result._tag === "HeldByOther" ? result.holder : "", "c")
    })))

  it.effect("an observer reports the reservation, and again when its window has passed", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a", { handoffWindow: "5 seconds" }))
      const reports = yield* Lease.observe(key).pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      yield* settle
      yield* a.handoff("ghost")
      yield* settle
      yield* advance(5)
      const seen = Array.from(yield* Fiber.join(reports)).map((r) => [
        Option.getOrUndefined(r.holder),
        Option.getOrUndefined(Option.map(r.pendingHandoff, (p) => Duration.toMillis(p.remaining)))
      ])
      assert.deepStrictEqual(seen, [["a", undefined], [undefined, 5_000], [undefined, 0]])
    })))

  it.effect("a missing or garbage window annotation: the reader's own handoffWindow", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "", durationSeconds: 1, transitions: 4 }, {
        annotations: { [Annotations.handoffTo]: "ghost", [Annotations.handoffWindowSeconds]: "soon" }
      })
      const b = yield* contend("b", { handoffWindow: "5 seconds" })
      yield* advance(4)
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* advance(1)
      assert.strictEqual((yield* Deferred.await(b.acquired)).at, 5_000)
    })))

  it.effect("a hostile huge window is capped at maxHonouredDuration", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "", durationSeconds: 1, transitions: 4 }, {
        annotations: { [Annotations.handoffTo]: "ghost", [Annotations.handoffWindowSeconds]: "999999" }
      })
      const b = yield* contend("b")
      yield* TestClock.adjust("59 minutes")
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Deferred.await(b.acquired)).at, 3_600_000)
    })))

  it.effect("handoff stops guarded work before the write; guards fail with HandedOff", () =>
    withStore(Effect.gen(function*() {
      const timeline = yield* makeTimeline
      const a = yield* Lease.acquire(opts("a"))
      const holderWhenStopped = yield* Deferred.make<string | undefined>()
      const work = yield* a.guard(Effect.never.pipe(
        Effect.onInterrupt(() =>
          Effect.gen(function*() {
            yield* timeline.mark("work stopped")
            yield* Effect.sleep("2 seconds") // cleanup that takes a while
            yield* Deferred.succeed(holderWhenStopped, (yield* read(key)).holder)
          })
        )
      )).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      const handing = yield* a.handoff("b").pipe(Effect.andThen(timeline.mark("handed off")), Effect.forkChild)
      yield* advance(3)
      yield* Fiber.join(handing)
      assert.strictEqual(yield* Deferred.await(holderWhenStopped), "a", "the record still named us while the work stopped")
      const error = yield* Fiber.join(work)
      assert.instanceOf(error, LeaseLostError)
      assert.deepStrictEqual(error.reason, { _tag: "HandedOff", to: "b" })
      assert.include(error.message, "handed off")
      const stopped = yield* timeline.at("work stopped")
      const handed = yield* timeline.at("handed off")
      assert.isTrue(stopped !== undefined && handed !== undefined && stopped < handed)
      assert.strictEqual((yield* read(key)).metadata.annotations?.[Annotations.handoffTo], "b")
      // A guard started after the handoff refuses to run, with the same reason.
      const late = yield* Effect.flip(a.guard(Effect.void))
      assert.strictEqual(late._tag, "LeaseLostError")
      assert.strictEqual(late.reason._tag, "HandedOff")
      // `lost` never fails with a handoff.
      assert.isUndefined((yield* Effect.forkChild(a.lost)).pollUnsafe())
    })))

  it.effect("a handoff joins a release in progress (which stays plain), and a release joins a handoff", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      const blocker = yield* a.guard(Effect.uninterruptible(Effect.sleep("1 second"))).pipe(Effect.exit, Effect.forkChild)
      yield* settle
      const releasing = yield* a.release.pipe(Effect.forkChild)
      yield* settle
      const handing = yield* a.handoff("b").pipe(Effect.forkChild)
      yield* advance(2)
      yield* Fiber.join(releasing)
      yield* Fiber.join(handing)
      yield* Fiber.join(blocker)
      assert.isUndefined((yield* annotationsOf)[Annotations.handoffTo], "the first call decided: a plain release")

      const c = yield* Lease.acquire(opts("c"))
      const h = yield* c.handoff("d").pipe(Effect.forkChild)
      const r = yield* c.release.pipe(Effect.forkChild)
      yield* settle
      yield* Fiber.join(h)
      yield* Fiber.join(r)
      assert.strictEqual((yield* annotationsOf)[Annotations.handoffTo], "d")
    })))

  it.effect("handoff to an identity no holder can have fails with InvalidLeaseOptions, before anything", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a"))
      const updates = yield* probe.calls("update")
      const error = yield* Effect.flip(a.handoff(" "))
      assert.instanceOf(error, InvalidLeaseOptions)
      assert.strictEqual(error.field, "to")
      assert.strictEqual(yield* probe.calls("update"), updates)
      assert.isTrue(yield* a.isHeld)
    })))

  it.effect("the Released event names the successor", () =>
    withStore(Effect.gen(function*() {
      const { contender } = yield* contenderIn("a")
      const collected = yield* contender.events.pipe(
        Stream.filter((event) => event._tag === "Released"),
        Stream.take(1),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* settle
      const held = yield* contender.acquire()
      yield* held.handoff("b")
      const events = Array.from(yield* Fiber.join(collected))
      assert.deepStrictEqual(events, [{ _tag: "Released", token: held.token, handedOffTo: "b" }])
    })))
})

describe("handoff requests", () => {
  it.effect("honoured: the holder hands over at its next renewal to the requester, which takes it at once", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      const b = yield* contend("b")
      const { contender: c } = yield* contenderIn("c")
      const requested = yield* c.requestHandoff
      assert.strictEqual(requested._tag, "Requested")
      assert.strictEqual(requested._tag === "Requested" ? requested.holder : "", "a")
      assert.strictEqual((yield* annotationsOf)[Annotations.handoffRequest], "c")
      assert.deepStrictEqual(specOf(yield* read(key)).holder, "a", "the request leaves the spec as read")
      const acquiring = yield* c.acquire().pipe(Effect.forkChild)
      yield* settle
      yield* advance(7) // a renews after renewInterval (6.67 s): conflict, read back, request seen
      const held = yield* Fiber.join(acquiring)
      assert.strictEqual(held.token, a.token + 1)
      assert.strictEqual(yield* a.handoffRequested, "c")
      assert.isFalse(yield* a.isHeld)
      const record = yield* read(key)
      assert.strictEqual(record.holder, "c")
      assert.isUndefined(record.metadata.annotations?.[Annotations.handoffRequest])
      assert.isUndefined(record.metadata.annotations?.[Annotations.handoffTo])
      assert.isFalse(yield* Deferred.isDone(b.acquired), "the other waiter did not get it")
    })))

  it.effect("refused: the next renewal removes the request; the holder keeps the lease", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a", { handoffRequests: "refuse" }))
      const { contender: c } = yield* contenderIn("c")
      yield* c.requestHandoff
      const acquiring = yield* c.acquire(Duration.seconds(15)).pipe(Effect.flip, Effect.forkChild)
      yield* advance(7)
      assert.isUndefined((yield* annotationsOf)[Annotations.handoffRequest], "the refused request is gone")
      assert.strictEqual((yield* read(key)).holder, "a")
      assert.isTrue(yield* a.isHeld)
      assert.strictEqual(yield* a.handoffRequested, "c", "the application is told, even when refused")
      yield* advance(8)
      const error = yield* Fiber.join(acquiring)
      assert.strictEqual(error._tag === "LeaseAcquisitionError" ? error.reason._tag : error._tag, "Timeout")
    })))

  it.effect("expired: a request seen for longer than duration without a handoff is dropped", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      // Guarded work that ignores interruption for a long time: the honoured handoff waits for it,
      // renewals go on meanwhile (the tenure is still held), and the request expires.
      const stuck = yield* a.guard(Effect.uninterruptible(Effect.sleep("36 seconds"))).pipe(Effect.exit, Effect.forkChild)
      yield* settle
      const { contender: c } = yield* contenderIn("c")
      yield* c.requestHandoff
      yield* advance(7) // the renewal at 6.67 s conflicts, reads back and sees the request
      assert.strictEqual(yield* a.handoffRequested, "c")
      yield* advance(27) // renewals at 13.3 s, 20 s, 26.7 s keep it; the one at 33.3 s is past 20 s since it was seen
      assert.strictEqual((yield* read(key)).holder, "a")
      assert.isUndefined((yield* annotationsOf)[Annotations.handoffRequest], "the request expired")
      yield* advance(4)
      yield* Fiber.join(stuck)
      // The handoff honoured earlier still completes once the work stopped.
      assert.strictEqual((yield* annotationsOf)[Annotations.handoffTo], "c")
    })))

  it.effect("requestHandoff: Free, HeldBy the requester, Coordinated; asking again writes nothing", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const service = yield* Lease.Lease
      const absent = yield* service.requestHandoff(key, "c")
      assert.strictEqual(absent._tag, "Free")
      const a = yield* Lease.acquire(opts("a"))
      assert.strictEqual((yield* service.requestHandoff(key, "a"))._tag, "HeldBy")
      assert.strictEqual((yield* service.requestHandoff(key, "c"))._tag, "Requested")
      const updates = yield* probe.calls("update")
      assert.strictEqual((yield* service.requestHandoff(key, "c"))._tag, "Requested")
      assert.strictEqual(yield* probe.calls("update"), updates, "the same request again: no write")
      yield* a.release
      assert.strictEqual((yield* service.requestHandoff(key, "c"))._tag, "Free")
      const invalid = yield* Effect.flip(service.requestHandoff(key, ""))
      assert.instanceOf(invalid, InvalidLeaseOptions)
      assert.strictEqual(invalid.field, "to")
    })))

  it.effect("repeated requests (and other metadata-only writes) do not keep a dead holder's lease from expiring", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "dead", durationSeconds: 20, acquireTime: start, renewTime: start, transitions: 3 })
      const b = yield* contend("b")
      yield* settle
      for (let second = 1; second < 20; second++) {
        yield* TestClock.adjust("1 second")
        // Requests from changing requesters (each one writes), and a label controller's writes.
        yield* Lease.requestHandoff(key, `asker-${second % 3}`)
        const record = yield* read(key)
        yield* probe.admin.update(record, specOf(record), {
          ...record.metadata,
          labels: { ...record.metadata.labels, tick: String(second) }
        })
      }
      assert.isFalse(yield* Deferred.isDone(b.acquired))
      yield* TestClock.adjust("1 second")
      const got = yield* Deferred.await(b.acquired)
      assert.strictEqual(got.at, 20_000, "expired 20 s after the holder's last write, as without the requests")
    })))
})

describe("coordinated leases, spec fields, labels", () => {
  it.effect("a lease with spec.strategy is refused with reason Coordinated, and nothing is written", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, {
        holder: "",
        durationSeconds: 15,
        transitions: 2,
        strategy: "OldestEmulationVersion",
        preferredHolder: "kube-controller-1"
      })
      const before = yield* read(key)
      const writes = (yield* probe.calls("update")) + (yield* probe.calls("create")) + (yield* probe.calls("remove"))
      const tried = yield* Effect.flip(Lease.tryAcquire(opts("a")))
      assert.instanceOf(tried, LeaseAcquisitionError)
      assert.deepStrictEqual(tried.reason, { _tag: "Coordinated", strategy: "OldestEmulationVersion" })
      assert.include(tried.message, "spec.strategy")
      const waited = yield* Effect.flip(Lease.acquire(opts("a")))
      assert.instanceOf(waited, LeaseAcquisitionError)
      assert.deepStrictEqual(waited.reason, { _tag: "Coordinated", strategy: "OldestEmulationVersion" })
      assert.strictEqual(
        (yield* probe.calls("update")) + (yield* probe.calls("create")) + (yield* probe.calls("remove")),
        writes,
        "nothing written"
      )
      assert.strictEqual((yield* read(key)).version, before.version)
      assert.deepStrictEqual((yield* Lease.Lease.use((s) => s.requestHandoff(key, "a"))), {
        _tag: "Coordinated",
        strategy: "OldestEmulationVersion"
      })
      const inspected = yield* Lease.inspect(key)
      assert.deepStrictEqual(inspected.strategy, Option.some("OldestEmulationVersion"))
    })))

  it.effect("a waiting acquire fails with Coordinated as soon as the coordinator takes the lease over", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* Lease.acquire(opts("a"))
      const waiting = yield* Lease.acquire(opts("b")).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      const record = yield* read(key)
      yield* probe.admin.update(record, { ...specOf(record), strategy: "OldestEmulationVersion" })
      yield* settle
      const error = yield* Fiber.join(waiting)
      assert.strictEqual(error._tag === "LeaseAcquisitionError" ? error.reason._tag : error._tag, "Coordinated")
    })))

  it.effect("preferredHolder set by someone else on a non-coordinated lease is kept across acquisition, renewals, release", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.admin.create(key, { holder: "", durationSeconds: 1, transitions: 1, preferredHolder: "someone" })
      const scope = yield* Scope.make()
      const a = yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope))
      assert.strictEqual((yield* read(key)).preferredHolder, "someone", "acquisition")
      yield* a.renew
      yield* advance(7)
      const renewed = yield* read(key)
      assert.isAbove(renewed.renewTime!, start, "renewed in the background")
      assert.strictEqual(renewed.preferredHolder, "someone", "renewals")
      yield* Scope.close(scope, Exit.void)
      const released = yield* read(key)
      assert.strictEqual(released.holder, "")
      assert.strictEqual(released.preferredHolder, "someone", "release")
      // A handoff neither sets nor clears it (its reservation is an annotation), nor does the
      // successor's acquisition.
      const b = yield* Lease.acquire(opts("b"))
      yield* b.handoff("c")
      assert.strictEqual((yield* read(key)).preferredHolder, "someone", "handoff")
      yield* Lease.acquire(opts("c"))
      assert.strictEqual((yield* read(key)).preferredHolder, "someone", "the successor's acquisition")
    })))

  it.effect("a renewal made at the same instant as the last write still changes the spec (renewTime increases)", () =>
    withStore(Effect.gen(function*() {
      const a = yield* Lease.acquire(opts("a"))
      const first = yield* read(key)
      yield* a.renew
      yield* a.renew
      const third = yield* read(key)
      assert.strictEqual(third.renewTime, first.renewTime! + 2)
    })))

  it.effect("labels are applied by every acquiring write and kept beside labels set by others", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      const a = yield* Lease.acquire(opts("a", { labels: { "app.kubernetes.io/name": "reports", tier: "batch" } }))
      assert.deepStrictEqual((yield* read(key)).metadata.labels, { "app.kubernetes.io/name": "reports", tier: "batch" })
      yield* a.release
      const record = yield* read(key)
      yield* probe.admin.update(record, specOf(record), { labels: { owner: "ops", tier: "old" } })
      yield* Lease.acquire(opts("b", { labels: { tier: "batch" } }))
      assert.deepStrictEqual((yield* read(key)).metadata.labels, { owner: "ops", tier: "batch" })
    })))

  it.effect("invalid handoff options and labels are rejected before any store call", () =>
    withStore(Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Partial<Lease.AcquireOptions>, string]> = [
        [{ handoffWindow: "1500 millis" }, "handoffWindow"],
        [{ handoffWindow: "2 hours" }, "handoffWindow"],
        [{ handoffRequests: "maybe" as never }, "handoffRequests"],
        [{ labels: { "bad key!": "x" } }, "labels"],
        [{ labels: { ok: "-starts-with-dash" } }, "labels"],
        [{ labels: { "Not_A.Domain/name": "x" } }, "labels"]
      ]
      for (const [extra, field] of cases) {
        const error = yield* Effect.flip(Lease.acquire(opts("a", extra)))
        assert.instanceOf(error, InvalidLeaseOptions, field)
        assert.strictEqual(error.field, field)
      }
      const probe = yield* Probe
      assert.strictEqual(yield* probe.calls("get"), 0)
    })))
})
