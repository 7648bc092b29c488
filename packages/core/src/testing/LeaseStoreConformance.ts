/**
 * The conformance suite every `LeaseStore` implementation must pass.
 *
 * `suite(name, layer, options)` registers, with `@effect/vitest`, one test per guarantee stated in
 * `LeaseStore.ts`: reads of absent keys, exact round-trips of every record field, `AlreadyExists`
 * on a second create, compare-and-swap `update` / `remove` (`Conflict` from a stale version,
 * `NotFound` once deleted, a new version per write), labels and annotations kept across updates
 * and set by an update that carries them (leasekit's handoff annotations), `spec.strategy` and
 * `spec.preferredHolder` round-tripped (when the store keeps them: `coordinatedLeaderElection`),
 * listing per namespace and across namespaces, and `watch` (current state first, later states in
 * order, other keys ignored). The memory store runs it in unit tests; the Kubernetes store runs it
 * against a real API server.
 *
 * Guarantees: every test uses its own lease names (a random suffix), so the suite can share a
 * cluster with other tests and with earlier runs; each test deletes what it created (best effort);
 * every wait on a watch is bounded, so a broken watch fails a test instead of hanging it. Does not
 * check: timing, concurrency under load, or what a store does on transient failures — those belong
 * to the algorithm's tests and to fault-injection suites.
 *
 * @since 0.1.0
 */
import { layer as layerTest } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import type { LeaseStore } from "../LeaseStore.ts"
import { makeContext } from "../internal/conformance/fixtures.ts"
import { recordTests, viewTests } from "../internal/conformance/records.ts"
import { noWatchTests, watchTests } from "../internal/conformance/watch.ts"

/**
 * Options of the conformance suite.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** The namespace the leases are created in. Default `"default"`; on a real cluster it must exist. */
  readonly namespace?: string
  /**
   * A second, existing namespace. When given, the listing tests also check that a namespace's list
   * leaves out the other namespace's leases and that the all-namespaces list has both.
   */
  readonly otherNamespace?: string
  /**
   * Whether the store is expected to watch. `true` (the default) runs the watch tests; `false`
   * instead checks that `watch` fails promptly with `Unsupported` or `Forbidden`, the two reasons
   * on which the algorithm falls back to polling.
   */
  readonly watch?: boolean
  /** Upper bound for each wait on a watch event. Default 10 seconds. */
  readonly watchTimeout?: Duration.Input
  /** Prefix of the lease names the suite creates. Default `"conformance"`. */
  readonly prefix?: string
  /** Passed to `@effect/vitest`'s `layer`: how long building and releasing the layer may take. */
  readonly layerTimeout?: Duration.Input
  /** Passed to `@effect/vitest`'s `layer`: share layer builds (e.g. one control plane) with other suites. */
  readonly memoMap?: Layer.MemoMap
  /**
   * Whether the store keeps `spec.strategy` and `spec.preferredHolder` (Kubernetes coordinated
   * leader election: the memory store, and API servers that serve those fields). When true, a test
   * checks that both round-trip through `create` and `update`, and that an update whose spec leaves
   * them out removes them. Default false (API servers before coordinated leader election drop them).
   * @since 0.4.0
   */
  readonly coordinatedLeaderElection?: boolean
}

/**
 * Registers the conformance tests for the store built by `layer`. The layer is built once for the
 * whole suite; the tests run against the live clock.
 *
 * @since 0.1.0
 * @category testing
 */
export const suite = <E>(name: string, layer: Layer.Layer<LeaseStore, E>, options: SuiteOptions = {}): void => {
  const ctx = makeContext(options)
  layerTest(layer, {
    excludeTestServices: true,
    ...(options.layerTimeout === undefined ? {} : { timeout: options.layerTimeout }),
    ...(options.memoMap === undefined ? {} : { memoMap: options.memoMap })
  })(`LeaseStore conformance: ${name}`, (it) => {
    recordTests(it, ctx)
    if (options.watch === false) {
      noWatchTests(it, ctx)
      return
    }
    watchTests(it, ctx)
    viewTests(it, ctx)
  })
}

