/**
 * Health, readiness and metrics of a leader election, over HTTP: what a kubelet probes and
 * Prometheus scrapes.
 *
 * `/healthz` (and `/livez`) answers 503 when the process should be restarted:
 * - client-go's rule (`HealthzAdaptor`): it believes it leads — it is `Leading`, or it lost the
 *   lease to its own renew deadline and has not heard from the store since — and the store last
 *   confirmed its lease more than `renewDeadline + slack` ago. A leader whose renewals are wedged
 *   (a stuck fiber, a starved process) or cut off (a partition) gets restarted; a follower is never
 *   unhealthy for following;
 * - the election failed for good: it is `Failing` (the store refused after it started — RBAC taken
 *   away) or `Stopped` with a failure.
 *
 * `/readyz` answers 503 while the election fails, and with `readiness: "leading"` also while this
 * process does not lead (a Service that routes to the leader only, through readiness). A leader
 * that stepped down on its own health check (`LeaderElection`'s `stepDown`) is healthy — it
 * campaigns again by itself after its cool-down — and, not leading, not ready in `"leading"` mode. `/metrics`
 * serves every metric of the process — leasekit's `leasekit_*` among them — in Prometheus' text
 * format. Each answer is one line of text saying why.
 *
 * The judgement (`liveness`, `readiness`) is pure over a `Snapshot` and used as well by
 * `leasekit run --health-port`; the routes (`routes`) and the server layer (`layer`) are built on
 * `effect/http` and need an `HttpServer` — `@leasekit/kubernetes/HealthServer` provides Node's.
 * This module is separate from `LeaderElection` so that an election that serves no HTTP loads none.
 *
 * Does not: restart anything (the kubelet does, after its own `failureThreshold`); judge the
 * store's health beyond what the election saw; make a lost lease come back.
 *
 * @since 0.3.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServer from "effect/http/HttpServer"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import { type Election, LeaderElection } from "./LeaderElection.ts"
import type { InvalidLeaseOptions } from "./LeaseError.ts"
import { decodeDuration, type ResolvedLeaseOptions } from "./LeaseOptions.ts"
import { formatKey } from "./LeaseRecord.ts"

/**
 * When `/readyz` says ready: `"always"` — whenever the election runs and does not fail (every
 * replica serves); `"leading"` — only while this process leads (a leader-only Service).
 *
 * @since 0.3.0
 * @category models
 */
export type ReadinessMode = "always" | "leading"

/**
 * Options of the health endpoints.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * How long past `renewDeadline` without a confirmed renewal a process that believes it leads is
   * still called healthy. Default: the lease's `duration` — 20 s at the default timings, so a
   * wedged leader is reported 33 s after its last renewal (client-go's controllers: 15 s lease +
   * 20 s = 35 s). A leader's own watchdog already gives the lease up at `renewDeadline`; the slack
   * keeps a pause, a GC or a short network blip from getting it restarted, and the kubelet's
   * `failureThreshold × periodSeconds` comes on top. A slack that is not a duration fails the
   * routes' build with `InvalidLeaseOptions` (field `slack`).
   */
  readonly slack?: Duration.Input | undefined
  /** When `/readyz` says ready (default `"always"`). */
  readonly readiness?: ReadinessMode | undefined
  /** Serve `/metrics` (default `true`). */
  readonly metrics?: boolean | undefined
}

/**
 * What the judgement reads: one look at where a process stands in its lease.
 *
 * @since 0.3.0
 * @category models
 */
export interface Snapshot {
  /** The lease's options (its key, this process's holder identity, its timings). */
  readonly options: ResolvedLeaseOptions
  /** Where it stands, in a few words ("leading with token 3", "following pod-b"). */
  readonly state: string
  /** It holds the lease now. */
  readonly leading: boolean
  /** It believes it leads (see `LeaderElection.Leadership`). */
  readonly believesLeading: boolean
  /** Time since the store last confirmed its lease (`None`: never). */
  readonly unconfirmedFor: Option.Option<Duration.Duration>
  /** Why it failed for good, if it did (one line). */
  readonly failure: Option.Option<string>
}

/**
 * A judgement: `ok` or not, and one line saying why.
 *
 * @since 0.3.0
 * @category models
 */
export interface Verdict {
  readonly ok: boolean
  readonly message: string
}

/** The slack used when none is given: the lease's duration. */
const slackOf = (slack: Duration.Duration | undefined, snapshot: Snapshot): Duration.Duration =>
  slack ?? snapshot.options.duration

const seconds = (d: Duration.Duration) => `${Number((Duration.toMillis(d) / 1000).toFixed(3))}s`

const about = (snapshot: Snapshot) => `lease ${formatKey(snapshot.options.key)} as ${snapshot.options.holder}`

/**
 * Liveness: unhealthy when the process failed for good, or believes it leads and its lease was
 * last confirmed more than `renewDeadline + slack` ago.
 *
 * @since 0.3.0
 * @category judgements
 */
export const liveness = (snapshot: Snapshot, slack?: Duration.Duration): Verdict => {
  if (Option.isSome(snapshot.failure)) return { ok: false, message: `unhealthy: ${about(snapshot)}: ${snapshot.failure.value}` }
  if (snapshot.believesLeading) {
    const limit = Duration.sum(snapshot.options.renewDeadline, slackOf(slack, snapshot))
    const since = snapshot.unconfirmedFor
    if (Option.isSome(since) && Duration.isGreaterThan(since.value, limit)) {
      const why = snapshot.leading
        ? "renewals are stuck"
        : "it lost the lease to its renew deadline and has not heard from the store since"
      return {
        ok: false,
        message: `unhealthy: ${about(snapshot)}: ${snapshot.state}, but the store last confirmed the lease ${
          seconds(since.value)
        } ago, more than renewDeadline ${seconds(snapshot.options.renewDeadline)} + slack ${
          seconds(slackOf(slack, snapshot))
        }: ${why} (the store unreachable, or this process wedged)`
      }
    }
  }
  const confirmed = Option.match(snapshot.unconfirmedFor, {
    onNone: () => "",
    onSome: (d) => `; last confirmed ${seconds(d)} ago`
  })
  return { ok: true, message: `ok: ${about(snapshot)}: ${snapshot.state}${snapshot.believesLeading ? confirmed : ""}` }
}

/**
 * Readiness: not ready when the process failed for good, and — in mode `"leading"` — while it does
 * not lead.
 *
 * @since 0.3.0
 * @category judgements
 */
export const readiness = (snapshot: Snapshot, mode: ReadinessMode = "always"): Verdict => {
  if (Option.isSome(snapshot.failure)) return { ok: false, message: `not ready: ${about(snapshot)}: ${snapshot.failure.value}` }
  if (mode === "leading" && !snapshot.leading) return { ok: false, message: `not ready: ${about(snapshot)}: ${snapshot.state} (ready only while leading)` }
  return { ok: true, message: `ready: ${about(snapshot)}: ${snapshot.state}` }
}

/** One line from a cause (its first failure or defect). */
const oneLine = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? error.message : String(error)
  return text.replace(/\s*\n\s*/g, " ")
}

/**
 * A snapshot of an election.
 *
 * @since 0.3.0
 * @category constructors
 */
export const snapshot = (election: Election<unknown, unknown>): Effect.Effect<Snapshot> =>
  Effect.map(Effect.zip(election.status, election.leadership), ([status, leadership]): Snapshot => {
    const base = {
      options: election.options,
      leading: status._tag === "Leading",
      believesLeading: leadership.believesLeading,
      unconfirmedFor: leadership.unconfirmedFor,
      failure: Option.none<string>()
    }
    switch (status._tag) {
      case "Leading":
        return { ...base, state: `leading with token ${status.token}` }
      case "Following":
        return { ...base, state: `following ${status.holder}` }
      case "Campaigning":
        return { ...base, state: leadership.believesLeading ? "lost the lease to its renew deadline, waiting for the store" : "campaigning" }
      case "SteppedDown":
        // Healthy (it chose to step down, and campaigns again by itself) and not leading.
        return {
          ...base,
          state: `stepped down after ${status.failures} failed health checks in a row, campaigning again after a cool-down of ${
            seconds(status.coolDown)
          }`
        }
      case "Failing":
        return {
          ...base,
          state: "failing",
          failure: Option.some(`election failing (retrying in ${seconds(status.retryingIn)}): ${status.error.message}`)
        }
      case "Stopped":
        return Cause.hasInterruptsOnly(status.cause) || status.cause.reasons.length === 0
          ? { ...base, state: "stopped" }
          : { ...base, state: "stopped", failure: Option.some(`election stopped: ${oneLine(status.cause)}`) }
    }
  })

const textResponse = (verdict: Verdict) =>
  HttpServerResponse.text(`${verdict.message}\n`, {
    status: verdict.ok ? 200 : 503,
    headers: { "cache-control": "no-store" }
  })

/**
 * The routes over any source of snapshots: `GET /healthz` and `/livez` (liveness), `/readyz`
 * (readiness) and, unless `metrics: false`, `/metrics` (Prometheus text format).
 *
 * @since 0.3.0
 * @category routes
 */
export const routesFor = (
  source: Effect.Effect<Snapshot>,
  options: Options = {}
): Layer.Layer<never, InvalidLeaseOptions, HttpRouter.HttpRouter> =>
  HttpRouter.addAll(Effect.gen(function*() {
    const slack = options.slack === undefined ? undefined : yield* decodeDuration("slack", options.slack)
    const live = Effect.map(source, (s) => textResponse(liveness(s, slack)))
    const ready = Effect.map(source, (s) => textResponse(readiness(s, options.readiness)))
    const metrics = Effect.map(PrometheusMetrics.format(), (body) =>
      HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
    return [
      HttpRouter.route("GET", "/healthz", live),
      HttpRouter.route("GET", "/livez", live),
      HttpRouter.route("GET", "/readyz", ready),
      ...(options.metrics === false ? [] : [HttpRouter.route("GET", "/metrics", metrics)])
    ]
  }))

/**
 * The routes of the `LeaderElection` in context (`LeaderElection.layer` provides it), to add to
 * an application's own router.
 *
 * @since 0.3.0
 * @category routes
 */
export const routes = (
  options: Options = {}
): Layer.Layer<never, InvalidLeaseOptions, HttpRouter.HttpRouter | LeaderElection> =>
  Layer.unwrap(Effect.gen(function*() {
    const election = yield* LeaderElection
    return routesFor(snapshot(election), options)
  }))

/**
 * Serves the routes of the `LeaderElection` in context on the `HttpServer` in context, for as long
 * as the layer lives (requests are not logged: probes come every few seconds).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, InvalidLeaseOptions, HttpServer.HttpServer | LeaderElection> =>
  HttpRouter.serve(routes(options), { disableLogger: true })

/**
 * Serves the routes over any source of snapshots (`routesFor`) on the `HttpServer` in context:
 * for what is not a `LeaderElection` (`leasekit run` holding one lease).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerFor = (
  source: Effect.Effect<Snapshot>,
  options: Options = {}
): Layer.Layer<never, InvalidLeaseOptions, HttpServer.HttpServer> =>
  HttpRouter.serve(routesFor(source, options), { disableLogger: true })
