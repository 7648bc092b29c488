/**
 * A simulation worker thread: runs the budget it is given (see `Parallel.ts`) and posts its
 * summary — progress every few seconds, then the final one.
 */
import { parentPort, workerData } from "node:worker_threads"
import type { WorkerInput } from "./Parallel.ts"
import * as Runner from "./Runner.ts"

const input = workerData as WorkerInput
const summary = await Runner.runMany({
  ...input.budget,
  onProgress: (s) => parentPort?.postMessage({ kind: "progress", summary: s })
})
parentPort?.postMessage({ kind: "done", summary })
