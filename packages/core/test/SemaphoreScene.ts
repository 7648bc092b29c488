/**
 * The scene of the semaphore tests (`LeaseSemaphore.test.ts`, `Review17*.test.ts`): the semaphore
 * `jobs/workers`, its contenders' options, a member that acquires a permit in a fiber and keeps it,
 * and the permits' holders as the store holds them.
 */
import { Deferred, Effect, Exit, Scope } from "effect"
import type { Fiber } from "effect"
import * as Lease from "../src/Lease.ts"
import type { LeaseAcquisitionError } from "../src/LeaseError.ts"
import * as LeaseSemaphore from "../src/LeaseSemaphore.ts"
import { Probe } from "./FaultyStore.ts"
import { elapsed } from "./Scene.ts"

export const sem = { namespace: "jobs", name: "workers" }

export const sopts = (holder: string, extra: Partial<LeaseSemaphore.SemaphoreAcquireOptions> = {}): LeaseSemaphore.SemaphoreAcquireOptions => ({
  ...sem,
  holder,
  duration: "20 seconds",
  ...extra
})

export const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() !== undefined

/** Forks a contender that acquires a permit, records when and which, and holds it until `release`
 * is called on the handle (or the fiber is interrupted). With `service`, it runs as another
 * process would (its own `Lease` service, store and memory). */
export const member = (holder: string, extra: Partial<LeaseSemaphore.SemaphoreAcquireOptions> = {}, service?: Lease.LeaseService) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const made = LeaseSemaphore.contender(sopts(holder, extra)).pipe(Scope.provide(scope))
    const c = yield* (service === undefined ? made : Effect.provideService(made, Lease.Lease, service))
    const got = yield* Deferred.make<{ readonly at: number; readonly permit: LeaseSemaphore.HeldPermit }, LeaseAcquisitionError>()
    const fiber = yield* c.acquire().pipe(
      Effect.tap((permit) => Effect.flatMap(elapsed, (at) => Deferred.succeed(got, { at, permit }))),
      Effect.tapError((e) => Deferred.fail(got, e)),
      Effect.forkChild
    )
    return { c, got, fiber, scope, done: () => Deferred.isDone(got), close: Scope.close(scope, Exit.void) }
  })

export type Member = Effect.Success<ReturnType<typeof member>>

/** Holders of permits right now, as the store says (a permit lease naming a holder). */
export const holdersNow = Effect.map(
  Effect.flatMap(Probe, (p) => p.admin.list(sem.namespace)),
  (records) => records.filter((r) => /^workers-[0-9]+$/.test(r.key.name) && r.holder !== undefined && r.holder !== "")
)
