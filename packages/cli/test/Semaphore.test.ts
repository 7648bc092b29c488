/**
 * The CLI's semaphore parts that need no API server: `run --permits` on the command line and in
 * `run`'s option resolution, `resize`'s output, the exit codes of the semaphore refusals, the
 * status view of a semaphore and `list`'s folding of its permits and tickets into one row. The
 * commands themselves run against a real API server in test/integration/semaphore.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { LeaseAcquisitionError } from "@leasekit/core"
import type { LeaseRecord } from "@leasekit/core/LeaseRecord"
import { Duration, Effect, Option, Result } from "effect"
import * as CommandLine from "../src/internal/CommandLine.ts"
import * as ExitCode from "../src/internal/ExitCode.ts"
import * as LeaseView from "../src/internal/LeaseView.ts"
import * as Resize from "../src/internal/Resize.ts"
import { leasekit, rules } from "../src/commands/RootCommand.ts"
import * as RunOptions from "../src/internal/RunOptions.ts"
import * as SemaphoreAcquisition from "../src/internal/SemaphoreAcquisition.ts"
import * as SemaphoreView from "../src/internal/SemaphoreView.ts"
import { runFlags } from "./fixtures.ts"

const key = { namespace: "jobs", name: "crawler" }
const now = 1_700_000_100_000

const record = (name: string, spec: Partial<LeaseRecord> & { readonly annotations?: Record<string, string> }): LeaseRecord => ({
  key: { namespace: "jobs", name },
  version: "1",
  metadata: spec.annotations === undefined ? {} : { annotations: spec.annotations },
  ...spec
})

describe("run --permits: the command line", () => {
  it("--permits N is one of run's flags, before or after NAME, and CMD still follows --", () => {
    for (
      const argv of [
        ["run", "crawler", "--permits", "3", "--", "./crawl.sh", "--permits", "9"],
        ["run", "--permits=3", "crawler", "--try", "--", "true"],
        ["-n", "jobs", "run", "crawler", "--permits", "3", "--timeout", "5m", "--", "true"]
      ]
    ) {
      const result = CommandLine.prepare(argv, leasekit, rules)
      assert.isTrue(Result.isSuccess(result), argv.join(" "))
    }
  })

  it.effect("resolves N; refuses a count outside 1..1000 and --health-port with it (64, naming the flag)", () =>
    Effect.gen(function*() {
      const ok = yield* RunOptions.resolve(runFlags({ name: "crawler", permits: Option.some(3) }), "jobs")
      assert.deepStrictEqual(ok.permits, Option.some(3))
      const plain = yield* RunOptions.resolve(runFlags(), "jobs")
      assert.isTrue(Option.isNone(plain.permits), "no --permits: a lease")
      for (const n of [0, -1, 1001, 2.5]) {
        const error = yield* Effect.flip(RunOptions.resolve(runFlags({ permits: Option.some(n) }), "jobs"))
        assert.strictEqual(error.code, ExitCode.codes.usage)
        assert.include(error.problem, `--permits ${n}`)
        assert.include(error.fix, "1 to 1000")
      }
      const health = yield* Effect.flip(
        RunOptions.resolve(runFlags({ permits: Option.some(3), healthPort: Option.some(8080) }), "jobs")
      )
      assert.strictEqual(health.code, ExitCode.codes.usage)
      assert.include(health.problem, "--health-port")
    }))
})

describe("the semaphore refusals as exit codes", () => {
  const refusal = (reason: LeaseAcquisitionError["reason"], name = "crawler-0") =>
    ExitCode.fromError(new LeaseAcquisitionError({ key: { namespace: "jobs", name }, reason }))

  it("a plain run on a permit, a head or a ticket: 64, naming the semaphore and the way to take it", () => {
    const exit = refusal({ _tag: "Semaphore", semaphore: "crawler", part: "permit", permit: 0 })
    assert.strictEqual(exit.code, ExitCode.codes.usage)
    assert.include(exit.problem, "permit 0 of semaphore crawler")
    assert.include(exit.fix, "leasekit run crawler --permits N")
    assert.strictEqual(refusal({ _tag: "Semaphore", semaphore: "crawler", part: "head" }, "crawler").code, ExitCode.codes.usage)
  })

  it("--permits on a plain lease: 64; no such semaphore (resize): 64; a full queue: 75", () => {
    assert.strictEqual(refusal({ _tag: "NotASemaphore", holder: "x" }, "crawler").code, ExitCode.codes.usage)
    assert.strictEqual(refusal({ _tag: "NoSuchSemaphore" }, "crawler").code, ExitCode.codes.usage)
    assert.strictEqual(refusal({ _tag: "QueueFull", waiting: 1000 }, "crawler").code, ExitCode.codes.tempfail)
  })
})

describe("resize's output", () => {
  it("says from → to, and which permits a lowering withdrew", () => {
    assert.strictEqual(Resize.describe(Resize.resized("jobs", "crawler", 3, 5)), "semaphore jobs/crawler: 3 → 5 permits (waiters are served at once)")
    const down = Resize.resized("jobs", "crawler", 5, 2)
    assert.deepStrictEqual(down.withdrawn, [2, 3, 4])
    assert.include(Resize.describe(down), "5 → 2 permits")
    assert.include(Resize.describe(down), "permits 2–4 are withdrawn")
    assert.include(Resize.describe(Resize.resized("jobs", "crawler", 2, 1)), "permit 1 is withdrawn")
    assert.deepStrictEqual(JSON.parse(JSON.stringify(Resize.resized("jobs", "crawler", 1, 4))), {
      namespace: "jobs",
      name: "crawler",
      from: 1,
      to: 4,
      withdrawn: []
    })
  })
})

describe("SemaphoreView: status", () => {
  const state = {
    key,
    permits: 2,
    holders: [
      { permit: 0, holder: "a", token: 4, expiresIn: Duration.seconds(12), withdrawn: false },
      { permit: 1, holder: "b\u001b[2J", token: 1, expiresIn: Duration.zero, withdrawn: false },
      { permit: 2, holder: "c", token: 7, expiresIn: Duration.seconds(3), withdrawn: true }
    ],
    waiting: [
      { holder: "d", ticket: "crawler-w-0a1b2c3d", position: 0, expiresIn: Duration.zero, live: false },
      { holder: "e", ticket: "crawler-w-4e5f6a7b", position: 1, expiresIn: Duration.seconds(20), live: true }
    ]
  }

  it("counts held (below N, not expired) and free permits; JSON keeps every holder and waiter in order", () => {
    const view = SemaphoreView.make(state)
    assert.strictEqual(view.kind, "semaphore")
    assert.strictEqual(view.held, 1, "an expired permit and a withdrawn one are not held below N")
    assert.strictEqual(view.free, 1)
    assert.deepStrictEqual(view.holders.map((h) => [h.permit, h.token, h.expiresInSeconds, h.withdrawn]), [
      [0, 4, 12, false],
      [1, 1, 0, false],
      [2, 7, 3, true]
    ])
    assert.deepStrictEqual(view.waiting.map((w) => [w.position, w.holder, w.live]), [[0, "d", false], [1, "e", true]])
  })

  it("text: permits, holders (permit, holder, token, expires in, withdrawn) and the queue; identities escaped", () => {
    const text = SemaphoreView.renderStatus(SemaphoreView.make(state))
    assert.match(text, /^Semaphore:\s+jobs\/crawler$/m)
    assert.match(text, /^Permits:\s+2 \(1 held, 1 free; 1 withdrawn, still held until released\)$/m)
    assert.match(text, /^Waiting:\s+1 \(\+ 1 dead entries\)$/m)
    assert.match(text, /PERMIT\s+HOLDER\s+TOKEN\s+EXPIRES IN\s+WITHDRAWN/)
    assert.match(text, /^\s+0\s+a\s+4\s+≤ 12.0s\s+no$/m)
    assert.match(text, /^\s+2\s+c\s+7\s+≤ 3.00s\s+yes$/m)
    assert.include(text, "expired")
    assert.notInclude(text, "\u001b", "a holder identity cannot drive the terminal")
    assert.match(text, /^\s+1\s+e\s+yes\s+≤ 20.0s$/m)
    const missing = SemaphoreView.renderStatus(SemaphoreView.make({ key, permits: 0, holders: [], waiting: [] }))
    assert.match(missing, /^State:\s+does not exist$/m)
  })

  it("--watch: a change is a new holder, token, expiry, withdrawal or live waiter — not a renewal", () => {
    const view = SemaphoreView.make(state)
    const renewed = SemaphoreView.make({
      ...state,
      holders: state.holders.map((h) => h.permit === 0 ? { ...h, expiresIn: Duration.seconds(20) } : h)
    })
    assert.strictEqual(SemaphoreView.changeOf(renewed), SemaphoreView.changeOf(view))
    const taken = SemaphoreView.make({ ...state, holders: [{ ...state.holders[0]!, holder: "f", token: 5 }] })
    assert.notStrictEqual(SemaphoreView.changeOf(taken), SemaphoreView.changeOf(view))
    const line = SemaphoreView.renderChange(view, now)
    assert.match(line, /^\S+Z {2}semaphore jobs\/crawler: 2 permits; held: 0 "a" \(token 4\), 1 ".*" \(token 1, expired\), 2 "c" \(token 7, withdrawn\); waiting: "e"\n$/)
  })
})

describe("SemaphoreView: list folds a semaphore into one row", () => {
  const queue = JSON.stringify([{ h: "w1", w: "crawler-w-00000001" }, { h: "w2", w: "crawler-w-00000002" }])
  const records: Array<LeaseRecord> = [
    record("nightly", { holder: "x", durationSeconds: 20, renewTime: now - 1000, transitions: 3 }),
    record("crawler", { annotations: { [SemaphoreView.Annotations.permits]: "2", [SemaphoreView.Annotations.queue]: queue } }),
    record("crawler-0", {
      holder: "a",
      durationSeconds: 20,
      renewTime: now - 2000,
      transitions: 4,
      annotations: { [SemaphoreView.Annotations.permitOf]: "crawler" }
    }),
    record("crawler-1", { durationSeconds: 20, transitions: 2, annotations: { [SemaphoreView.Annotations.permitOf]: "crawler" } }),
    record("crawler-2", {
      holder: "c",
      durationSeconds: 20,
      renewTime: now - 500,
      transitions: 9,
      annotations: { [SemaphoreView.Annotations.permitOf]: "crawler" }
    }),
    record("crawler-w-00000001", { holder: "w1", durationSeconds: 20, annotations: { [SemaphoreView.Annotations.waiterOf]: "crawler" } }),
    // A ticket its waiter released: its entry does not count.
    record("crawler-w-00000002", { durationSeconds: 20, annotations: { [SemaphoreView.Annotations.waiterOf]: "crawler" } }),
    // A permit of a semaphore whose head is not listed stays a lease.
    record("other-0", { holder: "z", annotations: { [SemaphoreView.Annotations.permitOf]: "other" } })
  ]

  it("one row for the head; permits and tickets left out; other leases unchanged, in order", () => {
    const items = SemaphoreView.fold(records, now)
    assert.deepStrictEqual(items.map((i) => i._tag === "Lease" ? i.record.key.name : `semaphore ${i.row.name}`), [
      "nightly",
      "semaphore crawler",
      "other-0"
    ])
    const row = (items[1] as Extract<SemaphoreView.ListItem, { _tag: "Semaphore" }>).row
    assert.strictEqual(row.permits, 2)
    assert.deepStrictEqual(row.holders, [
      { permit: 0, holder: "a", token: 4, withdrawn: false },
      { permit: 2, holder: "c", token: 9, withdrawn: true }
    ])
    assert.strictEqual(row.waiting, 1, "only the entry whose ticket its waiter holds")
    assert.strictEqual(row.renewedSecondsAgo, 0.5)
    assert.strictEqual(row.durationSeconds, 20)
    const cells = SemaphoreView.listCells(row)
    assert.deepStrictEqual(cells, ["crawler", "1 of 2 permits held, 1 waiting", "semaphore", "-", "500ms ago", "20s"])
    assert.strictEqual(cells.length, LeaseView.listHeader(false).length)
  })

  it("a head with a queue that is not the expected JSON has no waiters (never throws)", () => {
    const broken = [record("crawler", { annotations: { [SemaphoreView.Annotations.permits]: "1", [SemaphoreView.Annotations.queue]: "{oops" } })]
    const [item] = SemaphoreView.fold(broken, now)
    assert.strictEqual(item?._tag === "Semaphore" ? item.row.waiting : -1, 0)
  })
})

describe("SemaphoreAcquisition: a full semaphore in words", () => {
  it("names the holders, the free permits and the waiters that come first", () => {
    const text = SemaphoreAcquisition.describeFull(key, {
      _tag: "Full",
      permits: 3,
      holders: [
        { permit: 0, holder: "a", token: 1, expiresIn: Duration.seconds(10), withdrawn: false },
        { permit: 1, holder: "b", token: 2, expiresIn: Duration.seconds(10), withdrawn: false }
      ],
      waiting: 2
    })
    assert.strictEqual(text, `semaphore jobs/crawler is full (3 permits: 0 "a", 1 "b"; 1 free, but 2 waiting came first)`)
  })
})
