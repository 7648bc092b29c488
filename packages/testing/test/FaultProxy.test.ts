import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as Net from "node:net"
import { FaultProxy } from "../src/index.ts"

/** A TCP echo server on a free loopback port, closed with the scope. */
const echoServer = Effect.acquireRelease(
  Effect.callback<Net.Server>((resume) => {
    const server = Net.createServer((socket) => {
      socket.on("error", () => {})
      socket.pipe(socket)
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
).pipe(Effect.map((server) => (server.address() as Net.AddressInfo).port))

interface Client {
  readonly socket: Net.Socket
  /** Everything received so far. */
  readonly received: () => string
  /** Resolves with the error or "closed" when the socket goes away. */
  readonly closed: Promise<string>
}

const connect = (port: number) =>
  Effect.acquireRelease(
    Effect.callback<Client>((resume) => {
      let data = ""
      const socket = Net.connect(port, "127.0.0.1", () =>
        resume(Effect.succeed({ socket, received: () => data, closed })))
      const closed = new Promise<string>((resolve) => {
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
        socket.on("close", () => resolve("closed"))
      })
      socket.setEncoding("utf8")
      socket.on("data", (chunk: string) => (data += chunk))
    }),
    (client) => Effect.sync(() => client.socket.destroy())
  )

const until = (condition: () => boolean, timeout: Duration.Input = "5 seconds") =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis") }),
    Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.die(new Error("condition not met in time")) })
  )

describe("FaultProxy", () => {
  it.live("forwards bytes both ways and counts connections", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const proxy = yield* FaultProxy.make({ target: { port } })
      const client = yield* connect(proxy.port)
      client.socket.write("hello")
      yield* until(() => client.received() === "hello")
      const second = yield* connect(proxy.port)
      second.socket.write("again")
      yield* until(() => second.received() === "again")
      const stats = yield* proxy.stats
      assert.strictEqual(stats.accepted, 2)
      assert.strictEqual(stats.open, 2)
    }))

  it.live("latency delays every chunk in each direction, in order; pass removes it", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const proxy = yield* FaultProxy.make({ target: { port } })
      const client = yield* connect(proxy.port)
      yield* proxy.latency("150 millis")
      const start = performance.now()
      client.socket.write("a")
      client.socket.write("b")
      client.socket.write("c")
      yield* until(() => client.received().length === 3)
      assert.strictEqual(client.received(), "abc")
      // There and back: twice the latency.
      assert.isAtLeast(performance.now() - start, 290)
      yield* proxy.pass
      const again = performance.now()
      client.socket.write("d")
      yield* until(() => client.received() === "abcd")
      assert.isBelow(performance.now() - again, 150)
    }))

  it.live("blackhole drops bytes and hides a closing server; ending it resets the damaged connections", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const proxy = yield* FaultProxy.make({ target: { port } })
      const client = yield* connect(proxy.port)
      client.socket.write("before")
      yield* until(() => client.received() === "before")
      yield* proxy.blackhole(true)
      client.socket.write("lost")
      yield* until(() => Effect.runSync(proxy.stats).droppedBytes === 4)
      const late = yield* connect(proxy.port) // accepted, but never connected upstream
      late.socket.write("x")
      yield* until(() => Effect.runSync(proxy.stats).droppedBytes === 5)
      assert.strictEqual(client.received(), "before")
      yield* proxy.blackhole(false)
      assert.strictEqual(yield* Effect.promise(() => client.closed), "ECONNRESET")
      assert.strictEqual(yield* Effect.promise(() => late.closed), "ECONNRESET")
      assert.strictEqual((yield* proxy.stats).reset, 2)
      const fresh = yield* connect(proxy.port)
      fresh.socket.write("works")
      yield* until(() => fresh.received() === "works")
    }))

  it.live("resetAll resets every open connection with RST", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const proxy = yield* FaultProxy.make({ target: { port } })
      const a = yield* connect(proxy.port)
      const b = yield* connect(proxy.port)
      yield* until(() => Effect.runSync(proxy.stats).open === 2)
      assert.strictEqual(yield* proxy.resetAll, 2)
      assert.strictEqual(yield* Effect.promise(() => a.closed), "ECONNRESET")
      assert.strictEqual(yield* Effect.promise(() => b.closed), "ECONNRESET")
      assert.deepStrictEqual(yield* proxy.stats, { accepted: 2, open: 0, reset: 2, droppedBytes: 0 })
    }))

  it.live("closing the scope closes the listener and the connections", () =>
    Effect.gen(function*() {
      const port = yield* echoServer
      const { client, proxyPort } = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* FaultProxy.make({ target: { port } })
        const client = yield* Effect.callback<Net.Socket>((resume) => {
          const socket = Net.connect(proxy.port, "127.0.0.1", () => resume(Effect.succeed(socket)))
        })
        client.on("error", () => {})
        yield* until(() => Effect.runSync(proxy.stats).open === 1)
        return { client, proxyPort: proxy.port }
      }))
      yield* until(() => client.destroyed || client.readableEnded)
      const refused = yield* Effect.callback<string>((resume) => {
        const socket = Net.connect(proxyPort, "127.0.0.1", () => resume(Effect.succeed("connected")))
        socket.on("error", (error: NodeJS.ErrnoException) => resume(Effect.succeed(error.code ?? "error")))
      })
      assert.strictEqual(refused, "ECONNREFUSED")
      client.destroy()
    }))
})
