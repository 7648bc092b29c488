/**
 * Before the integration suites: builds the CLI's bundle (`packages/cli/scripts/bundle.ts`, about
 * a second), which every suite runs (`LEASEKIT_BUNDLE=1`, see `packages/cli/bin/leasekit`): the
 * `leasekit` they test is the one a user installs, re-executed with its process flags, its
 * commands loaded from their chunks — never a stale build.
 */
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"

export default function setup() {
  const script = Path.resolve(import.meta.dirname, "../../packages/cli/scripts/bundle.ts")
  const built = ChildProcess.spawnSync(process.execPath, [script], { encoding: "utf8" })
  if (built.status !== 0) throw new Error(`building the CLI's bundle failed:\n${built.stdout}${built.stderr}`)
  process.env["LEASEKIT_BUNDLE"] = "1"
}
