/**
 * Runs a budget on several worker threads (one per core by default): worker `i` of `n` runs the
 * seeds `firstSeed + i`, `firstSeed + i + n`, … and the summaries are merged.
 *
 * Guarantees: the same seeds as a single-threaded run of the same budget (by count), each run
 * exactly as it would run alone — a schedule never shares a thread or a `TestClock` with another.
 * Does not guarantee: the same seeds for a time budget (each worker gets the whole time).
 */
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import type { Budget, Summary } from "./Runner.ts"
import * as Runner from "./Runner.ts"

export interface WorkerInput {
  readonly budget: Omit<Budget, "onProgress">
}

export const defaultWorkers = (): number => Math.max(1, Math.min(4, availableParallelism()))

export const runMany = async (
  budget: Budget,
  workers: number = defaultWorkers()
): Promise<Summary> => {
  if (workers <= 1) return Runner.runMany(budget)
  const stride = (budget.stride ?? 1) * workers
  const progress: Array<Summary | undefined> = []
  const running: Array<Worker> = []
  const parts = Array.from({ length: workers }, (_, i) => {
    const schedules = budget.schedules === undefined ? undefined : Math.ceil((budget.schedules - i) / workers)
    const input: WorkerInput = {
      budget: {
        firstSeed: budget.firstSeed + i * (budget.stride ?? 1),
        stride,
        ...(schedules === undefined ? {} : { schedules }),
        ...(budget.seconds === undefined ? {} : { seconds: budget.seconds }),
        ...(budget.stopOnFailure === undefined ? {} : { stopOnFailure: budget.stopOnFailure })
      }
    }
    return new Promise<Summary>((resolve, reject) => {
      const worker = new Worker(new URL("./worker.ts", import.meta.url), { workerData: input })
      running.push(worker)
      let done = false
      worker.on("message", (message: { readonly kind: "progress" | "done"; readonly summary: Summary }) => {
        progress[i] = message.summary
        if (message.kind !== "done") return
        done = true
        resolve(message.summary)
        // Stopping on failure: one failing seed is the answer; stop the other workers.
        if (budget.stopOnFailure === true && message.summary.failing.length > 0) {
          for (const other of running) if (other !== worker) void other.terminate()
        }
      })
      worker.on("error", reject)
      worker.on("exit", (code) => {
        if (done) return
        const stoppedEarly = budget.stopOnFailure === true && progress.some((p) => p !== undefined && p.failing.length > 0)
        if (stoppedEarly) resolve(progress[i] ?? Runner.empty(input.budget.firstSeed))
        else reject(new Error(`simulation worker ${i} exited with ${code}`))
      })
    })
  })
  const timer = budget.onProgress === undefined ? undefined : setInterval(() => {
    const known = progress.filter((s): s is Summary => s !== undefined)
    if (known.length > 0) budget.onProgress!(known.reduce(Runner.merge))
  }, 10_000)
  try {
    const summaries = await Promise.all(parts)
    return summaries.reduce(Runner.merge)
  } finally {
    if (timer !== undefined) clearInterval(timer)
  }
}
