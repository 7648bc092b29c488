/**
 * The store as the algorithm calls it: every call bounded by the request timeout and traced.
 *
 * A call that does not answer within `requestTimeout` fails with reason `Timeout` — an ambiguous
 * outcome the caller resolves by reading back. `watch` is not bounded (it is meant to stay open).
 */
import { Duration, Effect } from "effect"
import type { LeaseKey } from "../LeaseRecord.ts"
import type { LeaseStoreOperation, LeaseStoreService } from "../LeaseStore.ts"
import { LeaseStoreError } from "../LeaseStore.ts"
import * as Telemetry from "./telemetry.ts"

export const bounded = (
  store: LeaseStoreService,
  requestTimeout: Duration.Duration
): LeaseStoreService => {
  const call = <A>(operation: LeaseStoreOperation, key: LeaseKey | undefined, effect: Effect.Effect<A, LeaseStoreError>) =>
    effect.pipe(
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
      }),
      Telemetry.span(`leasekit.store.${operation}`, key)
    )
  return {
    get: (key) => call("get", key, store.get(key)),
    list: (namespace) => call("list", undefined, store.list(namespace)),
    create: (key, spec, metadata) => call("create", key, store.create(key, spec, metadata)),
    update: (record, spec) => call("update", record.key, store.update(record, spec)),
    remove: (record) => call("remove", record.key, store.remove(record)),
    watch: store.watch
  }
}
