/**
 * leasekit's spans and metrics exported over OTLP and served to Prometheus, with no cluster.
 *
 * A leader election on the memory store: the acquisition, every renewal (a root span linked to the
 * acquisition) and the store calls go to an OpenTelemetry collector over OTLP/HTTP (JSON) at
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (default http://localhost:4318) together with the metrics and logs;
 * the same metrics are served at http://localhost:9464/metrics for Prometheus. Effect's own
 * `effect/observability` modules do both: no OpenTelemetry SDK is needed. On a cluster, provide
 * `KubernetesLeaseStore.layer()` instead of the memory store (see ../kubernetes).
 *
 * Run: `npm install && node main.ts`, then `curl localhost:9464/metrics`; stop it with Ctrl-C (the
 * lease is released and the last spans are flushed).
 */
// #region readme
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import * as LeaderElection from "@leasekit/core/LeaderElection"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpRouter } from "effect/http"
import { Otlp, PrometheusMetrics } from "effect/observability"
import { createServer } from "node:http"

const Leader = LeaderElection.layer(
  { namespace: "jobs", name: "telemetry-demo", duration: "15 seconds" },
  (lease) => Effect.logInfo(`leading with fencing token ${lease.token}`).pipe(Effect.andThen(Effect.never))
)

// spans, metrics and logs to an OpenTelemetry collector, over OTLP/HTTP with JSON bodies
const Telemetry = Otlp.layerJson({
  baseUrl: process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? "http://localhost:4318",
  resource: { serviceName: "telemetry-demo" }
}).pipe(Layer.provide(FetchHttpClient.layer))

// the same metrics in Prometheus' text format: GET http://localhost:9464/metrics
const Prometheus = HttpRouter.serve(PrometheusMetrics.layerHttp()).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port: 9464 }))
)

Layer.mergeAll(Leader, Prometheus).pipe(
  Layer.provide(LeaseStore.layerMemory()),
  Layer.provide(Telemetry),
  Layer.launch,
  NodeRuntime.runMain
)
// #endregion
