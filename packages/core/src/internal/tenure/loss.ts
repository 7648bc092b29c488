/**
 * How a tenure ends against its will: `Loss`, the renewal outcome that ends it, and `lossOf`, which
 * reads one from a record read back.
 *
 * Guarantees: a deleted object, a cleared holder and a lease the API server's coordinator took over
 * (`spec.strategy` set) are each a loss; a record that still names a holder is not (`lossOf` does not
 * compare holders or tokens — the tenure does).
 * Does not: declare the loss (the tenure does, once).
 *
 * @internal
 */
import * as Option from "effect/Option"
import type { LossReason } from "../../LeaseError.ts"
import type { LeaseRecord } from "../../LeaseRecord.ts"
import type { LeaseStoreError } from "../../LeaseStore.ts"
import { isHeld } from "../../LeaseRecord.ts"
import { strategyOf } from "../attempt.ts"

/** A renewal outcome that ends the tenure. */
export class Loss {
  readonly _tag = "Loss"
  readonly reason: LossReason
  readonly cause: LeaseStoreError | undefined
  constructor(reason: LossReason, cause?: LeaseStoreError) {
    this.reason = reason
    this.cause = cause
  }
}

/** The loss a record read back shows, if any: deleted, released, or taken over by a coordinator. */
export const lossOf = (record: Option.Option<LeaseRecord>): Loss | undefined => {
  if (Option.isNone(record)) return new Loss({ _tag: "Deleted" })
  if (!isHeld(record.value)) return new Loss({ _tag: "Released" })
  // The API server's coordinator took the lease over (`spec.strategy` set while we held it):
  // leasekit never writes a coordinated lease — no renewal, no release — so the tenure ends here.
  const strategy = strategyOf(record.value)
  return strategy === undefined ? undefined : new Loss({ _tag: "Coordinated", strategy })
}
