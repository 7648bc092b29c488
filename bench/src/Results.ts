/**
 * One run's raw results, as `results.json` holds them and RESULTS.md is rendered from: the
 * machine and versions, how quiet the machine was, each figure's results (a field per figure, its
 * type declared by the figure's module), the CPU profiles taken, the figures that failed, and the
 * figures re-run later into the same results (`--update`). Fields added after results were first
 * written are optional, so that older results.json files still render.
 */
import type { ContentionResult } from "./figures/Contention.ts"
import type { FailoverResult } from "./figures/Failover.ts"
import type { FootprintResult } from "./figures/footprint/Model.ts"
import type { HandoffResult } from "./figures/Handoff.ts"
import type { HandoverResult } from "./figures/Handover.ts"
import type { RequestsResult } from "./figures/RequestsPerOperation.ts"
import type { RuntimeCostResult } from "./figures/RuntimeCost.ts"
import type { ScaleResult } from "./figures/Scale.ts"
import type { SemaphoreFigure } from "./figures/Semaphore.ts"
import type { Machine, Provenance, Quiet, Versions } from "./Machine.ts"
import type { ProfileSummary } from "./Profile.ts"

export interface Results {
  mode: "quick" | "full"
  startedAt: string
  durationSeconds: number
  machine: Machine
  versions: Versions
  quiet: Quiet
  /** The commit measured; `dirty` when core, kubernetes or bench had uncommitted changes. */
  provenance?: Provenance | undefined
  loads: Array<{ figure: string; load: ReadonlyArray<number> }>
  settings: unknown
  requests: Array<RequestsResult>
  handover: Array<HandoverResult>
  failover: Array<FailoverResult>
  contention: Array<ContentionResult>
  scale: Array<ScaleResult>
  runtimeCost: RuntimeCostResult | undefined
  /** Figure 7 (absent from results written before it existed). */
  footprint?: FootprintResult | undefined
  /** Figure 8 (absent from results written before it existed). */
  handoff?: Array<HandoffResult> | undefined
  /** Figure 9 (absent from results written before it existed): the semaphore runs and the floor
   * measured beside them (figure 4's loop on one plain lease, 2 contenders). */
  semaphore?: SemaphoreFigure | undefined
  profiles: Record<string, ProfileSummary>
  errors: Array<{ figure: string; message: string }>
  /** Figures re-run later into these results (`--update`), with when and how quiet it was. */
  reruns?: Array<{ figures: ReadonlyArray<number>; at: string; quiet: Quiet; provenance?: Provenance | undefined }>
}

/** An earlier run's results with the `figures` re-run taken from `fresh`, noted as re-run. */
export const rerun = (earlier: Results, fresh: Results, figures: ReadonlyArray<number>): Results => {
  const keep = <K extends keyof Results>(key: K, figure: number) => (figures.includes(figure) ? fresh[key] : earlier[key])
  return {
    ...earlier,
    requests: keep("requests", 1),
    handover: keep("handover", 2),
    failover: keep("failover", 3),
    contention: keep("contention", 4),
    scale: keep("scale", 5),
    runtimeCost: keep("runtimeCost", 6),
    footprint: keep("footprint", 7),
    handoff: keep("handoff", 8),
    semaphore: keep("semaphore", 9),
    profiles: Object.fromEntries(Object.entries(earlier.profiles).filter(([name]) =>
      !(figures.includes(2) && name.startsWith("handover")) &&
      !(figures.includes(5) && name.startsWith("scale")) &&
      !(figures.includes(6) && name.startsWith("renewal"))
    )),
    errors: earlier.errors.filter((e) => !figures.some((f) => e.figure.startsWith(`figure ${f}:`))),
    loads: [...earlier.loads, ...fresh.loads],
    reruns: [
      ...(earlier.reruns ?? []),
      { figures, at: fresh.startedAt, quiet: fresh.quiet, provenance: fresh.provenance }
    ]
  }
}
