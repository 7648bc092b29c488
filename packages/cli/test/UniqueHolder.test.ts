/**
 * `run --holder ID`: the identity written into the lease is `ID_` and five random characters, so
 * that two processes given the same `--holder` never share a tenure (see RunOptions.uniqueHolder).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as ExitCode from "../src/internal/ExitCode.ts"
import * as RunOptions from "../src/internal/RunOptions.ts"
import { runFlags } from "./fixtures.ts"

const flags = (holder: string) => runFlags({ holder: Option.some(holder) })

describe("RunOptions.uniqueHolder", () => {
  it.effect("appends _ and five random characters, different for every process", () =>
    Effect.gen(function*() {
      const resolved = yield* RunOptions.resolve(flags("nightly-runner"), "jobs")
      assert.match(resolved.resolved.holder, /^nightly-runner_[a-z0-9]{5}$/)
      assert.strictEqual(resolved.lease.holder, resolved.resolved.holder, "the same identity is passed to the core")
      const seen = new Set<string>()
      for (let i = 0; i < 20; i++) seen.add((yield* RunOptions.resolve(flags("nightly-runner"), "jobs")).resolved.holder)
      assert.isAtLeast(seen.size, 19, "two processes given the same --holder get different identities")
    }))

  it.effect("keeps room for the suffix: an ID longer than 122 characters is a usage error", () =>
    Effect.gen(function*() {
      assert.match((yield* RunOptions.resolve(flags("a".repeat(122)), "jobs")).resolved.holder, /^a{122}_[a-z0-9]{5}$/)
      const error = yield* Effect.flip(RunOptions.resolve(flags("a".repeat(123)), "jobs"))
      assert.instanceOf(error, ExitCode.CliExit)
      assert.strictEqual(error.code, ExitCode.codes.usage)
      assert.include(error.problem, "at most 122 characters")
      const blank = yield* Effect.flip(RunOptions.resolve(flags(" padded "), "jobs"))
      assert.strictEqual(blank.code, ExitCode.codes.usage)
    }))
})
