/**
 * A semaphore contender (see `LeaseSemaphore.ts` for what it promises): one identity, at most one
 * permit at a time, over the `Lease` service's contenders — one per permit index it tries, one per
 * waiter ticket — so that every permit and ticket is acquired, renewed, guarded, lost and released
 * by the one tenure machinery.
 *
 * `acquire`: take a permit without queueing when nobody live is queued and one is free (as
 * `tryAcquire`); otherwise hold a ticket, append it to the head's queue (compare-and-swap), and
 * wait: one list, then the watches of the head and the permits (the first 32) keep the view up to
 * date — a watch used only once it has caught up with the list — with a list again every
 * `retryPeriod` and after every take that did not succeed. Eligible (`rank < free`), the waiter
 * tries the one permit of its rank (`free[rank]`; the ones before it are for the waiters ahead);
 * not taken, it pauses (a short random moment after a lost race, `retryPeriod` after a failure)
 * and judges afresh. After taking permit `i` the head is read again: `N ≤ i` (or a deadline
 * passed) releases it and the wait goes on (a withdrawn permit is never handed out). A failed,
 * timed-out or interrupted wait removes its entry (best effort, pruning entries judged dead on
 * the last list) and deletes its ticket before it answers; a served one does that in the
 * background. A waiter whose calls fail for `renewDeadline` gives its ticket up; pruned, it
 * queues again at the end with a new ticket.
 *
 * Calls that change what the contender holds run one at a time.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import type { HeldLease, LeaseService } from "../Lease.ts"
import type { LeaseContender } from "../LeaseContender.ts"
import { InvalidLeaseOptions, LeaseAcquisitionError, type LeaseRelinquishmentError } from "../LeaseError.ts"
import * as LeaseOptions from "../LeaseOptions.ts"
import type { LeaseKey, LeaseRecord } from "../LeaseRecord.ts"
import { isTransient, type LeaseStoreError } from "../LeaseStore.ts"
import type { HeldPermit, SemaphoreContender, SemaphoreOptions, SemaphoreTryResult } from "../LeaseSemaphore.ts"
import { bounded } from "./boundedStore.ts"
import { monotonicMillis } from "./observations.ts"
import * as Layout from "./semaphore.ts"
import { memoryOf, partFlag, type PartFlagValue } from "./semaphoreParts.ts"

/** Validates the semaphore's own options: N, and that every object's name fits. */
export const validate = (options: SemaphoreOptions): Effect.Effect<void, InvalidLeaseOptions> =>
  Effect.gen(function*() {
    const permits = options.permits
    if (permits !== undefined && !(Number.isInteger(permits) && permits >= 1 && permits <= Layout.maxPermits)) {
      return yield* Effect.fail(
        new InvalidLeaseOptions({ field: "permits", value: permits, rule: `must be a whole number from 1 to ${Layout.maxPermits}` })
      )
    }
    // The longest names: a ticket `NAME-w-xxxxxxxx` (11 more) and permit `NAME-999` (4 more).
    if (typeof options.name === "string" && options.name.length + 11 > 253) {
      return yield* Effect.fail(
        new InvalidLeaseOptions({
          field: "name",
          value: options.name,
          rule: "must be at most 242 characters for a semaphore: its waiters' tickets are named NAME-w-xxxxxxxx, and lease names are at most 253 characters"
        })
      )
    }
  })

/** Validates a permit count given to `resize`. */
export const validatePermits = (permits: number) =>
  Number.isInteger(permits) && permits >= 1 && permits <= Layout.maxPermits
    ? Effect.void
    : Effect.fail(new InvalidLeaseOptions({ field: "permits", value: permits, rule: `must be a whole number from 1 to ${Layout.maxPermits}` }))

const withFlag = (options: LeaseOptions.LeaseOptions, flag: PartFlagValue): LeaseOptions.LeaseOptions => {
  const flagged: LeaseOptions.LeaseOptions & { readonly [partFlag]: PartFlagValue } = { ...options, [partFlag]: flag }
  return flagged
}

const hex8 = Effect.gen(function*() {
  let out = ""
  for (let i = 0; i < 8; i++) out += (yield* Random.nextIntBetween(0, 16)).toString(16)
  return out
})

interface Current {
  readonly permit: HeldPermit
  readonly contender: LeaseContender
}

/** Makes a semaphore contender in the current scope. */
export const make = (
  service: LeaseService,
  input: SemaphoreOptions
): Effect.Effect<SemaphoreContender, InvalidLeaseOptions, Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(input)
    const options = yield* LeaseOptions.resolve(input)
    const { key, holder } = options
    const permitsOption = input.permits
    const scope = yield* Scope.Scope
    const store = bounded(service.store, options.requestTimeout)
    const memory = memoryOf(service)
    const lock = yield* Semaphore.make(1)
    const current = yield* Ref.make(Option.none<Current>())
    const permitContenders = new Map<number, LeaseContender>()
    const { permits: _permits, ...leaseInput } = input as SemaphoreOptions & { readonly timeout?: unknown }
    const base: LeaseOptions.LeaseOptions = { ...leaseInput, holder }
    let warned = false

    const storeError = (error: LeaseStoreError | LeaseAcquisitionError): LeaseAcquisitionError =>
      error._tag === "LeaseAcquisitionError" ? error : new LeaseAcquisitionError({ key, reason: { _tag: "Store", error }, cause: error })

    /** A waiting acquire rides out transient store failures (`Unavailable`, `Timeout`): the step
     * is tried again from a fresh read every `retryPeriod`, as a single lease's wait does. */
    const retryTransient = <A>(self: Effect.Effect<A, LeaseAcquisitionError>) =>
      self.pipe(Effect.retry({
        schedule: Schedule.spaced(options.retryPeriod),
        while: (error) => error.reason._tag === "Store" && isTransient(error.reason.error)
      }))

    const permitContender = (index: number) =>
      Effect.suspend(() => {
        const known = permitContenders.get(index)
        if (known !== undefined) return Effect.succeed(known)
        const name = Layout.permitKey(key, index).name
        // A permit is not handed to a named successor: a request would reserve it for someone
        // outside the queue (plain contenders are refused on permits) and stall it for a window.
        // Released by clearing, never deleted: a permit's token must keep increasing.
        return service.contender(
          withFlag({ ...base, name, handoffRequests: "refuse", releaseMode: "clear" }, { semaphore: key.name, part: "permit" })
        ).pipe(
          Effect.orDie,
          Scope.provide(scope),
          Effect.tap((made) => Effect.sync(() => permitContenders.set(index, made)))
        )
      })

    /** The head as it is now, created with `permits` when absent. */
    const ensureHead: Effect.Effect<Layout.Head, LeaseAcquisitionError> = Effect.gen(function*() {
      while (true) {
        const state = yield* store.get(key).pipe(Effect.mapError(storeError))
        if (Option.isSome(state)) {
          const head = yield* Layout.parseHead(key, state.value)
          if (permitsOption !== undefined && permitsOption !== head.permits && !warned) {
            warned = true
            yield* Effect.logWarning(
              `semaphore ${key.namespace}/${key.name} has ${head.permits} permits, not the ${permitsOption} asked for: its head's count wins; change it with resize`
            )
          }
          return head
        }
        if (permitsOption === undefined) {
          return yield* Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
        }
        const created = yield* Layout.createHead(store, key, permitsOption).pipe(
          Effect.as(true),
          Effect.catchIf((e) => e.reason === "AlreadyExists", () => Effect.succeed(false)),
          Effect.mapError(storeError)
        )
        if (created) continue
      }
    })

    const view = Effect.flatMap(
      Layout.readView(store, memory, options, key).pipe(Effect.mapError(storeError)),
      (v) => Option.isSome(v) ? Effect.succeed(v.value) : Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "NoSuchSemaphore" } }))
    )

    /** Tells a permit's holder when a resize withdraws it: watches the head (and polls every
     * retryPeriod) while the permit is held. */
    const watchWithdrawal = (held: HeldLease, index: number, withdrawn: Deferred.Deferred<void>) => {
      const check = (state: Option.Option<LeaseRecord>) =>
        Option.isSome(state) && Layout.parsePermitCount(state.value) !== undefined &&
          Layout.parsePermitCount(state.value)! <= index
          ? Deferred.succeed(withdrawn, undefined)
          : Effect.succeed(false)
      const watching = store.watch(key).pipe(
        Stream.runForEach((state) => Effect.asVoid(check(state))),
        Effect.ignore,
        Effect.andThen(Effect.never)
      )
      const polling = Effect.gen(function*() {
        while ((yield* held.isHeld) && !(yield* Deferred.isDone(withdrawn))) {
          const state = yield* Effect.option(store.get(key))
          if (Option.isSome(state)) yield* check(state.value)
          yield* Effect.sleep(options.retryPeriod)
        }
      })
      return Effect.raceFirst(polling, watching).pipe(Effect.forkIn(scope), Effect.asVoid)
    }

    /**
     * Takes permit `index` if it can (one attempt of its contender), then re-reads the head: a
     * permit withdrawn meanwhile is released and not handed out. Uninterruptible: a permit taken
     * is either handed out (and `current`) or released.
     */
    const takePermit = (
      index: number,
      unqueued?: ReadonlySet<string>
    ): Effect.Effect<Option.Option<HeldPermit>, LeaseAcquisitionError> =>
      Effect.uninterruptible(Effect.gen(function*() {
        const pc = yield* permitContender(index)
        const result = yield* pc.tryAcquire.pipe(
          // Another semaphore's object under a permit's name (its head `NAME-i`): not ours to take.
          // Races lost again and again (`Contended`): others took it; judge afresh.
          Effect.catchIf((error) => error.reason._tag === "Semaphore" || error.reason._tag === "Contended", () => Effect.succeed(undefined))
        )
        if (result === undefined || result._tag !== "Acquired") return Option.none()
        // A failed read hands nothing out: the permit is released (rule 4 — an acquisition that
        // does not succeed leaves nothing held).
        const head = yield* store.get(key).pipe(Effect.mapError(storeError), Effect.tapError(() => Effect.ignore(pc.release)))
        const parsed = Option.isSome(head) ? Option.getOrUndefined(yield* Effect.option(Layout.parseHead(key, head.value))) : undefined
        const permits = parsed?.permits
        if (permits === undefined || permits <= index) {
          yield* Effect.logDebug(`permit ${index} was withdrawn (N is now ${permits ?? "gone"}) while it was taken; releasing it`)
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        // Taken without queueing: a waiter that enqueued after our read came first (no barging).
        if (unqueued !== undefined && parsed!.queue.some((e) => !unqueued.has(e.w) && e.h !== holder)) {
          yield* Effect.logDebug(`a waiter enqueued while permit ${index} was taken without queueing; releasing it`)
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        // Rule 3: never hand out a permit whose deadline passed while it was being taken.
        if (!(yield* result.lease.isHeld)) {
          yield* Effect.ignore(pc.release)
          return Option.none()
        }
        const withdrawn = yield* Deferred.make<void>()
        const { handoff: _handoff, handoffRequested: _requested, ...lease } = result.lease
        const permit: HeldPermit = { ...lease, semaphore: key, permit: index, withdrawn: Deferred.await(withdrawn) }
        yield* watchWithdrawal(result.lease, index, withdrawn)
        yield* Ref.set(current, Option.some({ permit, contender: pc }))
        return Option.some(permit)
      }))

    /** The permit held now, if it is still held. */
    const live = Effect.gen(function*() {
      const now = yield* Ref.get(current)
      if (Option.isSome(now) && (yield* now.value.permit.isHeld)) return Option.some(now.value.permit)
      return Option.none<HeldPermit>()
    })

    /** Without queueing: a free permit when no live waiter (other than us) is queued. */
    const attemptUnqueued = Effect.gen(function*() {
      const v = yield* view
      const waiting = v.entries.filter((e) => e.live && e.entry.h !== holder).length
      if (waiting === 0) {
        const seen = new Set(v.entries.map((e) => e.entry.w))
        for (const index of v.free) {
          const taken = yield* takePermit(index, seen)
          if (Option.isSome(taken)) return { _tag: "Acquired", permit: taken.value } as const
        }
      }
      return { _tag: "Full", permits: v.head.permits, holders: Layout.holdersOf(v), waiting } as const
    })

    /** Rule 4: an acquisition that does not succeed (fails, times out, is interrupted) leaves no
     * permit held — a permit it took is released. */
    const handingOut = <A>(self: Effect.Effect<A, LeaseAcquisitionError>) =>
      Effect.flatMap(Ref.get(current), (before) =>
        self.pipe(Effect.onExit((exit) =>
          Exit.isSuccess(exit) ? Effect.void : Effect.flatMap(Ref.get(current), (now) =>
            Option.isSome(now) && (Option.isNone(before) || now.value !== before.value)
              ? Effect.ignore(now.value.contender.release)
              : Effect.void)
        )))

    const tryAcquire: Effect.Effect<SemaphoreTryResult, LeaseAcquisitionError> = lock.withPermit(handingOut(
      Effect.gen(function*() {
        const held = yield* live
        if (Option.isSome(held)) return { _tag: "Acquired", permit: held.value } as const
        yield* ensureHead
        return yield* attemptUnqueued
      })
    ))

    /** Removes `ticket` from the queue, with the entries this process last judged dead. Best effort. */
    const leave = (ticket: string, dead: ReadonlySet<string>) =>
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

    const append = (ticket: string, dead: ReadonlySet<string>) =>
      Layout.writeHead(store, key, (head) => {
        if (head.queue.some((e) => e.w === ticket)) return Effect.succeed({ skip: undefined })
        const kept = head.queue.filter((e) => !dead.has(e.w))
        if (kept.length >= Layout.maxQueue) {
          return Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "QueueFull", waiting: kept.length } }))
        }
        return Effect.succeed({ permits: head.permits, queue: [...kept, { h: holder, w: ticket }], result: undefined })
      }).pipe(Effect.mapError(storeError))

    /** Appends `ticket` to the queue; a full queue is first pruned of the entries judged dead. */
    const enqueue = (ticket: string) =>
      append(ticket, new Set()).pipe(
        Effect.catchIf((error) => error.reason._tag === "QueueFull", () =>
          Effect.flatMap(view, (v) => append(ticket, new Set(v.entries.filter((e) => !e.live).map((e) => e.entry.w)))))
      )

    /**
     * Waits in the queue (see the module header). The queue entry, the ticket and the watches live
     * in a scope of their own: when the wait fails, times out or is interrupted it is closed before
     * the acquire answers (nothing left behind); when a permit was taken it is closed in the
     * background — leaving the queue (a compare-and-swap on a busy head) and deleting the ticket
     * need not delay the holder, and waiters do not count an entry whose holder holds a permit.
     */
    const queued = (lastHolder: Ref.Ref<string | undefined>) =>
      Effect.flatMap(Scope.make(), (waiting) =>
        waitInQueue(lastHolder).pipe(
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

    const waitInQueue = (lastHolder: Ref.Ref<string | undefined>) =>
      Effect.gen(function*() {
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
        yield* Effect.addFinalizer(() => leave(ticket.name, lastDead))

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
        yield* whileFailing(enqueue(ticket.name))

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
            yield* whileFailing(enqueue(ticket.name))
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

    const acquire = (timeout?: Duration.Duration): Effect.Effect<HeldPermit, LeaseAcquisitionError> => {
      const lastHolder = Ref.makeUnsafe<string | undefined>(undefined)
      const acquiring = lock.withPermit(handingOut(Effect.gen(function*() {
        const held = yield* live
        if (Option.isSome(held)) return held.value
        yield* retryTransient(ensureHead)
        const first = yield* retryTransient(attemptUnqueued)
        if (first._tag === "Acquired") return first.permit
        if (first.holders.length > 0) yield* Ref.set(lastHolder, first.holders[0]!.holder)
        return yield* queued(lastHolder)
      })))
      // The timeout covers the wait for the contender's lock too.
      return timeout === undefined ? acquiring : acquiring.pipe(
        Effect.timeoutOrElse({
          duration: timeout,
          orElse: () =>
            Effect.flatMap(Ref.get(lastHolder), (holder) =>
              Effect.fail(new LeaseAcquisitionError({ key, reason: { _tag: "Timeout", holder, waited: timeout } })))
        })
      )
    }

    // Not under the lock: a release waits for guarded work to stop, and that work's finalizer may
    // release too (the permit contender joins the two); a waiting acquire holds no permit.
    const release: Effect.Effect<void, LeaseRelinquishmentError> = Effect.gen(function*() {
      const now = yield* Ref.get(current)
      if (Option.isNone(now)) return
      yield* now.value.contender.release
      yield* Ref.update(current, (c) => Option.isSome(c) && c.value === now.value ? Option.none() : c)
    })

    return {
      key,
      holder,
      options,
      permits: permitsOption,
      acquire,
      tryAcquire,
      current: Effect.map(Ref.get(current), Option.map((c) => c.permit)),
      release
    } satisfies SemaphoreContender
  })
