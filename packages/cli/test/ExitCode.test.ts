/**
 * `ExitCode`'s messages are said in the command line's words: no library hints (`layerConfig`,
 * `{ context }`, `LEASEKIT_*`), no reason tags; and a server that is not a Kubernetes API server
 * is an unreachable API (69) with a fix naming the flags.
 */
import { assert, describe, it } from "@effect/vitest"
import { LeaseAcquisitionError, LeaseRelinquishmentError, LeaseStoreError } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import * as ExitCode from "../src/internal/ExitCode.ts"

const key = { namespace: "jobs", name: "nightly" }
const library = /layerConfig|LEASEKIT_|\{ context \}|KubeClient|Effect|scope/

describe("ExitCode messages in CLI words", () => {
  it("a kubeconfig error shows its detail, not the library's hint, and a fix with flags", () => {
    const missing = ExitCode.fromError(
      new KubeClient.KubeConfigError({
        reason: "NotFound",
        source: "/x",
        detail: "the file does not exist",
        hint: "set KUBECONFIG (or LEASEKIT_KUBECONFIG with KubeClient.layerConfig) to a kubeconfig file"
      })
    )
    assert.strictEqual(missing.code, 78)
    assert.strictEqual(missing.problem, "kubeconfig /x: the file does not exist")
    assert.include(missing.fix, "--kubeconfig")
    const context = ExitCode.fromError(
      new KubeClient.KubeConfigError({
        reason: "UnknownContext",
        source: "/x",
        detail: "context \"nope\" is not defined (defined: a, b)",
        hint: "pass one of them as { context } (LEASEKIT_CONTEXT with layerConfig) or fix current-context"
      })
    )
    assert.include(context.fix, "--context")
    for (const exit of [missing, context]) assert.notMatch(ExitCode.render(exit), library)
  })

  it("a store error says what was being done and why, without the reason tag", () => {
    const exit = ExitCode.fromError(
      new LeaseStoreError({ operation: "get", key, reason: "Unavailable", detail: "cannot reach the API server at https://h:1 (ECONNREFUSED)" })
    )
    assert.strictEqual(exit.code, 69)
    assert.strictEqual(exit.problem, "reading lease jobs/nightly: cannot reach the API server at https://h:1 (ECONNREFUSED)")
    const list = ExitCode.fromError(new LeaseStoreError({ operation: "list", reason: "Forbidden", detail: "user \"u\" may not list" }))
    assert.strictEqual(list.problem, "listing leases: user \"u\" may not list")
    const store = new LeaseStoreError({ operation: "create", key, reason: "Forbidden", detail: "user \"u\" may not create" })
    assert.strictEqual(
      ExitCode.fromError(new LeaseAcquisitionError({ key, reason: { _tag: "Store", error: store } })).problem,
      "lease jobs/nightly could not be acquired: user \"u\" may not create"
    )
    assert.strictEqual(
      ExitCode.fromError(new LeaseRelinquishmentError({ key, reason: { _tag: "Store", error: store } })).problem,
      "lease jobs/nightly could not be released: user \"u\" may not create"
    )
  })

  it("a server that is not a Kubernetes API server (Unsupported) exits 69, pointing at the kubeconfig's server", () => {
    const exit = ExitCode.fromError(
      new LeaseStoreError({ operation: "get", key, reason: "Unsupported", detail: "the server at http://h:1 is not a Kubernetes API server" })
    )
    assert.strictEqual(exit.code, 69)
    assert.include(exit.problem, "is not a Kubernetes API server")
    assert.include(exit.fix, "--kubeconfig / --context")
  })
})
