/**
 * Which objects belong to a semaphore, and who may take them ("kinds are not mixed").
 *
 * A semaphore `NAME` is made of leases told apart by annotations: the head (`semaphore-permits`,
 * `semaphore-queue`), its permits (`permit-of: NAME`) and its waiters' tickets (`waiter-of: NAME`).
 * A plain lease contender refuses every one of them (`attempt.ts`: no write, reason `Semaphore`);
 * only the semaphore's own contenders — whose options carry `partFlag`, which no public option
 * can set — take its permits and tickets, and their acquiring writes put the annotation on.
 *
 * A permit or ticket that does not exist yet (permits are created on first use) is told apart by
 * its name: before creating `NAME-<i>` or `NAME-w-<8 hex>`, a plain contender reads `NAME`, and
 * refuses when it is a semaphore's head (`semaphoreOfName`; one extra read, only for absent
 * records with such names).
 *
 * Guarantees: a plain contender never writes a semaphore's object it has read as one, nor creates
 * a permit or ticket of a semaphore whose head it could read. Does not guarantee: anything about
 * an object created before its semaphore's head (a plain lease named `NAME-0` is judged by its
 * holder, as any held lease, and counts as a holder of permit 0 until it is released).
 */
import type * as LeaseOptions from "../LeaseOptions.ts"
import type { LeaseRecord } from "../LeaseRecord.ts"
import type { Memory } from "./observations.ts"
import { makeMemory } from "./observations.ts"

/** The annotations of a semaphore's objects (see `LeaseSemaphore.Annotations`). */
export const annotations = {
  permits: "leasekit.io/semaphore-permits",
  queue: "leasekit.io/semaphore-queue",
  permitOf: "leasekit.io/permit-of",
  waiterOf: "leasekit.io/waiter-of"
} as const

/** What part of a semaphore an object is. */
export interface Part {
  readonly semaphore: string
  readonly part: "head" | "permit" | "waiter"
  readonly permit?: number | undefined
}

/** The internal option (never public) that lets a semaphore's contender onto its permit or ticket. */
export const partFlag: unique symbol = Symbol("leasekit/semaphore-part")

/** The flag a semaphore's contender carries: the part it takes. */
export interface PartFlagValue {
  readonly semaphore: string
  readonly part: "permit" | "waiter"
}

/** Options that may carry the flag. */
export interface Flagged {
  readonly [partFlag]?: PartFlagValue | undefined
}

/** `options` with the flag that lets a semaphore's contender onto its `flag.part`. */
export const withFlag = (options: LeaseOptions.LeaseOptions, flag: PartFlagValue): LeaseOptions.LeaseOptions => {
  const flagged: LeaseOptions.LeaseOptions & { readonly [partFlag]: PartFlagValue } = { ...options, [partFlag]: flag }
  return flagged
}

/** The flag of some options, if any. */
export const flagOf = (options: object): PartFlagValue | undefined => (options as Flagged)[partFlag]

const annotation = (record: LeaseRecord, name: string): string | undefined => {
  const value = record.metadata.annotations?.[name]
  return typeof value === "string" && value !== "" ? value : undefined
}

/** The part of a semaphore a record is, if any. */
export const partOf = (record: LeaseRecord): Part | undefined => {
  if (annotation(record, annotations.permits) !== undefined || annotation(record, annotations.queue) !== undefined) {
    return { semaphore: record.key.name, part: "head" }
  }
  const permitOf = annotation(record, annotations.permitOf)
  if (permitOf !== undefined) {
    const suffix = record.key.name.startsWith(`${permitOf}-`) ? record.key.name.slice(permitOf.length + 1) : ""
    return { semaphore: permitOf, part: "permit", permit: /^[0-9]+$/.test(suffix) ? Number(suffix) : undefined }
  }
  const waiterOf = annotation(record, annotations.waiterOf)
  if (waiterOf !== undefined) return { semaphore: waiterOf, part: "waiter" }
  return undefined
}

/** Why a contender with `options` must not take `record`: it is a semaphore's part that is not
 * the one its flag allows. */
export const refusal = (options: object, record: LeaseRecord): Part | undefined => {
  const part = partOf(record)
  if (part === undefined) return undefined
  const flag = flagOf(options)
  if (flag !== undefined && flag.part === part.part && flag.semaphore === part.semaphore) return undefined
  return part
}

/** The semaphore a name would be a part of (`NAME-<i>`: permit i; `NAME-w-<8 hex>`: a ticket),
 * as a candidate head name; `undefined` for names of neither shape. */
export const semaphoreOfName = (name: string): Part | undefined => {
  const ticket = /^(.+)-w-[0-9a-f]{8}$/.exec(name)
  if (ticket !== null) return { semaphore: ticket[1]!, part: "waiter" }
  const permit = /^(.+)-(0|[1-9][0-9]{0,3})$/.exec(name)
  if (permit !== null) return { semaphore: permit[1]!, part: "permit", permit: Number(permit[2]) }
  return undefined
}

/** The annotation an acquiring write of a flagged contender puts on its object. */
export const flagAnnotations = (options: object): Readonly<Record<string, string>> => {
  const flag = flagOf(options)
  if (flag === undefined) return {}
  return { [flag.part === "permit" ? annotations.permitOf : annotations.waiterOf]: flag.semaphore }
}

/** The key under which a `Lease` service keeps its observation memory for the semaphore (a
 * property no public type names). */
export const serviceMemory: unique symbol = Symbol("leasekit/service-memory")

const fallbackMemories = new WeakMap<object, Memory>()

/** The observation memory of a `Lease` service: its own (made by `Lease.make`), or — for a service
 * implemented elsewhere — one kept for that service object. */
export const memoryOf = (service: object): Memory => {
  const own = (service as { readonly [serviceMemory]?: Memory })[serviceMemory]
  if (own !== undefined) return own
  const known = fallbackMemories.get(service)
  if (known !== undefined) return known
  const made = makeMemory()
  fallbackMemories.set(service, made)
  return made
}
