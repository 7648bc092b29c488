/**
 * The leasekit contender process of the benchmarks: `Lease.acquire` / `HeldLease.release` on the
 * Kubernetes store, driven by the line protocol of `Protocol.ts` (the same one the client-go
 * baseline speaks), so that both are timed by the same orchestrator code.
 *
 *   node src/LeasekitContender.ts --kubeconfig <file>
 *
 * Besides the election itself it counts the store calls it makes, times every renewal against its
 * schedule (the previous successful write + `renewInterval`: `Schedule.spaced` starts the next
 * renewal that long after the previous one completed), and can run the renewal microbenchmarks of
 * figure 6. It exits when stdin ends or on SIGTERM / SIGINT, releasing what it holds first.
 */
import { Lease, LeaseHolder, type LeaseRecord, LeaseSemaphore, LeaseStore } from "@leasekit/core"
import type { HeldLease, LeaseStoreError } from "@leasekit/core"
import { KubeClient, KubernetesLeaseStore } from "@leasekit/kubernetes"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, ManagedRuntime, Option } from "effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Fs from "node:fs"
import * as Http2 from "node:http2"
import * as Https from "node:https"
import * as Inspector from "node:inspector/promises"
import * as Path from "node:path"
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks"
import * as Readline from "node:readline"
import * as V8 from "node:v8"
import type { Command, Event, JoinCommand, MicrobenchCommand } from "./Protocol.ts"
import { nowMicros } from "./Protocol.ts"

const emit = (event: Event): void => {
  process.stdout.write(JSON.stringify(event) + "\n")
}

const argument = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const kubeconfig = argument("--kubeconfig") ?? process.env["KUBECONFIG"]
if (kubeconfig === undefined) {
  process.stderr.write("LeasekitContender: --kubeconfig <file> is required\n")
  process.exit(2)
}

// ---------------------------------------------------------------------------------------------
// Store calls, counted and timed

const counters = { gets: 0, creates: 0, updates: 0, failures: 0 }
const lastSuccess = new Map<string, number>()
let lateness: Array<number> = []
let renewIntervalMicros = 0
let tracking = false

const keyId = (key: { readonly namespace: string; readonly name: string }) => `${key.namespace}/${key.name}`

/**
 * `semaphore` mode: this process's own successful writes to its semaphore, as the API server
 * answered them — which tie each acquisition to its queue entry exactly, and order them by the
 * server, not by client clocks. `appended`: each ticket of this holder the first time a head write
 * of this process carried it (the enqueue), with that write's resourceVersion. `granted`: per
 * `permit:token` (the token is the permit's transitions counter), the resourceVersion of the first
 * write that gave this holder that tenure (the acquisition).
 */
const semaphoreTrace = {
  name: undefined as string | undefined,
  appended: [] as Array<{ readonly ticket: string; readonly version: string }>,
  granted: new Map<string, string>()
}

const queueOf = (record: LeaseRecord.LeaseRecord | undefined): Array<{ readonly h?: unknown; readonly w?: unknown }> => {
  try {
    const queue: unknown = JSON.parse(record?.metadata.annotations?.[LeaseSemaphore.Annotations.queue] ?? "[]")
    return Array.isArray(queue) ? queue : []
  } catch {
    return []
  }
}

/** `base`: the record the write was made from (an update's compare-and-swap base). */
const traceSemaphoreWrite = (written: LeaseRecord.LeaseRecord, base?: LeaseRecord.LeaseRecord): void => {
  const name = semaphoreTrace.name
  if (name === undefined || !written.key.name.startsWith(name)) return
  if (written.key.name === name) {
    // An enqueue: a ticket of this holder that the write added (absent from its base) — the
    // first append, or a re-append at the end after someone removed the entry.
    const before = queueOf(base)
    const after = queueOf(written)
    const had = new Set(before.map((e) => e.w))
    for (const entry of after) {
      if (entry.h === holder && typeof entry.w === "string" && !had.has(entry.w)) {
        semaphoreTrace.appended.push({ ticket: entry.w, version: written.version })
      }
    }
    // Another waiter's entry this write removed (pruned as judged dead): when it left the queue.
    const has = new Set(after.map((e) => e.w))
    for (const entry of before) {
      if (entry.h !== holder && typeof entry.w === "string" && !has.has(entry.w)) {
        emit({ ev: "removed", ticket: entry.w, version: written.version })
      }
    }
    return
  }
  const index = /^-(\d+)$/.exec(written.key.name.slice(name.length))
  if (index === null || written.holder !== holder) return
  const id = `${index[1]}:${written.transitions ?? 0}`
  if (!semaphoreTrace.granted.has(id)) semaphoreTrace.granted.set(id, written.version)
}

/** Wraps a store: counts calls, and for each update of a lease held here, how late it was sent. */
const instrumented = (inner: LeaseStore.LeaseStoreService): LeaseStore.LeaseStoreService => {
  const failed = <A>(self: Effect.Effect<A, LeaseStoreError>) =>
    Effect.tapError(self, () => Effect.sync(() => counters.failures++))
  const succeeded = (id: string) => <A>(self: Effect.Effect<A, LeaseStoreError>) =>
    Effect.tap(self, () => Effect.sync(() => lastSuccess.set(id, nowMicros())))
  const traced = (base?: LeaseRecord.LeaseRecord) => (self: Effect.Effect<LeaseRecord.LeaseRecord, LeaseStoreError>) =>
    Effect.tap(self, (written) => Effect.sync(() => traceSemaphoreWrite(written, base)))
  const send = (
    record: Parameters<LeaseStore.LeaseStoreService["update"]>[0],
    spec: Parameters<LeaseStore.LeaseStoreService["update"]>[1],
    metadata?: Parameters<LeaseStore.LeaseStoreService["update"]>[2]
  ) =>
    Effect.suspend(() => {
      counters.updates++
      const id = keyId(record.key)
      const previous = lastSuccess.get(id)
      if (tracking && previous !== undefined && spec.holder !== "") {
        lateness.push(nowMicros() - (previous + renewIntervalMicros))
      }
      // The metadata too: an acquisition's labels, a handoff's annotations.
      return inner.update(record, spec, metadata).pipe(failed, succeeded(id), traced(record))
    })
  const { withRequestTimeout, ...calls } = inner
  return {
    ...calls,
    // The algorithm uses the self-bounded view when there is one: instrument it too, or the
    // renewals would bypass the counting.
    ...(withRequestTimeout === undefined ? {} : { withRequestTimeout: (timeout) => instrumented(withRequestTimeout(timeout)) }),
    get: (key) =>
      Effect.suspend(() => {
        counters.gets++
        return failed(inner.get(key))
      }),
    create: (key, spec, metadata) =>
      Effect.suspend(() => {
        counters.creates++
        return inner.create(key, spec, metadata).pipe(failed, succeeded(keyId(key)), traced())
      }),
    update: send
  }
}

const logToStderr = Logger.layer([Logger.withConsoleError(Logger.formatSimple)])

const kubeClient = KubeClient.layerFromFile(kubeconfig)
const kubeStore = Layer.effect(
  LeaseStore.LeaseStore,
  Effect.gen(function*() {
    return instrumented(yield* LeaseStore.LeaseStore)
  })
).pipe(
  Layer.provide(KubernetesLeaseStore.layer()),
  // Fresh: `KubernetesLeaseStore.layer()` provides `Lease.layer` too (over the bare store), and layers
  // are memoized by reference — without `fresh` that service would be reused, and every call of the
  // algorithm would bypass the instrumented store (no counts, no lateness, no semaphore trace).
  (store) => Layer.provideMerge(Layer.fresh(Lease.layer), store)
)
const runtime = ManagedRuntime.make(Layer.mergeAll(kubeStore, logToStderr).pipe(Layer.provideMerge(kubeClient)))
const memoryRuntime = ManagedRuntime.make(Layer.mergeAll(LeaseStore.layerMemory(), logToStderr))

const holder = Effect.runSync(LeaseHolder.make)

// ---------------------------------------------------------------------------------------------
// Joining

interface Active {
  readonly stop: Deferred.Deferred<void>
  readonly fiber: Fiber.Fiber<void, unknown>
}

/** The contender a `handoff` command hands the lease to: set just before `stop` completes. */
let handoffTo: string | undefined
let active: Active | undefined

const optionsOf = (cmd: JoinCommand, name: string): Lease.AcquireOptions => ({
  namespace: cmd.namespace ?? "leasekit-test",
  name,
  holder,
  ...(cmd.leaseDurationMs === undefined ? {} : { duration: cmd.leaseDurationMs }),
  ...(cmd.renewIntervalMs === undefined ? {} : { renewInterval: cmd.renewIntervalMs }),
  ...(cmd.renewDeadlineMs === undefined ? {} : { renewDeadline: cmd.renewDeadlineMs }),
  ...(cmd.retryPeriodMs === undefined ? {} : { retryPeriod: cmd.retryPeriodMs })
})

/** Acquires, unless `stop` completes first (then `None`; a lease won meanwhile is released by the scope). */
const acquireUnlessStopped = (options: Lease.AcquireOptions, stop: Deferred.Deferred<void>) =>
  Effect.raceFirst(
    Effect.map(Lease.acquire(options), Option.some),
    Effect.as(Deferred.await(stop), Option.none<HeldLease>())
  )

/**
 * One critical section, checked two ways: an O_EXCL marker file only one process can hold, and the
 * fencing token, which must exceed the last token written by any other process (the same process
 * may see its own token again only if it re-took its own lease without a release in between).
 */
const critical = (held: HeldLease, fenceDir: string | undefined) =>
  Effect.gen(function*() {
    const t0 = nowMicros()
    const problems: Array<string> = []
    if (!(yield* held.isHeld)) problems.push("the lease is not held inside the critical section")
    if (fenceDir !== undefined) {
      const marker = Path.join(fenceDir, "occupied")
      const tokenFile = Path.join(fenceDir, "token")
      // O_EXCL: creating the marker fails if another contender is inside.
      const entered = yield* Effect.try(() => Fs.closeSync(Fs.openSync(marker, "wx"))).pipe(
        Effect.as(true),
        Effect.catch((error) => Effect.sync(() => problems.push(`another contender is inside: ${String(error.cause)}`)).pipe(Effect.as(false)))
      )
      yield* Effect.sync(() => {
        if (Fs.existsSync(tokenFile)) {
          const [last, pid] = Fs.readFileSync(tokenFile, "utf8").trim().split(" ").map(Number)
          if (last! > held.token || (last === held.token && pid !== process.pid)) {
            problems.push(`token ${held.token} not above the last one written (${last}, by pid ${pid})`)
          }
        }
        const tmp = `${tokenFile}.${process.pid}`
        Fs.writeFileSync(tmp, `${held.token} ${process.pid}`)
        Fs.renameSync(tmp, tokenFile)
        if (entered) Fs.rmSync(marker)
      })
    }
    emit({
      ev: "cs",
      t0,
      t1: nowMicros(),
      token: held.token,
      ok: problems.length === 0,
      ...(problems.length > 0 ? { problems } : {})
    })
  })

const holdOne = (cmd: JoinCommand, stop: Deferred.Deferred<void>) =>
  Effect.scoped(Effect.gen(function*() {
    const held = yield* acquireUnlessStopped(optionsOf(cmd, cmd.name), stop)
    if (Option.isNone(held)) return false
    emit({ ev: "leading", t: nowMicros(), name: cmd.name, token: held.value.token })
    // The first guarded step: what a handoff's successor can do with the lease, and when.
    yield* held.value.guard(Effect.sync(() => emit({ ev: "guarded", t: nowMicros(), name: cmd.name, token: held.value.token })))
    yield* Deferred.await(stop)
    emit({ ev: "releasing", t: nowMicros() })
    tracking = false
    const to = handoffTo
    handoffTo = undefined
    yield* to === undefined ? held.value.release : held.value.handoff(to)
    return true
  })).pipe(Effect.tap((led) => Effect.sync(() => emit({ ev: "released", t: nowMicros(), led }))))

const loop = (cmd: JoinCommand, stop: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    let rounds = 0
    while (!(yield* Deferred.isDone(stop))) {
      const led = yield* Effect.scoped(Effect.gen(function*() {
        const held = yield* acquireUnlessStopped(optionsOf(cmd, cmd.name), stop)
        if (Option.isNone(held)) return false
        yield* critical(held.value, cmd.fenceDir)
        yield* held.value.release
        return true
      }))
      if (led) rounds++
    }
    emit({ ev: "released", t: nowMicros(), rounds })
  })

/** `semaphore` mode: one semaphore contender, permits acquired (in the queue), held and released
 * in a loop; a permit won as `stop` completes is released by the scope. */
const semaphoreLoop = (cmd: JoinCommand, stop: Deferred.Deferred<void>) =>
  Effect.scoped(Effect.gen(function*() {
    semaphoreTrace.name = cmd.name
    semaphoreTrace.appended = []
    semaphoreTrace.granted.clear()
    const semaphore = yield* LeaseSemaphore.contender({ ...optionsOf(cmd, cmd.name), permits: cmd.permits })
    let rounds = 0
    while (!(yield* Deferred.isDone(stop))) {
      const requested = nowMicros()
      // One acquisition at a time: the tickets this process enqueued from here to its return are
      // this acquisition's (more than one only if it gave its ticket up and took a new one).
      const appendedBefore = semaphoreTrace.appended.length
      const held = yield* Effect.raceFirst(
        Effect.map(semaphore.acquire(), Option.some),
        Effect.as(Deferred.await(stop), Option.none<LeaseSemaphore.HeldPermit>())
      )
      // Every enqueue of this acquisition: the first (its place in first-come-first-served order)
      // and the last (its place in the queue it was served from; later ones: it was removed).
      const tickets = semaphoreTrace.appended.slice(appendedBefore)
      const first = tickets[0]
      const last = tickets.at(-1)
      if (Option.isNone(held)) {
        if (first !== undefined && last !== undefined) {
          emit({ ev: "unserved", ticket: last.ticket, enqueues: tickets.map((t) => t.version) })
        }
        break
      }
      const acquired = nowMicros()
      const { permit, token } = held.value
      const granted = semaphoreTrace.granted.get(`${permit}:${token}`)
      yield* held.value.guard(Effect.sleep(Duration.millis(cmd.holdMs ?? 0)))
      const ended = nowMicros() // the critical section's end: the release's write may land before it returns
      yield* semaphore.release
      emit({
        ev: "permit",
        requested,
        acquired,
        ended,
        permit,
        token,
        ...(granted === undefined ? {} : { granted }),
        ...(first === undefined || last === undefined
          ? {}
          : { ticket: last.ticket, enqueues: tickets.map((t) => t.version) })
      })
      rounds++
    }
    emit({ ev: "released", t: nowMicros(), rounds })
  }))

const holdMany = (cmd: JoinCommand, stop: Deferred.Deferred<void>) =>
  Effect.scoped(Effect.gen(function*() {
    const count = cmd.count ?? 1
    const names = Array.from({ length: count }, (_, i) => `${cmd.name}-${i}`)
    const acquired = yield* Effect.raceFirst(
      Effect.forEach(names, (name) => Lease.acquire(optionsOf(cmd, name)), {
        concurrency: cmd.concurrency ?? 32,
        discard: true
      }).pipe(Effect.as(true)),
      Effect.as(Deferred.await(stop), false)
    )
    if (acquired) emit({ ev: "leading", t: nowMicros(), name: cmd.name, count })
    eventLoopDelay.enable()
    yield* Deferred.await(stop)
    emit({ ev: "releasing", t: nowMicros() })
    eventLoopDelay.disable()
    tracking = false
    return acquired
  })).pipe(Effect.tap((led) => Effect.sync(() => emit({ ev: "released", t: nowMicros(), led }))))

const join = (cmd: JoinCommand) => {
  if (active !== undefined) return emit({ ev: "error", msg: "already joined; release first" })
  renewIntervalMicros = 1000 * (cmd.renewIntervalMs ?? Math.floor((cmd.leaseDurationMs ?? 20_000) / 3))
  lateness = []
  lastSuccess.clear()
  tracking = true
  const stop = Deferred.makeUnsafe<void>()
  const program: Effect.Effect<unknown, unknown, Lease.Lease | LeaseStore.LeaseStore> = cmd.count !== undefined && cmd.count > 1
    ? holdMany(cmd, stop)
    : cmd.mode === "loop"
    ? loop(cmd, stop)
    : cmd.mode === "semaphore"
    ? semaphoreLoop(cmd, stop)
    : holdOne(cmd, stop)
  const fiber = runtime.runFork(program.pipe(
    Effect.asVoid,
    Effect.catchCause((cause) => Effect.sync(() => emit({ ev: "error", msg: String(cause) })))
  ))
  const entry: Active = { stop, fiber }
  active = entry
  fiber.addObserver(() => {
    if (active === entry) active = undefined
  })
}

/** Leaves the election and waits until the program ended (the lease released, or handed over to
 * `to`: a `hold` contender only). */
const release = async (to?: string): Promise<void> => {
  const current = active
  if (current === undefined) return emit({ ev: "released", t: nowMicros(), led: false })
  handoffTo = to
  Deferred.doneUnsafe(current.stop, Exit.void)
  await runtime.runPromise(Fiber.await(current.fiber))
}

// ---------------------------------------------------------------------------------------------
// Usage and microbenchmarks

const gc = (globalThis as { gc?: () => void }).gc

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

const usage = (withGc: boolean) => {
  const pauses = gcPauses
  gcPauses = []
  const delay = {
    eventLoopDelayP50Ms: eventLoopDelay.percentile(50) / 1e6,
    eventLoopDelayP99Ms: eventLoopDelay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: eventLoopDelay.max / 1e6
  }
  eventLoopDelay.reset()
  if (withGc && gc !== undefined) gc()
  const cpu = process.cpuUsage()
  const memory = process.memoryUsage()
  const samples = lateness
  lateness = []
  const sorted = [...samples].sort((a, b) => a - b)
  emit({
    ev: "usage",
    t: nowMicros(),
    cpuMicros: cpu.user + cpu.system,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    external: memory.external,
    youngGeneration: V8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.physical_space_size ?? 0,
    ...counters,
    latenessN: sorted.length,
    latenessP50: percentile(sorted, 0.5),
    latenessP99: percentile(sorted, 0.99),
    latenessMax: percentile(sorted, 1),
    lateness: samples,
    ...delay,
    gcPauses: pauses.length,
    gcPauseTotalMs: pauses.reduce((a, b) => a + b, 0),
    gcPauseMaxMs: pauses.reduce((a, b) => Math.max(a, b), 0)
  })
}

let gcCount = 0
let gcPauses: Array<number> = []
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcCount++
    gcPauses.push(entry.duration)
  }
}).observe({ entryTypes: ["gc"] })

/** How late the event loop runs its callbacks (what delays a renewal timer), reset by `usage`.
 * Sampling costs CPU (a 10 ms timer), so it runs only while many leases are held (figure 5). */
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 })

/** Runs `step` `iterations` times twice: once timing each call, once counting allocated bytes. */
const measure = (iterations: number, step: Effect.Effect<void, unknown>, timed = true) =>
  Effect.gen(function*() {
    const cpuMicros: Array<number> = []
    const wallMicros: Array<number> = []
    if (!timed) {
      for (let i = 0; i < iterations; i++) yield* step
      return { cpuMicros, wallMicros, bytesPerIteration: undefined, gcDuringMeasurement: 0 }
    }
    for (let i = 0; i < iterations; i++) {
      const cpu0 = process.cpuUsage()
      const t0 = nowMicros()
      yield* step
      const t1 = nowMicros()
      const cpu1 = process.cpuUsage(cpu0)
      cpuMicros.push(cpu1.user + cpu1.system)
      wallMicros.push(t1 - t0)
    }
    // Allocations: a full GC, then the heap's growth over up to 200 iterations during which no GC
    // ran (the process runs with a 128 MB young generation so that none needs to).
    const allocationIterations = Math.min(iterations, 200)
    const pause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    if (gc !== undefined) gc()
    yield* pause
    const gcBefore = gcCount
    const heapBefore = V8.getHeapStatistics().used_heap_size
    for (let i = 0; i < allocationIterations; i++) yield* step
    const heapAfter = V8.getHeapStatistics().used_heap_size
    yield* pause
    const gcs = gcCount - gcBefore
    return {
      cpuMicros,
      wallMicros,
      bytesPerIteration: gcs === 0 ? (heapAfter - heapBefore) / allocationIterations : undefined,
      gcDuringMeasurement: gcs
    }
  })

const microTimeNow = () => new Date().toISOString().replace("Z", "000Z")

// The two bare clients below are the floor figure 6 measures against: by definition not
// `KubeClient`, they stay hand-written on node:https and node:http2.

/** Server, CA and bearer token from the (JSON) kubeconfig the control plane writes. */
const bareCredentials = () => {
  const config = JSON.parse(Fs.readFileSync(kubeconfig, "utf8")) as {
    clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>
    users: Array<{ user: { token: string } }>
  }
  return {
    server: config.clusters[0]!.cluster.server,
    ca: Buffer.from(config.clusters[0]!.cluster["certificate-authority-data"], "base64"),
    token: config.users[0]!.user.token
  }
}

/**
 * A bare HTTPS client for the microbenchmark: node:https on one keep-alive connection, the CA and
 * bearer token from the (JSON) kubeconfig the control plane writes, JSON in and out.
 */
const bareHttps = () => {
  const { ca, server, token } = bareCredentials()
  const agent = new Https.Agent({ keepAlive: true, maxSockets: 1, ca })
  return (method: string, path: string, body: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const request = Https.request(`${server}${path}`, {
        method,
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" }
      }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          if ((response.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: ${response.statusCode} ${text}`))
          else resolve(JSON.parse(text) as Record<string, unknown>)
        })
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end(JSON.stringify(body))
    })
}

/**
 * The same bare client over one HTTP/2 session (`node:http2`): one TLS connection multiplexing
 * every request, as client-go's transport does.
 */
const bareHttp2 = () => {
  const { ca, server, token } = bareCredentials()
  const session = Http2.connect(server, { ca })
  session.unref()
  return (method: string, path: string, body: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const stream = session.request({
        ":method": method,
        ":path": path,
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json"
      })
      let status = 0
      const chunks: Array<Buffer> = []
      stream.on("response", (headers) => (status = Number(headers[":status"])))
      stream.on("data", (chunk: Buffer) => chunks.push(chunk))
      stream.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        if (status >= 300) reject(new Error(`${method} ${path}: ${status} ${text}`))
        else resolve(JSON.parse(text) as Record<string, unknown>)
      })
      stream.on("error", reject)
      stream.end(JSON.stringify(body))
    })
}

const microbench = async (cmd: MicrobenchCommand) => {
  const key = { namespace: cmd.namespace, name: cmd.name }
  // Long timings: no background renewal runs during the measurement.
  const options = { ...key, holder, duration: Duration.hours(1) }
  const renewals = (held: HeldLease) =>
    Effect.gen(function*() {
      for (let i = 0; i < cmd.warmup; i++) yield* held.renew
      return yield* measure(cmd.iterations, held.renew, cmd.timed)
    })
  const result = cmd.target === "memory"
    ? await memoryRuntime.runPromise(Effect.scoped(Effect.flatMap(Lease.acquire(options), renewals)))
    : cmd.target === "kubernetes"
    ? await runtime.runPromise(Effect.scoped(Effect.flatMap(Lease.acquire(options), renewals)))
    : cmd.target === "raw"
    ? await runtime.runPromise(Effect.gen(function*() {
      // The same PUT as a renewal, through the store's HttpClient (`KubeClient.http`), without the
      // algorithm or the store's policy.
      const http = (yield* KubeClient.KubeClient).http
      const send = (method: "POST" | "PUT", path: string, body: unknown) =>
        HttpClientRequest.make(method)(path, { acceptJson: true }).pipe(
          HttpClientRequest.bodyJsonUnsafe(body),
          http.execute,
          Effect.flatMap((response) => response.json),
          Effect.scoped,
          Effect.provideService(HttpClient.TracerDisabledWhen, () => true),
          Effect.orDie
        )
      let lease = (yield* send("POST", `/apis/coordination.k8s.io/v1/namespaces/${key.namespace}/leases`, {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: key.name, namespace: key.namespace },
        spec: { holderIdentity: holder, leaseDurationSeconds: 3600, leaseTransitions: 0 }
      })) as Record<string, unknown>
      const path = `/apis/coordination.k8s.io/v1/namespaces/${key.namespace}/leases/${key.name}`
      const step = Effect.map(
        Effect.suspend(() => send("PUT", path, { ...lease, spec: { ...lease["spec"] as object, renewTime: microTimeNow() } })),
        (next) => {
          lease = next as Record<string, unknown>
        }
      )
      for (let i = 0; i < cmd.warmup; i++) yield* step
      return yield* measure(cmd.iterations, step, cmd.timed)
    }))
    : await runtime.runPromise(Effect.gen(function*() {
      const put = cmd.target === "http2" ? bareHttp2() : bareHttps()
      let lease = yield* Effect.promise(() =>
        put("POST", `/apis/coordination.k8s.io/v1/namespaces/${key.namespace}/leases`, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: key.name, namespace: key.namespace },
          spec: { holderIdentity: holder, leaseDurationSeconds: 3600, leaseTransitions: 0 }
        })
      )
      const path = `/apis/coordination.k8s.io/v1/namespaces/${key.namespace}/leases/${key.name}`
      const step = Effect.promise(async () => {
        lease = await put("PUT", path, { ...lease, spec: { ...lease["spec"] as object, renewTime: microTimeNow() } })
      })
      for (let i = 0; i < cmd.warmup; i++) yield* step
      return yield* measure(cmd.iterations, step, cmd.timed)
    }))
  emit({ ev: "microbench", target: cmd.target, ...result })
}

/** A CPU profile of this process over the next `seconds` (V8's sampling profiler, 1 ms). */
const profile = async (seconds: number, file: string) => {
  const session = new Inspector.Session()
  session.connect()
  try {
    await session.post("Profiler.enable")
    await session.post("Profiler.setSamplingInterval", { interval: 1000 })
    await session.post("Profiler.start")
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
    const { profile } = await session.post("Profiler.stop")
    Fs.writeFileSync(file, JSON.stringify(profile))
    emit({ ev: "profile", file })
  } finally {
    session.disconnect()
  }
}

// ---------------------------------------------------------------------------------------------
// The command loop

let quitting = false
const quit = async () => {
  if (quitting) return
  quitting = true
  await release().catch(() => undefined)
  await runtime.dispose().catch(() => undefined)
  await memoryRuntime.dispose().catch(() => undefined)
  process.exit(0)
}
process.on("SIGTERM", () => void quit())
process.on("SIGINT", () => void quit())

const handle = (line: string) => {
  let command: Command
  try {
    command = JSON.parse(line) as Command
  } catch (error) {
    return emit({ ev: "error", msg: `bad command: ${String(error)}` })
  }
  switch (command.cmd) {
    case "join":
      return join(command)
    case "release":
      return void release()
    case "handoff":
      return void release(command.to)
    case "usage":
      return usage(command.gc === true)
    case "microbench":
      return void microbench(command).catch((error) => emit({ ev: "error", msg: `microbench: ${String(error)}` }))
    case "profile":
      return void profile(command.seconds, command.file).catch((error) =>
        emit({ ev: "profile", file: command.file, error: String(error) })
      )
    case "quit":
      return void quit()
  }
}

// Build the client before announcing readiness, so that the first join is not slowed by it.
await runtime.runPromise(Effect.void)
const lines = Readline.createInterface({ input: process.stdin })
lines.on("line", handle)
lines.on("close", () => void quit())
emit({ ev: "ready", t: nowMicros(), pid: process.pid, identity: holder })
