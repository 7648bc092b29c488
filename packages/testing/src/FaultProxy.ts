/**
 * A TCP proxy on a free loopback port that forwards to a target `host:port` and can be told, at
 * run time, to misbehave: add latency, blackhole traffic, or reset every connection.
 *
 * It is a byte-level passthrough (no TLS termination): a client speaks TLS to the API server
 * through it, so the kubeconfig for the proxy keeps the control plane's CA and verifies TLS (the
 * serving certificate covers 127.0.0.1, the proxy's address). `kubeconfig(proxy, user)` writes
 * one.
 *
 * Faults, switchable at any time:
 * - `latency(d)`: every chunk is delivered `d` after it arrived, in each direction, in order (a
 *   request/response round trip therefore costs about 2·d more). Applies to bytes arriving from
 *   now on.
 * - `blackhole(true)`: accepted connections stay open but nothing is forwarded; bytes in either
 *   direction are dropped, new connections are accepted but not connected upstream, and an
 *   upstream close is not passed on — like a network partition, a client only notices through its
 *   own timeouts. Since bytes were lost, such connections cannot continue: they are reset when the
 *   blackhole ends (`blackhole(false)` or `pass`), and clients reconnect.
 * - `resetAll`: destroys every current connection with a TCP RST on both sides.
 * - `pass`: no latency, no blackhole.
 *
 * Guarantees: bytes that are forwarded arrive complete and in order per direction; the listening
 * socket and all connections are closed when the scope closes. Does not guarantee: flow control
 * (a delayed direction buffers in memory without back-pressure — fine for API traffic, not for
 * bulk transfer), nor millisecond precision of the latency (Node timers).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Net from "node:net"
import type { ControlPlaneError, UserName } from "./ControlPlane.ts"
import { ControlPlane } from "./ControlPlane.ts"

/**
 * Counters of a proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyStats {
  /** Connections accepted since the proxy started. */
  readonly accepted: number
  /** Connections currently open. */
  readonly open: number
  /** Connections destroyed with a reset (by `resetAll` or at the end of a blackhole). */
  readonly reset: number
  /** Bytes dropped while blackholed. */
  readonly droppedBytes: number
}

/**
 * A running proxy.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyService {
  readonly host: string
  readonly port: number
  /** `https://<host>:<port>`, for HTTPS targets such as the API server. */
  readonly url: string
  readonly target: { readonly host: string; readonly port: number }
  /** Delay each chunk by `delay` in each direction (`0` for none). */
  readonly latency: (delay: Duration.Input) => Effect.Effect<void>
  /** Drop everything (`true`) or stop dropping and reset the damaged connections (`false`). */
  readonly blackhole: (on: boolean) => Effect.Effect<void>
  /** Resets every open connection; succeeds with how many. */
  readonly resetAll: Effect.Effect<number>
  /** Back to normal: no latency, no blackhole. */
  readonly pass: Effect.Effect<void>
  readonly stats: Effect.Effect<FaultProxyStats>
}

/**
 * A proxy as a service (for suites that need one; use `make` for several).
 *
 * @since 0.1.0
 * @category services
 */
export class FaultProxy extends Context.Service<FaultProxy, FaultProxyService>()("@leasekit/testing/FaultProxy") {}

/**
 * The proxy could not listen.
 *
 * @since 0.1.0
 * @category errors
 */
export class FaultProxyError extends Data.TaggedError("FaultProxyError")<{ readonly cause: unknown }> {
  override get message(): string {
    return `fault proxy could not listen: ${this.cause instanceof Error ? this.cause.message : String(this.cause)}`
  }
}

/**
 * Options of `make` / `layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultProxyOptions {
  readonly target: { readonly host?: string | undefined; readonly port: number }
  /** Address to listen on. Default `127.0.0.1`. */
  readonly host?: string | undefined
}

interface Connection {
  readonly client: Net.Socket
  upstream: Net.Socket | undefined
  damaged: boolean
}

/**
 * Starts a proxy; it is closed with all its connections when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: FaultProxyOptions): Effect.Effect<FaultProxyService, FaultProxyError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const target = { host: options.target.host ?? "127.0.0.1", port: options.target.port }
    const state = { latencyMillis: 0, blackholed: false, accepted: 0, reset: 0, droppedBytes: 0 }
    const connections = new Set<Connection>()

    const destroy = (conn: Connection, withReset: boolean) => {
      if (!connections.delete(conn)) return
      if (withReset) {
        state.reset++
        conn.client.resetAndDestroy()
        conn.upstream?.resetAndDestroy()
      } else {
        conn.client.destroy()
        conn.upstream?.destroy()
      }
    }

    /** Forwards `src` to `dst` with the current latency, in order, dropping while blackholed. */
    const forward = (conn: Connection, src: Net.Socket, dst: () => Net.Socket | undefined) => {
      const queue: Array<{ readonly chunk: Buffer | null; readonly due: number }> = []
      let timer: NodeJS.Timeout | undefined
      const pump = () => {
        timer = undefined
        while (queue.length > 0) {
          const head = queue[0]!
          const wait = head.due - Date.now()
          if (wait > 0) {
            timer = setTimeout(pump, wait)
            return
          }
          queue.shift()
          const out = dst()
          if (out === undefined || out.destroyed) continue
          if (head.chunk === null) out.end()
          else out.write(head.chunk)
        }
      }
      const enqueue = (chunk: Buffer | null) => {
        if (state.blackholed) {
          conn.damaged = true
          state.droppedBytes += chunk?.length ?? 0
          return
        }
        queue.push({ chunk, due: Date.now() + state.latencyMillis })
        if (timer === undefined) pump()
      }
      src.on("data", (chunk: Buffer) => enqueue(chunk))
      src.on("end", () => enqueue(null))
      src.on("close", () => {
        if (timer !== undefined) clearTimeout(timer)
      })
    }

    const server = Net.createServer({ allowHalfOpen: true }, (client) => {
      state.accepted++
      const conn: Connection = { client, upstream: undefined, damaged: false }
      connections.add(conn)
      client.setNoDelay(true)
      client.on("error", () => destroy(conn, false))
      client.on("close", () => destroy(conn, false))
      if (state.blackholed) {
        // Accepted, never connected: the client waits in vain.
        conn.damaged = true
        client.on("data", (chunk: Buffer) => {
          state.droppedBytes += chunk.length
        })
        return
      }
      const upstream = Net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
      conn.upstream = upstream
      upstream.setNoDelay(true)
      const upstreamGone = () => {
        // In a blackhole the client must not learn that the other side went away.
        if (state.blackholed) conn.damaged = true
        else destroy(conn, false)
      }
      upstream.on("error", upstreamGone)
      upstream.on("close", upstreamGone)
      forward(conn, client, () => conn.upstream)
      forward(conn, upstream, () => conn.client)
    })

    yield* Effect.acquireRelease(
      Effect.callback<void, FaultProxyError>((resume) => {
        server.once("error", (cause) => resume(Effect.fail(new FaultProxyError({ cause }))))
        server.listen(0, host, () => resume(Effect.void))
      }),
      () =>
        Effect.callback<void>((resume) => {
          for (const conn of [...connections]) destroy(conn, false)
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0

    const endBlackhole = () => {
      state.blackholed = false
      for (const conn of [...connections]) if (conn.damaged) destroy(conn, true)
    }

    return {
      host,
      port,
      url: `https://${host}:${port}`,
      target,
      latency: (delay) =>
        Effect.sync(() => {
          state.latencyMillis = Math.max(0, Duration.toMillis(delay))
        }),
      blackhole: (on) =>
        Effect.sync(() => {
          if (on) state.blackholed = true
          else endBlackhole()
        }),
      resetAll: Effect.sync(() => {
        const all = [...connections]
        for (const conn of all) destroy(conn, true)
        return all.length
      }),
      pass: Effect.sync(() => {
        state.latencyMillis = 0
        endBlackhole()
      }),
      stats: Effect.sync(() => ({
        accepted: state.accepted,
        open: connections.size,
        reset: state.reset,
        droppedBytes: state.droppedBytes
      }))
    }
  })

/**
 * A proxy as a scoped layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: FaultProxyOptions): Layer.Layer<FaultProxy, FaultProxyError> =>
  Layer.effect(FaultProxy, make(options))

/**
 * A proxy in front of the `ControlPlane`'s API server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerControlPlane: Layer.Layer<FaultProxy, FaultProxyError, ControlPlane> = Layer.effect(
  FaultProxy,
  Effect.gen(function*() {
    const controlPlane = yield* ControlPlane
    return yield* make({ target: { port: controlPlane.port } })
  })
)

/**
 * Writes a kubeconfig for `user` that reaches the control plane through `proxy` (same CA, TLS
 * verified) and returns its path.
 *
 * @since 0.1.0
 * @category kubeconfig
 */
export const kubeconfig = (
  proxy: FaultProxyService,
  user: UserName
): Effect.Effect<string, ControlPlaneError, ControlPlane> =>
  ControlPlane.use((controlPlane) => controlPlane.writeKubeconfig({ user, server: proxy.url }))
