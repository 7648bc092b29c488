/**
 * An OpenTelemetry export of a lease's spans and metrics, as the README's "Telemetry" section and
 * examples/telemetry set it up: Effect's `Otlp.layerJson` pointed at a tiny OTLP/HTTP JSON receiver
 * on loopback (a collector stand-in — it is not Kubernetes), a lease acquired, renewed in the
 * background and released on the memory store, and the receiver's requests checked: the span
 * names, background renewals as roots of their own traces linked to the acquisition, one release
 * span, and the metrics with the documented attributes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Lease from "@leasekit/core/Lease"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import { Attributes, Metrics, Spans } from "@leasekit/core/LeaseTelemetry"
import { Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

interface OtlpAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: string | number }
}
interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes: ReadonlyArray<OtlpAttribute>
  readonly links?: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
}
interface OtlpMetric {
  readonly name: string
  readonly sum?: { readonly dataPoints: ReadonlyArray<{ readonly attributes: ReadonlyArray<OtlpAttribute> }> }
  readonly gauge?: { readonly dataPoints: ReadonlyArray<{ readonly attributes: ReadonlyArray<OtlpAttribute> }> }
}

/** An OTLP/HTTP JSON receiver on loopback that keeps every request body by path. */
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly bodies: Map<string, Array<unknown>>; readonly server: Http.Server }>((resume) => {
    const bodies = new Map<string, Array<unknown>>()
    const server = Http.createServer((request, response) => {
      let body = ""
      request.setEncoding("utf8").on("data", (chunk: string) => (body += chunk)).on("end", () => {
        const list = bodies.get(request.url ?? "") ?? []
        list.push(JSON.parse(body))
        bodies.set(request.url ?? "", list)
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, server }))
    })
  }),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const spansOf = (bodies: Map<string, Array<unknown>>): Array<OtlpSpan> =>
  (bodies.get("/v1/traces") ?? []).flatMap((body) =>
    (body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }).resourceSpans
      .flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))
  )

const metricsOf = (bodies: Map<string, Array<unknown>>): Array<OtlpMetric> =>
  (bodies.get("/v1/metrics") ?? []).flatMap((body) =>
    (body as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<OtlpMetric> }> }> }).resourceMetrics
      .flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
  )

const attribute = (attributes: ReadonlyArray<OtlpAttribute>, key: string) => {
  const value = attributes.find((a) => a.key === key)?.value
  return value?.stringValue ?? value?.intValue
}

const name = `telemetry-${globalThis.crypto.randomUUID().slice(0, 8)}`

describe("telemetry over OTLP", () => {
  it.live("a lease's spans and metrics reach an OTLP/HTTP receiver: renewals are roots linked to the acquisition, one release span", () =>
    Effect.gen(function*() {
      const { bodies, url } = yield* receiver
      const telemetry = Otlp.layerJson({
        baseUrl: url,
        resource: { serviceName: "leasekit-test" },
        tracerExportInterval: "200 millis",
        metricsExportInterval: "200 millis"
      }).pipe(Layer.provide(FetchHttpClient.layer))
      // The lease's whole life inside the layer: closing it flushes what is left.
      yield* Effect.gen(function*() {
        const lease = yield* Lease.acquire({ namespace: "jobs", name, holder: "otlp-test", duration: "3 seconds" })
        yield* Effect.sleep("2500 millis") // background renewals every second
        yield* lease.release
      }).pipe(Effect.withSpan("caller"), Effect.scoped, Effect.provide(Layer.merge(telemetry, LeaseStore.layerMemory())))

      const spans = spansOf(bodies).filter((s) => attribute(s.attributes, Attributes.name) === name || s.name === "caller")
      const names = new Set(spans.map((s) => s.name))
      for (const expected of [Spans.acquire, Spans.renew, Spans.release, `${Spans.storePrefix}create`, `${Spans.storePrefix}update`]) {
        assert.isTrue(names.has(expected), `${expected} was exported; got ${[...names].join(", ")}`)
      }
      const caller = spans.find((s) => s.name === "caller")!
      const acquire = spans.find((s) => s.name === Spans.acquire)!
      assert.strictEqual(acquire.parentSpanId ?? "", caller.spanId)
      assert.strictEqual(attribute(acquire.attributes, Attributes.namespace), "jobs")
      assert.strictEqual(attribute(acquire.attributes, Attributes.holder), "otlp-test")
      const renewals = spans.filter((s) => s.name === Spans.renew)
      assert.isAtLeast(renewals.length, 1)
      for (const renewal of renewals) {
        assert.isFalse(Boolean(renewal.parentSpanId), "a background renewal is a root span")
        assert.notStrictEqual(renewal.traceId, caller.traceId)
        assert.deepStrictEqual(renewal.links?.map((l) => [l.traceId, l.spanId]), [[acquire.traceId, acquire.spanId]])
      }
      const releases = spans.filter((s) => s.name === Spans.release)
      assert.strictEqual(releases.length, 1, "one release, one span")
      assert.strictEqual(releases[0]!.traceId, caller.traceId, "an explicit release is part of the caller's trace")

      const metrics = metricsOf(bodies)
      const points = (metricName: string) =>
        metrics.filter((m) => m.name === metricName).flatMap((m) => [...(m.sum?.dataPoints ?? []), ...(m.gauge?.dataPoints ?? [])])
          .filter((p) => attribute(p.attributes, Attributes.name) === name)
      for (const metricName of [Metrics.acquisitions, Metrics.renewals, Metrics.releases, Metrics.held]) {
        const found = points(metricName)
        assert.isNotEmpty(found, `${metricName} was exported for the lease`)
        assert.deepStrictEqual(found[0]!.attributes.map((a) => a.key).sort(), [Attributes.name, Attributes.namespace])
      }
    }).pipe(Effect.scoped))
})
