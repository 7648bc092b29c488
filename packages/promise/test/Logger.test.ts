/**
 * `IntervalLeaseOptions.logger`: code that does not use Effect sees leasekit's warnings — renewal
 * failing, the lease lost — in its own logger, each line with the lease's attributes; without one,
 * the lines go where they went before (the runtime's Effect logger). The runtime runs on
 * `TestClock` over a memory store whose renewals fail when the test says.
 */
import { LeaseStore, LeaseStoreError } from "@leasekit/core"
import { Attributes } from "@leasekit/core/LeaseTelemetry"
import { Effect, Layer, Logger } from "effect"
import { TestClock } from "effect/testing"
import { assert, describe, it } from "vitest"
import { type LeaseLogger, LeaseLostError } from "../src/index.ts"
import { memoryLeases, namespace } from "./fixtures.ts"

const memory = memoryLeases("logged")

/** A memory store whose renewals (updates naming a holder) fail while `failing.on` is set. */
const failingRenewals = () => {
  const failing = { on: false }
  const layer = Layer.effect(
    LeaseStore.LeaseStore,
    Effect.map(LeaseStore.makeMemory(), (store): LeaseStore.LeaseStoreService => ({
      ...store,
      update: (record, spec, metadata) =>
        failing.on && spec.holder !== ""
          ? Effect.fail(new LeaseStoreError({ operation: "update", key: record.key, reason: "Unavailable", detail: "the API server is down" }))
          : store.update(record, spec, metadata)
    }))
  )
  return { failing, layer }
}

/** A console-like logger that records its calls. */
const recording = () => {
  const lines: Array<{ readonly level: string; readonly message: string; readonly attributes: Record<string, unknown> }> = []
  const at = (level: string) => (message: string, attributes: Record<string, unknown>) => lines.push({ level, message, attributes })
  const logger: LeaseLogger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }
  return { lines, logger }
}

const adjust = (seconds: number) => memory.runtime.runPromise(TestClock.adjust(`${seconds} seconds`))

describe("IntervalLease logger", () => {
  it("renewal failing and the loss reach the given logger, with the lease's attributes; nothing reaches the runtime's", async () => {
    const store = failingRenewals()
    const runtimeLines: Array<unknown> = []
    await memory.onVirtualClock(store.layer, Logger.layer([Logger.make((o) => runtimeLines.push(o.message))]))
    const { lines, logger } = recording()
    const name = memory.uniqueName()
    const lease = memory.make({ leaseName: name, holder: "worker-1", durationSeconds: 6, logger })
    const lost: Array<LeaseLostError> = []
    lease.onLost((error) => lost.push(error))
    await lease.acquire()
    store.failing.on = true
    await adjust(3) // the first renewal is due after 2 s, and fails
    const failing = lines.find((line) => line.level === "warn" && line.message.includes("renewal failed"))
    assert.isDefined(failing, JSON.stringify(lines))
    assert.deepInclude(failing!.attributes, {
      [Attributes.namespace]: namespace,
      [Attributes.name]: name,
      [Attributes.holder]: "worker-1"
    })
    for (let i = 0; i < 4; i++) await adjust(1) // past the 4 s renew deadline
    assert.lengthOf(lost, 1)
    const loss = lines.find((line) => line.level === "warn" && line.message.includes("lost"))
    assert.isDefined(loss, JSON.stringify(lines))
    assert.strictEqual(loss!.attributes[Attributes.holder], "worker-1")
    assert.isFalse(lines.some((line) => line.level === "debug"), "debug lines are left out by default")
    assert.deepStrictEqual(runtimeLines, [], "the lease's lines go to its logger, not the runtime's")
  })

  it("logLevel debug also forwards the acquisition; a logger with only warn and error, or one that throws, does not disturb the lease", async () => {
    const verbose = recording()
    const a = memory.make({ leaseName: memory.uniqueName(), logger: verbose.logger, logLevel: "debug" })
    await a.acquire()
    assert.isTrue(verbose.lines.some((line) => line.level === "debug" && line.message.includes("acquired")), JSON.stringify(verbose.lines))
    const throwing: LeaseLogger = {
      warn: () => {
        throw new Error("broken logger")
      },
      error: () => {
        throw new Error("broken logger")
      }
    }
    const b = memory.make({ leaseName: memory.uniqueName(), logger: throwing, logLevel: "debug" })
    await b.acquire()
    assert.isTrue(b.checkAlive())
    await b.release()
    assert.isFalse(b.checkAlive())
  })

  it("without a logger, the lines go to the runtime's Effect logger, as before", async () => {
    const store = failingRenewals()
    const runtimeLines: Array<string> = []
    await memory.onVirtualClock(
      store.layer,
      Logger.layer([Logger.make((o) => runtimeLines.push(Array.isArray(o.message) ? o.message.join(" ") : String(o.message)))])
    )
    const lease = memory.make({ leaseName: memory.uniqueName(), durationSeconds: 6 })
    await lease.acquire()
    store.failing.on = true
    await adjust(3)
    assert.isTrue(runtimeLines.some((line) => line.includes("renewal failed")), JSON.stringify(runtimeLines))
    store.failing.on = false
  })
})
