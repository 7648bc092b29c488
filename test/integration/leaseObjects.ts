/**
 * Lease objects in the CLI's integration suites, read and written as the control plane's admin
 * through `ControlPlane.request` (not through leasekit): what the API server holds after a run,
 * and the records, takeovers and edits of another writer. `leaseObjects(namespace)` gives the
 * helpers for one suite's namespace.
 */
import { assert } from "@effect/vitest"
import { ControlPlane } from "@leasekit/testing"
import { Effect } from "effect"

/** A Lease as the API server returns it (the fields the suites look at). */
export interface LeaseObject {
  readonly metadata: { readonly resourceVersion: string } & Record<string, unknown>
  readonly spec: {
    readonly holderIdentity?: string
    readonly leaseTransitions?: number
    readonly renewTime?: string
  } & Record<string, unknown>
}

/** Kubernetes MicroTime of `millis` (since the epoch). */
export const microTime = (millis: number) => new Date(millis).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z")

/** The helpers for the Leases in `namespace`. */
export const leaseObjects = (namespace: string) => {
  const leasesPath = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`
  const leasePath = (name: string) => `${leasesPath}/${name}`

  const post = (name: string, spec: Record<string, unknown>) =>
    Effect.flatMap(ControlPlane.ControlPlane, (cp) =>
      cp.request({
        method: "POST",
        path: leasesPath,
        body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec }
      }))

  /** The Lease object as the API server has it, or undefined when absent. */
  const readLease = (name: string) =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const response = yield* cp.request({ path: leasePath(name) })
      if (response.status === 404) return undefined
      assert.strictEqual(response.status, 200, response.body)
      return response.json as LeaseObject
    })

  /** Creates a Lease as another writer would. */
  const createLease = (name: string, spec: Record<string, unknown>) =>
    Effect.gen(function*() {
      const response = yield* post(name, spec)
      assert.strictEqual(response.status, 201, response.body)
    })

  /** Writes `spec` as another writer would: creates the Lease, or replaces the spec of the one there. */
  const writeLease = (name: string, spec: Record<string, unknown>) =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const current = yield* cp.request({ path: leasePath(name) })
      const response = current.status === 404
        ? yield* post(name, spec)
        : yield* cp.request({ method: "PUT", path: leasePath(name), body: { ...(current.json as LeaseObject), spec } })
      assert.isBelow(response.status, 300, response.body)
    })

  /** One compare-and-swap like any writer's that names `holder`: whether it succeeded (a renewal
   * in between, a 409, means read again: poll it). */
  const overwriteHolder = (name: string, holder: string) =>
    Effect.gen(function*() {
      const cp = yield* ControlPlane.ControlPlane
      const lease = yield* readLease(name)
      const response = yield* cp.request({ method: "PUT", path: leasePath(name), body: { ...lease!, spec: { ...lease!.spec, holderIdentity: holder } } })
      return response.status === 200
    })

  return { leasesPath, leasePath, readLease, createLease, writeLease, overwriteHolder }
}
