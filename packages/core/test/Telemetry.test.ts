/**
 * leasekit's telemetry (see `src/LeaseTelemetry.ts`): background renewals are root spans linked to
 * the acquisition, not children that grow the acquiring caller's trace for as long as the lease is
 * held; one release makes one release span; spans, metrics and log annotations share one set of
 * attribute keys, and metrics carry no holder identity.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric, Option, References, Scope } from "effect"
import * as Logger from "effect/Logger"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import * as Tracer from "effect/Tracer"
import * as Lease from "../src/Lease.ts"
import { Attributes, Metrics, Spans } from "../src/LeaseTelemetry.ts"
import { Probe } from "./FaultyStore.ts"
import { advance, opts, settle, withStore } from "./Scene.ts"

/** A tracer that keeps every span it makes. */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const named = (name: string) => spans.filter((span) => span.name === name)
  return { spans, tracer, named }
}

/** Runs `test` on a fresh store with a recording tracer and a metric registry of its own. */
const traced = <A, E, R>(test: (t: ReturnType<typeof recordingTracer>) => Effect.Effect<A, E, R>) => {
  const t = recordingTracer()
  return withStore(test(t)).pipe(
    Effect.withTracer(t.tracer),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )
}

const parentOf = (span: Tracer.Span) => Option.getOrUndefined(span.parent)

describe("telemetry", () => {
  it.effect("background renewals are root spans linked to the acquisition's span, not children of the caller's trace", () =>
    traced((t) =>
      Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a")).pipe(Effect.withSpan("caller"))
        yield* advance(25) // renewals every 20 s / 3
        const [acquire] = t.named(Spans.acquire)
        const caller = t.named("caller")[0]!
        assert.isDefined(acquire)
        assert.strictEqual(parentOf(acquire!)?.spanId, caller.spanId, "acquire is a child of the caller")
        const renewals = t.named(Spans.renew)
        assert.isAtLeast(renewals.length, 3)
        for (const renewal of renewals) {
          assert.isUndefined(parentOf(renewal), "a background renewal starts a trace of its own")
          assert.notStrictEqual(renewal.traceId, caller.traceId)
          assert.deepStrictEqual(renewal.links.map((link) => link.span.spanId), [acquire!.spanId])
          assert.strictEqual(renewal.attributes.get(Attributes.namespace), "jobs")
          assert.strictEqual(renewal.attributes.get(Attributes.name), "nightly-report")
          assert.strictEqual(renewal.attributes.get(Attributes.holder), "a")
          assert.strictEqual(renewal.attributes.get(Attributes.token), lease.token)
          assert.strictEqual(renewal.status._tag, "Ended")
        }
        // The store calls of a renewal are its children, in its trace.
        const updates = t.named(`${Spans.storePrefix}update`).filter((span) =>
          renewals.some((r) => parentOf(span)?.spanId === r.spanId)
        )
        assert.strictEqual(updates.length, renewals.length)
        // Nothing of the tenure grows the caller's trace after acquire returned.
        const acquireEnded = acquire!.status._tag === "Ended" ? acquire!.status.endTime : -1n
        const late = t.spans.filter((span) => span.traceId === caller.traceId && span.status.startTime > acquireEnded)
        assert.deepStrictEqual(late.map((span) => span.name), [])
      })
    ))

  it.effect("an explicit renew is a child of the caller's span, linked to the acquisition", () =>
    traced((t) =>
      Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.renew.pipe(Effect.withSpan("caller"))
        const caller = t.named("caller")[0]!
        const renewal = t.named(Spans.renew).find((span) => parentOf(span)?.spanId === caller.spanId)
        assert.isDefined(renewal)
        assert.deepStrictEqual(renewal!.links.map((link) => link.span.spanId), [t.named(Spans.acquire)[0]!.spanId])
      })
    ))

  it.effect("an explicit release through a contender makes one release span, a child of the caller's", () =>
    traced((t) =>
      Effect.gen(function*() {
        const contender = yield* Lease.contender(opts("a"))
        yield* contender.acquire()
        yield* contender.release.pipe(Effect.withSpan("caller"))
        const releases = t.named(Spans.release)
        assert.strictEqual(releases.length, 1, releases.map((s) => Option.getOrUndefined(s.parent)?.spanId).join())
        assert.strictEqual(parentOf(releases[0]!)?.spanId, t.named("caller")[0]!.spanId)
        assert.deepStrictEqual(releases[0]!.links.map((link) => link.span.spanId), [t.named(Spans.acquire)[0]!.spanId])
        // the release write is in it
        const writes = t.named(`${Spans.storePrefix}update`).filter((s) => parentOf(s)?.spanId === releases[0]!.spanId)
        assert.strictEqual(writes.length, 1)
      })
    ))

  it.effect("HeldLease.release makes one release span; a release of nothing held makes one too", () =>
    traced((t) =>
      Effect.gen(function*() {
        const lease = yield* Lease.acquire(opts("a"))
        yield* lease.release
        yield* lease.release // joins the confirmed release: no second span
        assert.strictEqual(t.named(Spans.release).length, 1)
        const idle = yield* Lease.contender(opts("b"))
        yield* idle.release
        assert.strictEqual(t.named(Spans.release).length, 2)
      })
    ))

  it.effect("a release because the lease's scope closed is a root span linked to the acquisition", () =>
    traced((t) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        yield* Lease.acquire(opts("a")).pipe(Scope.provide(scope), Effect.withSpan("caller"))
        yield* advance(60)
        yield* Scope.close(scope, Exit.void).pipe(
          Effect.withSpan("days later")
        )
        yield* settle
        const releases = t.named(Spans.release)
        assert.strictEqual(releases.length, 1)
        assert.isUndefined(parentOf(releases[0]!))
        assert.deepStrictEqual(releases[0]!.links.map((link) => link.span.spanId), [t.named(Spans.acquire)[0]!.spanId])
      })
    ))

  it.effect("metrics are attributed with lease.namespace and lease.name (no holder), and render as valid Prometheus labels", () =>
    traced(() =>
      Effect.gen(function*() {
        const probe = yield* Probe
        const lease = yield* Lease.acquire(opts("a"))
        yield* advance(7)
        yield* probe.setFaults((operation) => operation === "update" ? { reason: "Unavailable" } : undefined)
        yield* Effect.flip(lease.lost).pipe(Effect.forkChild, Effect.andThen(advance(20)))
        const snapshot = yield* Metric.snapshot
        const ours = snapshot.filter((m) => m.id.startsWith("leasekit_"))
        assert.includeMembers(ours.map((m) => m.id), [
          Metrics.acquisitions,
          Metrics.renewals,
          Metrics.renewalFailures,
          Metrics.losses,
          Metrics.held
        ])
        for (const metric of ours) {
          const keys = Object.keys(metric.attributes ?? {}).sort()
          const expected = metric.id === Metrics.losses
            ? [Attributes.lossReason, Attributes.name, Attributes.namespace]
            : [Attributes.name, Attributes.namespace]
          assert.deepStrictEqual(keys, expected, metric.id)
          assert.notInclude(Object.values(metric.attributes ?? {}), "a", `${metric.id} carries no holder`)
        }
        const losses = ours.find((m) => m.id === Metrics.losses)!
        assert.strictEqual(losses.attributes?.[Attributes.lossReason], "DeadlineExceeded")
        const text = yield* PrometheusMetrics.format()
        assert.include(text, `${Metrics.renewals}{lease_namespace="jobs",lease_name="nightly-report"}`)
        assert.include(text, `${Metrics.held}{lease_namespace="jobs",lease_name="nightly-report"} 0`)
      })
    ))

  it.effect("log lines carry the same attribute keys as spans", () =>
    Effect.gen(function*() {
      const lines: Array<Record<string, unknown>> = []
      const logger = Logger.make((options) => {
        lines.push({ ...options.fiber.getRef(References.CurrentLogAnnotations), message: options.message, level: options.logLevel })
      })
      yield* traced(() =>
        Effect.gen(function*() {
          const probe = yield* Probe
          yield* Lease.acquire(opts("a"))
          yield* probe.setFaults((operation) => operation === "update" ? { reason: "Unavailable" } : undefined)
          yield* advance(8)
          yield* probe.setFaults(undefined)
        })
      ).pipe(Effect.provide(Logger.layer([logger])), Effect.provideService(References.MinimumLogLevel, "All"))
      const warning = lines.find((line) => line["level"] === "Warn")
      assert.isDefined(warning, JSON.stringify(lines))
      assert.strictEqual(warning![Attributes.holder], "a")
      assert.strictEqual(warning![Attributes.namespace], "jobs")
      assert.strictEqual(warning![Attributes.name], "nightly-report")
    }))
})
