/**
 * The pure parts of the CLI: duration flags, the observer's view of a lease, and the mapping of
 * failures to exit codes. The binary itself is tested against a real API server in
 * test/integration/cli.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseStoreError } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import { Duration, Effect, Option } from "effect"
import * as DemoView from "../src/DemoView.ts"
import * as Durations from "../src/Durations.ts"
import * as ExitCode from "../src/ExitCode.ts"
import * as LeaseView from "../src/LeaseView.ts"

const key = { namespace: "jobs", name: "nightly" }

describe("Durations", () => {
  it.effect("parses compact, bare and long forms", () =>
    Effect.gen(function*() {
      const millis = (input: string) => Effect.map(Durations.parse("--x", input), Duration.toMillis)
      assert.strictEqual(yield* millis("500ms"), 500)
      assert.strictEqual(yield* millis("20s"), 20_000)
      assert.strictEqual(yield* millis("1m30s"), 90_000)
      assert.strictEqual(yield* millis("2h"), 7_200_000)
      assert.strictEqual(yield* millis("20"), 20_000, "a bare number means seconds, as flock's -w")
      assert.strictEqual(yield* millis("1.5s"), 1500)
      assert.strictEqual(yield* millis("10 seconds"), 10_000)
    }))

  it.effect("rejects anything else with a usage error naming the flag", () =>
    Effect.gen(function*() {
      for (const input of ["abc", "-5s", "5x", ""]) {
        const error = yield* Effect.flip(Durations.parse("--timeout", input))
        assert.strictEqual(error.code, ExitCode.codes.usage)
        assert.include(error.problem, "--timeout")
      }
    }))

  it("formats compactly at each scale", () => {
    assert.strictEqual(Durations.formatMillis(12.4), "12ms")
    assert.strictEqual(Durations.formatMillis(3620), "3.62s")
    assert.strictEqual(Durations.formatMillis(42_100), "42.1s")
    assert.strictEqual(Durations.formatMillis(245_000), "4m05s")
    assert.strictEqual(Durations.formatMillis(7_380_000), "2h03m")
    assert.strictEqual(Durations.formatMillis(-1500), "-1.50s")
  })
})

describe("LeaseView", () => {
  const record = (spec: Record<string, unknown>) =>
    Option.some({ key, version: "7", metadata: {}, ...spec })
  const now = 1_700_000_100_000

  it("a missing lease is an answer: absent, with nulls", () => {
    const view = LeaseView.make(key, Option.none(), now)
    assert.deepInclude(view, { exists: false, state: "absent", holder: null, token: null })
    assert.include(LeaseView.renderStatus(view), "does not exist (free)")
  })

  it("a held lease shows both expiry figures; overdue by renewTime is stale", () => {
    const held = LeaseView.make(
      key,
      record({ holder: "h", durationSeconds: 20, renewTime: now - 5000, acquireTime: now - 60_000, transitions: 3 }),
      now,
      20_000
    )
    assert.deepInclude(held, {
      state: "held",
      holder: "h",
      token: 3,
      expiresInSeconds: 20,
      renewTimeExpiresInSeconds: 15,
      renewedSecondsAgo: 5,
      acquiredSecondsAgo: 60
    })
    const stale = LeaseView.make(key, record({ holder: "h", durationSeconds: 20, renewTime: now - 25_000 }), now)
    assert.strictEqual(stale.state, "stale")
    assert.strictEqual(stale.renewTimeExpiresInSeconds, -5)
  })

  it("a released lease is free and keeps its token", () => {
    const view = LeaseView.make(key, record({ holder: "", durationSeconds: 1, transitions: 4 }), now)
    assert.deepInclude(view, { state: "free", holder: null, token: 4, expiresInSeconds: null })
  })

  it("lists as a table, with the namespace column only for all namespaces", () => {
    const views = [LeaseView.make(key, record({ holder: "h", durationSeconds: 20, renewTime: now - 1000 }), now)]
    assert.match(LeaseView.renderList(views, false), /^NAME\s+HOLDER\s+STATE/)
    assert.match(LeaseView.renderList(views, true), /^NAMESPACE\s+NAME/)
  })
})

describe("ExitCode.fromError", () => {
  const store = (reason: LeaseStoreError["reason"]) =>
    new LeaseStoreError({ operation: "get", key, reason, detail: "d" })

  it("maps each failure to its sysexits code", () => {
    assert.strictEqual(ExitCode.fromError(new InvalidLeaseOptions({ field: "name", value: "X", rule: "r" })).code, 64)
    assert.strictEqual(ExitCode.fromError(store("Unavailable")).code, 69)
    assert.strictEqual(ExitCode.fromError(store("Timeout")).code, 69)
    assert.strictEqual(ExitCode.fromError(store("Forbidden")).code, 77)
    assert.strictEqual(ExitCode.fromError(store("Unauthorized")).code, 77)
    assert.strictEqual(ExitCode.fromError(store("NotFound")).code, 78)
    assert.strictEqual(
      ExitCode.fromError(new LeaseAcquisitionError({ key, reason: { _tag: "Timeout", holder: "h", waited: Duration.seconds(1) } })).code,
      75
    )
    assert.strictEqual(
      ExitCode.fromError(new LeaseAcquisitionError({ key, reason: { _tag: "Store", error: store("Forbidden") } })).code,
      77
    )
    assert.strictEqual(ExitCode.fromError(new LeaseLostError({ key, holder: "h", reason: { _tag: "Deleted" } })).code, 79)
    assert.strictEqual(
      ExitCode.fromError(new KubeClient.KubeConfigError({ reason: "NotFound", source: "/x", detail: "d" })).code,
      78
    )
    assert.strictEqual(ExitCode.fromError(new Error("boom")).code, 70)
  })

  it("renders one line and the fix; nothing for a silent exit", () => {
    assert.strictEqual(ExitCode.render(ExitCode.fail(75, "held", "wait")), "leasekit: held\n  fix: wait\n")
    assert.strictEqual(ExitCode.render(ExitCode.silent(3)), "")
  })
})

describe("DemoView", () => {
  it("checks that tokens strictly increase", () => {
    assert.isTrue(DemoView.strictlyIncreasing([0, 1, 2, 5]))
    assert.isFalse(DemoView.strictlyIncreasing([0, 2, 2]))
    assert.strictEqual(DemoView.clock(61_234), "01:01.234")
  })
})
