/**
 * The simulator's command line.
 *
 *   pnpm simulate                        the CI budget (the same seeds as Simulation.test.ts)
 *   pnpm simulate --seed N [--trace]     one schedule: its verdict, and with --trace its whole
 *                                        history (add --logs for core's own log lines)
 *   pnpm simulate --schedules 100000     long mode by count …
 *   pnpm simulate --seconds 3600         … or by time; --from N sets the first seed
 *   pnpm simulate --stop-on-failure      stop at the first failing seed (per worker)
 *   pnpm simulate --workers N            worker threads (default: one per core, at most 4)
 *
 * Prints the figures of the run (schedules, operations and faults of each kind, violations, the
 * seed range) and, for each failing seed, the broken properties and the trace of the window that
 * shows it. Exits 1 when any schedule failed.
 */
import { ciBudget } from "./Budget.ts"
import * as Parallel from "./Parallel.ts"
import * as Runner from "./Runner.ts"
import * as Simulation from "./Simulation.ts"
import * as Trace from "./Trace.ts"

const args = process.argv.slice(2)
const flag = (name: string) => args.includes(`--${name}`)
const value = (name: string): number | undefined => {
  const i = args.indexOf(`--${name}`)
  if (i === -1) return undefined
  const n = Number(args[i + 1])
  if (!Number.isFinite(n)) {
    console.error(`--${name} needs a number`)
    process.exit(2)
  }
  return n
}

const seed = value("seed")
if (seed !== undefined) {
  const outcome = await Simulation.run(seed, { logs: flag("logs") })
  if (flag("trace")) {
    console.log(`seed ${seed}: ${Runner.describePlan(outcome)}`)
    console.log(Trace.format(outcome.events))
  }
  if (outcome.violations.length === 0 && outcome.tornDown) {
    console.log(`seed ${seed}: ok (${outcome.events.length} events, ${(outcome.plan.endAt / 1000).toFixed(1)} virtual seconds)`)
  } else {
    console.log(Runner.report(outcome, flag("trace") ? 0 : 150))
    process.exitCode = 1
  }
} else {
  const schedules = value("schedules")
  const seconds = value("seconds")
  const budget = schedules === undefined && seconds === undefined ? ciBudget : {
    firstSeed: value("from") ?? 1,
    ...(schedules === undefined ? {} : { schedules }),
    ...(seconds === undefined ? {} : { seconds })
  }
  const summary = await Parallel.runMany({
    ...budget,
    stopOnFailure: flag("stop-on-failure"),
    onProgress: (s) =>
      console.error(
        `… ${s.schedules} schedules (seeds ${s.firstSeed}–${s.lastSeed}), ${(s.schedules / (s.realMillis / 1000)).toFixed(1)}/s, violations ${
          JSON.stringify(s.violations)
        }`
      )
  }, value("workers") ?? Parallel.defaultWorkers())
  console.log(Runner.figures(summary))
  for (const failure of summary.failing.slice(0, 5)) console.log(`\n${failure.report}`)
  if (summary.failing.length > 0) process.exitCode = 1
}
