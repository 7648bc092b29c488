/**
 * Kubernetes Events for leadership (opt-in): what happens to a contender's tenures — acquired,
 * lost (with the reason), released, renewals failing — recorded as core/v1 Events on the Lease
 * object, as client-go's leader election records them, so that `kubectl describe lease` and
 * `kubectl get events` show the leadership history.
 *
 * ```ts
 * import { LeaderElection } from "@leasekit/core"
 * import type { HeldLease } from "@leasekit/core"
 * import { LeaseEvents } from "@leasekit/kubernetes"
 * import { Effect, Layer } from "effect"
 *
 * declare const work: (lease: HeldLease) => Effect.Effect<void>
 * const Leader = LeaseEvents.layer().pipe(
 *   Layer.provideMerge(LeaderElection.layer({ namespace: "jobs", name: "singleton" }, work))
 * )
 * ```
 *
 * Each Event has `involvedObject` `{ apiVersion: coordination.k8s.io/v1, kind: Lease, name,
 * namespace, uid, resourceVersion }` (the uid and resourceVersion of the last record this
 * contender wrote), reason `LeaderElection` and client-go's messages: `"<holder> became leader"`
 * (type Normal), `"<holder> stopped leading: released"` (Normal), `"<holder> stopped leading:
 * <why>"` on a loss (Warning: taken over by whom, deadline passed, deleted, cleared by someone
 * else), and `"<holder> is failing to renew: <error>"` (Warning) once per run of failing renewals
 * (again only after a renewal succeeded). Events are named `<lease>.<hex timestamp>` like
 * client-go's and carry `source.component` (default `leasekit`), `count: 1` and first/last
 * timestamps; they are not aggregated (no `patch` is needed, only `create`).
 *
 * Guarantees: recording never delays or endangers renewal — it reads the contender's event stream
 * (buffered per subscriber, never awaited by the tenure) into a bounded queue that drops when full,
 * and writes from a fiber of its own, each write bounded by `requestTimeout`. Every event not
 * written — queue full, write refused (no `create events` permission) or failed — is counted in
 * `leasekit_events_dropped_total` (attributes `lease.namespace`, `lease.name`, `reason`) and logged
 * at debug (the first refusal at warning, naming the RBAC rule). The recorder follows the stream
 * until it ends (the contender's scope closed, so the release is included) and at most
 * `drainTimeout` after its own scope closed.
 *
 * Does not guarantee: that every event is written (best effort, as client-go's recorder); their
 * order relative to other processes' events (timestamps are this process's wall clock); an event
 * for the tenure in progress when recording starts other than `became leader` (read from the
 * election's status).
 *
 * @since 0.3.0
 */
import * as LeaderElection from "@leasekit/core/LeaderElection"
import type { LeaseEvent } from "@leasekit/core/LeaseContender"
import type { LeaseLostError } from "@leasekit/core/LeaseError"
import type { LeaseKey, LeaseRecord } from "@leasekit/core/LeaseRecord"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { KubeClient } from "./KubeClient.ts"
import * as ObjectRequest from "./internal/objectRequest.ts"

/**
 * Options of the recorder.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** `source.component` of the Events. Default `leasekit`. */
  readonly component?: string | undefined
  /** Events waiting to be written; more are dropped (and counted). Default 64. */
  readonly queueCapacity?: number | undefined
  /** Bound of each write. Default 5 seconds. */
  readonly requestTimeout?: Duration.Input | undefined
  /** How long the recorder may go on writing after its scope closed. Default 5 seconds. */
  readonly drainTimeout?: Duration.Input | undefined
}

/**
 * What a recorder follows: a contender (`Lease.contender`) or an election (`LeaderElection.make`,
 * the `LeaderElection` service). An election's `status` tells the term in progress at the start.
 *
 * @since 0.3.0
 * @category models
 */
export interface Source {
  readonly key: LeaseKey
  readonly holder: string
  readonly events: Stream.Stream<LeaseEvent>
  readonly status?: Effect.Effect<LeaderElection.Status> | undefined
}

const dropped = Metric.counter("leasekit_events_dropped_total", {
  description: "Kubernetes Events about leadership that were not written (queue full, refused, failed), by reason"
})

/** One Event to write. */
interface Pending {
  readonly type: "Normal" | "Warning"
  readonly message: string
  readonly at: number
}

const lossText = (error: LeaseLostError): string => {
  switch (error.reason._tag) {
    case "Taken":
      return `taken over by ${JSON.stringify(error.reason.by)}`
    case "Released":
      return "someone else cleared the holder"
    case "Deleted":
      return "the Lease was deleted"
    case "DeadlineExceeded":
      return `not renewed within renewDeadline (last renewal ${error.reason.lastRenewal.toISOString()}${
        error.reason.lastError === undefined ? "" : `; last error: ${error.reason.lastError.message}`
      })`
    case "Relinquished":
      return "released"
    case "HandedOff":
      return `handed off to ${JSON.stringify(error.reason.to)}`
    case "Coordinated":
      return `the Lease is now managed by coordinated leader election (strategy ${JSON.stringify(error.reason.strategy)})`
  }
}

/** The Lease's `uid` and `resourceVersion` from a record's opaque version (`<rv>/<uid>`). */
const objectOf = (record: LeaseRecord | undefined): { resourceVersion?: string; uid?: string } => {
  if (record === undefined || record.version === "") return {}
  const slash = record.version.indexOf("/")
  return slash < 0
    ? { resourceVersion: record.version }
    : { resourceVersion: record.version.slice(0, slash), uid: record.version.slice(slash + 1) }
}

const seconds = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

/**
 * Records the events of `source` as Kubernetes Events on its Lease, in the background, until its
 * event stream ends (and at most `drainTimeout` after the current scope closed). Returns at once.
 *
 * @since 0.3.0
 * @category recording
 */
export const record = (source: Source, options: Options = {}): Effect.Effect<void, never, KubeClient | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* KubeClient
    const component = options.component ?? "leasekit"
    const requestTimeout = Duration.fromInputUnsafe(options.requestTimeout ?? "5 seconds")
    const drainTimeout = Duration.fromInputUnsafe(options.drainTimeout ?? "5 seconds")
    const { holder, key } = source
    const attributes = { "lease.namespace": key.namespace, "lease.name": key.name }
    const drop = (reason: "queue_full" | "write_failed" | "forbidden", what: string) =>
      Effect.andThen(
        Metric.update(Metric.withAttributes(dropped, { ...attributes, reason }), 1),
        Effect.logDebug(`Kubernetes Event not recorded (${reason}): ${what}`)
      )

    const queue = yield* Queue.dropping<Pending, Cause.Done>(Math.max(1, options.queueCapacity ?? 64))
    let last: LeaseRecord | undefined
    const acquiredTokens = new Set<number>()
    const endedTokens = new Set<number>()
    let failingReported = false
    const enqueue = (type: Pending["type"], message: string) =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        if (!(yield* Queue.offer(queue, { type, message, at }))) yield* drop("queue_full", message)
      })
    const handle = (event: LeaseEvent): Effect.Effect<void> => {
      switch (event._tag) {
        case "Acquired":
          last = event.record
          failingReported = false
          if (acquiredTokens.has(event.token)) return Effect.void
          acquiredTokens.add(event.token)
          return enqueue("Normal", `${holder} became leader`)
        case "Renewed":
          last = event.record
          failingReported = false
          return Effect.void
        case "RenewalFailing":
          if (failingReported) return Effect.void
          failingReported = true
          return enqueue("Warning", `${holder} is failing to renew: ${event.error.message}`)
        // One end per tenure: a tenure lost and then closed reports no release after its loss.
        case "Lost":
          if (endedTokens.has(event.token)) return Effect.void
          endedTokens.add(event.token)
          return enqueue("Warning", `${holder} stopped leading: ${lossText(event.error)}`)
        case "Released":
          if (endedTokens.has(event.token)) return Effect.void
          endedTokens.add(event.token)
          return enqueue("Normal", `${holder} stopped leading: released`)
      }
    }

    let sequence = 0
    let warnedForbidden = false
    const write = (pending: Pending) =>
      Effect.gen(function*() {
        // client-go names Events `<object>.<hex nanoseconds>`; a sequence keeps one process's
        // names apart within a millisecond.
        const stamp = (BigInt(pending.at) * 1_000_000n + BigInt(sequence++ % 1_000_000)).toString(16)
        const body = {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name: `${key.name.slice(0, 236)}.${stamp}`, namespace: key.namespace },
          involvedObject: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            name: key.name,
            namespace: key.namespace,
            ...objectOf(last)
          },
          reason: "LeaderElection",
          message: pending.message.slice(0, 1024),
          type: pending.type,
          source: { component },
          firstTimestamp: seconds(pending.at),
          lastTimestamp: seconds(pending.at),
          count: 1
        }
        yield* ObjectRequest.send(client, {
          method: "POST",
          path: `/api/v1/namespaces/${encodeURIComponent(key.namespace)}/events`,
          body,
          timeout: requestTimeout,
          what: `create Event "${pending.message}" on lease ${key.namespace}/${key.name}`
        }).pipe(
          Effect.catch((error) => {
            if (error.reason !== "Forbidden") return drop("write_failed", error.message)
            const first = !warnedForbidden
            warnedForbidden = true
            return Effect.andThen(
              drop("forbidden", error.message),
              first
                ? Effect.logWarning(
                  `${error.message}: leadership Events are not recorded; grant { apiGroups: [""], resources: ["events"], verbs: ["create"] } (rbac/lease-role.yaml in @leasekit/kubernetes) in namespace "${key.namespace}" to user "${client.user}"`
                )
                : Effect.void
            )
          })
        )
      })

    // Subscribed before anything else is read, so that no event after this point is missed.
    const subscription = yield* Scope.make()
    const pull = yield* Stream.toPull(source.events).pipe(Scope.provide(subscription))
    const producer = Effect.forever(Effect.flatMap(pull, (events) => Effect.forEach(events, handle, { discard: true })))
      .pipe(Effect.catchCause(() => Effect.void), Effect.andThen(Queue.end(queue)))
    const consumer = Effect.forever(Effect.flatMap(Queue.take(queue), write)).pipe(Effect.catchCause(() => Effect.void))
    // The term in progress when recording starts (an election that led at once).
    if (source.status !== undefined) {
      const status = yield* source.status
      if (status._tag === "Leading" && !acquiredTokens.has(status.token)) {
        acquiredTokens.add(status.token)
        yield* enqueue("Normal", `${holder} became leader`)
      }
    }
    const closed = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))
    yield* Effect.all([producer, consumer], { concurrency: 2, discard: true }).pipe(
      Effect.raceFirst(Effect.andThen(Deferred.await(closed), Effect.sleep(drainTimeout))),
      Effect.ensuring(Scope.close(subscription, Exit.void)),
      Effect.annotateLogs(attributes),
      Effect.forkDetach
    )
  })

/**
 * Records the events of the `LeaderElection` service (provided by `LeaderElection.layer`) for as
 * long as the layer lives, and until the election's release has been recorded (at most
 * `drainTimeout` later).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, never, LeaderElection.LeaderElection | KubeClient> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const election = yield* LeaderElection.LeaderElection
    yield* record(election, options)
  }))
