/**
 * `leasekit run NAME -- CMD [ARGS…]`: flock for Kubernetes. Holds the lease while CMD runs.
 *
 * Acquires the lease as `Acquisition.ts` describes (one attempt always; then waiting by default,
 * bounded by `--timeout`, with a line on stderr unless `--quiet`; with `--try` an answer at once,
 * unless the record looks overdue — then it is observed, and taken over if its holder stays silent
 * for its duration),
 * starts CMD with `LEASEKIT_TOKEN` (the fencing token), `LEASEKIT_HOLDER` and `LEASEKIT_LEASE`
 * (`namespace/name`) added to its environment, renews the lease in the background, passes
 * SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 (and SIGTSTP/SIGCONT) on to CMD's session, and
 * releases the lease once CMD *and its session* have ended, exiting with CMD's status
 * (`CommandProcess.ts` says what is supervised — every process group of CMD's session, which only a
 * further `setsid` leaves — and how, when stdin is a terminal). Processes CMD leaves behind
 * (`sh -c 'job &'`) keep the lease held and renewed until they exit, or with `--survivors stop`
 * get SIGTERM and SIGKILL after `--grace` before the release. When the lease is lost while CMD or
 * what it left runs — another holder took it, an admin released it, or it could not be renewed
 * before the renew deadline — the whole session gets SIGTERM, SIGKILL after `--grace` to whatever
 * is left, and leasekit exits with 79 once the session is empty (also when the loss comes while
 * the processes CMD left are being stopped). After a forwarded SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT, CMD gets all the time it takes, but what it leaves in its session once it
 * exited is stopped the same way. The lease is checked once more right before CMD is started: a
 * lease lost (or past its renew deadline, as after a long pause of this process) between the
 * acquisition and the start exits 79 without starting CMD. A takeover that the lease's watch
 * shows (`TenureWatch.ts`) counts as a loss at once, not at the next renewal. A request to hand the
 * lease over (`leasekit handoff NAME --to ID`, or a leasekit contender asking for it), seen at a
 * renewal, stops the session the same way (SIGTERM, SIGKILL after `--grace`); once it is empty the
 * lease is handed over to ID (`HeldLease.handoff`: reserved for ID for its handoff window) and
 * leasekit exits 79 saying so — CMD did not finish. With `--health-port`, `/healthz`,
 * `/readyz` and `/metrics` are served while `run` runs (`RunHealth.ts`, loaded only then). If leasekit dies (SIGKILL, OOM, crash)
 * while CMD's session runs, a dead man's switch SIGKILLs the session (`DeadMansSwitch.ts`).
 *
 * With `--permits N`, NAME is a counting semaphore (`LeaseSemaphore`): `run` waits in its fair
 * queue for one of its N permits (`SemaphoreAcquisition.ts`; `--try` and `--timeout` answer as for
 * a lease) and then runs CMD exactly as above while holding that permit — a permit is an ordinary
 * lease, `NAME-<index>`, so the pre-start check, the watch, the loss, the grace and the release
 * are the same code. CMD sees `LEASEKIT_PERMIT` (the index), `LEASEKIT_TOKEN` (the permit's own
 * fencing token: tokens increase per permit, not across permits) and `LEASEKIT_LEASE`
 * (`namespace/NAME-<index>`). Requests to hand over do not apply to permits. A permit withdrawn by
 * `leasekit resize` is said on stderr; CMD keeps it until it exits. A plain `run NAME` (no
 * `--permits`) on a semaphore's head, permit or ticket is refused by the core (64).
 *
 * The release waits at most the grace (the default grace when `--grace` is shorter): one that is
 * not confirmed by then — the API server unreachable at the end — is reported in one line ("could
 * not release the lease (…): it expires by itself …") and leasekit exits at once with CMD's status.
 * Both graces fit inside the margin before the renew deadline, so a command that ended is not
 * reported "lost" while its release is tried, unless renewals were already failing before.
 *
 * Guarantees (those of `Lease` in @leasekit/core, under its clock-rate assumption): CMD is
 * started only while the lease is held; on a loss by the renew deadline, CMD's session is signalled
 * at the deadline and SIGKILLed within the grace, which `RunOptions.ts` keeps inside the margin
 * `duration − renewDeadline` before any other contender may take the lease over; the lease is
 * released only after CMD and its session have ended. Does not guarantee: that SIGKILL ends
 * every process CMD started (those that left its session by a further `setsid`, or — when stdin is a terminal —
 * its children), nor anything for a loss that is not declared by the deadline (another holder or
 * an admin already took the lease: CMD is then overlapping it from the start), nor anything while
 * leasekit is paused (SIGSTOP, a frozen VM) rather than dead; work a CMD does after the lease
 * passed to someone else is only caught by fencing (compare `LEASEKIT_TOKEN` in the systems it
 * writes to).
 *
 * @since 0.1.0
 */
import type { HeldLease } from "@leasekit/core/Lease"
import * as Lease from "@leasekit/core/Lease"
import { LeaseLostError } from "@leasekit/core/LeaseError"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Command from "effect/cli/Command"
import * as Fs from "node:fs"
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as Acquisition from "./Acquisition.ts"
import * as Durations from "./Durations.ts"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import type * as RunCommand from "../commands/RunCommand.ts"
import * as RunOptions from "./RunOptions.ts"
import * as SemaphoreAcquisition from "./SemaphoreAcquisition.ts"
import { printable } from "./Printable.ts"
import * as Stderr from "./Stderr.ts"
import * as CommandProcess from "./CommandProcess.ts"
import * as SignalForwarding from "./SignalForwarding.ts"
import * as Supervisor from "./Supervisor.ts"
import * as TenureWatch from "./TenureWatch.ts"

type Config = Command.Command.Config.Infer<typeof RunCommand.config>




/**
 * Releases the lease once CMD and its group have ended, waiting at most `bound`. A release that is
 * not confirmed by then (the API server unreachable, or refusing) is reported in one line and
 * leasekit leaves at once with CMD's status: the lease expires by itself. Leaving at once means
 * `process.exit`: the core keeps retrying the release (and watching the renew deadline) in the
 * background until the deadline, which would keep Node running — and then report a loss — for a
 * command that ended long before.
 */
const releaseWithin = (lease: Pick<HeldLease, "key" | "options" | "release">, bound: Duration.Duration, status: number) =>
  Effect.gen(function*() {
    const { key, options } = lease
    const expires = `it expires by itself ${Duration.toSeconds(options.duration)}s (--duration) after its last renewal`
    const leave = (line: string) => {
      Stderr.flush()
      try {
        Fs.writeSync(2, line)
      } catch {
        // stderr closed: nothing more to say
      }
      process.exit(status)
    }
    // SIGINT / SIGTERM while the release waits (the API server unreachable, a long grace):
    // CMD has ended, so leave at once with its status; the lease expires by itself.
    const stopSignal = Effect.callback<never>(() => {
      const on = (signal: NodeJS.Signals) =>
        leave(`leasekit: ${signal}: gave up releasing the lease ${key.namespace}/${key.name}; ${expires}\n`)
      process.once("SIGINT", on)
      process.once("SIGTERM", on)
      return Effect.sync(() => {
        process.off("SIGINT", on)
        process.off("SIGTERM", on)
      })
    })
    const released = yield* Effect.raceFirst(lease.release.pipe(Effect.timeoutOption(bound)), stopSignal).pipe(Effect.result)
    if (Result.isSuccess(released) && Option.isSome(released.success)) return
    if (Result.isFailure(released) && released.failure.reason._tag === "HeldByOther") {
      // Taken over after CMD ended: nothing of ours is left to release.
      return yield* Effect.logDebug(released.failure.message)
    }
    const why = Result.isSuccess(released)
      ? `no answer from the API server within ${Durations.format(bound)}`
      : released.failure.reason._tag === "Store"
      ? released.failure.reason.error.message
      : released.failure.message
    yield* Effect.sync(() => leave(`leasekit: could not release the lease ${key.namespace}/${key.name} (${why}): ${expires}\n`))
  })

/**
 * Hands the lease over to `to` once CMD and its session have ended (a request to hand it over:
 * `leasekit handoff`), waiting at most `bound`. One that fails — the lease was lost meanwhile, the
 * API server unreachable — is reported in one line: the lease then expires by itself, or is
 * already someone else's.
 */
/** Hands the lease over; answers whether the handoff was confirmed (a failure is reported on
 * stderr — the lease then expires by itself). */
const handOver = (handoff: HeldLease["handoff"], to: string, bound: Duration.Duration): Effect.Effect<boolean> =>
  handoff(to).pipe(
    Effect.timeoutOption(bound),
    Effect.flatMap((done) =>
      Option.isSome(done)
        ? Effect.as(Effect.logDebug(`handed the lease over to "${to}"`), true)
        : Effect.as(
          Effect.sync(() => Stderr.line(`leasekit: could not hand the lease over to "${printable(to)}": no answer within ${Durations.format(bound)}\n`)),
          false
        )
    ),
    Effect.catch((error) =>
      Effect.as(
        Effect.sync(() => Stderr.line(`leasekit: could not hand the lease over to "${printable(to)}": ${printable(error.message)}\n`)),
        false
      )
    )
  )

/** The program of `run`, given its parsed configuration. */
const program = (c: Config) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.KubeClient
    const namespace = Option.getOrElse(c.namespace, () => client.namespace)
    // Every option, the grace included, is checked (64) before anything is sent.
    const { grace, health, lease: options, permits, timeout } = yield* RunOptions.resolve(c, namespace)
    if (Option.isSome(permits)) return yield* runPermit(c, namespace, { grace, options, permits: permits.value, timeout })
    // One contender, made once from these options, does all of the acquisition. Requests to hand
    // the lease over are not honoured by the core (it would release while CMD still runs: CMD is
    // not guarded work): `run` sees them (`handoffRequested`), stops CMD, and hands over itself.
    const contender = yield* Lease.contender({ ...options, handoffRequests: "refuse" }).pipe(
      Effect.mapError((error) => RunOptions.invalidOption(error, c))
    )
    yield* Effect.logDebug(
      `grace ${Durations.format(grace)} of the margin ${Durations.format(RunOptions.margin(contender.options))} (duration − renewDeadline)`
    )
    // --health-port: the server (loaded only then) listens before the lease is asked for.
    const served = Option.isSome(health)
      ? yield* Effect.flatMap(Effect.promise(() => import("./RunHealth.ts")), (m) => m.serve(contender, health.value))
      : undefined
    const lease = yield* Acquisition.acquire({
      contender,
      try: c.try,
      timeout,
      conflictExitCode: c.conflictExitCode,
      quiet: c.quiet
    })
    yield* Effect.logInfo(`acquired lease ${namespace}/${c.name} as "${lease.holder}" with token ${lease.token}`)
    if (served !== undefined) yield* served.holding(lease)
    return yield* holdAndRun(c, lease, {
      grace,
      releaseBound: Duration.max(grace, RunOptions.defaultGrace(contender.options)),
      env: {
        LEASEKIT_TOKEN: String(lease.token),
        LEASEKIT_HOLDER: lease.holder,
        LEASEKIT_LEASE: `${namespace}/${c.name}`
      }
    })
  }).pipe(Effect.scoped)

/**
 * `run --permits N`: one permit of the semaphore NAME (`SemaphoreAcquisition.ts`), then the same
 * supervision as a lease. The permit's lease (NAME-<index>) is what CMD holds: its token, its
 * watch, its loss. A permit withdrawn by `leasekit resize` is said on stderr; CMD keeps it until it
 * exits (the semaphore's drain).
 */
const runPermit = (
  c: Config,
  namespace: string,
  resolved: {
    readonly grace: Duration.Duration
    readonly options: RunOptions.RunOptions["lease"]
    readonly permits: number
    readonly timeout: Option.Option<Duration.Duration>
  }
) =>
  Effect.gen(function*() {
    const contender = yield* LeaseSemaphore.contender({ ...resolved.options, permits: resolved.permits }).pipe(
      Effect.mapError((error) => RunOptions.invalidOption(error, c))
    )
    const permit = yield* SemaphoreAcquisition.acquire({
      contender,
      try: c.try,
      timeout: resolved.timeout,
      conflictExitCode: c.conflictExitCode,
      quiet: c.quiet
    })
    yield* Effect.logInfo(
      `acquired permit ${permit.permit} of semaphore ${namespace}/${c.name} (lease ${namespace}/${permit.key.name}) as "${permit.holder}" with token ${permit.token}`
    )
    yield* permit.withdrawn.pipe(
      Effect.andThen(Effect.sync(() =>
        Stderr.line(
          `leasekit: permit ${permit.permit} of semaphore ${namespace}/${c.name} was withdrawn (\`leasekit resize\` lowered the count): ` +
            "the command keeps it until it exits, then it is released and not handed out again\n"
        )
      )),
      Effect.forkScoped
    )
    return yield* holdAndRun(c, permit, {
      grace: resolved.grace,
      releaseBound: Duration.max(resolved.grace, RunOptions.defaultGrace(contender.options)),
      env: {
        LEASEKIT_PERMIT: String(permit.permit),
        LEASEKIT_TOKEN: String(permit.token),
        LEASEKIT_HOLDER: permit.holder,
        LEASEKIT_LEASE: `${namespace}/${permit.key.name}`
      }
    })
  }).pipe(Effect.scoped)

/**
 * What `run` holds while CMD runs: a lease, or a permit of a semaphore (a lease too, which is
 * never handed over on request).
 */
type Holding = Pick<HeldLease, "key" | "holder" | "token" | "options" | "release" | "guard" | "lost"> & {
  readonly handoffRequested?: HeldLease["handoffRequested"] | undefined
  readonly handoff?: HeldLease["handoff"] | undefined
}

/**
 * Runs CMD while `lease` is held — the one supervision of `run`, for a lease and for a permit
 * (see the module header): the pre-start check, the spawn with `env` added, loss by the core, the
 * watch or a handoff request, the release within `releaseBound`, and the exit code.
 */
const holdAndRun = (
  c: Config,
  lease: Holding,
  settings: { readonly grace: Duration.Duration; readonly releaseBound: Duration.Duration; readonly env: Record<string, string> }
) =>
  Effect.gen(function*() {
    const { grace } = settings
    const { namespace } = lease.key
    const [file, ...args] = c.command
    const ownGroup = CommandProcess.defaultOwnGroup()
    const spawned = yield* Deferred.make<CommandProcess.Child>()
    const forwarding = yield* SignalForwarding.forwardSignals(spawned, ownGroup)
    // Held right now? The acquisition may lie a while back (a paused process, a slow start):
    // a lease lost or past its renew deadline meanwhile starts no CMD. The check is the guard's
    // own pre-check (it also names the loss), made immediately before the spawn.
    yield* lease.guard(Effect.void).pipe(
      Effect.catchTag("LeaseLostError", (error) =>
        Effect.fail(
          ExitCode.fail(
            ExitCode.codes.lost,
            `${error.message}; the command was not started (the lease was lost between its acquisition and the start)`,
            error.reason._tag === "DeadlineExceeded"
              ? "no renewal succeeded before the renew deadline (this process paused or starved, or the API server unreachable): check the machine's load and the network, or use a longer --duration"
              : `see who holds it with \`leasekit status ${c.name}\``
          )
        ))
    )
    const child = yield* CommandProcess.spawn(file!, args, {
      grace,
      ownGroup,
      env: { ...process.env, ...settings.env }
    }).pipe(
      Effect.catchTag("SpawnError", (error) =>
        Effect.fail(
          ExitCode.fail(
            error.code === "ENOENT" ? ExitCode.codes.notFound : ExitCode.codes.notExecutable,
            error.message,
            "check the command's spelling, its path and $PATH"
          )
        ))
    )
    yield* Deferred.succeed(spawned, child)
    yield* Effect.logDebug(`started ${file} (pid ${child.pid}${child.ownGroup ? ", own session" : ""})`)

    // A takeover the lease's watch shows is a loss now, not at the next renewal. A request to
    // hand the lease over ends CMD the same way — stopped before the lease is handed over.
    let seenByWatch = false
    const lost = Effect.raceFirst(
      Effect.raceFirst(
        lease.lost,
        TenureWatch.takenOver(lease).pipe(
          Effect.tap(() => Effect.sync(() => (seenByWatch = true))),
          Effect.flatMap(Effect.fail),
          Effect.provideService(LeaseStore.LeaseStore, yield* LeaseStore.LeaseStore)
        )
      ),
      (lease.handoffRequested ?? Effect.never).pipe(
        Effect.tap((to) => Effect.sync(() => Stderr.line(`leasekit: asked to hand the lease over to "${printable(to)}": stopping the command\n`))),
        Effect.flatMap((to) =>
          Effect.fail(new LeaseLostError({ key: lease.key, holder: lease.holder, reason: { _tag: "HandedOff", to } }))
        )
      )
    )
    const outcome = yield* Supervisor.supervise(child, {
      lost,
      forwarding,
      survivors: c.survivors,
      grace,
      notify: (line) => Effect.sync(() => Stderr.line(`leasekit: ${line}\n`))
    })
    if (outcome._tag === "Exited") {
      const status = CommandProcess.statusOf(outcome.ended)
      yield* Effect.logDebug(`command exited with status ${status}; releasing the lease`)
      // Bounded by the grace — at least the default one, so that a short --grace chosen for a
      // quick SIGKILL does not cut the release short. Either fits in the margin before the renew
      // deadline, so a release that gives up does not first see the lease "lost".
      yield* releaseWithin(lease, settings.releaseBound, status)
      if (status !== 0) return yield* ExitCode.silent(status)
      return
    }
    const how = CommandProcess.describeEnded(outcome.ended)
    const reason = outcome.error.reason
    if (reason._tag === "HandedOff") {
      // CMD and its session have ended: now the lease goes to the requester.
      const handed = lease.handoff !== undefined && (yield* handOver(lease.handoff, reason.to, settings.releaseBound))
      return yield* ExitCode.fail(
        ExitCode.codes.lost,
        handed
          ? `handed lease ${namespace}/${c.name} over to "${reason.to}" at its request (\`leasekit handoff\`); the command was stopped (${how})`
          : `asked to hand lease ${namespace}/${c.name} over to "${reason.to}" (\`leasekit handoff\`), the command was stopped (${how}), but the handoff was not confirmed: the lease frees itself once it has gone unrenewed for its duration`
      )
    }
    return yield* ExitCode.fail(
      ExitCode.codes.lost,
      outcome.during === "running"
        ? `${outcome.error.message}${seenByWatch ? " (seen through the lease's watch)" : ""}; the command was stopped (${how})`
        : `${outcome.error.message}; the command had already exited with status ${
          CommandProcess.statusOf(outcome.ended)
        }, and the processes it left running were stopped`,
      reason._tag === "DeadlineExceeded"
        ? "renewals did not reach the API server in time: check the network and the API server's load, or use a longer --duration"
        : `someone else changed the lease (\`leasekit release --force\`, kubectl, or another contender); see \`leasekit status ${c.name}\``
    )
  }).pipe(Effect.scoped)

/**
 * What `leasekit run` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
  // The flags are checked before the kubeconfig is even read (with `-n`, else a stand-in
  // namespace: no rule but the namespace's own depends on it), and again with the real one.
  RunOptions.resolve(c, Option.getOrElse(c.namespace, () => "default")).pipe(
    Effect.andThen(program(c).pipe(GlobalOptions.withStore(c)))
  )
