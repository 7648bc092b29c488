/**
 * `leasekit run`'s command line: its flags, arguments, help and examples. What it does is
 * `internal/Run.ts`, loaded only when it runs (`Lazy.ts`): `--help`, `--version` and the other commands
 * never load it.
 *
 * @since 0.1.0
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Durations from "../internal/Durations.ts"
import * as ExitCode from "../internal/ExitCode.ts"
import * as GlobalFlags from "./GlobalFlags.ts"
import * as Lazy from "./Lazy.ts"

/**
 * The flags and arguments of `run` (its CMD after `--`: see `CommandLine.ts`).
 *
 * @since 0.1.0
 * @category flags
 */
export const config = {
  ...GlobalFlags.flags,
  namespace: GlobalFlags.namespace,
  duration: Durations.flag("duration", {
    description: "lease duration: how long others wait after the holder stops renewing, whole seconds from 1s to 1h (default: 20s)",
    default: "20s"
  }),
  wait: Flag.Boolean("wait").pipe(Flag.withDescription("wait until the lease is free (the default)"), Flag.withDefault(false)),
  try: Flag.Boolean("try").pipe(
    Flag.withDescription("one attempt: exit 75 (--conflict-exit-code) at once if the lease is held (default: off — wait)"),
    Flag.withDefault(false)
  ),
  timeout: Durations.flag("timeout", { description: "give up waiting after this long, exit 75 (default: wait forever)" }),
  grace: Durations.flag("grace", {
    description: "on loss of the lease, time between SIGTERM and SIGKILL to CMD. It must fit the margin between the declared loss " +
        "and the earliest takeover, duration − renewDeadline (a third of --duration): default half of it (3.33s at " +
        "--duration 20s), at most three quarters (5s at 20s; more is refused, exit 64 — raise --duration for a longer grace). " +
        "The same time is given to what CMD leaves running when it is stopped (--survivors stop, a forwarded stop signal), " +
        "and bounds the release at the end (at least the default)"
  }),
  holder: Flag.String("holder").pipe(
    Flag.withMetavar("ID"),
    Flag.withDescription("holder identity written into the lease, with a random suffix that makes it unique to this process (default: pod or host name, pid and a random suffix)"),
    Flag.optional
  ),
  quiet: Flag.Boolean("quiet").pipe(
    Flag.withAlias("q"),
    Flag.withDescription("no lines on stderr while waiting for the lease"),
    Flag.withDefault(false)
  ),
  survivors: Flag.Literals("survivors", ["wait", "stop"]).pipe(
    Flag.withDescription(
      "when CMD exits and leaves live processes in its session (as `sh -c 'job &'`): wait — keep the lease held " +
        "and renewed until they have exited (the default, as flock); stop — SIGTERM them, SIGKILL after --grace, then release"
    ),
    Flag.withDefault("wait" as const)
  ),
  conflictExitCode: Flag.Int("conflict-exit-code").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("exit code when the lease is held (--try) or the wait timed out (default: 75)"),
    Flag.withDefault(ExitCode.codes.tempfail)
  ),
  healthPort: Flag.Int("health-port").pipe(
    Flag.withMetavar("PORT"),
    Flag.withDescription(
      "serve /healthz, /readyz and /metrics on this port while running (for a pod's liveness and readiness probes): " +
        "/healthz fails (503) when the lease has gone unrenewed past renewDeadline + --duration while CMD runs; " +
        "/readyz is ready only while the lease is held, not while waiting (default: no server; nothing listens)"
    ),
    Flag.optional
  ),
  healthHost: Flag.String("health-host").pipe(
    Flag.withMetavar("ADDRESS"),
    Flag.withDescription("the address --health-port listens on (default: every interface, as a kubelet probes the pod's IP; 127.0.0.1 keeps it local)"),
    Flag.optional
  ),
  permits: Flag.Int("permits").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription(
      "NAME is a counting semaphore: wait in its fair queue for one of its N permits (N creates it; once it exists " +
        "its own count wins — change it with `leasekit resize`). CMD also sees LEASEKIT_PERMIT (the permit's index); " +
        "LEASEKIT_TOKEN is that permit's fencing token and LEASEKIT_LEASE names the permit's lease, NS/NAME-<index> " +
        "(default: off — NAME is one lease)"
    ),
    Flag.optional
  ),
  name: Argument.String("name").pipe(Argument.withDescription("the lease (a Lease object's name), or with --permits the semaphore")),
  command: Argument.String("command").pipe(
    Argument.withDescription("CMD [ARGS…]: the command to run; it must follow `--` (64 otherwise, so that its own flags are never read as leasekit's)"),
    Argument.variadic()
  )
}

/**
 * The `run` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("run", config, Lazy.handler(() => import("../internal/Run.ts"))).pipe(
  Command.withDescription(
    "Run CMD while holding the lease NAME: wait for it (or --try), renew it while CMD runs, pass signals on, " +
      "stop CMD if the lease is lost (exit 79), release it when CMD exits, and exit with CMD's status. " +
      "CMD sees LEASEKIT_TOKEN (fencing token), LEASEKIT_HOLDER and LEASEKIT_LEASE. " +
      "With --permits N, NAME is a semaphore: the same for one of its N permits (LEASEKIT_PERMIT: its index). " +
      "Exit codes: CMD's status; 64 usage; 69 API unreachable; 75 held (--try) or --timeout; 77 forbidden; 78 bad kubeconfig; 79 lease lost."
  ),
  Command.withShortDescription("run a command while holding a lease (flock for Kubernetes)"),
  Command.withExamples([
    { command: "leasekit run nightly-report -- ./report.sh --full", description: "wait for the lease, then run the report" },
    { command: "leasekit run -n jobs db-migrate --try -- npm run migrate", description: "skip (exit 75) if another run holds it" },
    { command: "leasekit run backup --timeout 5m --duration 30s -- sh -c 'pg_dump … > /backup/db.sql'", description: "wait at most 5 minutes" },
    { command: "leasekit run sync --conflict-exit-code 0 --try -- ./sync.sh", description: "a held lease is not an error (CronJob)" },
    { command: "leasekit run scheduler --health-port 8080 -- ./scheduler", description: "probes: GET :8080/healthz and :8080/readyz" },
    { command: "leasekit run crawler --permits 3 -- ./crawl.sh", description: "at most 3 crawls at once, waiting in a fair queue" }
  ])
)
