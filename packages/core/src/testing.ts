/**
 * Test support for `LeaseStore` implementations: the `@leasekit/core/testing` entry point.
 *
 * It exports the conformance suite that every store must pass (see `LeaseStore.ts` for the
 * contract it pins). It needs `@effect/vitest` (an optional peer dependency of `@leasekit/core`)
 * and is meant to be imported from test files only.
 *
 * @module @leasekit/core/testing
 * @since 0.1.0
 */
export {
  /**
   * Registers the `LeaseStore` conformance tests for a store layer.
   *
   * @since 0.1.0
   * @category testing
   */
  suite,
  /**
   * Options of the conformance suite.
   *
   * @since 0.1.0
   * @category models
   */
  type SuiteOptions
} from "./testing/LeaseStoreConformance.ts"
