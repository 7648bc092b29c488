import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { AuditLog } from "../src/index.ts"

/** One audit line as kube-apiserver writes it (JSON format, Metadata level). */
const line = (o: {
  readonly id: string
  readonly verb: string
  readonly name?: string
  readonly resource?: string
  readonly code?: number
  readonly stage?: string
}) =>
  JSON.stringify({
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    level: "Metadata",
    auditID: o.id,
    stage: o.stage ?? "ResponseComplete",
    requestURI: `/apis/coordination.k8s.io/v1/namespaces/ns/leases/${o.name ?? ""}`,
    verb: o.verb,
    user: { username: "admin", groups: ["system:masters"] },
    userAgent: "test/1.0",
    objectRef: { resource: o.resource ?? "leases", namespace: "ns", name: o.name, apiGroup: "coordination.k8s.io" },
    responseStatus: { code: o.code ?? 200 },
    requestReceivedTimestamp: "2026-01-01T00:00:00.000000Z"
  }) + "\n"

/** A log file in a fresh folder, removed with the scope. */
const logFile = Effect.acquireRelease(
  Effect.sync(() => Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "leasekit-audit-")), "audit.log")),
  (file) => Effect.sync(() => Fs.rmSync(Path.dirname(file), { recursive: true, force: true }))
)

describe("AuditLog", () => {
  it.effect("a log that does not exist yet reads as empty, at mark 0", () =>
    Effect.gen(function*() {
      const log = AuditLog.make(yield* logFile)
      assert.deepStrictEqual(yield* log.mark, { offset: 0 })
      assert.deepStrictEqual(yield* log.events(), [])
    }))

  it.effect("each request once (stages share an auditID), in log order, with its fields", () =>
    Effect.gen(function*() {
      const file = yield* logFile
      Fs.writeFileSync(
        file,
        line({ id: "w", verb: "watch", stage: "ResponseStarted" }) + line({ id: "a", verb: "get", name: "x", code: 404 }) +
          line({ id: "w", verb: "watch" }) + "not json\n" + line({ id: "b", verb: "create", name: "x", code: 201 })
      )
      const events = yield* AuditLog.make(file).events()
      assert.deepStrictEqual(events.map((e) => `${e.auditID} ${e.verb} ${e.code}`), ["w watch 200", "a get 404", "b create 201"])
      const created = events[2]!
      assert.strictEqual(created.user, "admin")
      assert.strictEqual(created.userAgent, "test/1.0")
      assert.strictEqual(created.namespace, "ns")
      assert.strictEqual(created.resource, "leases")
      assert.strictEqual(created.name, "x")
    }))

  it.effect("marks delimit a stretch; a line cut by the later mark belongs to the next stretch", () =>
    Effect.gen(function*() {
      const file = yield* logFile
      const log = AuditLog.make(file)
      Fs.writeFileSync(file, line({ id: "1", verb: "get", name: "x" }))
      const m0 = yield* log.mark
      const second = line({ id: "2", verb: "update", name: "x" })
      Fs.appendFileSync(file, second.slice(0, 20))
      const cut = yield* log.mark
      Fs.appendFileSync(file, second.slice(20) + line({ id: "3", verb: "update", name: "y" }))
      assert.deepStrictEqual((yield* log.events({ after: m0, before: cut })).map((e) => e.auditID), [])
      assert.deepStrictEqual((yield* log.events({ after: m0 })).map((e) => e.auditID), ["2", "3"])
      assert.deepStrictEqual((yield* log.events({ before: m0 })).map((e) => e.auditID), ["1"])
    }))

  it.effect("filters by resource, name or a predicate on it, and verb; counts per verb", () =>
    Effect.gen(function*() {
      const file = yield* logFile
      Fs.writeFileSync(
        file,
        line({ id: "1", verb: "get", name: "job-a" }) + line({ id: "2", verb: "update", name: "job-a" }) +
          line({ id: "3", verb: "update", name: "job-b", code: 409 }) +
          line({ id: "4", verb: "get", name: "job-a", resource: "configmaps" }) + line({ id: "5", verb: "list" })
      )
      const log = AuditLog.make(file)
      assert.deepStrictEqual(yield* log.countRequests({ resource: "leases", name: "job-a" }), { get: 1, update: 1 })
      assert.deepStrictEqual(
        (yield* log.events({ resource: "leases", name: (n) => n.startsWith("job-") })).map((e) => e.auditID),
        ["1", "2", "3"]
      )
      const updates = yield* log.events({ verb: "update" })
      assert.deepStrictEqual(updates.map(AuditLog.isSuccessfulWrite), [true, false])
      assert.deepStrictEqual(updates.map(AuditLog.isWrite), [true, true])
    }))

  it.effect("a log that shrank below a mark (rotated) fails instead of counting nothing", () =>
    Effect.gen(function*() {
      const file = yield* logFile
      const log = AuditLog.make(file)
      Fs.writeFileSync(file, line({ id: "1", verb: "get", name: "x" }))
      const mark = yield* log.mark
      Fs.writeFileSync(file, "")
      const error = yield* Effect.flip(log.events({ after: mark }))
      assert.strictEqual(error._tag, "AuditLogError")
      assert.strictEqual(error.reason, "Rotated")
    }))
})
