/**
 * The CI budget: the seeds `Simulation.test.ts` runs on every `pnpm test`, and `pnpm simulate`
 * and the mutation check run by default — one definition, so they agree.
 */
export const ciBudget = { firstSeed: 1, schedules: 2000 } as const
