/**
 * Figure 9's order of service, from the API server's own revisions (see `../Semaphore.ts` for
 * what is counted and why): each waiter's enqueues, removals and the permit write that served it,
 * and from them the jump of each queued acquisition, the waiters an unqueued one went ahead of,
 * the overtakes of each served waiter and whether it was requeued. Pure functions over revisions;
 * it trusts the revisions to be one etcd's (one order of all writes), which the figure ensures.
 */

/** One waiter (server revisions): the head writes that enqueued its ticket (more than one: it was
 * removed and queued again), those of other processes that removed its entry, and the permit
 * write that served it (undefined: never served, it waited to the end). */
export interface Waiter {
  readonly enqueues: ReadonlyArray<bigint>
  readonly removals: ReadonlyArray<bigint>
  readonly granted: bigint | undefined
  /** Its acquisition returned before the window ended (its jump and overtakes are counted). */
  readonly counted: boolean
}

/** The enqueue of the waiter's entry in the head at revision `at` (not removed since), if any. */
export const entryAt = (w: Waiter, at: bigint): bigint | undefined => {
  const enqueued = w.enqueues.filter((e) => e <= at).at(-1)
  if (enqueued === undefined || w.removals.some((r) => r > enqueued && r <= at)) return undefined
  return enqueued
}

/** Acquisitions as the server ordered them: the JUMP of each queued acquisition (waiters whose
 * entry was ahead of its own in the head, unserved when its permit was written), the waiters in
 * the queue that each acquisition WITHOUT a ticket went ahead of, and the OVERTAKES of each served
 * waiter (waiters first enqueued after its first enqueue, served before it). See the module header. */
export const serviceOrder = (
  waiters: ReadonlyArray<Waiter>,
  unqueued: ReadonlyArray<bigint>
): {
  readonly jumps: Array<number>
  readonly barged: Array<number>
  readonly overtakes: Array<number>
  /** Per served waiter (as `overtakes`): it queued more than once. */
  readonly requeued: Array<boolean>
} => {
  const waitingAhead = (granted: bigint, own: bigint) =>
    waiters.filter((w) => {
      const entry = entryAt(w, granted)
      return entry !== undefined && entry < own && (w.granted === undefined || w.granted > granted)
    }).length
  const served = waiters.filter((w): w is Waiter & { readonly granted: bigint } => w.granted !== undefined)
  const counted = served.filter((w) => w.counted)
  return {
    jumps: counted.map((x) => waitingAhead(x.granted, entryAt(x, x.granted) ?? x.enqueues.at(-1)!)),
    barged: unqueued.map((g) => waitingAhead(g, g)),
    overtakes: counted.map((w) => served.filter((x) => x.enqueues[0]! > w.enqueues[0]! && x.granted < w.granted).length),
    requeued: counted.map((w) => w.enqueues.length > 1)
  }
}

/** The etcd revision of a write: the Kubernetes store's record version is `resourceVersion/uid`. */
export const revision = (version: string | undefined): bigint | undefined => {
  const resourceVersion = version === undefined ? undefined : /^(\d+)(\/|$)/.exec(version)?.[1]
  return resourceVersion === undefined ? undefined : BigInt(resourceVersion)
}

