/**
 * Counting API requests at the server: a reader of the API server's JSON audit log (written by
 * `@leasekit/testing`'s control plane at Metadata level, one line per request stage).
 *
 * A phase of a benchmark is delimited by byte offsets (`mark`) taken before and after it; events
 * are read between two marks and filtered by lease name. A request appears once (events of one
 * request share an auditID; watches log a ResponseStarted and a ResponseComplete stage). The API
 * server logs a request as it completes, so `settle` waits a moment before a phase is closed.
 */
import * as Fs from "node:fs"

export interface AuditRecord {
  readonly auditID: string
  readonly verb: string
  readonly namespace: string | undefined
  readonly name: string | undefined
  readonly code: number | undefined
  readonly userAgent: string
}

const parse = (line: string): AuditRecord | undefined => {
  try {
    const raw = JSON.parse(line) as {
      auditID?: string
      verb?: string
      userAgent?: string
      objectRef?: { namespace?: string; name?: string; resource?: string }
      responseStatus?: { code?: number }
    }
    if (raw.auditID === undefined || raw.objectRef?.resource !== "leases") return undefined
    return {
      auditID: raw.auditID,
      verb: raw.verb ?? "",
      namespace: raw.objectRef.namespace,
      name: raw.objectRef.name,
      code: raw.responseStatus?.code,
      userAgent: raw.userAgent ?? ""
    }
  } catch {
    return undefined
  }
}

export class AuditLog {
  readonly path: string
  constructor(path: string) {
    this.path = path
  }

  /** The current end of the log. */
  mark(): number {
    return Fs.existsSync(this.path) ? Fs.statSync(this.path).size : 0
  }

  /**
   * Lease requests logged between `from` and `to` (default: now) whose lease name passes `name`
   * (a name, or a predicate), one per request, in log order.
   */
  events(from: number, to: number | undefined, name?: string | ((name: string) => boolean)): Array<AuditRecord> {
    const end = to ?? this.mark()
    if (this.mark() < from) {
      // A rotated log would silently count nothing: refuse instead.
      throw new Error(`the audit log ${this.path} shrank below offset ${from}: it was rotated (raise --audit-log-maxsize)`)
    }
    if (end <= from) return []
    const fd = Fs.openSync(this.path, "r")
    let text: string
    try {
      const buffer = Buffer.alloc(end - from)
      Fs.readSync(fd, buffer, 0, buffer.length, from)
      text = buffer.toString("utf8")
    } finally {
      Fs.closeSync(fd)
    }
    const matches = name === undefined
      ? () => true
      : typeof name === "string"
      ? (n: string | undefined) => n === name
      : (n: string | undefined) => n !== undefined && name(n)
    // Cheap pre-filter before JSON.parse: the name appears literally in the line.
    const literal = typeof name === "string" ? `"name":"${name}"` : undefined
    const seen = new Set<string>()
    const out: Array<AuditRecord> = []
    const lines = text.split("\n")
    // A line cut by `to` belongs to the next phase; one cut by `from` to the previous.
    const last = text.endsWith("\n") ? lines.length : lines.length - 1
    for (let i = 0; i < last; i++) {
      const line = lines[i]!
      if (line === "" || (literal !== undefined && !line.includes(literal))) continue
      const record = parse(line)
      if (record === undefined || seen.has(record.auditID) || !matches(record.name)) continue
      seen.add(record.auditID)
      out.push(record)
    }
    return out
  }

  /**
   * Waits long enough for requests that completed before now to be in the log (the API server
   * writes a request's event right after its response; other phases may keep the log growing, so
   * this does not wait for silence).
   */
  async settle(ms = 250): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms))
  }
}

/** Is this a write (create, update, delete, patch)? */
export const isWrite = (r: AuditRecord): boolean =>
  r.verb === "create" || r.verb === "update" || r.verb === "delete" || r.verb === "patch"

/** Is this a successful write? */
export const isSuccessfulWrite = (r: AuditRecord): boolean =>
  isWrite(r) && r.code !== undefined && r.code >= 200 && r.code < 300

/** Counts per verb, e.g. `{ get: 3, update: 2 }`. */
export const countByVerb = (records: ReadonlyArray<AuditRecord>): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const r of records) counts[r.verb] = (counts[r.verb] ?? 0) + 1
  return counts
}
