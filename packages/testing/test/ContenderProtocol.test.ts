/**
 * The line encoding of the contender protocol: what a line decodes to, and what is dropped.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ContenderProtocol from "../src/ContenderProtocol.ts"

describe("ContenderProtocol", () => {
  it("an event survives its line; a stray log line, or JSON that is not an event, decodes to nothing", () => {
    const event: ContenderProtocol.Event = { ev: "leading", t: 12, name: "x", token: 3 }
    assert.deepStrictEqual(ContenderProtocol.decodeEvent(ContenderProtocol.encodeEvent(event)), event)
    assert.isUndefined(ContenderProtocol.decodeEvent("Listening on 127.0.0.1"))
    assert.isUndefined(ContenderProtocol.decodeEvent("null"))
    assert.isUndefined(ContenderProtocol.decodeEvent("42"))
  })

  it("a command survives its line; anything else is an error naming why", () => {
    const command: ContenderProtocol.Command = { cmd: "join", name: "x", mode: "loop" }
    assert.deepStrictEqual(ContenderProtocol.decodeCommand(ContenderProtocol.encodeCommand(command)), command)
    assert.include(String((ContenderProtocol.decodeCommand("{") as { error: string }).error), "JSON")
    assert.include((ContenderProtocol.decodeCommand("[1]") as { error: string }).error, "not a command")
  })

  it("timestamps are microseconds of a monotonic clock", () => {
    const a = ContenderProtocol.nowMicros()
    const b = ContenderProtocol.nowMicros()
    assert.isAtLeast(b, a)
    assert.isAbove(a, 0)
  })
})
