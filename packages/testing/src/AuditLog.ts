/**
 * Counting API requests at the server: a reader of kube-apiserver's JSON audit log
 * (`--audit-log-format=json`), such as the one `ControlPlane` writes at Metadata level.
 *
 * A stretch of the log is delimited by marks — byte offsets taken with `mark` before and after
 * the requests of interest — and read as `AuditEvent`s filtered by resource, namespace, name (or a
 * predicate on it), verb and user. Each request appears once, in log order: the stages of one
 * request (a watch logs `ResponseStarted` and `ResponseComplete`) share an `auditID`.
 *
 * Guarantees:
 * - a line cut by the `before` mark belongs to the stretch after it, not to this one; a line that
 *   is not a JSON audit event is skipped;
 * - a log that shrank below a mark (rotated) fails with `AuditLogError` (reason `Rotated`) instead
 *   of silently counting nothing — keep rotation out of a measured run (`--audit-log-maxsize`);
 * - a log that does not exist yet reads as empty (mark 0).
 *
 * Does not guarantee that a request is in the log the instant its response arrived: the API server
 * writes its event as the request completes, so wait a moment (or poll) before closing a stretch
 * that must contain the last requests. It reads the file on every call (nothing is cached), which
 * is cheap for a test's log and linear in the stretch read.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import { asRecord, asString, parseJson } from "./internal/json.ts"

/**
 * One request as recorded in the audit log.
 *
 * @since 0.2.0
 * @category models
 */
export interface AuditEvent {
  readonly auditID: string
  readonly verb: string
  readonly user: string
  readonly resource: string | undefined
  readonly namespace: string | undefined
  /** Absent for list, watch and create by collection. */
  readonly name: string | undefined
  readonly code: number | undefined
  readonly requestURI: string
  readonly receivedAt: string
  readonly userAgent: string
}

/**
 * A position in the audit log, from `mark`.
 *
 * @since 0.2.0
 * @category models
 */
export interface AuditMark {
  readonly offset: number
}

/**
 * Selects audit events; every given field must match.
 *
 * @since 0.2.0
 * @category models
 */
export interface AuditFilter {
  readonly resource?: string | undefined
  readonly namespace?: string | undefined
  /** The object's name, or a predicate on it (events without a name never match a predicate). */
  readonly name?: string | ((name: string) => boolean) | undefined
  readonly verb?: string | undefined
  readonly user?: string | undefined
  /** Only events logged after this mark, e.g. to count one phase of a test. */
  readonly after?: AuditMark | undefined
  /** Only events logged before this mark. Default: the end of the log when read. */
  readonly before?: AuditMark | undefined
}

/**
 * Why the audit log could not be read.
 *
 * - `Unreadable`: the file exists but could not be read.
 * - `Rotated`: the file is now shorter than a mark taken earlier.
 *
 * @since 0.2.0
 * @category errors
 */
export type AuditLogErrorReason = "Unreadable" | "Rotated"

/**
 * The audit log could not be read.
 *
 * @since 0.2.0
 * @category errors
 */
export class AuditLogError extends Data.TaggedError("AuditLogError")<{
  readonly reason: AuditLogErrorReason
  readonly path: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `audit log ${this.path}: ${this.reason}: ${this.detail}`
  }
}

/**
 * A reader of one audit-log file.
 *
 * @since 0.2.0
 * @category models
 */
export interface AuditLog {
  readonly path: string
  /** The current end of the log. */
  readonly mark: Effect.Effect<AuditMark, AuditLogError>
  /** Events matching `filter`, one per request, in log order. */
  readonly events: (filter?: AuditFilter) => Effect.Effect<ReadonlyArray<AuditEvent>, AuditLogError>
  /** Number of requests per verb matching `filter`, e.g. `{ get: 3, update: 12 }`. */
  readonly countRequests: (filter?: AuditFilter) => Effect.Effect<Readonly<Record<string, number>>, AuditLogError>
}

/**
 * One line of the log as an event; `undefined` when it is not a JSON audit event.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseLine = (line: string): AuditEvent | undefined => {
  const raw = asRecord(parseJson(line))
  const auditID = asString(raw["auditID"])
  if (auditID === undefined) return undefined
  const ref = asRecord(raw["objectRef"])
  const status = asRecord(raw["responseStatus"])
  return {
    auditID,
    verb: asString(raw["verb"]) ?? "",
    user: asString(asRecord(raw["user"])["username"]) ?? "",
    resource: asString(ref["resource"]),
    namespace: asString(ref["namespace"]),
    name: asString(ref["name"]),
    code: typeof status["code"] === "number" ? status["code"] : undefined,
    requestURI: asString(raw["requestURI"]) ?? "",
    receivedAt: asString(raw["requestReceivedTimestamp"]) ?? "",
    userAgent: asString(raw["userAgent"]) ?? ""
  }
}

const matches = (filter: AuditFilter, event: AuditEvent): boolean =>
  (filter.resource === undefined || filter.resource === event.resource) &&
  (filter.namespace === undefined || filter.namespace === event.namespace) &&
  (filter.name === undefined ||
    (typeof filter.name === "string"
      ? filter.name === event.name
      : event.name !== undefined && filter.name(event.name))) &&
  (filter.verb === undefined || filter.verb === event.verb) &&
  (filter.user === undefined || filter.user === event.user)

const size = (path: string): number => Fs.existsSync(path) ? Fs.statSync(path).size : 0

/** The events of `path` matching `filter` (throws on an unreadable or rotated file). */
const read = (path: string, filter: AuditFilter): ReadonlyArray<AuditEvent> => {
  const from = filter.after?.offset ?? 0
  const end = size(path)
  if (end < from || (filter.before !== undefined && end < filter.before.offset)) {
    throw new AuditLogError({
      reason: "Rotated",
      path,
      detail: `the file shrank below offset ${Math.max(from, filter.before?.offset ?? 0)}: it was rotated (raise --audit-log-maxsize)`
    })
  }
  const to = filter.before?.offset ?? end
  if (to <= from) return []
  const buffer = Buffer.alloc(to - from)
  const fd = Fs.openSync(path, "r")
  try {
    Fs.readSync(fd, buffer, 0, buffer.length, from)
  } finally {
    Fs.closeSync(fd)
  }
  const text = buffer.toString("utf8")
  // Cheap pre-filter before JSON.parse: a name given as a string appears literally in the line.
  const literal = typeof filter.name === "string" ? `"name":${JSON.stringify(filter.name)}` : undefined
  const lines = text.split("\n")
  // A line cut by `before` belongs to the next stretch (one cut by `after` fails to parse).
  const last = text.endsWith("\n") ? lines.length : lines.length - 1
  const seen = new Set<string>()
  const events: Array<AuditEvent> = []
  for (let i = 0; i < last; i++) {
    const line = lines[i]!
    if (line === "" || (literal !== undefined && !line.includes(literal))) continue
    const event = parseLine(line)
    if (event === undefined || seen.has(event.auditID)) continue
    seen.add(event.auditID)
    if (matches(filter, event)) events.push(event)
  }
  return events
}

const unreadable = (path: string) => (cause: unknown): AuditLogError =>
  cause instanceof AuditLogError
    ? cause
    : new AuditLogError({
      reason: "Unreadable",
      path,
      detail: cause instanceof Error ? cause.message : String(cause),
      cause
    })

/**
 * A reader of the audit log at `path` (which need not exist yet).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (path: string): AuditLog => {
  const events = (filter: AuditFilter = {}) => Effect.try({ try: () => read(path, filter), catch: unreadable(path) })
  return {
    path,
    mark: Effect.try({ try: (): AuditMark => ({ offset: size(path) }), catch: unreadable(path) }),
    events,
    countRequests: (filter) => Effect.map(events(filter), countByVerb)
  }
}

/**
 * Is this a write (create, update, delete, patch)?
 *
 * @since 0.2.0
 * @category predicates
 */
export const isWrite = (event: AuditEvent): boolean =>
  event.verb === "create" || event.verb === "update" || event.verb === "delete" || event.verb === "patch"

/**
 * Is this a successful (2xx) write?
 *
 * @since 0.2.0
 * @category predicates
 */
export const isSuccessfulWrite = (event: AuditEvent): boolean =>
  isWrite(event) && event.code !== undefined && event.code >= 200 && event.code < 300

/**
 * Counts per verb, e.g. `{ get: 3, update: 2 }`.
 *
 * @since 0.2.0
 * @category utils
 */
export const countByVerb = (events: ReadonlyArray<AuditEvent>): Readonly<Record<string, number>> => {
  const counts: Record<string, number> = {}
  for (const event of events) counts[event.verb] = (counts[event.verb] ?? 0) + 1
  return counts
}
