/**
 * A CPU profile of the contender process over the next `seconds` (V8's sampling profiler, 1 ms
 * interval), written to a `.cpuprofile` file and announced by a `profile` event.
 *
 * It profiles this process only (not the API server), and the profiler's own cost is in it.
 *
 * @internal
 */
import * as Fs from "node:fs"
import * as Inspector from "node:inspector/promises"
import type { Event } from "../../ContenderProtocol.ts"

export const profile = async (seconds: number, file: string, emit: (event: Event) => void): Promise<void> => {
  const session = new Inspector.Session()
  session.connect()
  try {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 1000 })
    await session.post("Profiler.start")
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const { profile } = await session.post("Profiler.stop")
    Fs.writeFileSync(file, JSON.stringify(profile))
    emit({ ev: "profile", file })
  } finally {
    session.disconnect()
  }
}
