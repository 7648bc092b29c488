/**
 * `pnpm test:chaos [--long] [--only a,b]`: runs the `chaos` vitest project (every scenario against
 * the real control plane, then the hostile-record suite) in quick mode — a few minutes, for CI —
 * or, with `--long`, as the soak (several minutes per scenario, 30+ minutes in total). The table
 * is printed at the end, and written to `--out FILE` when given. vitest itself does not accept
 * unknown flags, hence this wrapper: it passes the mode on in `LEASEKIT_CHAOS_MODE`.
 *
 *   node test/chaos/main.ts [--long] [--only sigkill-holder,etcd-restart] [--out table.md] [--config other.config.ts]
 *
 * `LEASEKIT_CHAOS_KEEP=1` keeps the journals (they are kept anyway when a scenario fails).
 */
import * as Process from "@leasekit/testing/Process"
import { Effect } from "effect"
import * as Os from "node:os"
import * as Path from "node:path"

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const root = Path.resolve(import.meta.dirname, "..", "..")
const config = option("--config")
const env: Record<string, string | undefined> = {
  LEASEKIT_CHAOS_MODE: args.includes("--long") ? "long" : "quick",
  ...(option("--only") === undefined ? {} : { LEASEKIT_CHAOS_ONLY: option("--only") }),
  ...(option("--out") === undefined ? {} : { LEASEKIT_CHAOS_OUT: Path.resolve(option("--out")!) })
}
const vitest = Path.join(root, "node_modules", ".bin", "vitest")
const vitestArgs = ["run", "--root", root, ...(config === undefined ? ["--project", "chaos"] : ["--config", config])]

// vitest in a process group of its own (the process layer's), with this terminal's stdio; Ctrl-C
// and SIGTERM reach this process and are passed on to vitest, which stops its scenarios itself.
const program = Effect.scoped(Effect.gen(function*() {
  const child = yield* Process.spawn(vitest, vitestArgs, { cwd: root, env, stdin: "inherit", output: "inherit", grace: "60 seconds" })
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void Effect.runFork(child.signal(signal)))
  return yield* child.exit
})).pipe(Effect.provide(Process.layer))

Effect.runPromise(program).then(
  (status) => process.exit(status.code ?? 128 + (status.signal === null ? 0 : Os.constants.signals[status.signal] ?? 0)),
  (error: unknown) => {
    process.stderr.write(`test:chaos: ${String(error)}\n`)
    process.exit(1)
  }
)
