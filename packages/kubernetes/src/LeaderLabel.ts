/**
 * Leader-only routing: the elected process labels its own Pod (`leasekit.io/leader: "true"` by
 * default), so that a Service selecting the label sends traffic to the leader only.
 *
 * ```ts
 * import { LeaderElection } from "@leasekit/core"
 * import type { HeldLease } from "@leasekit/core"
 * import { LeaderLabel } from "@leasekit/kubernetes"
 * import { Effect, Layer } from "effect"
 *
 * declare const work: (lease: HeldLease) => Effect.Effect<void>
 * const Leader = LeaderElection.layer({ namespace: "jobs", name: "singleton" }, LeaderLabel.wrap(work)).pipe(
 *   Layer.provide(LeaderLabel.layer())
 * )
 * ```
 *
 * The Pod is the one named by `POD_NAME` / `POD_NAMESPACE` (the Downward API; read through
 * effect's `Config`), or given in the options. Building the layer (`make`) checks, before any
 * contending, that this identity may list pods and patch its own — with a server-side dry-run
 * patch (`?dryRun=All`) — and fails with a `LeaderLabelError` naming the verb, the pod and the
 * RBAC rule to apply (403), or saying that the pod does not exist (404: `POD_NAME` is wrong).
 *
 * The label is maintained by guarded work of the held lease (`wrap` forks it into the scope of
 * `whileLeading`; `whileLeading(lease)` does the same inside any guarded scope), so a release
 * waits for it. Ordering, for one tenure:
 * 1. The label goes on only after the acquisition was confirmed (the work runs once `acquire`
 *    returned), and only while renewals are on schedule: `lease.remaining` (time left to the loss
 *    deadline) above a threshold — `renewDeadline − renewInterval − requestTimeout` (at most half
 *    of `renewDeadline − renewInterval`): below it the scheduled renewal has had its full request
 *    time without succeeding.
 * 2. Before labelling itself, the process takes the label off every *other* pod in the namespace
 *    that carries it (a list by label selector, one patch each) and labels itself only when all of
 *    them were answered — this covers an old leader whose connection to the API server is cut and
 *    that cannot remove its own label. Pods whose annotation `leasekit.io/leader-of` names another
 *    lease (another election using the same label) are left alone; `selector` narrows the list
 *    further.
 * 3. Once `remaining` drops below the threshold the label is removed, each attempt bounded by the
 *    time left, so that the removal is given up by the loss deadline; it is put back after the
 *    next successful renewal.
 * 4. On release the guarded work is interrupted first; its finalizer removes the label (bounded by
 *    `requestTimeout`) and only then is the release written.
 * 5. On loss the finalizer removes the label, best effort, if it may still be there.
 *
 * Guarantee (under `Lease`'s assumptions — clock rates close, unique identities, valid options —
 * and for pods that all use this module with the same lease, label and namespace): no two pods
 * that both believe they lead carry the label — more strongly, a process labels its pod only after
 * every other pod carrying the label had it removed, and only while it holds the lease with its
 * renewals on schedule; a process that stops believing it leads (deadline, loss, release) has
 * started removing its label before its loss deadline, and a successor labels itself only after
 * removing any label left behind. A successor that cannot remove a stale label does not label
 * itself (it retries).
 *
 * Does not guarantee: anything about a label write that the network or the API server holds
 * beyond its timeout and applies later (the client gave it up; it may still land — an old leader's
 * label could then reappear next to the new one's until the next leader change or its own removal);
 * how fast Services follow (the endpoints controller and kube-proxy lag label changes, so traffic
 * can reach an old leader briefly after its label is gone — the application should still check
 * `isHeld` or fence with the token); the pod's readiness (combine with a readiness probe); that a
 * pod is labelled at all while the API server cannot be reached (the leader then leads without
 * traffic from the Service).
 *
 * @since 0.3.0
 */
import type * as Lease from "@leasekit/core/Lease"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { KubeClient, type KubeClientService } from "./KubeClient.ts"
import * as LabelSchedule from "./internal/labelSchedule.ts"
import * as ObjectRequest from "./internal/objectRequest.ts"
import { podPath, podsOf } from "./internal/pods.ts"

/**
 * Options of `make` / `layer`.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /**
   * The pod to label. Default: `POD_NAME` and `POD_NAMESPACE` from the `ConfigProvider` (set them
   * with the Downward API); the namespace defaults further to the client's namespace.
   */
  readonly pod?: { readonly name: string; readonly namespace?: string | undefined } | undefined
  /** The label's name. Default `leasekit.io/leader`. */
  readonly label?: string | undefined
  /** The label's value. Default `"true"`. */
  readonly value?: string | undefined
  /**
   * A label selector (`app=web`) that narrows which other pods a new leader takes the label off
   * (always combined with the label itself). Default: every pod in the namespace carrying it.
   */
  readonly selector?: string | undefined
  /** Bound of each request. Default: the lease's `requestTimeout`. */
  readonly requestTimeout?: Duration.Input | undefined
}

/**
 * Why the leader label cannot be maintained.
 *
 * - `PodUnknown`: no pod was given and `POD_NAME` is not set.
 * - `PodNotFound`: the API server has no such pod (`POD_NAME` / `POD_NAMESPACE` wrong).
 * - `Forbidden`: this identity may not `verb` pods (`list` or `patch`).
 * - `InvalidOptions`: the label name, value or selector is not valid.
 * - `Unavailable`: the API server could not be asked (unreachable, timeout, 5xx).
 *
 * @since 0.3.0
 * @category errors
 */
export type LeaderLabelErrorReason = "PodUnknown" | "PodNotFound" | "Forbidden" | "InvalidOptions" | "Unavailable"

/**
 * The leader label cannot be maintained; the message says what to do.
 *
 * @since 0.3.0
 * @category errors
 */
export class LeaderLabelError extends Data.TaggedError("LeaderLabelError")<{
  readonly reason: LeaderLabelErrorReason
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `leader label: ${this.detail}`
  }
}

/**
 * A configured leader label: the pod it goes on, and what maintains it.
 *
 * @since 0.3.0
 * @category models
 */
export interface LeaderLabelService {
  readonly pod: { readonly name: string; readonly namespace: string }
  readonly label: string
  readonly value: string
  /**
   * Maintains the label for `lease` until interrupted, then removes it (see the module comment).
   * Never fails: failed writes are logged (a refusal at error level) and tried again. Run it as
   * guarded work of `lease`, e.g. forked into the scope of `whileLeading`.
   */
  readonly maintain: (lease: Lease.HeldLease) => Effect.Effect<never>
  /** Forks `maintain(lease)` into the current scope (that of `whileLeading`, a guarded scope). */
  readonly whileLeading: (lease: Lease.HeldLease) => Effect.Effect<void, never, Scope.Scope>
}

/**
 * The leader label as a service (`layer`), used by `wrap`.
 *
 * @since 0.3.0
 * @category services
 */
export class LeaderLabel extends Context.Service<LeaderLabel, LeaderLabelService>()("@leasekit/kubernetes/LeaderLabel") {}

/**
 * The annotation a leader writes beside the label: the lease it leads (`namespace/name`), so that
 * a new leader of *another* election using the same label leaves its pod alone.
 *
 * @since 0.3.0
 * @category constants
 */
export const leaderOfAnnotation = "leasekit.io/leader-of"

/**
 * The label's default name.
 *
 * @since 0.3.0
 * @category constants
 */
export const defaultLabel = "leasekit.io/leader"

const labelName = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/

const rbacHint = `apply the "leader-only routing" rule of rbac/lease-role.yaml in @leasekit/kubernetes: { apiGroups: [""], resources: ["pods"], verbs: ["list", "patch"] } in a Role of the pod's namespace, bound to the pod's ServiceAccount`

const optionalString = (name: string) =>
  Config.option(Config.String(name)).pipe(
    Config.map(Option.filter((s) => s.trim() !== "")),
    Config.map(Option.map((s) => s.trim()))
  )

/** The pod from the options or the Downward API variables. */
const resolvePod = (options: Options, client: KubeClientService) =>
  Effect.gen(function*() {
    if (options.pod !== undefined) {
      return { name: options.pod.name, namespace: options.pod.namespace ?? client.namespace }
    }
    const env = yield* Config.all({ name: optionalString("POD_NAME"), namespace: optionalString("POD_NAMESPACE") }).pipe(
      Effect.mapError((cause) =>
        new LeaderLabelError({ reason: "PodUnknown", detail: `cannot read POD_NAME / POD_NAMESPACE: ${cause.message}`, cause })
      )
    )
    if (Option.isNone(env.name)) {
      return yield* new LeaderLabelError({
        reason: "PodUnknown",
        detail:
          "no pod to label: POD_NAME is not set. Set POD_NAME and POD_NAMESPACE with the Downward API (env: - name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } }; likewise metadata.namespace), or pass the pod in the options"
      })
    }
    return { name: env.name.value, namespace: Option.getOrElse(env.namespace, () => client.namespace) }
  })

/** Converts a request failure at start into the error a person can act on. */
const startError = (
  client: KubeClientService,
  pod: { readonly name: string; readonly namespace: string },
  verb: "list" | "patch"
) =>
(error: ObjectRequest.ObjectRequestError): LeaderLabelError => {
  switch (error.reason) {
    case "Forbidden":
      return new LeaderLabelError({
        reason: "Forbidden",
        detail: `user "${client.user}" (context "${client.context}") may not ${verb} pods in namespace "${pod.namespace}" (needed to ${
          verb === "patch" ? `label pod ${pod.namespace}/${pod.name} as the leader` : "find other pods carrying the leader label"
        }): ${rbacHint}. ${error.detail}`,
        cause: error
      })
    case "NotFound":
      return new LeaderLabelError({
        reason: "PodNotFound",
        detail: verb === "patch"
          ? `pod ${pod.namespace}/${pod.name} does not exist: POD_NAME / POD_NAMESPACE must name this process's own pod (Downward API metadata.name / metadata.namespace). ${error.detail}`
          : `namespace "${pod.namespace}" does not exist (POD_NAMESPACE). ${error.detail}`,
        cause: error
      })
    case "Invalid":
      return new LeaderLabelError({ reason: "InvalidOptions", detail: error.detail, cause: error })
    default:
      return new LeaderLabelError({ reason: "Unavailable", detail: error.detail, cause: error })
  }
}

/**
 * Makes the leader label for the pod of `options`, after checking that this identity may list
 * pods and patch its own (a server-side dry run). Transient failures of the check are retried for
 * a few seconds.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LeaderLabelService, LeaderLabelError, KubeClient> =>
  Effect.gen(function*() {
    const client = yield* KubeClient
    const label = options.label ?? defaultLabel
    const value = options.value ?? "true"
    if (!labelName.test(label) || label.length > 317) {
      return yield* new LeaderLabelError({
        reason: "InvalidOptions",
        detail: `label ${JSON.stringify(label)} is not a valid label name ([prefix/]name: name at most 63 characters of [A-Za-z0-9-_.], beginning and ending alphanumeric; prefix a DNS subdomain)`
      })
    }
    if (!labelValue.test(value)) {
      return yield* new LeaderLabelError({
        reason: "InvalidOptions",
        detail: `value ${JSON.stringify(value)} is not a valid label value (at most 63 characters of [A-Za-z0-9-_.], beginning and ending alphanumeric)`
      })
    }
    const pod = yield* resolvePod(options, client)
    const selector = options.selector === undefined || options.selector.trim() === ""
      ? `${label}=${value}`
      : `${label}=${value},${options.selector.trim()}`
    const configuredTimeout = options.requestTimeout === undefined
      ? undefined
      : Duration.fromInputUnsafe(options.requestTimeout)
    const listPath = `/api/v1/namespaces/${encodeURIComponent(pod.namespace)}/pods?labelSelector=${
      encodeURIComponent(selector)
    }`
    const patchBody = (leaderOf: string | null) => ({
      metadata: { labels: { [label]: leaderOf === null ? null : value }, annotations: { [leaderOfAnnotation]: leaderOf } }
    })
    const patch = (target: { readonly name: string; readonly namespace: string }, leaderOf: string | null, timeout: Duration.Duration, dryRun = false) =>
      ObjectRequest.send(client, {
        method: "PATCH",
        path: `${podPath(target)}?fieldManager=leasekit${dryRun ? "&dryRun=All" : ""}`,
        body: patchBody(leaderOf),
        contentType: "application/merge-patch+json",
        timeout,
        what: `${leaderOf === null ? "remove" : "put"} the leader label ${label} ${leaderOf === null ? "from" : "on"} pod ${target.namespace}/${target.name}${
          dryRun ? " (dry run)" : ""
        }`
      })

    // The check: may patch this pod (dry run: nothing changes), which exists, and may list pods.
    const checkTimeout = configuredTimeout ?? Duration.seconds(5)
    yield* patch(pod, null, checkTimeout, true).pipe(
      Effect.retry({ while: ObjectRequest.isTransient, schedule: Schedule.spaced("1 second"), times: 4 }),
      Effect.mapError(startError(client, pod, "patch"))
    )
    yield* ObjectRequest.send(client, {
      method: "GET",
      path: `${listPath}&limit=1`,
      timeout: checkTimeout,
      what: `list pods labelled ${selector} in namespace "${pod.namespace}"`
    }).pipe(
      Effect.retry({ while: ObjectRequest.isTransient, schedule: Schedule.spaced("1 second"), times: 4 }),
      Effect.mapError(startError(client, pod, "list"))
    )
    const where = `pod ${pod.namespace}/${pod.name}`

    const maintain = (lease: Lease.HeldLease): Effect.Effect<never> => {
      const leaderOf = `${lease.key.namespace}/${lease.key.name}`
      const requestTimeout = configuredTimeout ?? lease.options.requestTimeout
      /** Takes the label off every other pod of this lease carrying it, then puts it on ours. */
      const put = (timeout: Duration.Duration) =>
        Effect.gen(function*() {
          const bound = Duration.min(timeout, requestTimeout)
          const others = podsOf(
            yield* ObjectRequest.send(client, {
              method: "GET",
              path: listPath,
              timeout: bound,
              what: `list pods labelled ${selector} in namespace "${pod.namespace}"`
            }),
            leaderOfAnnotation
          ).filter((item) => item.name !== pod.name && (item.leaderOf === undefined || item.leaderOf === leaderOf))
          for (const other of others) {
            yield* patch({ name: other.name, namespace: pod.namespace }, null, bound).pipe(
              Effect.catchIf((e) => e.reason === "NotFound", () => Effect.void)
            )
            yield* Effect.logWarning(
              `removed the leader label ${label} from pod ${pod.namespace}/${other.name}, left by an earlier leader of ${leaderOf}`
            )
          }
          yield* patch(pod, leaderOf, bound)
          yield* Effect.logInfo(`labelled ${where} ${label}=${value} (leading ${leaderOf}, token ${lease.token})`)
        }).pipe(Effect.timeout(timeout), Effect.catchTag("TimeoutError", () => Effect.fail("timeout" as const)))
      const take = (timeout: Duration.Duration) =>
        patch(pod, null, timeout).pipe(Effect.tap(() => Effect.logInfo(`removed the leader label ${label} from ${where}`)))
      return LabelSchedule.maintain(lease.remaining, {
        label: put,
        unlabel: take,
        failed: (what, error) => {
          const text = error === "timeout"
            ? `no answer within the time left`
            : error.message
          const message = `could not ${what === "label" ? "put the leader label on" : "remove the leader label from"} ${where}: ${text}`
          return error !== "timeout" && error.reason === "Forbidden"
            ? Effect.logError(`${message}; ${rbacHint}`)
            : Effect.logWarning(message)
        }
      }, {
        threshold: LabelSchedule.thresholdOf(lease.options),
        requestTimeout,
        retryPeriod: lease.options.retryPeriod,
        recheck: Duration.min(lease.options.retryPeriod, Duration.millis(250))
      }).pipe(
        Effect.annotateLogs({ "lease.namespace": lease.key.namespace, "lease.name": lease.key.name, "pod.name": pod.name })
      )
    }

    return LeaderLabel.of({
      pod,
      label,
      value,
      maintain,
      whileLeading: (lease) => Effect.asVoid(Effect.forkScoped(maintain(lease)))
    })
  })

/**
 * The leader label as a layer: building it checks the permission (see `make`), so that a missing
 * RBAC rule fails at start, before the process contends.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<LeaderLabel, LeaderLabelError, KubeClient> =>
  Layer.effect(LeaderLabel, make(options))

/**
 * Wraps `whileLeading` so that the elected process's pod carries the leader label while it leads
 * (`LeaderElection.layer(options, LeaderLabel.wrap(work))`, with `LeaderLabel.layer()` provided):
 * the label is maintained in the background of `whileLeading`'s scope — guarded work of the term —
 * and removed before the term's lease is released.
 *
 * @since 0.3.0
 * @category combinators
 */
export const wrap = <A, E, R>(
  whileLeading: (lease: Lease.HeldLease) => Effect.Effect<A, E, R>
) =>
(lease: Lease.HeldLease): Effect.Effect<A, E, R | LeaderLabel | Scope.Scope> =>
  Effect.gen(function*() {
    const service = yield* LeaderLabel
    yield* service.whileLeading(lease)
    return yield* whileLeading(lease)
  })
