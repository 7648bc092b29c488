/**
 * How `leasekit run` gets its lease: one attempt always, then — with `--try` — an answer, or —
 * by default — a wait that says what it waits for. Everything is done by one contender, made
 * once from `run`'s resolved options (`Lease.contender`): its first attempt (`tryAcquire`), the
 * wait (`acquire`) and the observation of an overdue record all judge the lease with the same
 * options and the same memory of when the record was first seen.
 *
 * - **One attempt first**, whatever `--timeout` says: a free lease is taken even when `--timeout`
 *   is shorter than a round trip to the API server, and an API server that cannot be reached (or
 *   refuses us) is reported at once (69, 77) instead of being waited out.
 * - **One read to answer.** The first attempt's answer for a held lease carries the record it
 *   read (holder, `renewTime`, the duration this contender honours for it): the waiting line and
 *   the `--try` decision below are made from it, without reading the lease again. A `--try` on a
 *   held lease that is not overdue costs exactly one read and no write.
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
 *   was last renewed, as the first attempt read it), then one every `progressEvery` while it
 *   lasts (how long it has waited: it reads nothing); `--quiet` silences them.
 * - **Lost races are no answer.** When the first attempt lost its races (others keep taking and
 *   releasing the lease), `--try` answers "held" at once and `--wait` waits, saying so. A write
 *   whose answer was lost (a timeout after the read had answered) is left to the wait as well,
 *   which reads the lease and finds out (with `--try` it is reported: 69); a read that got no
 *   answer is an API server that cannot be reached (69 at once).
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
import type { HeldLease } from "@leasekit/core/Lease"
import type { LeaseKey } from "@leasekit/core/LeaseRecord"
import * as Lease from "@leasekit/core/Lease"
import * as LeaseRecord from "@leasekit/core/LeaseRecord"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
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
  /** The contender `run` competes with, made once from its resolved options (`contender.options`). */
  readonly contender: Lease.LeaseContender
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
/** A waiting line on stderr, unless `--quiet`. */
export const say = (quiet: boolean, line: string) => quiet ? Effect.void : Effect.sync(() => Stderr.line(`leasekit: ${line}\n`))

/** The exit for a lease held by someone else. */
const held = (settings: Settings, problem: string, fix: string) =>
  ExitCode.fail(settings.conflictExitCode, problem, `${fix}; see who holds it with \`leasekit status ${settings.contender.key.name}\``)

/** The fix of every "held" answer of `--try`. */
const notWaiting = "not waiting (--try); drop --try to wait"

/**
 * What the first attempt found when it did not take the lease: another holder's record (as read,
 * with the duration this contender honours for it), or no answer — it lost its races, or the
 * store failed in a way the wait retries.
 */
type Found = HeldRecord | Unanswered

interface HeldRecord {
  readonly _tag: "Held"
  readonly record: LeaseRecord.LeaseRecord
  readonly honoured: Duration.Duration
  readonly overdue: boolean
  /** Who holds it and when it was last renewed. */
  readonly text: string
}

interface Unanswered {
  readonly _tag: "Unanswered"
  readonly text: string
}

/** The first attempt's answer for a held lease, described (no read: the answer carries the record). */
const heldBy = (key: LeaseKey, answer: Extract<Lease.TryAcquireResult, { _tag: "HeldByOther" }>, now: number): HeldRecord => {
  const late = overdue(answer.record, answer.honouredDuration, now)
  return {
    _tag: "Held",
    record: answer.record,
    honoured: answer.honouredDuration,
    overdue: late,
    text: `lease ${LeaseRecord.formatKey(key)} is held by ${quote(answer.holder)} (${renewedAgo(answer.record, now)}${late ? ", overdue" : ""})`
  }
}

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

/**
 * `--try` on a record that looks overdue: observes it (see the module header) — the contender
 * waits for it, bounded by the record's duration and a few retries, while a poll looks for a
 * renewal or a takeover by someone else.
 */
const observeOverdue = (settings: Settings, found: HeldRecord) =>
  Effect.gen(function*() {
    const { contender } = settings
    const { holder, key, requestTimeout, retryPeriod } = contender.options
    const observing = Duration.millis(
      Duration.toMillis(found.honoured) + 2 * Duration.toMillis(retryPeriod) + Duration.toMillis(requestTimeout)
    )
    yield* say(
      settings.quiet,
      `${found.text}: observing it for at most ${Durations.format(observing)} — a live holder renews before then, ` +
        "a dead one's lease is taken over once unchanged for its duration"
    )
    const outcome = yield* Effect.raceFirst(
      contender.acquire(observing).pipe(Effect.map((lease) => ({ _tag: "Acquired", lease }) as const)),
      renewedOrTaken(key, found.record, holder, retryPeriod).pipe(Effect.map((record) => ({ _tag: "Renewed", record }) as const))
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
          notWaiting
        )
      case "Silent":
        return yield* held(settings, `${found.text}, and could not be taken over in ${Durations.format(observing)}`, "try again")
    }
  })

/** The wait of `--wait` (the default): `contender.acquire`, bounded by `--timeout`, with its lines. */
const wait = (settings: Settings, found: Found) =>
  Effect.gen(function*() {
    const { contender, timeout } = settings
    const bound = Option.match(timeout, { onNone: () => "", onSome: (t) => ` at most ${Durations.format(t)}` })
    // Its own identity too: what `leasekit handoff NAME --to ID` needs to name this waiter.
    yield* say(settings.quiet, `${found.text}; waiting${bound} as ${quote(contender.options.holder)}`)
    const every = settings.progressEvery ?? Duration.seconds(30)
    const started = yield* Clock.currentTimeMillis
    const progress = Effect.gen(function*() {
      const waited = (yield* Clock.currentTimeMillis) - started
      yield* say(settings.quiet, `still waiting (${Durations.formatMillis(waited)}) for lease ${LeaseRecord.formatKey(contender.key)}`)
    }).pipe(Effect.repeat(Schedule.spaced(every)), Effect.delay(every))
    return yield* Effect.raceFirst(
      contender.acquire(Option.getOrUndefined(timeout)),
      settings.quiet ? Effect.never : Effect.andThen(progress, Effect.never)
    ).pipe(
      Effect.mapError((error) => {
        if (error.reason._tag !== "Timeout") return error
        const tooShort = found._tag === "Held" && found.overdue && Option.isSome(timeout) &&
          Duration.isLessThan(timeout.value, found.honoured)
        return held(
          settings,
          error.message,
          tooShort
            ? `the holder looks dead, but a lease is taken over only after it was seen unchanged for its duration: use --timeout of at least ${
              Durations.format(found.honoured)
            }`
            : "wait longer with --timeout"
        )
      })
    )
  })

/**
 * Takes the lease as `run` does (see the module header), for the lifetime of the contender's
 * scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquire = (settings: Settings): Effect.Effect<HeldLease, unknown, LeaseStore.LeaseStore> =>
  Effect.gen(function*() {
    const { key } = settings.contender
    const lease = `lease ${LeaseRecord.formatKey(key)}`
    // The first attempt. Lost races, and a write whose answer was lost (the store did answer the
    // read before it), are left to the wait, which retries them; with --try, lost races mean
    // others are taking it: held. A read that got no answer is an API server we cannot reach:
    // reported at once (69), not waited out.
    const first = yield* settings.contender.tryAcquire.pipe(
      Effect.catchTag("LeaseAcquisitionError", (error): Effect.Effect<Unanswered, unknown> => {
        if (error.reason._tag === "Contended") {
          const text = `${lease} changes hands quickly (lost the race to other contenders ${error.reason.races} times in a row)`
          return settings.try ? Effect.fail(held(settings, text, notWaiting)) : Effect.succeed({ _tag: "Unanswered", text })
        }
        const store = error.reason._tag === "Store" ? error.reason.error : undefined
        return !settings.try && store !== undefined && LeaseStore.isTransient(store) && store.operation !== "get"
          ? Effect.succeed({ _tag: "Unanswered", text: `${lease}: the answer to our write was lost (${store.message})` })
          : Effect.fail(error)
      })
    )
    if (first._tag === "Acquired") return first.lease
    if (first._tag === "Unanswered") return yield* wait(settings, first) // never with --try
    const found = heldBy(key, first, yield* Clock.currentTimeMillis)
    if (!settings.try) return yield* wait(settings, found)
    if (!found.overdue) return yield* held(settings, found.text, notWaiting)
    return yield* observeOverdue(settings, found)
  })
