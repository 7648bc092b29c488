/**
 * How `leasekit run` gets its lease: one attempt always, then — with `--try` — an answer, or —
 * by default — a wait that says what it waits for.
 *
 * - **One attempt first**, whatever `--timeout` says: a free lease is taken even when `--timeout`
 *   is shorter than a round trip to the API server, and an API server that cannot be reached (or
 *   refuses us) is reported at once (69, 77) instead of being waited out.
 * - **`--try` and a dead holder.** Every `--try` run is a fresh process: it has never seen the
 *   record before, so by the core's rule (a record is expired once *this* contender observed it
 *   unchanged for its duration) it could never take over from a holder that crashed — one crashed
 *   CronJob run would make every later `--try` run skip, forever. So when the record looks
 *   *overdue* — its `renewTime` is older than its duration by this machine's clock — `--try`
 *   observes it instead of answering at once: it waits, like `--wait`, for at most the honoured
 *   duration plus two retry periods, and answers "held" as soon as the record changes to another
 *   holder (a live holder renews within its renew interval — a third of its duration for leasekit,
 *   2 s for client-go — whatever the clocks say). A holder that stays silent for its whole
 *   duration is taken over exactly as `--wait` would take it over. A record that is not overdue is
 *   answered "held" at once, with when it was last renewed.
 * - **Waiting says so**: one line on stderr when the wait starts (who holds the lease, when it
 *   was last renewed), then one every `progressEvery` while it lasts; `--quiet` silences them.
 *
 * Guarantees: the takeover rule is the core's, unchanged — `renewTime` is only used to decide
 * whether observing is worth it, never to take a lease over, so a wrong clock can make `--try`
 * slower (it observes a live holder until it sees a renewal) or faster to answer "held", never
 * let two holders in. Does not: take over a dead holder's lease in less than its duration (the
 * record must be seen unchanged that long), or within `--timeout` when `--timeout` is shorter
 * than that duration (the message then says so).
 *
 * @since 0.1.0
 */
import type { HeldLease, LeaseKey, LeaseOptions } from "@leasekit/core"
import { Lease, LeaseRecord, LeaseStore } from "@leasekit/core"
import { Clock, Duration, Effect, Option, Schedule, Scope } from "effect"
import * as Durations from "./Durations.ts"
import * as ExitCode from "./ExitCode.ts"
import { printable } from "./Printable.ts"
import * as Stderr from "./Stderr.ts"

/**
 * What `acquire` needs to know.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly lease: LeaseOptions.LeaseOptions
  readonly resolved: LeaseOptions.ResolvedLeaseOptions
  /** `--try`: answer instead of waiting (but observe an overdue record, see the module header). */
  readonly try: boolean
  /** `--timeout`: bound on the wait after the first attempt. */
  readonly timeout: Option.Option<Duration.Duration>
  readonly conflictExitCode: number
  /** `--quiet`: no waiting lines. */
  readonly quiet: boolean
  /** How often a waiting line is repeated. */
  readonly progressEvery?: Duration.Duration | undefined
}

/** Text from a lease (holder identities are written by anyone): quoted, control characters escaped. */
const quote = (text: string): string => `"${printable(text)}"`

/** When the record was last renewed, by this machine's clock, as text. */
const renewedAgo = (record: LeaseRecord.LeaseRecord, now: number): string => {
  if (record.renewTime === undefined) return "never renewed"
  const age = now - record.renewTime
  return age < 0
    ? `last renewed ${Durations.formatMillis(-age)} in this machine's future (clock skew?)`
    : `last renewed ${Durations.formatMillis(age)} ago`
}

/** Whether the record looks dead by this machine's clock: not renewed for longer than its duration. */
const overdue = (record: LeaseRecord.LeaseRecord, honoured: Duration.Duration, now: number): boolean =>
  LeaseRecord.isHeld(record) && record.renewTime !== undefined && now - record.renewTime > Duration.toMillis(honoured)

/** A line on stderr (its parts from the lease are escaped where they are quoted). */
const say = (quiet: boolean, line: string) => quiet ? Effect.void : Effect.sync(() => Stderr.line(`leasekit: ${line}\n`))

/** The exit for a lease held by someone else. */
const held = (settings: Settings, problem: string, fix: string) =>
  ExitCode.fail(settings.conflictExitCode, problem, `${fix}; see who holds it with \`leasekit status ${settings.resolved.key.name}\``)

/** One line about the current record: who holds it, when it was renewed — judged with this
 * contender's own options (the duration it honours for a record that declares none is its own). */
const describe = (key: LeaseKey, options: LeaseOptions.LeaseOptions) =>
  Effect.gen(function*() {
    const inspection = yield* Lease.inspect(key, { duration: options.duration })
    const now = yield* Clock.currentTimeMillis
    return Option.match(inspection.record, {
      onNone: () => ({ text: `lease ${LeaseRecord.formatKey(key)} does not exist yet`, record: Option.none<LeaseRecord.LeaseRecord>(), inspection }),
      onSome: (record) => ({
        text: LeaseRecord.isHeld(record)
          ? `lease ${LeaseRecord.formatKey(key)} is held by ${quote(record.holder!)} (${renewedAgo(record, now)}${
            overdue(record, inspection.honouredDuration, now) ? ", overdue" : ""
          })`
          : `lease ${LeaseRecord.formatKey(key)} is free`,
        record: Option.some(record),
        inspection
      })
    })
  })

/** What a renewal or a takeover changes in a record (a label edit changes none of it). */
const tenureOf = (record: LeaseRecord.LeaseRecord) => `${record.holder ?? ""}|${record.renewTime ?? ""}|${record.transitions ?? 0}`

/**
 * Succeeds once the record is held by a holder other than `self` and its holder, `renewTime` or
 * transitions counter differ from `since`'s: a live holder renewed it, or another contender took
 * it (metadata edits, such as a label, do not count). Polls every `every`.
 */
const renewedOrTaken = (key: LeaseKey, since: LeaseRecord.LeaseRecord, self: string, every: Duration.Duration) =>
  Effect.gen(function*() {
    const store = yield* LeaseStore.LeaseStore
    return yield* store.get(key).pipe(
      Effect.map(Option.filter((record) => LeaseRecord.isHeld(record) && record.holder !== self && tenureOf(record) !== tenureOf(since))),
      Effect.orElseSucceed(() => Option.none<LeaseRecord.LeaseRecord>()),
      Effect.repeat({ schedule: Schedule.spaced(every), until: Option.isSome }),
      Effect.map((found) => (found as Option.Some<LeaseRecord.LeaseRecord>).value)
    )
  })

/** How many times `--try` attempts when the lease turns out free (or absent) right after an
 * attempt found it held: a holder that released meanwhile. */
const attemptsWhenFreed = 3

/**
 * Takes the lease as `run` does (see the module header), for the lifetime of the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire = (settings: Settings): Effect.Effect<HeldLease, unknown, Lease.Lease | LeaseStore.LeaseStore | Scope.Scope> =>
  Effect.gen(function*() {
    const { key } = settings.resolved
    // The first attempt. Waiting, a lost race or a transient store error is left to the wait
    // (the core retries them, and still fails at once when its very first request gets no
    // answer); with --try a lost race means others are taking it: held.
    const attempt = Lease.tryAcquire(settings.lease).pipe(
      Effect.catchTag("LeaseAcquisitionError", (error) =>
        error.reason._tag === "Contended" || (!settings.try && error.reason._tag === "Store" && LeaseStore.isTransient(error.reason.error))
          ? Effect.succeed(Option.none<HeldLease>())
          : Effect.fail(error))
    )
    let current: Effect.Success<ReturnType<typeof describe>> | undefined
    let now = 0
    for (let round = 1;; round++) {
      const first = yield* attempt
      if (Option.isSome(first)) return first.value
      now = yield* Clock.currentTimeMillis
      current = yield* describe(key, settings.lease)
      const freed = Option.match(current.record, { onNone: () => true, onSome: (record) => !LeaseRecord.isHeld(record) })
      if (!(settings.try && freed && round < attemptsWhenFreed)) break
    }
    const honoured = current.inspection.honouredDuration
    const retry = Duration.toMillis(settings.resolved.retryPeriod)
    const observing = Duration.millis(Duration.toMillis(honoured) + 2 * retry + Duration.toMillis(settings.resolved.requestTimeout))

    if (settings.try) {
      const record = Option.getOrUndefined(current.record)
      if (record === undefined || !LeaseRecord.isHeld(record)) {
        return yield* held(
          settings,
          `lease ${LeaseRecord.formatKey(key)} changes hands quickly: each of ${attemptsWhenFreed} attempts found it taken, then free`,
          "not waiting (--try); drop --try to wait"
        )
      }
      if (!overdue(record, honoured, now)) {
        return yield* held(settings, current.text, "not waiting (--try); drop --try to wait")
      }
      yield* say(
        settings.quiet,
        `${current.text}: observing it for at most ${Durations.format(observing)} — a live holder renews before then, ` +
          "a dead one's lease is taken over once unchanged for its duration"
      )
      const outcome = yield* Effect.raceFirst(
        Lease.acquire({ ...settings.lease, timeout: observing }).pipe(Effect.map((lease) => ({ _tag: "Acquired", lease }) as const)),
        renewedOrTaken(key, record, settings.resolved.holder, settings.resolved.retryPeriod).pipe(
          Effect.map((record) => ({ _tag: "Renewed", record }) as const)
        )
      ).pipe(
        Effect.catchTag("LeaseAcquisitionError", (error) =>
          error.reason._tag === "Timeout" ? Effect.succeed({ _tag: "Silent" } as const) : Effect.fail(error))
      )
      switch (outcome._tag) {
        case "Acquired":
          yield* say(settings.quiet, `the holder stayed silent for its duration: took the lease over`)
          return outcome.lease
        case "Renewed":
          return yield* held(
            settings,
            `lease ${LeaseRecord.formatKey(key)} is held by ${quote(outcome.record.holder!)} (it looked overdue by this machine's clock, ` +
              "but the record changed while observed: the holder is alive)",
            "not waiting (--try); drop --try to wait"
          )
        case "Silent":
          return yield* held(settings, `${current.text}, and could not be taken over in ${Durations.format(observing)}`, "try again")
      }
    }

    const bound = Option.match(settings.timeout, { onNone: () => "", onSome: (t) => ` at most ${Durations.format(t)}` })
    yield* say(settings.quiet, `${current.text}; waiting${bound}`)
    const started = yield* Clock.currentTimeMillis
    const progress = Effect.gen(function*() {
      const line = yield* describe(key, settings.lease)
      const waited = (yield* Clock.currentTimeMillis) - started
      yield* say(settings.quiet, `still waiting (${Durations.formatMillis(waited)}): ${line.text}`)
    }).pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(settings.progressEvery ?? Duration.seconds(30))),
      Effect.delay(settings.progressEvery ?? Duration.seconds(30))
    )
    const waited = Lease.acquire({ ...settings.lease, ...(Option.isSome(settings.timeout) ? { timeout: settings.timeout.value } : {}) })
    return yield* Effect.raceFirst(waited, settings.quiet ? Effect.never : Effect.andThen(progress, Effect.never)).pipe(
      Effect.mapError((error) => {
        if (error._tag !== "LeaseAcquisitionError" || error.reason._tag !== "Timeout") return error
        const record = Option.getOrUndefined(current.record)
        const tooShort = record !== undefined && overdue(record, honoured, now) && Option.isSome(settings.timeout) &&
          Duration.isLessThan(settings.timeout.value, honoured)
        return held(
          settings,
          error.message,
          tooShort
            ? `the holder looks dead, but a lease is taken over only after it was seen unchanged for its duration: use --timeout of at least ${Durations.format(honoured)}`
            : "wait longer with --timeout"
        )
      })
    )
  })
