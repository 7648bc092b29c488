/**
 * The chaos suite's journals and its one timeline.
 *
 * Every process runs on this one machine, and the contender harness times its events in
 * microseconds of `CLOCK_MONOTONIC` (`ContenderProtocol.nowMicros`, which every process reads
 * alike): the runner's timeline is the same clock in milliseconds (`now`), and contender events are
 * journaled in milliseconds (`Exclusion.inMillis`), so runner and contender journals compare
 * directly — what `Exclusion` judges.
 *
 * Journals are JSON lines appended synchronously (one `write` per line), so a line is either in
 * the file or not; `readLines` ignores a torn line. Per scenario folder: `<holder>.jsonl` (a
 * contender's events, `ContenderProtocol.LoopEvent`), `runner.jsonl` (`Exclusion.Circumstance`:
 * faults injected, outages, admin writes, pauses), `fence.json`, `timing.json`.
 */
import { nowMicros } from "@leasekit/testing/ContenderProtocol"
import type * as ContenderProtocol from "@leasekit/testing/ContenderProtocol"
import type * as Exclusion from "@leasekit/testing/Exclusion"
import * as Fs from "node:fs"

/** Milliseconds of `CLOCK_MONOTONIC` (the contenders' events, `inMillis`, are on it too). */
export const now = (): number => nowMicros() / 1000

/** Appends one JSON line. */
export const append = (file: string, event: ContenderProtocol.LoopEvent | Exclusion.Circumstance): void => {
  Fs.appendFileSync(file, JSON.stringify(event) + "\n")
}

/** Reads a JSON-lines file, skipping a torn or unparseable line. */
export const readLines = <A>(file: string): Array<A> => {
  if (!Fs.existsSync(file)) return []
  const out: Array<A> = []
  for (const line of Fs.readFileSync(file, "utf8").split("\n")) {
    if (line.trim() === "") continue
    try {
      out.push(JSON.parse(line) as A)
    } catch {
      // a torn line
    }
  }
  return out
}
