/**
 * A dead man's switch for `leasekit run`: a tiny `/bin/sh` process that SIGKILLs the command (its
 * whole session: every process group in it) when leasekit dies without having seen the command
 * through — SIGKILLed, killed by the OOM killer, crashed — so that the command cannot outlive the
 * lease it runs under.
 *
 * How it notices. leasekit holds the write end of a pipe whose read end is the switch's stdin.
 * The switch reads one line naming what to kill (`arm`), then waits for a second line. When
 * leasekit is done with the command it writes that line (`disarm`) and the switch exits quietly;
 * when leasekit dies instead, the kernel closes its end of the pipe, the switch reads end-of-file,
 * and SIGKILLs the targets at once (and says so on stderr, which it shares with leasekit). No
 * parent-death signal is involved: `prctl(PR_SET_PDEATHSIG)` (util-linux's `setpriv --pdeathsig`)
 * is Linux-only, covers only the process it is set on — the direct child, not its group — and
 * would have to wrap CMD's exec (changing its argv[0], error messages and exit codes for a command
 * not found); end-of-file on a pipe works for any death, on any POSIX system, for any target.
 *
 * The switch runs in a session of its own (so no signal meant for leasekit's job or terminal
 * reaches it) and ignores every catchable signal; leasekit's pipe end is close-on-exec, so the
 * command does not inherit it and cannot keep the switch from noticing.
 *
 * Why not `Process.lifeline` of `@leasekit/testing/Process` (the same pipe trick): the lifeline
 * stops process groups whose command line names its folder, registered in files — CMD's does not
 * name one, and what has to die is CMD's whole session; and why not started with `Process.spawn`:
 * `arm` must write to the switch in the same tick as CMD's fork (synchronously: `Process.send`
 * goes through a queue and a fiber), and the switch runs unreferenced, stopped by its pipe rather
 * than by a scope.
 *
 * Guarantees: once armed, if leasekit's process ends before `disarm`, the targets get SIGKILL
 * within milliseconds. Does not protect: the command when `/bin/sh` cannot be started (the switch
 * is then absent; logged at debug level) or when the switch itself is SIGKILLed; processes that
 * left the command's session (a further `setsid`: `setsid(1)`, daemons), nor — with neither
 * `pkill` nor `/proc` — processes of the session outside the command's process group, nor — when
 * the command shares leasekit's group because stdin is a terminal — anything but the command's own
 * process; a process forked while the switch kills, if it outlives both passes; the instants
 * between leasekit's death and the SIGKILL; a leasekit that is paused (SIGSTOP, a frozen VM) rather
 * than dead — only fencing with `LEASEKIT_TOKEN` protects the data then.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as ChildProcess from "node:child_process"
import type * as Net from "node:net"

/**
 * The switch's script; `$1` is leasekit's pid. Armed by two lines — the targets, space-separated
 * (`sSID` for a session, `-PGID` for a process group, `PID` for one process), and what they are,
 * for the message — and disarmed by a third; end-of-file before the third fires it.
 *
 * A session is killed in this order: the process group of its leader (one `kill`, at once), then
 * every other process of the session — by `pkill -KILL -s SID` when `pkill` is there (procps,
 * BusyBox, BSD), else by reading `/proc/PID/stat` in the shell (the session is field 6, counted
 * after the last `) `, since the command name may hold spaces and parentheses; a name holding a
 * newline hides its process from this loop). Twice, for what a dying process forked meanwhile.
 * Where neither `pkill` nor `/proc` exists (macOS has `pkill`) only the leader's group is killed.
 */
const script = "trap '' HUP INT QUIT TERM USR1 USR2 PIPE TSTP TTIN TTOU; pk=$(command -v pkill); " +
  "ks() { s=$1; r=1; if [ -n \"$pk\" ]; then \"$pk\" -KILL -s \"$s\" 2>/dev/null && r=0; " +
  "elif [ -d /proc/self ]; then for f in /proc/[0-9]*/stat; do " +
  "IFS= read -r l 2>/dev/null <\"$f\" || continue; l=${l##*) }; set -- $l; [ \"$4\" = \"$s\" ] || continue; " +
  "p=${f#/proc/}; kill -s KILL -- \"${p%/stat}\" 2>/dev/null && r=0; done; fi; return $r; }; " +
  "IFS= read -r targets || exit 0; IFS= read -r what || what=$targets; read -r _ && exit 0; killed=; " +
  "for t in $targets; do case $t in " +
  "s*) kill -s KILL -- \"-${t#s}\" 2>/dev/null && killed=1; ks \"${t#s}\" && killed=1; ks \"${t#s}\";; " +
  "*) kill -s KILL -- \"$t\" 2>/dev/null && killed=1;; esac; done; " +
  "[ -z \"$killed\" ] || echo \"leasekit: leasekit (pid $1) died while the command ran; SIGKILLed $what\" >&2"

/**
 * What a switch kills: a process, a process group, or a session (every process group in it).
 *
 * @since 0.1.0
 * @category models
 */
export type Target =
  | { readonly _tag: "Process"; readonly pid: number }
  | { readonly _tag: "Group"; readonly pgid: number }
  | { readonly _tag: "Session"; readonly sid: number }

const encode = (target: Target): string =>
  target._tag === "Process" ? String(target.pid) : target._tag === "Group" ? `-${target.pgid}` : `s${target.sid}`

/**
 * An armed-or-not switch.
 *
 * @since 0.1.0
 * @category models
 */
export interface DeadMansSwitch {
  /** From now on, leasekit's death SIGKILLs `targets`; `what` names them in the message the switch
   * then prints. Only the first call counts. */
  readonly arm: (targets: ReadonlyArray<Target>, what: string) => void
  /** Stands the switch down: it exits without killing anything. Idempotent. */
  readonly disarm: () => void
}

/**
 * Starts a switch (not yet armed); it is disarmed when the scope closes. Never fails: a switch
 * that cannot be started is logged at debug level and does nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<DeadMansSwitch, never, Scope.Scope> = Effect.acquireRelease(
  Effect.gen(function*() {
    const spawned = yield* Effect.result(Effect.try({
      try: () =>
        ChildProcess.spawn("/bin/sh", ["-c", script, "leasekit-dead-mans-switch", String(process.pid)], {
          stdio: ["pipe", "ignore", "inherit"],
          detached: true
        }),
      catch: String
    }))
    if (Result.isFailure(spawned)) {
      yield* Effect.logDebug(`no dead man's switch (${spawned.failure}): the command is not stopped if leasekit dies`)
      return { arm: () => {}, disarm: () => {} }
    }
    const child = spawned.success
    const run = Effect.runForkWith(yield* Effect.context<never>())
    child.once("error", (error) =>
      run(Effect.logDebug(`no dead man's switch (${error.message}): the command is not stopped if leasekit dies`)))
    // The pipe closes when the switch is gone (EPIPE) — nothing to do about it then.
    child.stdin!.on("error", () => {})
    // Neither the switch nor its pipe keeps leasekit running.
    child.unref()
    ;(child.stdin as Net.Socket).unref()
    let armed = false
    let disarmed = false
    return {
      arm: (targets: ReadonlyArray<Target>, what: string) => {
        if (armed || disarmed) return
        armed = true
        child.stdin!.write(`${targets.map(encode).join(" ")}\n${what.replace(/\n/g, " ")}\n`)
      },
      disarm: () => {
        if (disarmed) return
        disarmed = true
        // Unarmed, end-of-file on the first line stands it down too.
        if (armed) child.stdin!.write("disarm\n")
        child.stdin!.end()
      }
    } satisfies DeadMansSwitch
  }),
  (deadMansSwitch) => Effect.sync(deadMansSwitch.disarm)
)
