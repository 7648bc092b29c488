/**
 * `leasekit handoff`'s command line (its flags, parsed by effect/cli with the handler replaced) and
 * what `leasekit status` shows of a handoff: a free lease reserved for a successor, and a held
 * lease whose holder is asked to hand it over. The command itself runs against a real API server
 * in test/integration/handoff.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { LeaseRecord } from "@leasekit/core"
import { Effect, Layer, Option, Result } from "effect"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as CommandLine from "../src/internal/CommandLine.ts"
import * as HandoffCommand from "../src/commands/HandoffCommand.ts"
import * as LeaseView from "../src/internal/LeaseView.ts"
import { leasekit, rules } from "../src/commands/RootCommand.ts"

type Config = Command.Command.Config.Infer<typeof HandoffCommand.config>

/** The configuration `handoff` would run with for `argv` (after the subcommand). */
const parse = (...argv: Array<string>) =>
  Effect.gen(function*() {
    let parsed: Config | undefined
    const probe = Command.make("handoff", HandoffCommand.config, (c) => Effect.sync(() => void (parsed = c)))
    yield* Command.runWith(probe, { version: "0" })(argv)
    return parsed
  }).pipe(Effect.provide(Layer.mergeAll(NodeServices.layer, quiet)))

/** Prints nothing (a refused command line would print its help). */
const quiet = CliOutput.layerPresenter({ present: () => Effect.void })

/** The parse errors of a refused command line, as `{ _tag, …}` objects. */
const problems = (error: unknown): ReadonlyArray<Record<string, unknown>> =>
  (JSON.parse(JSON.stringify(error)) as { errors?: ReadonlyArray<Record<string, unknown>> }).errors ?? []

describe("leasekit handoff: flags", () => {
  it.effect("NAME and --to HOLDER; -n, -o json and the global flags", () =>
    Effect.gen(function*() {
      const c = yield* parse("nightly", "--to", "worker-2_7f3a")
      assert.isDefined(c)
      assert.strictEqual(c!.name, "nightly")
      assert.strictEqual(c!.to, "worker-2_7f3a")
      assert.strictEqual(c!.output, "text")
      assert.isTrue(Option.isNone(c!.namespace))
      const all = yield* parse("-n", "jobs", "--to=w", "-o", "json", "--kubeconfig", "K", "--context", "ctx", "--verbose", "db")
      assert.deepStrictEqual(
        { ...all!, namespace: Option.getOrNull(all!.namespace), kubeconfig: Option.getOrNull(all!.kubeconfig), context: Option.getOrNull(all!.context) },
        { name: "db", to: "w", output: "json", namespace: "jobs", kubeconfig: "K", context: "ctx", verbose: true }
      )
    }))

  it.effect("--to is required, and so is NAME", () =>
    Effect.gen(function*() {
      const noTo = problems(yield* parse("nightly").pipe(Effect.flip))
      assert.deepInclude(noTo.map((p) => [p["_tag"], p["option"]]), ["MissingOption", "to"], JSON.stringify(noTo))
      const noName = problems(yield* parse("--to", "w").pipe(Effect.flip))
      assert.isTrue(noName.length > 0 && JSON.stringify(noName).includes("name"), JSON.stringify(noName))
    }))

  it("is a subcommand of leasekit, and global flags before it are moved behind it", () => {
    const moved = CommandLine.prepare(["-n", "jobs", "--verbose", "handoff", "N", "--to", "w"], leasekit, rules)
    assert.isTrue(Result.isSuccess(moved))
    assert.deepStrictEqual(Result.getOrThrow(moved), ["handoff", "-n", "jobs", "--verbose", "N", "--to", "w"])
  })
})

describe("leasekit status: a pending handoff", () => {
  const key = { namespace: "jobs", name: "nightly" }
  const now = 1_700_000_100_000
  const record = (spec: Record<string, unknown>, annotations: Record<string, string>) =>
    Option.some({ key, version: "7", metadata: { annotations }, ...spec })
  const released = { holder: "", durationSeconds: 1, acquireTime: now - 2000, renewTime: now - 2000, transitions: 4 }
  const reserved = (annotations: Record<string, string>) => LeaseView.make(key, record(released, annotations), now)

  it("a free lease reserved for a successor: for whom, the window, and how long more by its renewTime", () => {
    const view = reserved({ [LeaseRecord.Annotations.handoffTo]: "worker-2", [LeaseRecord.Annotations.handoffWindowSeconds]: "20" })
    assert.strictEqual(view.state, "free")
    assert.deepStrictEqual(view.handoff, { to: "worker-2", windowSeconds: 20, reservedForSeconds: 18 })
    assert.isNull(view.handoffRequest)
    assert.match(LeaseView.renderStatus(view), /^Handoff:\s+reserved for "worker-2", ~18\.0s more by its renewTime \(window 20s\)$/m)
    const json = JSON.parse(JSON.stringify(view)) as LeaseView.LeaseView
    assert.deepStrictEqual(json.handoff, { to: "worker-2", windowSeconds: 20, reservedForSeconds: 18 })
  })

  it("a window that has passed says anyone may take it; one the release did not say is the contenders' own", () => {
    const passed = reserved({ [LeaseRecord.Annotations.handoffTo]: "w", [LeaseRecord.Annotations.handoffWindowSeconds]: "1" })
    assert.strictEqual(passed.handoff?.reservedForSeconds, -1)
    assert.include(LeaseView.renderStatus(passed), "window 1s passed 1.00s ago by its renewTime: anyone may take it")
    const unsaid = reserved({ [LeaseRecord.Annotations.handoffTo]: "w", [LeaseRecord.Annotations.handoffWindowSeconds]: "soon" })
    assert.deepStrictEqual(unsaid.handoff, { to: "w", windowSeconds: null, reservedForSeconds: null })
    assert.include(LeaseView.renderStatus(unsaid), "for the window each contender sets itself")
  })

  it("a held lease with a request names the requester; a stale reservation on a held lease is not shown", () => {
    const held = { holder: "a", durationSeconds: 20, renewTime: now - 1000, transitions: 5 }
    const asked = LeaseView.make(key, record(held, { [LeaseRecord.Annotations.handoffRequest]: "b" }), now, 19_000)
    assert.strictEqual(asked.handoffRequest, "b")
    assert.isNull(asked.handoff)
    assert.match(LeaseView.renderStatus(asked), /^Handoff:\s+requested by "b": a leasekit holder hands over at its next renewal, unless it refuses requests$/m)
    const stale = LeaseView.make(key, record(held, { [LeaseRecord.Annotations.handoffTo]: "a" }), now, 19_000)
    assert.isNull(stale.handoff)
    assert.notInclude(LeaseView.renderStatus(stale), "Handoff:")
    const plain = LeaseView.make(key, record(held, {}), now, 19_000)
    assert.isNull(plain.handoff)
    assert.isNull(plain.handoffRequest)
  })

  it("status --watch reports a reservation and a request as changes, escaping identities", () => {
    const free = LeaseView.make(key, record(released, {}), now)
    const handedOff = reserved({ [LeaseRecord.Annotations.handoffTo]: "w\u001b[2J" })
    assert.notStrictEqual(LeaseView.tenureOf(handedOff), LeaseView.tenureOf(free))
    const line = LeaseView.renderChange(handedOff, now)
    assert.include(line, "is free, handed off to \"w\\x1b[2J\"")
    const held = { holder: "a", durationSeconds: 20, renewTime: now - 1000, transitions: 5 }
    const before = LeaseView.make(key, record(held, {}), now, 19_000)
    const asked = LeaseView.make(key, record(held, { [LeaseRecord.Annotations.handoffRequest]: "b" }), now, 19_000)
    assert.notStrictEqual(LeaseView.tenureOf(asked), LeaseView.tenureOf(before))
    assert.include(LeaseView.renderChange(asked, now), "handoff requested by \"b\"")
  })
})
