/**
 * The store as the algorithm calls it: every call bounded by the request timeout and traced.
 *
 * A call that does not answer within `requestTimeout` fails with reason `Timeout` — an ambiguous
 * outcome the caller resolves by reading back. A store that bounds its own requests
 * (`withRequestTimeout`) is asked to use `requestTimeout`; any other is wrapped in a timeout here.
 * `watch` is not bounded (it is meant to stay open).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { LeaseKey } from "../LeaseRecord.ts"
import type { LeaseStoreOperation, LeaseStoreService } from "../LeaseStore.ts"
import { LeaseStoreError } from "../LeaseStore.ts"
import { Spans } from "../LeaseTelemetry.ts"
import * as Telemetry from "./telemetry.ts"

export const bounded = (
  store: LeaseStoreService,
  requestTimeout: Duration.Duration
): LeaseStoreService => {
  const selfBounded = store.withRequestTimeout?.(requestTimeout)
  const inner = selfBounded ?? store
  const call = <A>(operation: LeaseStoreOperation, key: LeaseKey | undefined, effect: Effect.Effect<A, LeaseStoreError>) =>
    (selfBounded !== undefined ? effect : effect.pipe(
      Effect.timeoutOrElse({
        duration: requestTimeout,
        orElse: () =>
          Effect.fail(
            new LeaseStoreError({
              operation,
              key,
              reason: "Timeout",
              detail: `no answer within ${Duration.format(requestTimeout)}; the outcome is unknown`
            })
          )
      })
    )).pipe(Telemetry.span(`${Spans.storePrefix}${operation}`, key))
  return {
    get: (key) => call("get", key, inner.get(key)),
    list: (namespace) => call("list", undefined, inner.list(namespace)),
    create: (key, spec, metadata) => call("create", key, inner.create(key, spec, metadata)),
    update: (record, spec, metadata) => call("update", record.key, inner.update(record, spec, metadata)),
    remove: (record) => call("remove", record.key, inner.remove(record)),
    watch: inner.watch
  }
}
