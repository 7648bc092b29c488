/**
 * Figure 1 — API requests per operation, counted at the server (audit log): acquire of an absent
 * lease, acquire of a released lease, one renewal, release; and requests per minute while holding
 * one lease at default timings (leasekit 20 s / renew every 6.7 s; client-go 15 s / 10 s / 2 s).
 *
 * Each cycle uses a fresh lease: join (acquire absent) → [hold for the window — whole renewal
 * periods, from just after one renewal to just after the k-th next one — last cycle only, so that
 * the process's CPU per renewal is measured warm] →
 * wait for a renewal → release → join (acquire released) → wait for a renewal → release. Phases
 * are delimited by audit-log marks; inside a holding phase the requests are cut into operations at
 * each successful write (an acquisition ends with its first successful create/update, each later
 * successful update ends one renewal). Release is sent right after a renewal was seen, so no
 * renewal falls into it.
 *
 * Judges issue 6's request goals (renewal and release = 1 request, acquire ≤ 2, ≤ 9 requests a
 * minute while holding) and renders section 1 of RESULTS.md; no missed goal of it has an analysis.
 */
import type { AuditEvent as AuditRecord } from "@leasekit/testing/AuditLog"
import { isSuccessfulWrite } from "@leasekit/testing/AuditLog"
import type { Bench } from "../Bench.ts"
import { joinAndLead, releaseAll, sleep, usageOf } from "../Bench.ts"
import type { Kind } from "../Contenders.ts"
import type { Goal } from "../Goal.ts"
import { table } from "../Markdown.ts"
import { nowMicros } from "@leasekit/testing/ContenderProtocol"
import type { Results } from "../Results.ts"
import { fmt, medianP99, summarize } from "../Statistics.ts"

export interface RequestsResult {
  readonly kind: Kind
  readonly acquireAbsent: Array<number>
  readonly acquireReleased: Array<number>
  readonly renewal: Array<number>
  readonly release: Array<number>
  /** Verbs of the first sample of each operation, e.g. "get+create". */
  readonly composition: Record<string, string>
  readonly windowSeconds: number
  readonly requestsPerMinute: number
  readonly writesPerMinute: number
  readonly renewalsInWindow: number
  /** Process CPU time and (Go only) bytes allocated per renewal while holding, averaged. */
  readonly cpuMicrosPerRenewal: number
  readonly bytesPerRenewal: number | undefined
}

const verbs = (records: ReadonlyArray<AuditRecord>) => records.map((r) => `${r.verb}${r.code === 200 || r.code === 201 ? "" : ` ${r.code}`}`).join(" + ")

/** Splits the requests of a holding phase at successful writes: [acquisition, renewal, renewal, …]. */
const operations = (records: ReadonlyArray<AuditRecord>): Array<Array<AuditRecord>> => {
  const ops: Array<Array<AuditRecord>> = []
  let current: Array<AuditRecord> = []
  for (const r of records) {
    current.push(r)
    if (isSuccessfulWrite(r)) {
      ops.push(current)
      current = []
    }
  }
  return ops
}

/** Waits for a successful update of `name` logged after `from` (a renewal); bounded. */
const nextRenewal = async (bench: Bench, name: string, from: number, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (bench.audit.events(from, undefined, name).some((r) => r.verb === "update" && isSuccessfulWrite(r))) return
    await sleep(10)
  }
  throw new Error(`no renewal of ${name} within ${timeoutMs} ms`)
}

/** How often each renews at its default timings. */
const renewalPeriodMs = (kind: Kind) => (kind === "leasekit" ? 20_000 / 3 : 2_000)

export const run = async (bench: Bench, kind: Kind, cycles: number, windowSeconds: number): Promise<RequestsResult> => {
  const [c] = await bench.pool.take(kind, 1)
  const contender = c!
  const { audit } = bench
  const result = {
    kind,
    acquireAbsent: [] as Array<number>,
    acquireReleased: [] as Array<number>,
    renewal: [] as Array<number>,
    release: [] as Array<number>,
    composition: {} as Record<string, string>
  }
  const compose = (op: string, records: ReadonlyArray<AuditRecord>) => {
    result.composition[op] ??= verbs(records)
  }
  const renewEveryMs = renewalPeriodMs(kind)
  const renewalTimeout = renewEveryMs * 2 + 5_000
  let window = { seconds: windowSeconds, requests: 0, writes: 0, renewals: 0, cpu: 0, alloc: undefined as number | undefined }

  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      const name = `f1-${kind}-${cycle}-${Date.now().toString(36)}`
      const join = { name, namespace: bench.namespace }

      // acquire (absent) and hold
      const m0 = audit.mark()
      await joinAndLead(contender, join)
      await audit.settle()
      if (cycle === cycles - 1) {
        // The window runs from just after one renewal to just after the k-th next one, so that it
        // spans whole renewal periods even when it is short.
        const k = Math.max(1, Math.round((windowSeconds * 1000) / renewEveryMs))
        await nextRenewal(bench, name, audit.mark(), renewalTimeout)
        const wA = audit.mark()
        const t0 = nowMicros()
        const u0 = await usageOf(contender)
        let from = wA
        for (let i = 0; i < k; i++) {
          await nextRenewal(bench, name, from, renewalTimeout)
          from = audit.mark()
        }
        const wB = audit.mark()
        const t1 = nowMicros()
        const u1 = await usageOf(contender)
        const inWindow = audit.events(wA, wB, name)
        const renewals = inWindow.filter((r) => r.verb === "update" && isSuccessfulWrite(r)).length
        const minutes = (t1 - t0) / 60e6
        window = {
          seconds: (t1 - t0) / 1e6,
          requests: inWindow.length / minutes,
          writes: inWindow.filter((r) => r.verb !== "get" && r.verb !== "list" && r.verb !== "watch").length / minutes,
          renewals,
          cpu: renewals > 0 ? (u1.cpuMicros - u0.cpuMicros) / renewals : Number.NaN,
          alloc: renewals > 0 && u1.totalAlloc !== undefined && u0.totalAlloc !== undefined
            ? (u1.totalAlloc - u0.totalAlloc) / renewals
            : undefined
        }
      }
      await nextRenewal(bench, name, audit.mark(), renewalTimeout)
      const mRelease = audit.mark()
      await releaseAll([contender])
      await audit.settle()

      // acquire (released) and hold until one renewal
      const mJoin = audit.mark()
      await joinAndLead(contender, join)
      await audit.settle()
      await nextRenewal(bench, name, audit.mark(), renewalTimeout)
      const mRelease2 = audit.mark()
      await releaseAll([contender])
      await audit.settle()
      const mEnd = audit.mark()

      const held1 = operations(audit.events(m0, mRelease, name))
      const held2 = operations(audit.events(mJoin, mRelease2, name))
      const release1 = audit.events(mRelease, mJoin, name)
      const release2 = audit.events(mRelease2, mEnd, name)
      if (held1[0]) {
        result.acquireAbsent.push(held1[0].length)
        compose("acquireAbsent", held1[0])
      }
      if (held2[0]) {
        result.acquireReleased.push(held2[0].length)
        compose("acquireReleased", held2[0])
      }
      for (const op of [...held1.slice(1), ...held2.slice(1)]) {
        result.renewal.push(op.length)
        compose("renewal", op)
      }
      for (const op of [release1, release2]) {
        result.release.push(op.length)
        compose("release", op)
      }
      bench.log(`  fig 1 ${kind}: cycle ${cycle + 1}/${cycles} done`)
    }
  } finally {
    bench.pool.give([contender])
  }
  return {
    ...result,
    windowSeconds: window.seconds,
    requestsPerMinute: window.requests,
    writesPerMinute: window.writes,
    renewalsInWindow: window.renewals,
    cpuMicrosPerRenewal: window.cpu,
    bytesPerRenewal: window.alloc
  }
}

/** How many cycles, and the holding window, of the quick and the full run. */
export const settings = {
  quick: { cycles: 1, windowSeconds: 12 },
  full: { cycles: 5, windowSeconds: 120 }
}

/** Figure 1 in a run: leasekit and client-go side by side. */
export const measure = async (bench: Bench, s: typeof settings.quick, results: Results): Promise<void> => {
  results.requests.push(
    ...(await Promise.all((["leasekit", "client-go"] as const).map((kind) => run(bench, kind, s.cycles, s.windowSeconds))))
  )
}

// ---------------------------------------------------------------------------------------------
// Goals and RESULTS.md

/** Issue 6's goals for requests per operation, judged on leasekit's row. */
export const goals = (r: Results): Array<Goal> => {
  const out: Array<Goal> = []
  const lk = r.requests.find((x) => x.kind === "leasekit")
  if (lk !== undefined) {
    const max = (xs: ReadonlyArray<number>) => (xs.length === 0 ? Number.NaN : Math.max(...xs))
    out.push(
      { id: "renewal", goal: "renewal = 1 request", measured: `max ${max(lk.renewal)} (n=${lk.renewal.length})`, met: max(lk.renewal) === 1 },
      { id: "release", goal: "release = 1 request", measured: `max ${max(lk.release)} (n=${lk.release.length})`, met: max(lk.release) === 1 },
      {
        id: "acquire",
        goal: "acquire ≤ 2 requests",
        measured: `absent max ${max(lk.acquireAbsent)}, released max ${max(lk.acquireReleased)}`,
        met: max(lk.acquireAbsent) <= 2 && max(lk.acquireReleased) <= 2
      },
      {
        id: "perMinute",
        goal: "holding: ≤ 60 / renewInterval requests per minute (9 at the 20 s default)",
        measured: `${fmt(lk.requestsPerMinute)} per minute over ${fmt(lk.windowSeconds, 0)} s`,
        met: lk.requestsPerMinute <= 60 / (20 / 3) + 0.5
      }
    )
  }
  return out
}

/** Section 1 of RESULTS.md: requests per operation, leasekit beside client-go. */
export const section = (r: Results) => {
  if (r.requests.length === 0) return ""
  const by = (k: Kind) => r.requests.find((x) => x.kind === k)
  const lk = by("leasekit")
  const go = by("client-go")
  const cell = (x: RequestsResult | undefined, f: (x: RequestsResult) => ReadonlyArray<number>) =>
    x === undefined ? "–" : medianP99(summarize(f(x)), 0)
  const comp = (x: RequestsResult | undefined, op: string) => (x === undefined ? "" : x.composition[op] ?? "")
  return [
    "## 1. API requests per operation (counted at the server)",
    "",
    table(["operation", "leasekit median / p99 (n)", "leasekit requests", "client-go median / p99 (n)", "client-go requests"], [
      ["acquire, lease absent", cell(lk, (x) => x.acquireAbsent), comp(lk, "acquireAbsent"), cell(go, (x) => x.acquireAbsent), comp(go, "acquireAbsent")],
      [
        "acquire, lease released",
        cell(lk, (x) => x.acquireReleased),
        comp(lk, "acquireReleased"),
        cell(go, (x) => x.acquireReleased),
        comp(go, "acquireReleased")
      ],
      ["one renewal", cell(lk, (x) => x.renewal), comp(lk, "renewal"), cell(go, (x) => x.renewal), comp(go, "renewal")],
      ["release", cell(lk, (x) => x.release), comp(lk, "release"), cell(go, (x) => x.release), comp(go, "release")],
      [
        "requests per minute while holding",
        lk ? `${fmt(lk.requestsPerMinute)} (${fmt(lk.windowSeconds, 0)} s window)` : "–",
        lk ? `${fmt(lk.writesPerMinute)} writes/min` : "",
        go ? `${fmt(go.requestsPerMinute)} (${fmt(go.windowSeconds, 0)} s window)` : "–",
        go ? `${fmt(go.writesPerMinute)} writes/min` : ""
      ]
    ]),
    "",
    "An operation's requests run from the previous successful write (or the command) to its own successful write, as the",
    "audit log shows them. client-go renews once right after acquiring (its renew loop starts with an immediate",
    "`tryAcquireOrRenew`, a GET and an UPDATE), which counts as its first renewal here; every one of its renewals reads",
    "before it writes. leasekit renews with one compare-and-swap PUT from the record it last wrote."
  ].join("\n")
}
