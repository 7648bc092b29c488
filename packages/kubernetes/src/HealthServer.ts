/**
 * The health endpoints of a leader election on a port of their own: `/healthz` (and `/livez`),
 * `/readyz` and `/metrics` of `@leasekit/core/LeaderHealth`, served by Node's HTTP server, for a
 * kubelet's liveness and readiness probes and a Prometheus scrape.
 *
 * ```ts
 * import * as LeaderElection from "@leasekit/core/LeaderElection"
 * import * as HealthServer from "@leasekit/kubernetes/HealthServer"
 * import * as KubeClient from "@leasekit/kubernetes/KubeClient"
 * import * as KubernetesLeaseStore from "@leasekit/kubernetes/KubernetesLeaseStore"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const whileLeading = () => Effect.never
 * export const app = HealthServer.layer({ port: 8080 }).pipe(
 *   Layer.provide(LeaderElection.layer({ namespace: "jobs", name: "scheduler" }, whileLeading)),
 *   Layer.provide(KubernetesLeaseStore.layer()),
 *   Layer.provide(KubeClient.layerDefault())
 * )
 * ```
 *
 * Listens on every interface by default (Node's default: `::` with IPv4 mapped where the machine
 * has IPv6, else `0.0.0.0`): a kubelet probes the pod's IP, so a server bound to `127.0.0.1`
 * would fail every probe and get the pod restarted in a loop. Pass `host: "127.0.0.1"` to keep it
 * local (on a laptop, or behind a sidecar). A port already in use fails the layer's build with
 * `HealthServerError` naming the address. Nothing listens unless this layer is built.
 *
 * Does not: authenticate or encrypt (the answers name the lease, its holder and its metrics — keep
 * the port inside the pod network); serve anything but these routes (mount `LeaderHealth.routes`
 * into your own router for that).
 *
 * @since 0.3.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type { LeaderElection } from "@leasekit/core/LeaderElection"
import type { InvalidLeaseOptions } from "@leasekit/core/LeaseError"
import * as LeaderHealth from "@leasekit/core/LeaderHealth"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as HttpServer from "effect/http/HttpServer"
import * as Http from "node:http"

/**
 * Where to listen, and what to serve (`LeaderHealth.Options`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Options extends LeaderHealth.Options {
  /** The port (0: any free port). */
  readonly port: number
  /** The address to bind; default every interface (see the module header). */
  readonly host?: string | undefined
}

/**
 * The server could not listen: the port is in use, the address is not this machine's, or the
 * port is privileged.
 *
 * @since 0.3.0
 * @category errors
 */
export class HealthServerError extends Data.TaggedError("HealthServerError")<{
  readonly port: number
  readonly host: string | undefined
  readonly code: string | undefined
  readonly cause: unknown
}> {
  override get message(): string {
    const address = `${this.host ?? "*"}:${this.port}`
    switch (this.code) {
      case "EADDRINUSE":
        return `health server: ${address} is already in use; pick another port`
      case "EADDRNOTAVAIL":
        return `health server: ${address} is not an address of this machine; pick another host`
      case "EACCES":
        return `health server: not allowed to listen on ${address} (a port below 1024 needs privileges); pick a port from 1024`
      default:
        return `health server: cannot listen on ${address}: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
    }
  }
}

/** The `code` of a Node system error (`EADDRINUSE`), if it is one. */
const codeOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string" ? cause.code : undefined

/** Node's HTTP server listening where `options` say; a failure to listen is a `HealthServerError`. */
const nodeServer = (options: Options): Layer.Layer<HttpServer.HttpServer, HealthServerError> => {
  const { host, port } = options
  return Layer.effect(
    HttpServer.HttpServer,
    NodeHttpServer.make(() => Http.createServer(), { port, ...(host === undefined ? {} : { host }) }).pipe(
      Effect.mapError((error) => new HealthServerError({ port, host, code: codeOf(error.cause), cause: error.cause }))
    )
  )
}

/** The options `LeaderHealth` reads (without the address). */
const healthOptions = ({ host: _host, port: _port, ...health }: Options): LeaderHealth.Options => health

/**
 * The health endpoints of the `LeaderElection` in context (`LeaderElection.layer` provides it) on
 * Node's HTTP server, for as long as the layer lives.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<never, HealthServerError | InvalidLeaseOptions, LeaderElection> =>
  LeaderHealth.layer(healthOptions(options)).pipe(Layer.provide(nodeServer(options)))

/**
 * The health endpoints over any source of snapshots (`LeaderHealth.layerFor`) on Node's HTTP
 * server: what `leasekit run --health-port` serves for the one lease it holds.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerFor = (
  source: Effect.Effect<LeaderHealth.Snapshot>,
  options: Options
): Layer.Layer<never, HealthServerError | InvalidLeaseOptions> =>
  LeaderHealth.layerFor(source, healthOptions(options)).pipe(Layer.provide(nodeServer(options)))
