/**
 * `leasekit resize NAME --permits N`: changes the number of permits of a semaphore
 * (`LeaseSemaphore.resize`: one compare-and-swap on its head, retried from a fresh read on a
 * conflict) and prints the count before and after — `semaphore NS/NAME: 3 → 5 permits`, or with
 * `-o json` `{"namespace", "name", "from", "to", "withdrawn"}` (`withdrawn`: the indices a
 * lowering withdrew, empty otherwise).
 *
 * Guarantees: the semaphore's (`LeaseSemaphore`): raising serves waiters at once; lowering withdraws
 * the permits with index ≥ N, whose holders keep them until they release (a drain). Does not:
 * create a semaphore (64: it does not exist — `leasekit run NAME --permits N` creates one), resize
 * a plain lease (64), or stop the holders of withdrawn permits.
 *
 * @since 0.5.0
 */
import * as LeaseSemaphore from "@leasekit/core/LeaseSemaphore"
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Command from "effect/cli/Command"
import * as ExitCode from "./ExitCode.ts"
import * as GlobalOptions from "./GlobalOptions.ts"
import { printable } from "./Printable.ts"
import type * as ResizeCommand from "../commands/ResizeCommand.ts"

type Config = Command.Command.Config.Infer<typeof ResizeCommand.config>

/**
 * What `resize` did (also the JSON output).
 *
 * @since 0.5.0
 * @category models
 */
export interface Resized {
  readonly namespace: string
  readonly name: string
  readonly from: number
  readonly to: number
  /** The permit indices the change withdrew (from `to` to `from − 1` when lowered). */
  readonly withdrawn: ReadonlyArray<number>
}

/**
 * The outcome of a resize from `from` to `to`.
 *
 * @since 0.5.0
 * @category constructors
 */
export const resized = (namespace: string, name: string, from: number, to: number): Resized => ({
  namespace,
  name,
  from,
  to,
  withdrawn: Array.from({ length: Math.max(0, from - to) }, (_, i) => to + i)
})

/**
 * The text output: the change, and what a lowering means for the holders.
 *
 * @since 0.5.0
 * @category rendering
 */
export const describe = (r: Resized): string => {
  const head = `semaphore ${printable(`${r.namespace}/${r.name}`)}: ${r.from} → ${r.to} permit${r.to === 1 ? "" : "s"}`
  if (r.to > r.from) return `${head} (waiters are served at once)`
  if (r.to === r.from) return `${head} (unchanged)`
  const which = r.withdrawn.length === 1 ? `permit ${r.withdrawn[0]} is` : `permits ${r.withdrawn[0]}–${r.withdrawn.at(-1)} are`
  return `${head}; ${which} withdrawn: their holders keep them until they release, nobody takes them again`
}

/**
 * What `leasekit resize` does, given its parsed command line.
 *
 * @since 0.5.0
 * @category handlers
 */
export const handler = (c: Config) =>
  Effect.gen(function*() {
    if (!Number.isInteger(c.permits) || c.permits < 1 || c.permits > LeaseSemaphore.maxPermits) {
      return yield* ExitCode.usage(`--permits ${c.permits} is not a permit count`, `pick a whole number from 1 to ${LeaseSemaphore.maxPermits}`)
    }
    const client = yield* KubeClient.KubeClient
    const namespace = Option.getOrElse(c.namespace, () => client.namespace)
    const { from, to } = yield* LeaseSemaphore.resize({ namespace, name: c.name }, c.permits)
    const result = resized(namespace, c.name, from, to)
    yield* Effect.sync(() =>
      process.stdout.write(c.output === "json" ? `${JSON.stringify(result, null, 2)}\n` : `${describe(result)}\n`)
    )
  }).pipe(GlobalOptions.withStore(c))
