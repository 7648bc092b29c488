/**
 * Exit codes of the `leasekit` binary, and the one failure type every command ends with.
 *
 * Codes follow sysexits(3) where one fits, the shell where a child process is involved:
 *
 * | code    | name            | when                                                                 |
 * |---------|-----------------|----------------------------------------------------------------------|
 * | 0       |                 | success; for `run`: CMD exited 0                                     |
 * | 1–255   |                 | `run`: CMD's own exit status (128+N when CMD was killed by signal N) |
 * | 64      | EX_USAGE        | bad command line or lease options (name, duration, missing --force); |
 * |         |                 | a lease and a semaphore mixed up (`run NAME` on a semaphore or one   |
 * |         |                 | of its permits, `--permits` on a plain lease), no such semaphore     |
 * | 69      | EX_UNAVAILABLE  | the API server cannot be reached, fails or times out, or the server  |
 * |         |                 | the kubeconfig names is not a Kubernetes API server                  |
 * | 70      | EX_SOFTWARE     | an unexpected internal error (a bug: please report it)               |
 * | 75      | EX_TEMPFAIL     | the lease is held, the semaphore full (`--try`), the wait timed out  |
 * |         |                 | (`--timeout`), or the semaphore's queue is full;                     |
 * |         |                 | settable with `--conflict-exit-code`, like flock's `-E`              |
 * | 77      | EX_NOPERM       | RBAC forbids it, or the credentials are rejected                     |
 * | 78      | EX_CONFIG       | the kubeconfig cannot be used, or the namespace does not exist       |
 * | 79      |                 | `run`: the lease was lost while CMD ran (CMD was stopped), or before |
 * |         |                 | CMD started (CMD was not started), or handed over at a request       |
 * |         |                 | (`leasekit handoff`: CMD was stopped first)                          |
 * | 126/127 |                 | `run`: CMD is not executable / not found (as in a shell)             |
 * | 130     |                 | interrupted (SIGINT/SIGTERM) before CMD started                      |
 *
 * Guarantees: every expected failure leaves the process as a `CliExit` carrying one of these
 * codes, a one-line problem and, where there is one, a one-line fix — never a stack trace. The
 * problem is said in the command line's words: a library error's own hints (its options, its
 * layers) are left out, and the fix names flags. `render` prints both through
 * `Printable.printable`: what they quote from a Lease or an API server (holder identities, server
 * messages) cannot break the line or drive the terminal.
 * Library errors are recognised by their `_tag`, not their class: this module is loaded by every
 * command (and `--help`), so it must not load the libraries' code, and an error from a second copy
 * of the libraries (the demo's `@leasekit/testing` brings its own) is still recognised.
 * Does not guarantee: that codes 64–79 cannot also be CMD's own status under `run` (a child may
 * exit with any code; pick `--conflict-exit-code` outside the range your command uses).
 *
 * @since 0.1.0
 */
import type { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseRelinquishmentError } from "@leasekit/core/LeaseError"
import type { LeaseStoreError } from "@leasekit/core/LeaseStore"
import type * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"
import { printable } from "./Printable.ts"

/**
 * The codes, by name.
 *
 * @since 0.1.0
 * @category constants
 */
export const codes = {
  ok: 0,
  usage: 64,
  unavailable: 69,
  software: 70,
  tempfail: 75,
  noperm: 77,
  config: 78,
  lost: 79,
  notExecutable: 126,
  notFound: 127,
  interrupted: 130
} as const

/**
 * How a command ends when it does not end with 0. `problem` is one line saying what happened,
 * `fix` one line saying what to do; both absent for a silent exit (`run` passing on CMD's status).
 *
 * @since 0.1.0
 * @category errors
 */
export class CliExit extends Data.TaggedError("CliExit")<{
  readonly code: number
  readonly problem?: string | undefined
  readonly fix?: string | undefined
}> {
  override get message(): string {
    return this.problem ?? `exit ${this.code}`
  }
}

/**
 * A silent exit with `code` (nothing printed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const silent = (code: number): CliExit => new CliExit({ code })

/**
 * An exit with a message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fail = (code: number, problem: string, fix?: string): CliExit =>
  new CliExit({ code, problem, ...(fix === undefined ? {} : { fix }) })

/**
 * A usage error (64).
 *
 * @since 0.1.0
 * @category constructors
 */
export const usage = (problem: string, fix?: string): CliExit => fail(codes.usage, problem, fix)

const leaseOf = (key: { readonly namespace: string; readonly name: string }) => `${key.namespace}/${key.name}`

const connectionFix =
  "check that the cluster is up and that --kubeconfig / --context (or $KUBECONFIG) point at it; `kubectl cluster-info` shows where they lead"

const permissionFix =
  "grant the rule named above (examples/kubernetes/rbac.yaml has a Role for leasekit), or use a kubeconfig / --context that has it"

const doing: Record<LeaseStoreError["operation"], string> = {
  get: "reading",
  list: "listing",
  create: "creating",
  update: "updating",
  remove: "deleting",
  watch: "watching"
}

/** A store failure in the command line's words: what was being done, and the detail (no reason tag). */
const storeProblem = (error: LeaseStoreError): string =>
  error.key === undefined
    ? `${doing[error.operation]} leases: ${error.detail}`
    : `${doing[error.operation]} lease ${error.key.namespace}/${error.key.name}: ${error.detail}`

/** The exit for a store failure. */
const fromStoreError = (error: LeaseStoreError, problem: string = storeProblem(error)): CliExit => {
  switch (error.reason) {
    case "Forbidden":
      return fail(codes.noperm, problem, permissionFix)
    case "Unauthorized":
      return fail(codes.noperm, problem, "log in again or fix the credentials of the kubeconfig's user")
    case "Credentials":
      return fail(
        codes.noperm,
        problem,
        "run the kubeconfig user's credential plugin yourself (its command is in users[].user.exec) to see why it fails, or log in again"
      )
    case "Unavailable":
    case "Timeout":
      return fail(codes.unavailable, problem, connectionFix)
    case "NotFound":
      return fail(codes.config, problem, "pass an existing namespace with -n, or create it")
    case "Conflict":
    case "AlreadyExists":
      return fail(codes.tempfail, problem, "the lease changed meanwhile; run the command again")
    case "Unsupported":
      // The Kubernetes store's only Unsupported outside watches (which fall back to polling): the
      // server answered like no Kubernetes API server would.
      return fail(codes.unavailable, problem, "point --kubeconfig / --context (or $KUBECONFIG) at a Kubernetes API server; `kubectl cluster-info` shows where they lead")
    case "Invalid":
      return fail(codes.software, problem, "this is unexpected from a Kubernetes API server; run with --verbose and report it")
  }
}

/**
 * The exit for any failure a command can end with. Known errors get their code and a fix;
 * anything else is an internal error (70).
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromError = (error: unknown): CliExit => {
  if (error instanceof CliExit) return error
  if (tagged<InvalidLeaseOptions>(error, "InvalidLeaseOptions")) {
    return usage(error.message, "see --help for the accepted values")
  }
  if (tagged<LeaseAcquisitionError>(error, "LeaseAcquisitionError")) {
    switch (error.reason._tag) {
      case "HeldByOther":
      case "Timeout":
        return fail(codes.tempfail, error.message, "wait longer (--timeout), or see who holds it with `leasekit status`")
      case "Store":
        return fromStoreError(error.reason.error, `lease ${leaseOf(error.key)} could not be acquired: ${error.reason.error.detail}`)
      case "Coordinated":
        return fail(codes.config, error.message, "use a Lease without spec.strategy, or let the API server's coordinator pick the holder")
      case "Semaphore":
        return fail(
          codes.usage,
          error.message,
          `it belongs to semaphore ${error.reason.semaphore}: \`leasekit run ${error.reason.semaphore} --permits N -- CMD\`, or pick another name`
        )
      case "NotASemaphore":
        return fail(codes.usage, error.message, "drop --permits to take the lease, or pick another name for the semaphore")
      case "NoSuchSemaphore":
        return fail(codes.usage, error.message, "create it with `leasekit run NAME --permits N -- CMD` (N permits), or check the name and -n")
      case "QueueFull":
        return fail(codes.tempfail, error.message, "try again later, or raise the count with `leasekit resize NAME --permits N`")
    }
  }
  if (tagged<LeaseRelinquishmentError>(error, "LeaseRelinquishmentError")) {
    return error.reason._tag === "Store"
      ? fromStoreError(error.reason.error, `lease ${leaseOf(error.key)} could not be released: ${error.reason.error.detail}`)
      : fail(codes.tempfail, error.message, "someone else holds it now; there is nothing to release")
  }
  if (tagged<LeaseLostError>(error, "LeaseLostError")) {
    return fail(codes.lost, error.message)
  }
  if (tagged<LeaseStoreError>(error, "LeaseStoreError")) return fromStoreError(error)
  if (tagged<KubeClient.KubeConfigError>(error, "KubeConfigError")) {
    // The detail without the library's hint (its options and layerConfig's variables): the fix
    // names the flags instead.
    return fail(
      codes.config,
      `kubeconfig ${error.source}: ${error.detail}`,
      error.reason === "UnknownContext"
        ? "pick one of its contexts with --context, or set its current-context (`kubectl config use-context NAME`)"
        : error.reason === "NotFound"
        ? "pass a kubeconfig file with --kubeconfig, set $KUBECONFIG, or create ~/.kube/config"
        : "pass a usable file with --kubeconfig (or $KUBECONFIG), or pick a context with --context"
    )
  }
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return fail(codes.software, `internal error: ${text}`, "run with --verbose for details and report it")
}

/** Whether `error` carries the tag of the library error `E`. */
const tagged = <E extends { readonly _tag: string }>(error: unknown, tag: E["_tag"]): error is E =>
  Predicate.isTagged(error, tag)

/**
 * The text printed for an exit: `leasekit: <problem>` and, when there is one, `  fix: <fix>`,
 * each one line (control characters escaped). Empty for a silent exit.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (exit: CliExit): string =>
  exit.problem === undefined
    ? ""
    : `leasekit: ${printable(exit.problem)}\n${exit.fix === undefined ? "" : `  fix: ${printable(exit.fix)}\n`}`
