/**
 * Review of issue 16 (graceful handoff), adversarial: each test pins a promise the handoff work
 * makes and, at the time of writing, FAILS — it is the proof of a finding. Virtual time only
 * (TestClock), memory store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as Lease from "../src/Lease.ts"
import { specOf } from "../src/LeaseRecord.ts"
import { Probe, read } from "./FaultyStore.ts"
import { advance, key, opts, settle, start, withStore } from "./Scene.ts"

describe("review 16", () => {
  // Claim: expiry keyed on the record's spec is as safe as keyed on its version, "because every
  // write of a holder changes the spec". Not across tenures in release mode "delete": tokens
  // restart at 0 on every new object, so a holder's create writes [holder, duration, now, now, 0]
  // — the very spec of its earlier tenure's create when the wall clock reads the same millisecond
  // again (a step back). A contender that saw the first create and missed the deletion keeps its
  // old observation and takes the lease while the new tenure is well inside its deadline.
  // With the version as the key (before issue 16) the re-created object is a new version.
  it.effect("delete mode: a re-created record with an earlier tenure's spec (wall clock stepped back) is not taken before the new tenure's deadline", () =>
    withStore(Effect.gen(function*() {
      const timing = { releaseMode: "delete", renewInterval: "9 seconds", renewDeadline: "18 seconds" } as const
      // Another process: a Lease service of its own (its own observation memory), same store.
      const other = yield* Lease.make
      const otherScope = yield* Scope.make()
      const cTry = Lease.tryAcquire(opts("c", timing)).pipe(
        Effect.provideService(Lease.Lease, other),
        Scope.provide(otherScope)
      )
      // Tenure 1 of h: created at wall `start`, monotonic 0.
      const first = yield* Scope.make()
      yield* Lease.acquire(opts("h", timing)).pipe(Scope.provide(first))
      const created = yield* read(key)
      assert.isTrue(Option.isNone(yield* cTry), "c sees the lease held by h (and remembers its spec since monotonic 0)")
      // h releases before its first renewal (delete: the object is gone); c does not look.
      yield* advance(8)
      yield* Scope.close(first, Exit.void)
      yield* advance(4)
      // The wall clock steps back 12 s (NTP): it reads `start` again; the monotonic clock reads 12 s.
      yield* TestClock.setTime(start)
      const second = yield* Scope.make()
      const h2 = yield* Lease.acquire(opts("h", timing)).pipe(Scope.provide(second))
      const recreated = yield* read(key)
      assert.deepStrictEqual(specOf(recreated), specOf(created), "the new tenure's create has the old tenure's spec")
      // Monotonic 20 s: h's new tenure was sent at 12 s; its deadline is 30 s, its first renewal 21 s.
      yield* advance(8)
      yield* settle
      assert.isTrue(yield* h2.isHeld, "h's second tenure believes it holds the lease")
      const taken = yield* cTry
      assert.isTrue(
        Option.isNone(taken),
        "c took the lease 8 s after h's new tenure wrote it (c's observation began at the old tenure's create): two holders"
      )
    })))

  // Claim 6: "Coordinated leases (spec.strategy) are never written by leasekit". Only the
  // acquisition side refuses them. A lease leasekit already holds, on which the API server's
  // coordinator sets `strategy` (and `preferredHolder` for another candidate), is adopted by the
  // holder's next renewal (conflict → read back → still our holder and token) and renewed for as
  // long as the holder lives: leasekit writes a coordinated lease and fights the coordinator.
  it.effect("a held lease that becomes coordinated (spec.strategy set) is not renewed by leasekit any more", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* Lease.acquire(opts("a"))
      const held = yield* read(key)
      const coordinated = yield* probe.admin.update(held, {
        ...specOf(held),
        strategy: "OldestEmulationVersion",
        preferredHolder: "b"
      })
      yield* advance(14) // two renew intervals (20 s / 3)
      const after = yield* read(key)
      assert.strictEqual(after.strategy, "OldestEmulationVersion")
      assert.strictEqual(
        after.version,
        coordinated.version,
        `leasekit renewed a coordinated lease (holder ${after.holder}, renewTime ${after.renewTime} > ${coordinated.renewTime})`
      )
    })))

  // Kubernetes' LeaseSpec validation (pkg/apis/coordination/validation): `preferredHolder` "may only
  // be specified if `strategy` is defined" (field.Forbidden → 422 Invalid). An API server with the
  // CoordinatedLeaderElection feature gate on (beta since 1.33, off by default) keeps the field and
  // validates it, so the handoff's one write — holder cleared, `preferredHolder: to`, no strategy —
  // is refused there: the handoff fails after guarded work was stopped, the lease is left naming the
  // old holder, and everyone (the successor included) waits a whole duration. The store below
  // refuses such an update exactly as that API server would.
  it.effect("a handoff succeeds on a store that enforces the API server's LeaseSpec validation (preferredHolder only with strategy)", () =>
    withStore(Effect.gen(function*() {
      const probe = yield* Probe
      yield* probe.setFaults((operation, spec) =>
        (operation === "update" || operation === "create") && spec !== undefined &&
          spec.preferredHolder !== undefined && spec.preferredHolder !== "" &&
          (spec.strategy === undefined || spec.strategy === "")
          ? { reason: "Invalid" }
          : undefined
      )
      const a = yield* Lease.acquire(opts("a"))
      const exit = yield* Effect.exit(a.handoff("c"))
      const record = yield* read(key)
      assert.isTrue(Exit.isSuccess(exit), `the handoff failed: ${Exit.isFailure(exit) ? String(exit.cause) : ""}`)
      assert.strictEqual(record.holder, "", "the lease was not released")
    })))
})
