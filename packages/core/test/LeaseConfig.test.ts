/**
 * Lease and election options from `Config` (`src/LeaseConfig.ts`): the variables read, the
 * duration forms accepted, defaults, and errors that name the variable, the value and the rule.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer } from "effect"
import * as ConfigProvider from "effect/ConfigProvider"
import * as LeaderElection from "../src/LeaderElection.ts"
import * as LeaseConfig from "../src/LeaseConfig.ts"
import * as FaultyStore from "./FaultyStore.ts"
import { settle } from "./Scene.ts"

const read = (env: Record<string, string>, settings?: LeaseConfig.OptionsConfig) =>
  LeaseConfig.options(settings).parse(ConfigProvider.fromEnv({ env }))

const failure = (env: Record<string, string>, settings?: LeaseConfig.OptionsConfig) =>
  Effect.map(Effect.flip(read(env, settings)), (error) => error.message)

describe("LeaseConfig", () => {
  it.effect("reads every option from LEASEKIT_* variables", () =>
    Effect.gen(function*() {
      const options = yield* read({
        LEASEKIT_NAMESPACE: "jobs",
        LEASEKIT_NAME: "nightly-report",
        LEASEKIT_IDENTITY: "worker-1",
        LEASEKIT_DURATION: "15s",
        LEASEKIT_RENEW_INTERVAL: "4 seconds",
        LEASEKIT_RENEW_DEADLINE: "10s",
        LEASEKIT_RETRY_PERIOD: "1500ms",
        LEASEKIT_REQUEST_TIMEOUT: "1s",
        LEASEKIT_RELEASE_MODE: "delete",
        LEASEKIT_MAX_CLOCK_SKEW: "2s",
        LEASEKIT_MAX_HONOURED_DURATION: "2h"
      })
      assert.strictEqual(options.namespace, "jobs")
      assert.strictEqual(options.name, "nightly-report")
      assert.strictEqual(options.holder, "worker-1")
      assert.strictEqual(options.releaseMode, "delete")
      const millis = (input: Duration.Input | undefined) => Duration.toMillis(Duration.fromInputUnsafe(input!))
      assert.strictEqual(millis(options.duration), 15_000)
      assert.strictEqual(millis(options.renewInterval), 4_000)
      assert.strictEqual(millis(options.renewDeadline), 10_000)
      assert.strictEqual(millis(options.retryPeriod), 1_500)
      assert.strictEqual(millis(options.requestTimeout), 1_000)
      assert.strictEqual(millis(options.maxClockSkew), 2_000)
      assert.strictEqual(millis(options.maxHonouredDuration), 7_200_000)
    }))

  it.effect("unset options stay unset (LeaseOptions' defaults apply); the namespace falls back to POD_NAMESPACE", () =>
    Effect.gen(function*() {
      const options = yield* read({ POD_NAMESPACE: "billing", LEASEKIT_NAME: "scheduler", LEASEKIT_DURATION: "" })
      assert.deepStrictEqual(options, { namespace: "billing", name: "scheduler" })
      const own = yield* read({ POD_NAMESPACE: "billing", LEASEKIT_NAMESPACE: "jobs", LEASEKIT_NAME: "scheduler" })
      assert.strictEqual(own.namespace, "jobs")
    }))

  it.effect("another prefix, and defaults from code for variables that are unset", () =>
    Effect.gen(function*() {
      const options = yield* read(
        { APP_LEASE_NAMESPACE: "jobs", APP_LEASE_DURATION: "1m" },
        { prefix: "APP_LEASE_", defaults: { name: "fixed-in-code", duration: "30 seconds" } }
      )
      assert.strictEqual(options.name, "fixed-in-code")
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(options.duration!)), 60_000)
      assert.deepStrictEqual(LeaseConfig.variables("APP_LEASE_").holder, "APP_LEASE_IDENTITY")
    }))

  it.effect("a bad value fails with a ConfigError naming the variable, the value and the rule", () =>
    Effect.gen(function*() {
      const base = { LEASEKIT_NAMESPACE: "jobs", LEASEKIT_NAME: "nightly-report" }
      assert.include(yield* failure({ LEASEKIT_NAME: "x" }), "LEASEKIT_NAMESPACE")
      assert.include(yield* failure({ LEASEKIT_NAMESPACE: "jobs" }), "LEASEKIT_NAME = (unset): is required")
      const syntax = yield* failure({ ...base, LEASEKIT_DURATION: "15" })
      assert.include(syntax, "LEASEKIT_DURATION = \"15\": must be a duration")
      const rule = yield* failure({ ...base, LEASEKIT_DURATION: "10s", LEASEKIT_RENEW_DEADLINE: "15s" })
      assert.include(rule, "LEASEKIT_RENEW_DEADLINE = 15s: must be less than duration (10s)")
      const whole = yield* failure({ ...base, LEASEKIT_DURATION: "1500ms" })
      assert.include(whole, "LEASEKIT_DURATION")
      assert.include(whole, "whole number of seconds")
      assert.include(yield* failure({ ...base, LEASEKIT_NAMESPACE: "Jobs" }), "LEASEKIT_NAMESPACE = \"Jobs\": must be a DNS-1123 label")
      assert.include(yield* failure({ ...base, LEASEKIT_RELEASE_MODE: "drop" }), "LEASEKIT_RELEASE_MODE = \"drop\": must be \"clear\" or \"delete\"")
      assert.include(yield* failure({ ...base, LEASEKIT_IDENTITY: " a" }), "LEASEKIT_IDENTITY")
    }))

  it("parses Go and Effect durations, refuses bare numbers", () => {
    const ms = (text: string) => {
      const d = LeaseConfig.parseDuration(text)
      return d === undefined ? undefined : Duration.toMillis(d)
    }
    assert.strictEqual(ms("15s"), 15_000)
    assert.strictEqual(ms("1m30s"), 90_000)
    assert.strictEqual(ms("250ms"), 250)
    assert.strictEqual(ms("1.5s"), 1_500)
    assert.strictEqual(ms("2h"), 7_200_000)
    assert.strictEqual(ms("15 seconds"), 15_000)
    assert.strictEqual(ms("15"), undefined)
    assert.strictEqual(ms("soon"), undefined)
  })

  it.effect("leaderElectionLayer builds the election from the environment, and fails naming the variable", () =>
    Effect.gen(function*() {
      const env = { LEASEKIT_NAMESPACE: "jobs", LEASEKIT_NAME: "leader", LEASEKIT_IDENTITY: "replica-1" }
      const election = yield* Effect.gen(function*() {
        const e = yield* LeaderElection.LeaderElection
        yield* settle
        return { key: e.key, holder: e.holder, status: yield* e.status }
      }).pipe(
        Effect.provide(
          LeaseConfig.leaderElectionLayer(() => Effect.never).pipe(
            Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
          )
        )
      )
      assert.deepStrictEqual(election.key, { namespace: "jobs", name: "leader" })
      assert.strictEqual(election.holder, "replica-1")
      assert.strictEqual(election.status._tag, "Leading")
      const error = yield* Effect.flip(
        Layer.build(
          LeaseConfig.leaderElectionLayer(() => Effect.never).pipe(
            Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { ...env, LEASEKIT_RETRY_PERIOD: "1 fortnight" } })))
          )
        )
      )
      assert.include(error.message, "LEASEKIT_RETRY_PERIOD")
    }).pipe(Effect.provide(FaultyStore.layer())))
})
