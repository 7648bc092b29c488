/**
 * Free loopback ports, chosen by the kernel.
 *
 * The port is free when returned and released again, so another process could take it before
 * the server binds it; on loopback, in a test, that race is rare, and a bind failure surfaces as
 * a failed start with the server's log.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Net from "node:net"

/** @internal */
export const freePort = (host = "127.0.0.1"): Effect.Effect<number, Error> =>
  Effect.callback<number, Error>((resume) => {
    const server = Net.createServer()
    server.unref()
    server.once("error", (error) => resume(Effect.fail(error)))
    server.listen(0, host, () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resume(port > 0 ? Effect.succeed(port) : Effect.fail(new Error("no port assigned"))))
    })
  })
