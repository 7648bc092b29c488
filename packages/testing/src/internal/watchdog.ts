/**
 * A lifeline watchdog: stops the control plane's processes and removes its folder when the Node
 * process that started them goes away without running its finalizers (SIGKILL, OOM kill, a
 * crashed or force-killed test worker).
 *
 * How: a small `/bin/sh` script is spawned in its own session with its stdin a pipe whose only
 * writer is this Node process (libuv opens pipes close-on-exec, so no other child inherits it).
 * The script blocks reading stdin; the kernel closes the pipe when Node exits for whatever reason,
 * the read returns, and the script signals every process group listed in `<dir>/*.pid` —
 * SIGCONT, SIGTERM, SIGKILL after 5 s — then deletes `<dir>`. A pid is only signalled while
 * `/proc/<pid>/cmdline` still mentions `<dir>` (every server's arguments do), so a recycled pid
 * is never hit. The script ignores SIGINT/SIGTERM/SIGHUP so a terminal's Ctrl-C cannot kill it
 * before it did its job. No polling and no `prctl(PR_SET_PDEATHSIG)` (not reachable from Node).
 *
 * On a normal scope close the finalizers stop the servers and delete the folder first, then
 * close the pipe: the watchdog finds nothing to do and exits; the finalizer waits for that.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"

const script = `
trap '' INT TERM HUP QUIT PIPE
dir=$1
cat >/dev/null 2>&1
pids=""
for f in "$dir"/*.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) continue ;; esac
  if [ -r "/proc/$pid/cmdline" ] && tr '\\000' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir"; then
    kill -CONT -- "-$pid" 2>/dev/null
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    pids="$pids $pid"
  fi
done
i=0
while [ -n "$pids" ] && [ $i -lt 50 ]; do
  alive=""
  for p in $pids; do
    if [ -d "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then alive="$alive $p"; fi
  done
  pids=$alive
  [ -z "$pids" ] && break
  sleep 0.1
  i=$((i + 1))
done
for p in $pids; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null; done
rm -rf -- "$dir"
`

/** @internal */
export interface Watchdog {
  readonly pid: number | undefined
  /** Closes the lifeline and waits (bounded) for the watchdog to exit. */
  readonly close: Effect.Effect<void>
}

/** Starts the watchdog for `dir`. @internal */
export const start = (dir: string): Effect.Effect<Watchdog> =>
  Effect.sync(() => {
    const child = ChildProcess.spawn("/bin/sh", ["-c", script, "leasekit-watchdog", dir], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"]
    })
    child.on("error", () => {
      // No /bin/sh: the finalizers still clean up; only the crash case is unprotected.
    })
    child.stdin?.on("error", () => {})
    // Neither the watchdog nor its pipe may keep the test runner alive.
    child.unref()
    const stdin = child.stdin as unknown as { unref?: () => void } | null
    stdin?.unref?.()
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.pid === undefined) resolve()
      child.once("exit", () => resolve())
      child.once("error", () => resolve())
    })
    return {
      pid: child.pid,
      close: Effect.suspend(() => {
        child.stdin?.end()
        child.stdin?.destroy()
        return Effect.promise(() => exited).pipe(Effect.timeoutOption(10_000), Effect.asVoid)
      })
    }
  })
