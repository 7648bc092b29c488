/**
 * `leasekit status NAME`: who holds a lease, since when, until when, and its fencing token.
 *
 * One read of the Lease object, judged as a contender would judge it (see `LeaseView.ts` for the
 * two expiry figures). A lease that does not exist is reported as such (`exists: false`), with
 * exit code 0: "free" is an answer, not an error.
 *
 * `--watch` then follows the lease (`Lease.observe`: the object's watch, polling where watching is
 * not allowed) and prints a line each time its tenure changes — a new holder or a new tenure of
 * the same holder (its token), a release, the object deleted, or the holder judged expired by this
 * observer (unchanged for its duration) — until SIGINT or SIGTERM ends it, with exit code 0.
 * Renewals and edits that keep the tenure (a label) print nothing. With `-o json` every report,
 * the first included, is one `status -o json` object on a line of its own.
 *
 * The head of a semaphore (`LeaseSemaphore`) shows the whole semaphore instead (`SemaphoreView.ts`):
 * its permit count, the holders (permit, holder, token, when this observer would judge the permit
 * expired, withdrawn) and the queue in order (holder, live). `--watch` then prints a line — or a
 * JSON object — each time the count, a permit's holder or tenure, or the live waiters change.
 *
 * Guarantees: read-only — nothing is written. A report lags the API server by at most the
 * observer's bound (`Lease.observe`: a renew interval plus a request timeout while watching, a
 * retry period plus a request timeout while polling). Does not guarantee: that the answer still
 * holds a moment later, nor that every intermediate tenure is reported (a watch delivers the
 * newest state; a tenure shorter than the lag may be skipped).
 *
 * @since 0.1.0
 */
import * as Lease from "@leasekit/core/Lease"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import type { LeaseKey } from "@leasekit/core/LeaseRecord"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as Command from "effect/cli/Command"
import * as GlobalOptions from "./GlobalOptions.ts"
import * as LeaseView from "./LeaseView.ts"
import * as SemaphoreView from "./SemaphoreView.ts"
import * as Signals from "./Signals.ts"
import type * as StatusCommand from "../commands/StatusCommand.ts"

type Config = Command.Command.Config.Infer<typeof StatusCommand.config>



/** The view of an inspection, at this machine's wall-clock time. */
const viewOf = (key: LeaseKey, inspection: Lease.LeaseInspection) =>
  Effect.map(Clock.currentTimeMillis, (now) => ({
    now,
    view: LeaseView.make(key, inspection.record, now, Duration.toMillis(inspection.expiresIn))
  }))

const print = (text: string) => Effect.sync(() => process.stdout.write(text))

/** The signals that end a watch: the usual way to stop it, not a failure. */
const stopSignals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM"]

/**
 * Installs handlers for SIGINT and SIGTERM, for as long as the scope lasts, and answers an effect
 * that succeeds once one of them came. Meanwhile the signals are these handlers' alone: the
 * runtime's (interrupt, exit 130) are set aside, and put back when the scope closes.
 */
const onStopSignal = Effect.gen(function*() {
  const stop = Deferred.makeUnsafe<void>()
  yield* Signals.intercept(stopSignals, () => void Deferred.doneUnsafe(stop, Exit.void))
  return Deferred.await(stop)
})

/**
 * Follows the lease after `shown` was printed: a line for each change of its tenure (see the
 * module header). Never ends but by a store failure that is not transient.
 */
const follow = (key: LeaseKey, shown: LeaseView.LeaseView, output: "text" | "json") =>
  Effect.gen(function*() {
    let tenure = LeaseView.tenureOf(shown)
    return yield* Lease.observe(key).pipe(
      Stream.runForEach((inspection) =>
        Effect.gen(function*() {
          const { now, view } = yield* viewOf(key, inspection)
          const next = LeaseView.tenureOf(view)
          if (next === tenure) return
          tenure = next
          yield* print(output === "json" ? `${JSON.stringify(view)}\n` : LeaseView.renderChange(view, now))
        })
      )
    )
  })

/**
 * `status` of a semaphore's head: the whole semaphore (`LeaseSemaphore.inspect`), and under
 * `--watch` a line (or JSON object) each time its permits, holders or live waiters change.
 */
const semaphoreStatus = (key: LeaseKey, c: Config) =>
  Effect.gen(function*() {
    const first = SemaphoreView.make(yield* LeaseSemaphore.inspect(key))
    yield* print(
      c.output === "text" ? SemaphoreView.renderStatus(first) : c.watch ? `${JSON.stringify(first)}\n` : `${JSON.stringify(first, null, 2)}\n`
    )
    if (!c.watch) return
    let shown = SemaphoreView.changeOf(first)
    yield* LeaseSemaphore.observe(key).pipe(
      Stream.runForEach((state) =>
        Effect.gen(function*() {
          const view = SemaphoreView.make(state)
          const change = SemaphoreView.changeOf(view)
          if (change === shown) return
          shown = change
          const now = yield* Clock.currentTimeMillis
          yield* print(c.output === "json" ? `${JSON.stringify(view)}\n` : SemaphoreView.renderChange(view, now))
        })
      )
    )
  })

/**
 * What `leasekit status` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.KubeClient
    const key = { namespace: Option.getOrElse(c.namespace, () => client.namespace), name: c.name }
    const status = Effect.gen(function*() {
      // One read, also under --watch: an API server that cannot be reached exits 69 at once
      // (the observer would retry it).
      const inspection = yield* Lease.inspect(key)
      if (Option.isSome(inspection.record) && SemaphoreView.isHead(inspection.record.value)) {
        return yield* semaphoreStatus(key, c)
      }
      const { view } = yield* viewOf(key, inspection)
      yield* print(
        c.output === "text" ? LeaseView.renderStatus(view) : c.watch ? `${JSON.stringify(view)}\n` : `${JSON.stringify(view, null, 2)}\n`
      )
      if (c.watch) yield* follow(key, view, c.output)
    })
    // Under --watch, SIGINT and SIGTERM end it normally from the start (exit 0).
    yield* c.watch ? Effect.raceFirst(status, yield* onStopSignal) : status
  }).pipe(Effect.scoped, GlobalOptions.withStore(c))
