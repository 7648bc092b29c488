/**
 * `leasekit release NAME --force`: an administrator clears a stuck holder.
 *
 * Writes what a holder's own release writes — an empty holder and `leaseDurationSeconds: 1`,
 * keeping the object and its transitions counter, so fencing tokens keep increasing — as a
 * compare-and-swap on the version just read (a concurrent change is re-read, at most a few
 * times). Refuses without `--force` (exit 64): the holder may still be working, and it only
 * notices at its next renewal (within a third of the lease duration); a `leasekit run` holder
 * then stops its command and exits 79.
 *
 * Guarantees: a lease that does not exist or is already free is left alone (exit 0: nothing to
 * do); with `-o json` every outcome, the refusal included, is one JSON object on stdout (the
 * refusal also says so on stderr and exits 64); holder identities in text output are escaped
 * (`Printable.ts`). Does not guarantee: that the previous holder's work has stopped — that is what
 * fencing tokens are for.
 *
 * @since 0.1.0
 */
import * as LeaseRecord from "@leasekit/core/LeaseRecord"
import * as LeaseStore from "@leasekit/core/LeaseStore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Command from "effect/cli/Command"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import { printable } from "./Printable.ts"
import type * as ReleaseCommand from "../commands/ReleaseCommand.ts"

type Config = Command.Command.Config.Infer<typeof ReleaseCommand.config>



/**
 * What `release` did (also the JSON output).
 *
 * @since 0.1.0
 * @category models
 */
export interface Released {
  readonly namespace: string
  readonly name: string
  /** Whether this command cleared a holder. */
  readonly released: boolean
  /**
   * `released`, `absent` (no such lease), `free` (no holder), or `refused` (held, and no
   * `--force`: exit 64).
   */
  readonly outcome: "released" | "absent" | "free" | "refused"
  /** The holder this command cleared. */
  readonly previousHolder: string | null
  readonly token: number | null
  /** For `refused` only: who holds the lease. */
  readonly holder?: string
  /** For `refused` only: why nothing was released (as on stderr). */
  readonly error?: string
}

/** The text output of an outcome that exits 0 (a refusal is an error, on stderr). */
const describe = (r: Released): string => {
  const lease = `lease ${r.namespace}/${r.name}`
  switch (r.outcome) {
    case "released":
      return `released ${lease}: it was held by "${r.previousHolder}" (token ${r.token}); that holder loses it at its next renewal`
    case "absent":
      return `${lease} does not exist; nothing to release`
    case "free":
      return `${lease} is already free; nothing to release`
    case "refused":
      return r.error ?? `${lease} is held; nothing was released`
  }
}

/**
 * What `leasekit release` does, given its parsed command line.
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    const client = yield* KubeClient.KubeClient
    const store = yield* LeaseStore.LeaseStore
    const key = { namespace: Option.getOrElse(c.namespace, () => client.namespace), name: c.name }
    const base = { namespace: key.namespace, name: key.name }
    let result: Released | undefined
    for (let attempt = 0; result === undefined; attempt++) {
      const current = yield* store.get(key)
      if (Option.isNone(current)) {
        result = { ...base, released: false, outcome: "absent", previousHolder: null, token: null }
        break
      }
      const record = current.value
      if (!LeaseRecord.isHeld(record)) {
        result = { ...base, released: false, outcome: "free", previousHolder: null, token: record.transitions ?? 0 }
        break
      }
      if (!c.force) {
        const refusal = ExitCode.usage(
          `refusing to release lease ${key.namespace}/${key.name} held by "${record.holder}" without --force`,
          "its holder may still be working and only notices at its next renewal; pass --force if you are sure"
        )
        if (c.output === "json") {
          const refused: Released = {
            ...base,
            released: false,
            outcome: "refused",
            previousHolder: null,
            holder: record.holder!,
            token: record.transitions ?? 0,
            error: refusal.message
          }
          yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(refused, null, 2)}\n`))
        }
        return yield* refusal
      }
      const now = yield* Clock.currentTimeMillis
      const token = record.transitions ?? 0
      // As a holder's release writes it; coordinated-election fields (where the server keeps them) as read.
      const { preferredHolder, strategy } = record
      const spec = {
        holder: "",
        durationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        transitions: token,
        ...(strategy === undefined ? {} : { strategy }),
        ...(preferredHolder === undefined ? {} : { preferredHolder })
      }
      const written = yield* store.update(record, spec).pipe(
        Effect.as(true),
        Effect.catchIf((e) => e.reason === "Conflict" && attempt < 3, () => Effect.succeed(false)),
        Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(false))
      )
      if (written) result = { ...base, released: true, outcome: "released", previousHolder: record.holder!, token }
    }
    const text = c.output === "json" ? `${JSON.stringify(result, null, 2)}\n` : `${printable(describe(result))}\n`
    yield* Effect.sync(() => process.stdout.write(text))
  }).pipe(GlobalOptions.withStore(c))
