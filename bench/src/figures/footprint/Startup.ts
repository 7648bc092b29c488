/**
 * Figure 7's start-up runs: `node -e 0` (the floor), `leasekit --version`, `leasekit --help`,
 * `true` (spawning and reaping through GNU time alone) and node processes that only import one
 * module of the installed packages, `runs` times each, interleaved, after one unmeasured warm-up
 * of each. Wall time from spawn to exit as the bench sees it; peak RSS from GNU time's `%M` (the
 * exited process's VmHWM). A run that does not exit 0 is recorded as a failure, not counted.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Bench } from "../../Bench.ts"
import type { Installed } from "./Install.ts"
import type { StartupCommand, StartupResult } from "./Model.ts"
import { imported } from "./Model.ts"
import { describeExit, exec, lastLines } from "./Processes.ts"

export const startup = async (bench: Bench, installed: Installed, dir: string, runs: number): Promise<Array<StartupResult>> => {
  const commands: ReadonlyArray<readonly [StartupCommand, ReadonlyArray<string>]> = [
    ["node -e 0", [process.execPath, "-e", "0"]],
    ["leasekit --version", [installed.leasekit, "--version"]],
    ["leasekit --help", [installed.leasekit, "--help"]],
    ["true", ["true"]],
    ...imported.map((module) => [`import ${module}`, [process.execPath, "--input-type=module", "-e", `await import("${module}")`]] as const)
  ]
  const timeFile = Path.join(dir, "time.out")
  const results = commands.map(([command, argv]) => ({
    command,
    argv,
    wallMs: [] as Array<number>,
    peakRssMiB: [] as Array<number>,
    failures: [] as Array<string>
  }))
  // Round -1 warms the page cache and is not counted; then one of each per round.
  for (let round = -1; round < runs; round++) {
    for (const result of results) {
      const ended = await exec(bench, "/usr/bin/time", ["-o", timeFile, "-f", "%M", ...result.argv], installed.app)
      if (round < 0) continue
      if (ended.code !== 0) {
        result.failures.push(`${describeExit(ended.code, ended.signal)}: ${lastLines(ended.stderr || ended.stdout, 3)}`)
        continue
      }
      // GNU time may put a line about the exit status first; %M (KiB) is the last line.
      const kib = Number(Fs.readFileSync(timeFile, "utf8").trim().split("\n").pop())
      result.wallMs.push(ended.wallMs)
      result.peakRssMiB.push(kib / 1024)
    }
  }
  return results.map(({ argv: _, ...result }) => result)
}
