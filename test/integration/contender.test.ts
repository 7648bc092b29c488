/**
 * The contender harness of `@leasekit/testing` on a real API server: leasekit's contender process
 * started by the driver (`Contender.spawn`), driven through `ContenderProtocol` — the process the
 * benchmarks time, here checked for what it does rather than how fast. A `hold` contender leads
 * with a fencing token and hands over to a waiting one on `release`; `usage` counts its store
 * calls; `loop` contenders sharing a fence folder report only clean critical sections, in order
 * of their fencing tokens.
 */
import { assert, layer } from "@effect/vitest"
import { Contender, ControlPlane, Process } from "@leasekit/testing"
import type { CriticalSectionEvent } from "@leasekit/testing/ContenderProtocol"
import { Effect, PubSub } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

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

    it.effect("loop: contenders sharing a fence folder report clean critical sections, tokens never going back", () =>
      Effect.scoped(Effect.gen(function*() {
        const name = `loop-${suffix()}`
        const fenceDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-fence-"))
        const contenders = [yield* spawn, yield* spawn]
        const subscriptions = yield* Effect.forEach(contenders, (c) => c.subscribe)
        for (const c of contenders) yield* c.send({ cmd: "join", name, namespace, mode: "loop", fenceDir, ...timing })
        yield* Effect.sleep("3 seconds")
        for (const c of contenders) yield* c.send({ cmd: "release" })
        const sections: Array<CriticalSectionEvent & { readonly by: number }> = []
        for (const [by, subscription] of subscriptions.entries()) {
          while (true) {
            const event = yield* PubSub.take(subscription).pipe(Effect.timeout("60 seconds"))
            if (event.ev === "cs") sections.push({ ...event, by })
            if (event.ev === "released" || event.ev === "end") break
          }
        }
        Fs.rmSync(fenceDir, { recursive: true, force: true })
        assert.isAbove(sections.length, 2)
        assert.deepStrictEqual(sections.filter((s) => !s.ok), [])
        const ordered = [...sections].sort((a, b) => a.t0 - b.t0)
        for (let i = 1; i < ordered.length; i++) {
          const [prev, cur] = [ordered[i - 1]!, ordered[i]!]
          assert.isAtLeast(cur.t0, prev.t1, "critical sections do not overlap")
          // The same contender may re-take its own lease without a release in between (same token).
          if (cur.by !== prev.by || cur.token !== prev.token) assert.isAbove(cur.token, prev.token, "tokens increase")
        }
      })).pipe(Effect.provide(Process.layer)))
  }
)
