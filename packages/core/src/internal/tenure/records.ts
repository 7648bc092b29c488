/**
 * The records a tenure writes besides renewals: the released lease (client-go's convention: no
 * holder, duration 1, the counter kept) with or without a handoff's reservation, and a renewal's
 * metadata without a handoff request.
 *
 * Guarantees: a released record carries no handoff annotation but the reservation of a handoff to
 * `to`; `strategy` and `preferredHolder` are kept as read (a handoff never writes `preferredHolder`).
 * Does not: write anything (the tenure does, by compare-and-swap).
 *
 * @internal
 */
import type { LeaseMetadata, LeaseRecord, LeaseSpec } from "../../LeaseRecord.ts"
import { Annotations, withoutHandoffAnnotations } from "../../LeaseRecord.ts"
import { carried } from "../attempt.ts"

/** The spec of a released lease, as client-go writes it: no holder, duration 1, the counter kept;
 * `strategy` and `preferredHolder` as `from` has them. A handoff does not write `preferredHolder`:
 * the API server accepts it only together with `strategy` (a coordinated lease, which leasekit never
 * writes), and rejects the whole write otherwise where it knows the field — the reservation is the
 * `leasekit.io/handoff-to` annotation alone. */
export const releasedSpec = (now: number, transitions: number, from: LeaseSpec): LeaseSpec => {
  const { preferredHolder, strategy } = carried(from)
  const preferred = preferredHolder
  return {
    holder: "",
    durationSeconds: 1,
    acquireTime: now,
    renewTime: now,
    transitions,
    ...(strategy === undefined ? {} : { strategy }),
    ...(preferred === undefined ? {} : { preferredHolder: preferred })
  }
}

/** The metadata of a released lease: no handoff annotations (a request dies with the tenure it
 * asked), except, for a handoff to `to`, the reservation for `to` for `windowSeconds`. */
export const releasedMetadata = (from: LeaseRecord, to: string | undefined, windowSeconds: number): LeaseMetadata => {
  const kept = withoutHandoffAnnotations(from.metadata.annotations)
  const annotations = to === undefined
    ? kept
    : { ...kept, [Annotations.handoffTo]: to, [Annotations.handoffWindowSeconds]: String(windowSeconds) }
  return { ...from.metadata, ...(annotations === undefined ? {} : { annotations }) }
}

/** The metadata of a renewal that drops a handoff request (refused or expired). */
export const withoutRequest = (from: LeaseRecord): LeaseMetadata => {
  const { [Annotations.handoffRequest]: _dropped, ...rest } = from.metadata.annotations ?? {}
  return { ...from.metadata, annotations: rest }
}
