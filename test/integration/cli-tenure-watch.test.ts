/**
 * TenureWatch (written by an adversarial review of issue 20) against a real kube-apiserver: edits that leave this tenure's
 * holder and token alone — labels, annotations, many renewals, a watch reconnect (the store ends a
 * watch connection after 25 s and resumes it) — must not stop CMD.
 */
import { assert, layer } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"
import { leaseObjects } from "./leaseObjects.ts"
import { admin, start, waitUntil } from "./leasekitProcess.ts"

const namespace = "leasekit-review-watch"
const suffix = () => globalThis.crypto.randomUUID().slice(0, 8)
const { leasePath } = leaseObjects(namespace)

/** `kubectl label` / `kubectl annotate`: a merge patch of the metadata only. */
const patchMetadata = (name: string, metadata: Record<string, unknown>) =>
  Effect.gen(function*() {
    const cp = yield* ControlPlane.ControlPlane
    const response = yield* cp.request({
      method: "PATCH",
      path: leasePath(name),
      contentType: "application/merge-patch+json",
      body: { metadata }
    })
    assert.isBelow(response.status, 300, response.body)
  })

layer(ControlPlane.layer({ namespace }), { excludeTestServices: true, timeout: "4 minutes" })("(Review) TenureWatch, real API server", (it) => {
  const flags = Effect.map(admin, (kube) => [...kube, "-n", namespace])

  it.effect("label and annotation edits, renewals and a watch reconnect do not stop CMD", () =>
    Effect.gen(function*() {
      const name = `edits-${suffix()}`
      const args = yield* flags
      const holder = yield* start(["run", name, ...args, "--duration", "3s", "--", "sh", "-c", "echo started; sleep 30; echo finished"])
      yield* waitUntil("the command to start", () => holder.stdout().includes("started"))
      yield* patchMetadata(name, { labels: { team: "reports" } })
      yield* Effect.sleep("2 seconds")
      yield* patchMetadata(name, { annotations: { "example.com/note": "looked at it" } })
      yield* Effect.sleep("25 seconds") // past the store's 25 s watch reconnect
      yield* patchMetadata(name, { labels: { team: "billing" } })
      const ended = yield* holder.ended
      assert.strictEqual(ended.code, 0, ended.stderr)
      assert.include(ended.stdout, "finished")
    }), { timeout: 90_000 })
})
