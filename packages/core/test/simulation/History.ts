/**
 * The recorded history of one schedule: every event the checker judges and the trace shows.
 *
 * Events are stamped with the TRUE virtual time (the shared `TestClock`, never a contender's
 * drifted clock) and a sequence number. The simulation runs in one thread, so the sequence is a
 * total order consistent with time: two events at the same instant are ordered by `seq`, and the
 * checker uses that order. Contenders are named `c1`…`c5`; `admin` marks out-of-protocol writes.
 *
 * Guarantees: events are appended in the order they happened, and a history is a plain value
 * (no Effect, no clock) once the run ends. Does not guarantee: that it holds everything core did
 * internally — only what the public API, the store and the harness showed.
 */

/** A store record as the trace shows it. */
export interface RecordView {
  readonly holder: string
  readonly transitions: number
  readonly version: string
  readonly durationSeconds: number | undefined
  /** A free record reserved for a handoff's successor (`leasekit.io/handoff-to`), and the window
   * its last holder declared (`leasekit.io/handoff-window-seconds`, as a number). */
  readonly handoffTo?: string
  readonly handoffWindowSeconds?: number | undefined
  /** A held record whose holder is asked to hand it over (`leasekit.io/handoff-request`). */
  readonly handoffRequest?: string
  /** A semaphore's head: N (`leasekit.io/semaphore-permits`) and its queue in order (holder, ticket). */
  readonly semPermits?: number
  readonly semQueue?: ReadonlyArray<{ readonly h: string; readonly w: string }>
}

export type OpKind = "acquire" | "tryAcquire" | "withLease" | "leader" | "contender" | "election"

export type EventBody =
  /** A blocking/one-shot acquisition began (`window` opens: writes naming us are expected). */
  | { readonly kind: "acquire-call"; readonly c: string; readonly key: string; readonly attempt: number; readonly op: OpKind; readonly detail: string; readonly blocking: boolean }
  /** It ended: `held` (a tenure follows), `none` (tryAcquire found it held), `failed`, `interrupted`. */
  | { readonly kind: "acquire-done"; readonly c: string; readonly key: string; readonly attempt: number; readonly outcome: "held" | "none" | "failed" | "interrupted"; readonly detail: string }
  | { readonly kind: "tenure-start"; readonly c: string; readonly key: string; readonly tenure: number; readonly attempt: number; readonly token: number; readonly via: OpKind; readonly handle?: number }
  | { readonly kind: "step"; readonly c: string; readonly key: string; readonly tenure: number; readonly token: number }
  /** The tenure's `lost` effect failed (observed by a fiber awaiting it). */
  | { readonly kind: "lost"; readonly c: string; readonly key: string; readonly tenure: number; readonly reason: string }
  /** The user stops the tenure: explicit `release` called, or the scope is being closed. */
  | { readonly kind: "release-begin"; readonly c: string; readonly key: string; readonly tenure: number; readonly how: "release" | "close-scope" | "handoff"; readonly to?: string }
  | { readonly kind: "release-end"; readonly c: string; readonly key: string; readonly tenure: number; readonly ok: boolean; readonly detail: string }
  /** The scope holding the tenure finished closing (its finalizer ran), or the combinator returned. */
  | { readonly kind: "tenure-close"; readonly c: string; readonly key: string; readonly tenure: number; readonly detail: string }
  | { readonly kind: "renew-call"; readonly c: string; readonly key: string; readonly tenure: number }
  | { readonly kind: "renew-end"; readonly c: string; readonly key: string; readonly tenure: number; readonly ok: boolean; readonly detail: string }
  | { readonly kind: "guard-end"; readonly c: string; readonly key: string; readonly tenure: number; readonly detail: string }
  | { readonly kind: "op"; readonly c: string; readonly detail: string }
  /** A long-lived contender handle (`Lease.contender`) was made / its scope finished closing. */
  | { readonly kind: "handle-open"; readonly c: string; readonly key: string; readonly handle: number }
  | { readonly kind: "handle-close"; readonly c: string; readonly key: string; readonly handle: number }
  /** An event the handle's `events` stream delivered (`reason`: the loss's reason, for `Lost`). */
  | { readonly kind: "handle-event"; readonly c: string; readonly key: string; readonly handle: number; readonly tag: string; readonly token: number; readonly reason: string }
  /** What the handle's `current` answered: the tenure it is (by object identity; `undefined` for
   * `None`, -1 for a lease this actor never got), its token and its `isHeld`. */
  | { readonly kind: "current"; readonly c: string; readonly key: string; readonly handle: number; readonly tenure: number | undefined; readonly token: number | undefined; readonly isHeld: boolean | undefined }
  /** What a `LeaderElection.make` election's `status` answered. */
  | { readonly kind: "status"; readonly c: string; readonly key: string; readonly election: number; readonly tag: string; readonly token: number | undefined; readonly holder: string | undefined }
  /** An observer (`Lease.observe`) started / stopped; it runs in contender `c`'s process over a
   * store of its own, whose calls are recorded as `store`'s. */
  | { readonly kind: "observer-start"; readonly c: string; readonly key: string; readonly observer: number; readonly store: string }
  | { readonly kind: "observer-end"; readonly c: string; readonly key: string; readonly observer: number; readonly detail: string }
  /** Who holds the lease, as the API told it: an observer's inspection (`live`: a holder not
   * judged expired), a `tryAcquire` answering `HeldByOther`, a `release` without a tenure
   * answering `HeldByOther` (no token). `holder` is empty when none is named. */
  | { readonly kind: "report"; readonly c: string; readonly key: string; readonly source: "observer" | "tryAcquire" | "release"; readonly observer: number | undefined; readonly holder: string; readonly token: number | undefined; readonly live: boolean }
  /** A store call as issued by a contender (`holder`: the holder its spec writes, if any). */
  | { readonly kind: "store-call"; readonly c: string; readonly call: number; readonly op: string; readonly key: string; readonly holder: string | undefined; readonly fault: string }
  /** The store applied (or refused) a call: the state after it. */
  | { readonly kind: "store-apply"; readonly c: string; readonly call: number; readonly op: string; readonly key: string; readonly ok: boolean; readonly detail: string; readonly after: RecordView | undefined; readonly deleted: boolean; readonly holder: string | undefined }
  | { readonly kind: "store-answer"; readonly c: string; readonly call: number; readonly op: string; readonly detail: string }
  | { readonly kind: "watch-open"; readonly c: string; readonly key: string; readonly fault: string }
  | { readonly kind: "pause-begin"; readonly c: string; readonly length: number; readonly exempt: boolean }
  | { readonly kind: "pause-end"; readonly c: string }
  /** An out-of-protocol write (kubectl edit); `takeover` when it changed or removed the holder. */
  | { readonly kind: "admin"; readonly key: string; readonly action: string; readonly takeover: boolean; readonly deleted: boolean; readonly after: RecordView | undefined }
  /** A semaphore schedule's event (`SemaphoreSimulation.ts`): `what` says which — an acquisition
   * called (`call`, with `blocking`) and done (`done`, `detail` the outcome), a permit held
   * (`tenure`), a guarded step, the permit lost, a release begun / ended, the permit seen withdrawn,
   * a resize applied (by `admin`), a contender crashed (it never runs again). */
  | {
    readonly kind: "sem"
    readonly c: string
    readonly what: "call" | "done" | "tenure" | "step" | "lost" | "release" | "released" | "withdrawn" | "resize" | "crash"
    readonly attempt?: number
    readonly tenure?: number
    readonly permit?: number
    readonly token?: number
    readonly blocking?: boolean
    readonly detail: string
  }
  | { readonly kind: "quiet" }
  | { readonly kind: "end" }
  | { readonly kind: "log"; readonly c: string; readonly level: string; readonly message: string }

export type Event = EventBody & { readonly seq: number; readonly t: number }

export interface History {
  readonly events: Array<Event>
  /** Appends an event stamped with the true virtual time now. */
  readonly record: (event: EventBody) => void
  readonly now: () => number
  /** A fresh number for calls, attempts and tenures. */
  readonly nextId: () => number
}

export const make = (now: () => number): History => {
  const events: Array<Event> = []
  let id = 0
  return {
    events,
    now,
    record: (event) => {
      events.push({ ...event, seq: events.length, t: now() })
    },
    nextId: () => ++id
  }
}
