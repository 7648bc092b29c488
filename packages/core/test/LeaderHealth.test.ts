import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option } from "effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { TestClock } from "effect/testing"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as LeaderHealth from "../src/LeaderHealth.ts"
import * as LeaseOptions from "../src/LeaseOptions.ts"
import { specOf } from "../src/LeaseRecord.ts"
import * as FaultyStore from "./FaultyStore.ts"
import { Probe, read } from "./FaultyStore.ts"

const key = { namespace: "jobs", name: "singleton" }
// duration 20 s, renewInterval 6.67 s, renewDeadline 13.33 s, retryPeriod 2 s (the defaults).
const advance = (seconds: number) => Effect.repeat(TestClock.adjust("1 second"), { times: seconds - 1 })
const settle = Effect.repeat(TestClock.adjust(0), { times: 9 })

/** Serves one GET of `path` from the routes, in this fiber (TestClock and all): status and body. */
const get = (routes: Layer.Layer<never, unknown, HttpRouter.HttpRouter>, path: string) =>
  Effect.gen(function*() {
    const handler = yield* HttpRouter.toHttpEffect(routes)
    const response = yield* handler.pipe(
      Effect.provideService(HttpServerRequest.HttpServerRequest, HttpServerRequest.fromWeb(new Request(`http://health${path}`))),
      Effect.scoped,
      Effect.catchTag("HttpServerError", (error) =>
        error.reason._tag === "RouteNotFound" ? Effect.succeed(HttpServerResponse.empty({ status: 404 })) : Effect.fail(error))
    )
    const body = yield* Effect.promise(() => HttpServerResponse.toWeb(response).text())
    return { status: response.status, body }
  }).pipe(Effect.scoped)

/** The routes of `election`. */
const routesOf = (election: LeaderElection.Election<unknown, unknown>, options: LeaderHealth.Options = {}) =>
  LeaderHealth.routes(options).pipe(Layer.provide(Layer.succeed(LeaderElection.LeaderElection, election)))

const timeoutEverything = () => ({ delay: "1 hour" as const })

describe("LeaderHealth judgement", () => {
  const options = Effect.runSync(LeaseOptions.resolve({ ...key, holder: "me", duration: "3 seconds", renewDeadline: "2 seconds", renewInterval: "1 second", retryPeriod: "500 millis" }))
  const leader = (seconds: number): LeaderHealth.Snapshot => ({
    options,
    state: "leading with token 1",
    leading: true,
    believesLeading: true,
    unconfirmedFor: Option.some(Duration.seconds(seconds)),
    failure: Option.none()
  })

  it("a leader is healthy until renewDeadline + slack (default: the duration) after its last confirmed renewal", () => {
    assert.isTrue(LeaderHealth.liveness(leader(5)).ok, "2 s + 3 s")
    const wedged = LeaderHealth.liveness(leader(5.001))
    assert.isFalse(wedged.ok)
    assert.match(wedged.message, /unhealthy: lease jobs\/singleton as me: leading with token 1, but the store last confirmed the lease 5\.001s ago, more than renewDeadline 2s \+ slack 3s/)
    assert.isTrue(LeaderHealth.liveness(leader(3), Duration.seconds(1)).ok)
    assert.isFalse(LeaderHealth.liveness(leader(3.5), Duration.seconds(1)).ok, "a stated slack")
  })

  it("a follower is never unhealthy for following; a failure is unhealthy and not ready", () => {
    const follower: LeaderHealth.Snapshot = { ...leader(600), state: "following other", leading: false, believesLeading: false }
    assert.isTrue(LeaderHealth.liveness(follower).ok)
    assert.isTrue(LeaderHealth.readiness(follower).ok, "ready in mode always")
    assert.isFalse(LeaderHealth.readiness(follower, "leading").ok, "not ready in mode leading")
    assert.isTrue(LeaderHealth.readiness(leader(1), "leading").ok)
    const failed = { ...follower, failure: Option.some("forbidden") }
    assert.isFalse(LeaderHealth.liveness(failed).ok)
    assert.isFalse(LeaderHealth.readiness(failed).ok)
    assert.match(LeaderHealth.liveness(failed).message, /forbidden/)
  })
})

describe("LeaderHealth over an election", () => {
  it.effect("a leader cut off from the store: healthy until renewDeadline + slack, then 503 until it hears from the store — which shows another holder", () =>
    Effect.gen(function*() {
      const probe = yield* Probe
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      const routes = routesOf(election, { slack: "5 seconds" })
      yield* settle
      assert.strictEqual((yield* get(routes, "/healthz")).status, 200)
      yield* advance(1)
      // Partitioned at 1 s: every request goes unanswered (the bounded store times it out).
      // Last renewal confirmed at 0 s; the lease is lost to its deadline at 13.33 s.
      yield* probe.setFaults(timeoutEverything)
      yield* advance(14)
      const lost = yield* election.leadership
      assert.strictEqual((yield* election.status)._tag, "Campaigning")
      assert.isTrue(lost.believesLeading, "lost to its own deadline, nothing heard since: it still believes it leads")
      assert.strictEqual((yield* get(routes, "/healthz")).status, 200, "15 s < 13.33 s + 5 s")
      yield* advance(4)
      const unhealthy = yield* get(routes, "/healthz")
      assert.strictEqual(unhealthy.status, 503)
      assert.match(unhealthy.body, /lost the lease to its renew deadline and has not heard from the store since/)
      assert.strictEqual((yield* get(routes, "/readyz")).status, 200, "readiness (always) does not judge the partition")

      // Meanwhile another contender took the lease over; the store answers again.
      const record = yield* read(key)
      yield* probe.admin.update(record, { ...specOf(record), holder: "other", transitions: 1 })
      yield* probe.setFaults(undefined)
      yield* advance(3)
      assert.deepStrictEqual(yield* election.status, { _tag: "Following", holder: "other" }, "the wait reports who holds it")
      assert.isFalse((yield* election.leadership).believesLeading)
      const healthy = yield* get(routes, "/healthz")
      assert.strictEqual(healthy.status, 200)
      assert.match(healthy.body, /following other/)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("a leader cut off from the store whose lease nobody took: healthy again once it re-acquires", () =>
    Effect.gen(function*() {
      const probe = yield* Probe
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      const routes = routesOf(election, { slack: "2 seconds" })
      yield* settle
      yield* probe.setFaults(timeoutEverything)
      yield* advance(20)
      assert.strictEqual((yield* get(routes, "/healthz")).status, 503)
      yield* probe.setFaults(undefined)
      yield* advance(3)
      assert.strictEqual((yield* election.status)._tag, "Leading")
      assert.strictEqual((yield* get(routes, "/healthz")).status, 200)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("a loss to a takeover is news from the store: a follower is healthy however long it follows", () =>
    Effect.gen(function*() {
      const probe = yield* Probe
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      const routes = routesOf(election, { slack: "1 second" })
      yield* settle
      const record = yield* read(key)
      // A live usurper: it renews every 5 s.
      yield* probe.admin.update(record, { ...specOf(record), holder: "usurper", transitions: 1 })
      for (let i = 0; i < 12; i++) {
        yield* advance(5)
        const now = yield* read(key)
        yield* probe.admin.update(now, { ...specOf(now), renewTime: (now.renewTime ?? 0) + 5000 })
      }
      assert.deepStrictEqual(yield* election.status, { _tag: "Following", holder: "usurper" })
      assert.strictEqual((yield* get(routes, "/healthz")).status, 200)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("a store that refuses for good after the start: Failing, /healthz and /readyz 503 with the error", () =>
    Effect.gen(function*() {
      const probe = yield* Probe
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      const routes = routesOf(election)
      yield* settle
      yield* probe.setFaults((op) => op === "watch" ? undefined : { reason: "Forbidden" })
      yield* advance(40)
      assert.strictEqual((yield* election.status)._tag, "Failing")
      const health = yield* get(routes, "/healthz")
      assert.strictEqual(health.status, 503)
      assert.match(health.body, /election failing .*Forbidden|forbidden/i)
      assert.strictEqual((yield* get(routes, "/readyz")).status, 503)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("a stopped election with a failure is unhealthy; one that completed is not", () =>
    Effect.gen(function*() {
      const failed = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.fail("boom"))
      yield* settle
      const health = yield* get(routesOf(failed), "/healthz")
      assert.strictEqual(health.status, 503)
      assert.match(health.body, /election stopped: boom/)
      const done = yield* LeaderElection.make({ ...key, name: "other", holder: "me" }, () => Effect.succeed(1))
      yield* settle
      assert.strictEqual((yield* get(routesOf(done), "/healthz")).status, 200)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("readiness \"leading\": ready on the leader only; \"always\": ready on both", () =>
    Effect.gen(function*() {
      const a = yield* LeaderElection.make({ ...key, holder: "a" }, () => Effect.never)
      const b = yield* LeaderElection.make({ ...key, holder: "b" }, () => Effect.never)
      yield* settle
      assert.strictEqual((yield* get(routesOf(a, { readiness: "leading" }), "/readyz")).status, 200)
      const follower = yield* get(routesOf(b, { readiness: "leading" }), "/readyz")
      assert.strictEqual(follower.status, 503)
      assert.match(follower.body, /following a \(ready only while leading\)/)
      assert.strictEqual((yield* get(routesOf(b), "/readyz")).status, 200)
      assert.strictEqual((yield* get(routesOf(b), "/healthz")).status, 200)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("a leader that stepped down on its own health check is healthy, and not ready with readiness \"leading\"", () =>
    Effect.gen(function*() {
      const me = yield* LeaderElection.make({
        ...key,
        holder: "me",
        stepDown: { check: Effect.succeed(false), interval: "1 second", failures: 2, coolDown: "30 seconds" }
      }, () => Effect.never)
      yield* settle
      yield* advance(2)
      assert.strictEqual((yield* me.status)._tag, "SteppedDown")
      const live = yield* get(routesOf(me), "/healthz")
      assert.strictEqual(live.status, 200)
      assert.match(live.body, /ok: lease jobs\/singleton as me: stepped down after 2 failed health checks in a row, campaigning again after a cool-down of 30s/)
      assert.strictEqual((yield* get(routesOf(me), "/readyz")).status, 200, "always: it runs and does not fail")
      const ready = yield* get(routesOf(me, { readiness: "leading" }), "/readyz")
      assert.strictEqual(ready.status, 503)
      assert.match(ready.body, /stepped down .* \(ready only while leading\)/)
      // Long after its last confirmed renewal: still healthy, it does not believe it leads.
      yield* advance(25)
      assert.strictEqual((yield* get(routesOf(me), "/healthz")).status, 200)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("/metrics serves leasekit's metrics in Prometheus text format; metrics: false leaves it out", () =>
    Effect.gen(function*() {
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      yield* advance(8)
      const metrics = yield* get(routesOf(election), "/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.match(metrics.body, /# TYPE leasekit_acquisitions_total counter/)
      assert.match(metrics.body, /leasekit_renewals_total\{[^}]*\} 1/)
      assert.match(metrics.body, /leasekit_lease_held\{[^}]*\} 1/)
      assert.strictEqual((yield* get(routesOf(election, { metrics: false }), "/metrics")).status, 404)
    }).pipe(Effect.provide(FaultyStore.layer())))

  it.effect("an invalid slack fails the routes' build, naming the field", () =>
    Effect.gen(function*() {
      const election = yield* LeaderElection.make({ ...key, holder: "me" }, () => Effect.never)
      const error = yield* Effect.flip(Layer.build(routesOf(election, { slack: "soon" as Duration.Input })).pipe(
        Effect.provide(HttpRouter.layer)
      ))
      assert.strictEqual(error._tag, "InvalidLeaseOptions")
      assert.match(error.message, /slack/)
    }).pipe(Effect.provide(FaultyStore.layer())))

})
