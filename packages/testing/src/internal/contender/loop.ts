/**
 * `loop` mode: acquire → one critical section → release, again and again until released — the
 * contention of figure 4. This module is the seam the chaos round replaces: `main.ts` knows only
 * `loop: Mode`.
 *
 * Each critical section is checked two ways and reported as a `cs` event (`ok`, `problems`): the
 * lease must still be held inside it, and when the join names a `fenceDir` shared by every
 * contender of the run, an O_EXCL marker file only one process can hold must be free, and the
 * fencing token must exceed the last token written there by any other process (the same process
 * may see its own token again only if it re-took its own lease without a release in between).
 * The checks see only what happens on this machine's file system; they are evidence, not proof.
 * The last event is `released` with the number of `rounds` led.
 *
 * @internal
 */
import type { HeldLease } from "@leasekit/core"
import { Deferred, Effect, Option } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { nowMicros } from "../../ContenderProtocol.ts"
import { acquireUnlessStopped, type Mode, optionsOf } from "./mode.ts"
import type { State } from "./state.ts"

/** One critical section, checked and reported. */
const critical = (held: HeldLease, fenceDir: string | undefined, state: State) =>
  Effect.gen(function*() {
    const t0 = nowMicros()
    const problems: Array<string> = []
    if (!(yield* held.isHeld)) problems.push("the lease is not held inside the critical section")
    if (fenceDir !== undefined) {
      const marker = Path.join(fenceDir, "occupied")
      const tokenFile = Path.join(fenceDir, "token")
      // O_EXCL: creating the marker fails if another contender is inside.
      const entered = yield* Effect.try(() => Fs.closeSync(Fs.openSync(marker, "wx"))).pipe(
        Effect.as(true),
        Effect.catch((error) =>
          Effect.sync(() => problems.push(`another contender is inside: ${String(error.cause)}`)).pipe(Effect.as(false))
        )
      )
      yield* Effect.sync(() => {
        if (Fs.existsSync(tokenFile)) {
          const [last, pid] = Fs.readFileSync(tokenFile, "utf8").trim().split(" ").map(Number)
          if (last! > held.token || (last === held.token && pid !== process.pid)) {
            problems.push(`token ${held.token} not above the last one written (${last}, by pid ${pid})`)
          }
        }
        const tmp = `${tokenFile}.${process.pid}`
        Fs.writeFileSync(tmp, `${held.token} ${process.pid}`)
        Fs.renameSync(tmp, tokenFile)
        if (entered) Fs.rmSync(marker)
      })
    }
    state.emit({
      ev: "cs",
      t0,
      t1: nowMicros(),
      token: held.token,
      ok: problems.length === 0,
      ...(problems.length > 0 ? { problems } : {})
    })
  })

export const loop: Mode = (command, stop, state) =>
  Effect.gen(function*() {
    let rounds = 0
    while (!(yield* Deferred.isDone(stop))) {
      const led = yield* Effect.scoped(Effect.gen(function*() {
        const held = yield* acquireUnlessStopped(optionsOf(command, command.name, state.holder), stop)
        if (Option.isNone(held)) return false
        yield* critical(held.value, command.fenceDir, state)
        yield* held.value.release
        return true
      }))
      if (led) rounds++
    }
    state.emit({ ev: "released", t: nowMicros(), rounds })
  })
