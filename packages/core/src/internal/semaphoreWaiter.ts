/**
 * A semaphore contender's wait in the queue (`acquire` when no permit can be taken without
 * queueing): hold a ticket, append it to the head's queue (compare-and-swap), and wait — one list,
 * then the watches of the head and the permits (the first 32) keep the view up to date, a watch used
 * only once it has caught up with the list, with a list again every `retryPeriod` and after every
 * take that did not succeed. Eligible (`rank < free`), the waiter tries the one permit of its rank
 * (`free[rank]`; the ones before it are for the waiters ahead); not taken, it pauses (a short random
 * moment after a lost race, `retryPeriod` after a failure) and judges afresh.
 *
 * Guarantees: a failed, timed-out or interrupted wait removes its entry (best effort, pruning entries
 * judged dead on the last list) and deletes its ticket before it answers; a served one does that in
 * the background. A waiter whose calls fail for `renewDeadline` gives its ticket up; pruned, it
 * queues again at the end with a new ticket. An entry enqueued after the last list is never judged
 * dead on the strength of that list.
 * Does not: take a permit itself (the contender's `takePermit` does, and re-reads the head), or run
 * one at a time with the contender's other calls (the contender's lock does).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { LeaseService } from "../Lease.ts"
import { LeaseAcquisitionError } from "../LeaseError.ts"
import type * as LeaseOptions from "../LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "../LeaseRecord.ts"
import type { HeldPermit } from "../LeaseSemaphore.ts"
import { isTransient, type LeaseStoreError, type LeaseStoreService } from "../LeaseStore.ts"
import type { Memory } from "./observations.ts"
import { monotonicMillis } from "./observations.ts"
import * as Layout from "./semaphore.ts"
import { withFlag } from "./semaphoreParts.ts"

/** What a waiter uses of its semaphore contender. */
export interface WaiterContext {
  readonly service: LeaseService
  /** The contender's store, its calls bounded by `requestTimeout`. */
  readonly store: LeaseStoreService
  readonly memory: Memory
  readonly options: LeaseOptions.ResolvedLeaseOptions
  readonly key: LeaseKey
  readonly holder: string
  /** The options of the contender's leases (a ticket's name and flag are added). */
  readonly base: LeaseOptions.LeaseOptions
  readonly storeError: (error: LeaseStoreError | LeaseAcquisitionError) => LeaseAcquisitionError
  /** Retries a step on transient store failures every `retryPeriod`. */
  readonly retryTransient: <A>(self: Effect.Effect<A, LeaseAcquisitionError>) => Effect.Effect<A, LeaseAcquisitionError>
  /** Takes permit `index` if it can (see the contender). */
  readonly takePermit: (index: number) => Effect.Effect<Option.Option<HeldPermit>, LeaseAcquisitionError>
  /** The semaphore as it is now (a list), judged. */
  readonly view: Effect.Effect<Layout.View, LeaseAcquisitionError>
}

/** Eight random hex digits: a ticket's suffix. */
const hex8 = Effect.gen(function*() {
  let out = ""
  for (let i = 0; i < 8; i++) out += (yield* Random.nextIntBetween(0, 16)).toString(16)
  return out
})

/** Removes `ticket` from the queue, with the entries this process last judged dead. Best effort. */
const leave = ({ key, store }: WaiterContext, ticket: string, dead: ReadonlySet<string>) =>
  Effect.gen(function*() {
    yield* Layout.writeHead(store, key, (head) =>
      Effect.succeed(
        head.queue.some((e) => e.w === ticket || dead.has(e.w))
          ? { permits: head.permits, queue: head.queue.filter((e) => e.w !== ticket && !dead.has(e.w)), result: undefined }
          : { skip: undefined }
      ))
  }).pipe(
    Effect.catch((error) => Effect.logDebug(`leaving the queue of ${key.name} failed (the ticket's release still ends the entry): ${error.message}`))
  )

const append = ({ holder, key, store, storeError }: WaiterContext, ticket: string, dead: ReadonlySet<string>) =>
  Layout.writeHead(store, key, (head) => {
    if (head.queue.some((e) => e.w === ticket)) return Effect.succeed({ skip: undefined })
    const kept = head.queue.filter((e) => !dead.has(e.w))
    if (kept.length >= Layout.maxQueue) {
      return Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "QueueFull", waiting: kept.length } }))
    }
    return Effect.succeed({ permits: head.permits, queue: [...kept, { h: holder, w: ticket }], result: undefined })
  }).pipe(Effect.mapError(storeError))

/** Appends `ticket` to the queue; a full queue is first pruned of the entries judged dead. */
const enqueue = (ctx: WaiterContext, ticket: string) =>
  append(ctx, ticket, new Set()).pipe(
    Effect.catchIf((error) => error.reason._tag === "QueueFull", () =>
      Effect.flatMap(ctx.view, (v) => append(ctx, ticket, new Set(v.entries.filter((e) => !e.live).map((e) => e.entry.w)))))
  )

/**
 * Waits in the queue (see the module header). The queue entry, the ticket and the watches live
 * in a scope of their own: when the wait fails, times out or is interrupted it is closed before
 * the acquire answers (nothing left behind); when a permit was taken it is closed in the
 * background — leaving the queue (a compare-and-swap on a busy head) and deleting the ticket
 * need not delay the holder, and waiters do not count an entry whose holder holds a permit.
 */
export const queued = (ctx: WaiterContext, lastHolder: Ref.Ref<string | undefined>) =>
  Effect.flatMap(Scope.make(), (waiting) =>
    waitInQueue(ctx, lastHolder).pipe(
      Scope.provide(waiting),
      Effect.onExit((exit) =>
        Exit.isSuccess(exit)
          // Detached: the cleanup is bounded (store calls with timeouts) and must finish even
          // when the contender's scope closes first (a one-shot acquire): a fiber forked into
          // that scope would be interrupted, leaving the ticket renewed and the entry live.
          ? Effect.asVoid(Effect.forkDetach(Scope.close(waiting, Exit.void)))
          : Scope.close(waiting, exit)
      )
    ))

const waitInQueue = (ctx: WaiterContext, lastHolder: Ref.Ref<string | undefined>) =>
  Effect.gen(function*() {
    const { base, key, memory, options, retryTransient, service, store, storeError, takePermit } = ctx
    const waitingScope = yield* Scope.Scope
    /** A ticket: a lease of this waiter's, named afresh for every entry it appends (an entry
     * appended again after a prune must not be judged by what others listed of the old one). */
    const takeTicket = Effect.gen(function*() {
      const name = `${key.name}-w-${yield* hex8}`
      const made = yield* service.contender(
        withFlag({ ...base, name, releaseMode: "delete" }, { semaphore: key.name, part: "waiter" })
      ).pipe(Effect.orDie, Scope.provide(waitingScope))
      yield* made.acquire()
      return { name, contender: made }
    })
    let ticket = yield* takeTicket
    // Registered before the append (which may land even if its answer is lost); runs before
    // the ticket's release (finalizers run in reverse order).
    let lastDead: ReadonlySet<string> = new Set()
    yield* Effect.addFinalizer(() => leave(ctx, ticket.name, lastDead))

    // A waiter that cannot reach the store keeps nobody waiting: after renewDeadline of failed
    // calls (lists, its enqueue) it gives its ticket up — its entry is dead to others at once —
    // and takes it again once calls work (in its place, unless someone pruned the entry
    // meanwhile: then it queues again at the end, with a new ticket).
    let failingSince: number | undefined = undefined
    const whileFailing = <A>(self: Effect.Effect<A, LeaseAcquisitionError>) =>
      self.pipe(
        Effect.tap(() => Effect.sync(() => (failingSince = undefined))),
        Effect.tapError((error) =>
          error.reason._tag === "Store" && isTransient(error.reason.error)
            ? Effect.gen(function*() {
              const now = yield* monotonicMillis
              failingSince ??= now
              if (now - failingSince >= Duration.toMillis(options.renewDeadline)) {
                const ticketNow = yield* ticket.contender.current
                if (Option.isSome(ticketNow) && (yield* ticketNow.value.isHeld)) {
                  yield* Effect.logWarning(`calls to semaphore ${key.name} keep failing; giving up its place in the queue until they work`)
                  yield* Effect.ignore(ticket.contender.release)
                }
              }
            })
            : Effect.void
        ),
        retryTransient
      )
    yield* whileFailing(enqueue(ctx, ticket.name))

    // What this waiter knows of the semaphore's objects: one list, kept up to date by the watches
    // of the head and the permits between lists (every `retryPeriod`, and after a race lost or
    // a failed take). A watch is used only once it has delivered the state the last list read
    // for its key (a lagging watch's backlog is older than the list). A stale state is only
    // ever conservative or caught by the write it leads to (a lost race, the head's re-read).
    const known = new Map<string, LeaseRecord>()
    let listedAt: number | undefined = undefined
    // The entries the last list saw. An entry the head's watch shows since was enqueued after
    // that list: its ticket was written before it (so it is live), but the list did not see it
    // — it is never judged dead (nor pruned) on the strength of that list.
    let listed: ReadonlySet<string> = new Set()
    // Per watched key: the version the last list read (`null`: absent), until the watch
    // delivers it (then `undefined`: caught up); and the watch's latest states, to tell a watch
    // ahead of the list (it delivered the listed version already) from one behind it.
    const awaited = new Map<string, string | null | undefined>()
    const delivered = new Map<string, Array<Option.Option<LeaseRecord>>>()
    const versionOf = (state: Option.Option<LeaseRecord> | undefined) =>
      state === undefined ? null : Option.isSome(state) ? state.value.version : null
    const apply = (name: string, state: Option.Option<LeaseRecord>) => {
      if (Option.isSome(state)) known.set(name, state.value)
      else known.delete(name)
    }
    const wakeups = yield* Queue.sliding<void>(1)
    const watched = new Set<string>()
    const watch = (k: LeaseKey) =>
      watched.has(k.name) ? Effect.void : Effect.suspend(() => {
        watched.add(k.name)
        awaited.set(k.name, known.get(k.name)?.version ?? null)
        delivered.set(k.name, [])
        return store.watch(k).pipe(
          Stream.runForEach((state) =>
            Effect.suspend(() => {
              const history = delivered.get(k.name)!
              history.push(state)
              if (history.length > 16) history.shift()
              const waitingFor = awaited.get(k.name)
              if (waitingFor !== undefined) {
                if (waitingFor !== versionOf(state)) {
                  // Not caught up with the list (behind it, or ahead of an older list): the
                  // state is not used, but something changed — read afresh.
                  listedAt = undefined
                  return Queue.offer(wakeups, undefined)
                }
                awaited.set(k.name, undefined)
              }
              apply(k.name, state)
              return Queue.offer(wakeups, undefined)
            })
          ),
          Effect.ignore,
          Effect.forkIn(waitingScope),
          Effect.asVoid
        )
      })
    const list = Effect.gen(function*() {
      const records = yield* store.list(key.namespace).pipe(Effect.mapError(storeError))
      known.clear()
      for (const [name, record] of Layout.ownRecords(key, records)) known.set(name, record)
      for (const name of watched) {
        const listedVersion = known.get(name)?.version ?? null
        const history = delivered.get(name) ?? []
        if (history.some((state) => versionOf(state) === listedVersion)) {
          // The watch delivered the listed state already: it is at or ahead of the list.
          awaited.set(name, undefined)
          apply(name, history[history.length - 1]!)
        } else {
          awaited.set(name, listedVersion)
        }
      }
      const listedHead = known.get(key.name)
      const head = listedHead === undefined ? Option.none() : yield* Effect.option(Layout.parseHead(key, listedHead))
      listed = new Set(Option.isSome(head) ? head.value.queue.map((e) => e.w) : [])
      listedAt = yield* monotonicMillis
    })
    const retryPeriodMillis = Duration.toMillis(options.retryPeriod)
    const judgeKnown = Effect.flatMap(
      Layout.judgeView(memory, options, key, known),
      (v) => Option.isSome(v) ? Effect.succeed(v.value) : Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
    )
    let races = 0
    yield* whileFailing(list)
    yield* watch(key)
    while (true) {
      const started = yield* monotonicMillis
      if (listedAt === undefined || started - listedAt >= retryPeriodMillis) yield* whileFailing(list)
      const v = yield* judgeKnown
      const live = (e: Layout.EntryView) => e.live || !listed.has(e.entry.w)
      lastDead = new Set(v.entries.filter((e) => !live(e)).map((e) => e.entry.w))
      for (let i = 0; i < Math.min(v.head.permits, 32); i++) yield* watch(Layout.permitKey(key, i))
      const held = Layout.holdersOf(v)
      if (held.length > 0) yield* Ref.set(lastHolder, held[0]!.holder)
      const position = v.entries.findIndex((e) => e.entry.w === ticket.name)
      if (position < 0) {
        // Someone pruned our entry (judged it dead on its clock): queue again, at the end, with
        // a new ticket.
        const old = ticket
        ticket = yield* takeTicket
        yield* Effect.ignore(old.contender.release)
        yield* whileFailing(enqueue(ctx, ticket.name))
        listedAt = undefined
        continue
      }
      // A ticket lost (renewals failed for renewDeadline, or given up) is taken again.
      const ticketHeld = yield* Effect.flatMap(ticket.contender.current, (t) => Option.isSome(t) ? t.value.isHeld : Effect.succeed(false))
      if (!ticketHeld) {
        yield* ticket.contender.acquire()
        listedAt = undefined
        continue
      }
      // Entries ahead that already hold a permit were served (their removal may lag).
      const served = new Set(held.map((h) => h.holder))
      const rank = v.entries.slice(0, position).filter((e) => live(e) && !served.has(e.entry.h)).length
      if (rank < v.free.length) {
        // Only the permit of this waiter's rank: the ones before it are for the waiters ahead.
        // Not taken (a race lost, a failure): what this waiter knew was stale — it reads
        // afresh, after a pause (random and short after a race, retryPeriod after a failure).
        const index = v.free[rank]!
        const taken = yield* takePermit(index).pipe(
          Effect.map((taken) => ({ taken, failed: false })),
          Effect.catchIf(
            (error) => error.reason._tag === "Store" && isTransient(error.reason.error),
            (error) =>
              Effect.as(Effect.logDebug(`taking permit ${index} failed, judging again: ${error.message}`), { taken: Option.none<HeldPermit>(), failed: true })
          )
        )
        if (Option.isSome(taken.taken)) return taken.taken.value
        races = Math.min(races + 1, 6)
        yield* Effect.sleep(taken.failed ? options.retryPeriod : Duration.millis(yield* Random.nextIntBetween(0, 4 * 2 ** races)))
        listedAt = undefined
        continue
      }
      races = 0
      const expiry = Layout.nextExpiry(v)
      const untilList = Duration.millis(Math.max(0, retryPeriodMillis - ((yield* monotonicMillis) - (listedAt ?? 0))))
      const wait = expiry === undefined ? untilList : Duration.min(expiry, untilList)
      yield* Queue.take(wakeups).pipe(Effect.timeoutOption(wait))
    }
  })

