/**
 * The pure parts of the CLI: duration flags, `run`'s option resolution and grace rule, the
 * observer's view of a lease, and the mapping of failures to exit codes. The binary itself is tested against a real API server in
 * test/integration/cli.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { InvalidLeaseOptions, LeaseAcquisitionError, LeaseLostError, LeaseStoreError } from "@leasekit/core"
import { KubeClient } from "@leasekit/kubernetes"
import { Duration, Effect, Option } from "effect"
import * as DemoView from "../src/demo/DemoView.ts"
import * as Durations from "../src/internal/Durations.ts"
import * as ExitCode from "../src/internal/ExitCode.ts"
import * as LeaseView from "../src/internal/LeaseView.ts"
import * as RunOptions from "../src/internal/RunOptions.ts"
import { runFlags } from "./fixtures.ts"

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

describe("RunOptions", () => {
  const resolve = (overrides: Partial<RunOptions.RunFlags> = {}) => RunOptions.resolve(runFlags(overrides), "jobs")
  const millis = Duration.toMillis

  it.effect("the default --grace is half the margin duration − renewDeadline: 3.33s at the default 20s, not 10s", () =>
    Effect.gen(function*() {
      const options = yield* resolve()
      assert.strictEqual(millis(RunOptions.margin(options.resolved)), 6667)
      assert.strictEqual(millis(options.grace), 3333)
      assert.strictEqual(millis((yield* resolve({ duration: "3s" })).grace), 500)
      assert.strictEqual(millis((yield* resolve({ duration: "1h" })).grace), 600_000)
    }))

  it.effect("--health-port: none by default; a port from 1 to 65535; --health-host only with it", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone((yield* resolve()).health), "nothing listens unless asked")
      assert.deepStrictEqual((yield* resolve({ healthPort: Option.some(8080) })).health, Option.some({ port: 8080, host: undefined }))
      assert.deepStrictEqual(
        (yield* resolve({ healthPort: Option.some(8080), healthHost: Option.some("127.0.0.1") })).health,
        Option.some({ port: 8080, host: "127.0.0.1" })
      )
      for (const port of [0, 65536, -1]) {
        const error = yield* Effect.flip(resolve({ healthPort: Option.some(port) }))
        assert.strictEqual(error.code, 64)
        assert.strictEqual(error.problem, `--health-port ${port} is not a port`)
      }
      const alone = yield* Effect.flip(resolve({ healthHost: Option.some("0.0.0.0") }))
      assert.strictEqual(alone.problem, "--health-host needs --health-port")
    }))

  it.effect("every --duration from 1s to 1h resolves (the core's rules), and its default grace fits inside its margin", () =>
    Effect.gen(function*() {
      for (let seconds = 1; seconds <= 3600; seconds++) {
        const { grace, resolved } = yield* resolve({ duration: `${seconds}s` })
        const margin = millis(RunOptions.margin(resolved))
        assert.isAbove(margin, 0)
        assert.isAtMost(millis(grace), millis(RunOptions.maxGrace(resolved)), `--duration ${seconds}s`)
        assert.isAtMost(millis(RunOptions.maxGrace(resolved)), margin * 0.75, `--duration ${seconds}s`)
      }
    }), 60_000)

  it.effect("an explicit --grace up to three quarters of the margin is taken as given", () =>
    Effect.gen(function*() {
      assert.strictEqual(millis((yield* resolve({ grace: Option.some("5s") })).grace), 5000)
      assert.strictEqual(millis((yield* resolve({ grace: Option.some("0") })).grace), 0)
      assert.strictEqual(millis((yield* resolve({ duration: "40s", grace: Option.some("10s") })).grace), 10_000)
    }))

  it.effect("a --grace that does not fit the margin is a usage error naming the flag, the value, the rule and a --duration that fits", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(resolve({ grace: Option.some("10s") }))
      assert.strictEqual(error.code, ExitCode.codes.usage)
      assert.include(error.problem, "--grace 10s does not fit")
      assert.include(error.problem, "duration − renewDeadline")
      assert.include(error.problem, "within 6.67s")
      assert.include(error.problem, "at most three quarters of that, 5.00s")
      assert.include(error.fix, "lower --grace to at most 5.00s, or raise --duration to at least 40s")
      assert.strictEqual(ExitCode.render(error).split("\n").length, 3, "one line and the fix")

      const justOver = yield* Effect.flip(resolve({ grace: Option.some("5001ms") }))
      assert.strictEqual(justOver.code, ExitCode.codes.usage)
      const tooLongForAnyDuration = yield* Effect.flip(resolve({ grace: Option.some("16m") }))
      assert.include(tooLongForAnyDuration.fix, "at most 15m00s with the longest --duration (1h)")
    }))

  it.effect("the suggested --duration is the shortest that fits the grace", () =>
    Effect.gen(function*() {
      for (const grace of [1, 250, 999, 1000, 5001, 10_000, 61_234, 900_000]) {
        const suggested = yield* RunOptions.minimumDurationFor(Duration.millis(grace))
        if (Option.isNone(suggested)) return assert.fail(`no --duration for a ${grace}ms grace`)
        const seconds = Duration.toSeconds(suggested.value)
        yield* resolve({ duration: `${seconds}s`, grace: Option.some(`${grace}ms`) })
        if (seconds > 1) {
          const shorter = yield* Effect.flip(resolve({ duration: `${seconds - 1}s`, grace: Option.some(`${grace}ms`) }))
          assert.strictEqual(shorter.code, ExitCode.codes.usage, `${grace}ms at ${seconds - 1}s`)
        }
      }
      assert.isTrue(Option.isNone(yield* RunOptions.minimumDurationFor(Duration.millis(900_001))))
    }))

  it.effect("a lease option the core refuses is a usage error naming the flag it came from", () =>
    Effect.gen(function*() {
      const long = yield* Effect.flip(resolve({ duration: "2h" }))
      assert.strictEqual(long.code, ExitCode.codes.usage)
      assert.include(long.problem, "--duration 2h: invalid lease option duration = 2h: must be at most 1h")
      assert.include(long.fix, "--duration")
      const name = yield* Effect.flip(resolve({ name: "Not_A_Name" }))
      assert.include(name.problem, "NAME: invalid lease option name")
      const holder = yield* Effect.flip(resolve({ holder: Option.some(" x") }))
      assert.include(holder.problem, "--holder: invalid lease option holder")
    }))

  it.effect("rejects contradictory flags before resolving anything", () =>
    Effect.gen(function*() {
      assert.include((yield* Effect.flip(resolve({ command: [] }))).problem, "no command given")
      assert.include((yield* Effect.flip(resolve({ try: true, wait: true }))).problem, "exclude each other")
      assert.include((yield* Effect.flip(resolve({ try: true, timeout: Option.some("5s") }))).problem, "--timeout means nothing")
      assert.include((yield* Effect.flip(resolve({ conflictExitCode: 256 }))).problem, "not an exit code")
    }))
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
