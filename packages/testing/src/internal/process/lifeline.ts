/**
 * The lifeline: processes that must not outlive this Node process even when it dies without
 * running finalizers (SIGKILL, OOM). A watchdog shell blocked on a pipe only this process writes
 * to; see `lifeline`. Re-exported by `Process`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as ChildProcess from "effect/process/ChildProcess"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { exitStatusOf, ProcessError } from "./status.ts"

const lifelineScript = `
trap '' INT TERM HUP QUIT PIPE
dir=$1
grace=$2
cat >/dev/null 2>&1
pids=""
for f in "$dir"/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  if [ -r "/proc/$pid/cmdline" ] && tr '\\000' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    kill -CONT -- "-$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null
    pids="$pids $pid"
  fi
done
i=0
while [ -n "$pids" ] && [ $i -lt "$grace" ]; do
  alive=""
  for pid in $pids; do
    kill -0 -- "-$pid" 2>/dev/null && alive="$alive $pid"
  done
  pids=$alive
  [ -n "$pids" ] && sleep 0.1
  i=$((i + 1))
done
for pid in $pids; do
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
done
[ "$3" = remove ] && rm -rf -- "$dir"
`

/**
 * Registers `pid` (a process group leader whose command line mentions `dir`) with the lifeline
 * watching `dir`.
 *
 * @since 0.2.0
 * @category lifeline
 */
export const register = (dir: string, pid: number): Effect.Effect<void> =>
  Effect.sync(() => Fs.writeFileSync(Path.join(dir, `${pid}.pid`), String(pid)))

/**
 * Starts a lifeline for `dir`: if this Node process dies without closing the scope, every process
 * group registered there (`register`) whose command line still mentions `dir` gets SIGTERM and
 * SIGCONT, and SIGKILL after `grace` (default 5 s). On a normal close the scope's other finalizers
 * have stopped those processes already; the lifeline then finds nothing to do and exits. With
 * `remove`, it then deletes `dir` (a temporary folder that must not outlive this process either).
 * How: a `/bin/sh` in its own session, ignoring the terminal's signals, blocked reading a pipe whose
 * only writer is this process (Node opens pipes close-on-exec): the kernel closes it when this
 * process dies, whatever the cause.
 *
 * @since 0.2.0
 * @category lifeline
 */
export const lifeline = (
  dir: string,
  options: { readonly grace?: Duration.Input | undefined; readonly remove?: boolean | undefined } = {}
): Effect.Effect<void, ProcessError, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    yield* Effect.sync(() => Fs.mkdirSync(dir, { recursive: true }))
    const tenths = Math.max(1, Math.ceil(Duration.toMillis(Duration.fromInputUnsafe(options.grace ?? Duration.seconds(5))) / 100))
    const handle = yield* ChildProcess.make("/bin/sh", ["-c", lifelineScript, "leasekit-lifeline", dir, String(tenths), options.remove === true ? "remove" : "keep"], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "ignore"
    }).pipe(Effect.mapError((error) => new ProcessError({ command: "lifeline", reason: "Spawn", detail: error.message })))
    // Not referenced: the lifeline never keeps this process alive, and Effect's own release leaves it be.
    yield* handle.unref.pipe(Effect.ignore)
    const input = yield* Queue.unbounded<Uint8Array, Cause.Done>()
    const feeding = yield* Effect.forkDetach(Stream.run(Stream.fromQueue(input), handle.stdin).pipe(Effect.ignore))
    yield* Effect.addFinalizer(() =>
      Queue.end(input).pipe(
        Effect.andThen(Fiber.join(feeding).pipe(Effect.timeoutOption("2 seconds"))),
        Effect.andThen(exitStatusOf(handle).pipe(Effect.timeoutOption("10 seconds"))),
        Effect.ignore
      )
    )
  })
