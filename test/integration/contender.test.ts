/**
 * The contender harness of `@leasekit/testing` on a real API server: leasekit's contender process
 * started by the driver (`Contender.spawn`), driven through `ContenderProtocol` — the process the
 * benchmarks time, here checked for what it does rather than how fast. A `hold` contender leads
 * with a fencing token and hands over to a waiting one on `release`; `usage` counts its store
 * calls; `loop` contenders writing to one fenced resource (`Fence`) are judged clean by the one
 * checker (`Exclusion`), and the resource's tokens never go back.
 */
import { assert, layer } from "@effect/vitest"
import { Contender, ControlPlane, Exclusion, Fence, Process } from "@leasekit/testing"
import type { LoopEvent } from "@leasekit/testing/ContenderProtocol"
import { isLoopEvent } from "@leasekit/testing/ContenderProtocol"
import { Effect, PubSub } from "effect"

const namespace = "leasekit-contender"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const timing = { leaseDurationMs: 3_000, renewIntervalMs: 1_000, retryPeriodMs: 200 }

const spawn = Effect.gen(function*() {
  const cp = yield* ControlPlane.ControlPlane
  return yield* Contender.spawn({ kubeconfig: cp.users.admin.kubeconfig })
})

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })(
  "The contender harness on a real API server",
  (it) => {
    it.effect("hold: the first contender leads with a token; on its release the waiting one takes over", () =>
      Effect.scoped(Effect.gen(function*() {
        const name = `hold-${suffix()}`
        const first = yield* spawn
        const second = yield* spawn
        const firstLeads = yield* first.waitFor((event) => event.ev === "leading", { what: "first leading" })
        yield* first.send({ cmd: "join", name, namespace, ...timing })
        const led = yield* firstLeads
        assert.strictEqual(led.ev === "leading" ? led.name : undefined, name)

        const secondLeads = yield* second.waitFor((event) => event.ev === "leading", { what: "second leading" })
        yield* second.send({ cmd: "join", name, namespace, ...timing })
        const released = yield* first.waitFor((event) => event.ev === "released", { what: "first released" })
        yield* first.send({ cmd: "release" })
        const done = yield* released
        assert.strictEqual(done.ev === "released" ? done.led : undefined, true)
        const next = yield* secondLeads
        const tokens = [led, next].map((event) => event.ev === "leading" ? event.token ?? -1 : -1)
        assert.isAbove(tokens[1]!, tokens[0]!, "the successor's token is above its predecessor's")

        const usage = yield* first.waitFor((event) => event.ev === "usage", { what: "usage" })
        yield* first.send({ cmd: "usage" })
        const counted = yield* usage
        assert.isTrue(counted.ev === "usage" && counted.creates + counted.updates >= 2, JSON.stringify(counted))
        assert.deepStrictEqual(yield* first.stop, { code: 0, signal: null })
      })).pipe(Effect.provide(Process.layer)))

    it.effect("loop: contenders writing to one fenced resource are judged clean by Exclusion, tokens never going back", () =>
      Effect.scoped(Effect.gen(function*() {
        const cp = yield* ControlPlane.ControlPlane
        const name = `loop-${suffix()}`
        const fenceTarget: Fence.FenceTarget = { kubeconfig: cp.users.admin.kubeconfig, namespace, name: `fence-${name}` }
        const fence = yield* Fence.open(fenceTarget)
        yield* Fence.create(fence)
        const contenders = [yield* spawn, yield* spawn]
        const subscriptions = yield* Effect.forEach(contenders, (c) => c.subscribe)
        for (const c of contenders) {
          yield* c.send({ cmd: "join", name, namespace, mode: "loop", writes: 2, workMs: 20, acquireTimeoutMs: 10_000, fence: fenceTarget, ...timing })
        }
        yield* Effect.sleep("3 seconds")
        for (const c of contenders) yield* c.send({ cmd: "release" })
        const journals: Array<Array<LoopEvent>> = []
        for (const subscription of subscriptions) {
          const journal: Array<LoopEvent> = []
          while (true) {
            const event = yield* PubSub.take(subscription).pipe(Effect.timeout("60 seconds"))
            if (event.ev === "end" || event.ev === "released") break
            if (isLoopEvent(event)) journal.push(Exclusion.inMillis(event))
          }
          journals.push(journal)
        }
        const state = yield* Fence.read(fence)
        const report = Exclusion.check({
          timing: {
            durationSeconds: timing.leaseDurationMs / 1000,
            renewIntervalMillis: timing.renewIntervalMs,
            renewDeadlineMillis: (timing.leaseDurationMs * 2) / 3,
            retryPeriodMillis: timing.retryPeriodMs,
            requestTimeoutMillis: 10_000
          },
          journals,
          circumstances: [],
          fence: state
        })
        assert.isAbove(report.sections, 2, "both contenders ran sections")
        assert.deepStrictEqual(Exclusion.violations(report), [])
        assert.isAbove(state.writes, 4, "the fenced resource accepted the sections' writes")
        const tokens = state.log.map((entry) => entry.token)
        for (let i = 1; i < tokens.length; i++) assert.isAtLeast(tokens[i]!, tokens[i - 1]!, "the fence's tokens never go back")
      })).pipe(Effect.provide(Process.layer)))
  }
)
