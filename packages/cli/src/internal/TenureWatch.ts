/**
 * Watching the lease `run` holds, so that a takeover — an admin's `leasekit release --force`, a
 * `kubectl delete lease`, a write by another contender — stops CMD within milliseconds instead of
 * at the next renewal (up to a renew interval later: 6.67 s at the default `--duration`).
 *
 * A store's watch shows the current state (a consistent read: the Kubernetes store lists the
 * object without a `resourceVersion`, so from etcd, not from a cache), then every later state in
 * order. It is started after the acquisition was confirmed, so every state it shows was stored
 * after this tenure began: one with another holder, another token, no holder or no object means
 * this tenure is over (ours: the holder is ours and the transitions counter is our token).
 *
 * Guarantees: reports only states stored after this tenure began. Does not: replace
 * the core's loss detection (the renewal deadline stays the guarantee; the watch only makes a
 * visible takeover faster), or report anything when watching is not allowed (RBAC without
 * `watch`) or the watch fails — then the next renewal finds the takeover, as before.
 *
 * @since 0.1.0
 */
import type { HeldLease } from "@leasekit/core/Lease"
import * as LeaseRecord from "@leasekit/core/LeaseRecord"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import { LeaseLostError } from "@leasekit/core/LeaseError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

/**
 * Succeeds, with the loss the watch showed (reason `Taken`, `Released` or `Deleted`, as the core
 * names them), once the lease's object shows that this tenure is over; never completes otherwise.
 *
 * @since 0.1.0
 * @category watching
 */
export const takenOver = (lease: Pick<HeldLease, "key" | "holder" | "token">): Effect.Effect<LeaseLostError, never, LeaseStore.LeaseStore> =>
  Effect.gen(function*() {
    const store = yield* LeaseStore.LeaseStore
    const ours = (state: Option.Option<LeaseRecord.LeaseRecord>) =>
      Option.isSome(state) && state.value.holder === lease.holder && (state.value.transitions ?? 0) === lease.token
    const lossOf = (state: Option.Option<LeaseRecord.LeaseRecord>) =>
      new LeaseLostError({
        key: lease.key,
        holder: lease.holder,
        reason: Option.match(state, {
          onNone: () => ({ _tag: "Deleted" }) as const,
          onSome: (record) => LeaseRecord.isHeld(record) ? { _tag: "Taken", by: record.holder! } as const : { _tag: "Released" } as const
        })
      })
    const found = yield* store.watch(lease.key).pipe(
      Stream.filter((state) => !ours(state)),
      Stream.map(lossOf),
      Stream.runHead,
      Effect.orElseSucceed(() => Option.none<LeaseLostError>())
    )
    return Option.isSome(found) ? found.value : yield* Effect.never
  })
