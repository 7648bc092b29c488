/**
 * `leasekit handoff NAME --to HOLDER`: an administrator asks the holder of a lease to hand it over
 * to a named contender.
 *
 * Writes the request the way a waiting contender would (`Lease.requestHandoff`): one
 * compare-and-swap that adds the `leasekit.io/handoff-request` annotation and leaves the spec
 * exactly as read (a concurrent change is re-read, a few times). It does not take the lease from
 * anyone: a leasekit holder sees the request at its next renewal (within a third of its duration)
 * and — unless it refuses requests — stops its guarded work, releases, and reserves the lease for
 * HOLDER for its handoff window (a `leasekit run` holder stops its command as on a loss — SIGTERM,
 * SIGKILL after its grace —, hands the lease over once it has ended, and exits 79). HOLDER must be waiting for the lease to take it; after the window anyone may.
 *
 * Outcomes (exit code; `-o json` prints one object with `outcome`):
 * - `requested` (0): the request is on the lease (also when the same request already was: nothing
 *   is written again — repeating the command cannot keep a dead holder's lease from expiring).
 * - `free` / `absent` (0): nobody holds the lease: HOLDER can simply take it. Nothing written.
 * - `already` (0): HOLDER holds it already. Nothing written.
 * - `coordinated` (64): the lease has `spec.strategy`: the API server's coordinated leader election
 *   picks its holder, and leasekit writes no such lease. With `-o json` the object is printed too.
 *
 * Guarantees: the spec is never written (no holder is cleared, no token changes); holder
 * identities in text output are escaped (`Printable.ts`); a HOLDER no holder can have (empty,
 * longer than 128 characters) is a usage error (64) before anything is sent. Does not guarantee:
 * that the holder honours the request (it may refuse, or not be leasekit), nor that HOLDER is
 * waiting — `leasekit status NAME` shows the request, then the reserved lease.
 *
 * @since 0.3.0
 */
import * as Lease from "@leasekit/core/Lease"
import * as LeaseOptions from "@leasekit/core/LeaseOptions"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Command from "effect/cli/Command"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import type * as HandoffCommand from "../commands/HandoffCommand.ts"
import { printable } from "./Printable.ts"

type Config = Command.Command.Config.Infer<typeof HandoffCommand.config>

/**
 * What `handoff` did (also the JSON output).
 *
 * @since 0.3.0
 * @category models
 */
export interface HandoffRequested {
  readonly namespace: string
  readonly name: string
  /** The contender the lease should go to (`--to`). */
  readonly to: string
  /** `requested`, `free`, `absent`, `already` (held by `to`), or `coordinated` (exit 64). */
  readonly outcome: "requested" | "free" | "absent" | "already" | "coordinated"
  /** Who holds the lease (`requested`, `already`); null otherwise. */
  readonly holder: string | null
  /** The current tenure's fencing token; null when unknown. */
  readonly token: number | null
  /** For `coordinated` only: the lease's spec.strategy. */
  readonly strategy?: string
  /** For `coordinated` only: why nothing was written (as on stderr). */
  readonly error?: string
}

/** The text output of an outcome that exits 0. */
const describe = (r: HandoffRequested): string => {
  const lease = `lease ${r.namespace}/${r.name}`
  switch (r.outcome) {
    case "requested":
      return `asked "${r.holder}", the holder of ${lease} (token ${r.token}), to hand it over to "${r.to}"; ` +
        "a leasekit holder does so at its next renewal unless it refuses requests (`leasekit status` shows it)"
    case "free":
      return `${lease} is free; nothing to hand over: "${r.to}" can take it`
    case "absent":
      return `${lease} does not exist; nothing to hand over: "${r.to}" can take it`
    case "already":
      return `${lease} is already held by "${r.to}"; nothing to do`
    case "coordinated":
      return r.error ?? `${lease} is coordinated by the API server; nothing was written`
  }
}

/**
 * What `leasekit handoff` does, given its parsed command line.
 *
 * @since 0.3.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    const to = yield* LeaseOptions.validateHolder(c.to).pipe(
      Effect.mapError((e) => ExitCode.usage(`--to ${JSON.stringify(c.to)}: ${e.rule}`, "pass the identity the contender writes into the lease"))
    )
    const client = yield* KubeClient.KubeClient
    const key = { namespace: Option.getOrElse(c.namespace, () => client.namespace), name: c.name }
    const base = { namespace: key.namespace, name: key.name, to }
    const answer = yield* Lease.requestHandoff(key, to)
    const result: HandoffRequested = answer._tag === "Requested"
      ? { ...base, outcome: "requested", holder: answer.holder, token: answer.record.transitions ?? 0 }
      : answer._tag === "HeldBy"
      ? { ...base, outcome: "already", holder: answer.holder, token: null }
      : answer._tag === "Free"
      ? Option.match(answer.record, {
        onNone: (): HandoffRequested => ({ ...base, outcome: "absent", holder: null, token: null }),
        onSome: (record): HandoffRequested => ({ ...base, outcome: "free", holder: null, token: record.transitions ?? 0 })
      })
      : { ...base, outcome: "coordinated", holder: null, token: null, strategy: answer.strategy }
    if (result.outcome === "coordinated") {
      const refusal = ExitCode.usage(
        `lease ${key.namespace}/${key.name} is coordinated by the API server (spec.strategy ${JSON.stringify(answer._tag === "Coordinated" ? answer.strategy : "")}): ` +
          "its coordinator picks the holder, and leasekit writes no such lease",
        "let the coordinator pick the holder (its LeaseCandidates), or use a lease without spec.strategy"
      )
      if (c.output === "json") {
        yield* Effect.sync(() => process.stdout.write(`${JSON.stringify({ ...result, error: refusal.message }, null, 2)}\n`))
      }
      return yield* refusal
    }
    const text = c.output === "json" ? `${JSON.stringify(result, null, 2)}\n` : `${printable(describe(result))}\n`
    yield* Effect.sync(() => process.stdout.write(text))
  }).pipe(GlobalOptions.withStore(c))
