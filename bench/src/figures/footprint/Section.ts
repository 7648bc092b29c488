/**
 * Figure 7 in RESULTS.md: one table of every process measured (start-up wall time and peak RSS,
 * RSS while holding the lease, the difference to `node -e 0`, how the lease went), how it was
 * installed and measured, and the library processes' own profiles (`process.memoryUsage()`, V8's
 * heap spaces, the files they load). Every number comes from the run's results.
 */
import { mib, signed, table } from "../../Markdown.ts"
import type { Results } from "../../Results.ts"
import { fmt, summarize } from "../../Statistics.ts"
import type { FootprintResult, LibraryVariant, ModuleCount } from "./Model.ts"
import { medians } from "./Model.ts"

/** Section 7 of RESULTS.md: the table of every process, how they were measured, the library profiles. */
export const section = (r: Results) => {
  const f = r.footprint
  if (f === undefined) return ""
  const v = medians(f)
  const startupRow = (label: string, x: ReturnType<typeof medians>["floor"]) => {
    const wall = summarize(x.result?.wallMs ?? [])
    const failures = x.result?.failures ?? []
    return [
      label,
      wall.n === 0 ? "–" : `${fmt(wall.median, 0)} (${fmt(wall.min, 0)}–${fmt(wall.max, 0)}, n=${wall.n})`,
      wall.n === 0 ? "–" : `${fmt(wall.median / v.floor.wallMs, 1)} ×`,
      wall.n === 0 ? "–" : fmt(x.peakMiB, 1),
      "–",
      wall.n === 0 || x === v.floor || x === v.spawn ? "–" : signed(x.peakMiB - v.floor.peakMiB),
      failures.length === 0 ? "" : `**${failures.length} runs failed**: ${failures[0]}`
    ]
  }
  const holdingRow = (label: string, x: ReturnType<typeof medians>["run"], extra = "") => {
    const h = x.result
    if (h === undefined) return [label, "–", "–", "–", "–", "–", "not measured"]
    const lease = h.held
      ? `held after ${fmt(h.heldAfterSeconds, 2)} s${h.token === undefined ? "" : ` (token ${h.token})`}; ${h.exit}${h.failure === undefined ? "" : ` — ${h.failure}`}`
      : `**not held**: ${h.failure ?? h.exit}`
    return [
      label,
      "–",
      "–",
      fmt(h.peakRssMiB, 1),
      h.rssMiB.length === 0 ? "–" : `${fmt(x.steadyMiB, 1)} (${fmt(x.anonMiB, 1)}; n=${h.rssMiB.length})`,
      h.rssMiB.length === 0 ? "–" : signed(x.steadyMiB - v.floor.peakMiB),
      lease + extra
    ]
  }
  const limit = f.memoryLimit
  const where = limit.mechanism === "cgroup v2"
    ? `cgroup v2 (\`memory.max\` ${fmt(limit.limitBytes / 2 ** 20, 0)} MiB${limit.swapLimited ? ", `memory.swap.max` 0" : ", swap not limited"})`
    : `cgroup v1 (\`memory.limit_in_bytes\` ${fmt(limit.limitBytes / 2 ** 20, 0)} MiB${limit.swapLimited ? " and `memory.memsw.limit_in_bytes`" : ", swap not limited"})`
  const run = `\`leasekit run NAME -- sh -c '…; sleep ${f.holdSeconds}'\``
  const rows = [
    startupRow("`node -e 0` (the floor)", v.floor),
    startupRow("`leasekit --version`", v.version),
    startupRow("`leasekit --help`", v.help),
    ...v.imports.map((x) => startupRow(`node that only imports \`${x.module}\``, x)),
    startupRow("`true` (spawning and reaping through GNU time alone: part of every wall time above)", v.spawn),
    holdingRow(`${run}${flagged(v.run.result?.nodeFlags)}`, v.run),
    ...(v.runNoFlags.result === undefined
      ? []
      : [holdingRow(`the same with \`LEASEKIT_NODE_FLAGS=\` (none of the flags the CLI gives itself)${flagged(v.runNoFlags.result.nodeFlags)}`, v.runNoFlags)]),
    ...v.libraries.map((x) => holdingRow(libraryLabel(f, x.variant), x)),
    holdingRow("client-go contender (one elector, `--serve`)", v.clientgo),
    limit.mechanism === "none"
      ? ["`leasekit run` in a 128 MiB limit", "–", "–", "–", "–", "–", `no cgroup could be made: ${limit.reason ?? ""} (the plain run's peak RSS stands in)`]
      : holdingRow(
        `${run} in a 128 MiB ${where}`,
        v.limited,
        `; the cgroup's peak usage ${mib((limit.peakUsageBytes ?? Number.NaN) / 2 ** 20, 1)}, hit the limit ${limit.failcnt ?? "?"} times, ${
          limit.oomKills ?? "?"
        } OOM kills`
      )
  ]
  return [
    "## 7. Footprint: the installed CLI and a library process, whole process",
    "",
    table([
      "process",
      "wall ms, median (min–max, n)",
      "× `node -e 0`",
      "peak RSS MiB (VmHWM), median",
      "RSS MiB while holding, median (of it anonymous; samples)",
      "above `node -e 0`'s peak, MiB (peak, or while holding)",
      "lease"
    ], rows),
    "",
    `Installed as a user gets it: ${f.cliVersion}, @leasekit/core and @leasekit/kubernetes packed with pnpm (after \`pnpm build\`) and`,
    `installed with npm into a temporary app outside the workspace — ${mib(f.installedMiB)} of node_modules; the CLI's JavaScript`,
    `(its dist/*.js) is ${fmt(f.cliBundleKiB, 0)} KiB. Everything runs on the bench's Node.`,
    `Start-up: ${f.runs} runs of each command, interleaved, after one warm-up each; wall time from spawn to exit as the`,
    "bench sees it, peak RSS from GNU time (`%M`, the exited process's VmHWM). The import rows are node processes that import",
    "one module of the installed packages and exit: what loading the library costs before it does anything.",
    `Holding: VmRSS of the process that holds the lease (for \`leasekit run\` its node process, not CMD) every 250 ms for`,
    `${f.holdSeconds} s; the median of the samples taken while the lease was held (in brackets its anonymous part, RssAnon: what`,
    "is not backed by a file), and the VmHWM. RSS also counts the pages of the node binary and libc that the process has",
    "mapped. The cgroup run's shell writes its pid to `cgroup.procs`, then execs the CLI; the cgroup's usage counts",
    "leasekit, `sh` and `sleep`, and the page cache charged to it — not the node binary, which the runs before had already",
    "brought into the cache (charged to the bench's cgroup); a pod starting on a cold node is also charged the pages of",
    "the binary it reads, file pages the kernel can reclaim under the limit.",
    "The library rows ran one after the other with the same sampling: `hold.mjs` as the app installed it, with two V8",
    `flags, and bundled${
      f.libraryBundleKiB === undefined ? "" : ` (${fmt(f.libraryBundleKiB, 0)} KiB)`
    } by the workspace's esbuild from the installed packages as an application would ship it (one ESM file for Node,`,
    "`@kubernetes/client-node` left out as in the CLI's bundle), plain and with `--lite-mode`. The goal is judged on the first.",
    ...libraryProfile(f)
  ].join("\n")
}

/** Node's flags as the holding process's command line showed them, for a row's label. */
const flagged = (flags: ReadonlyArray<string> | undefined) =>
  flags === undefined ? "" : flags.length === 0 ? " (node without flags)" : ` (runs as \`node ${flags.join(" ")}\`)`

const libraryLabel = (f: FootprintResult, variant: LibraryVariant) => {
  const flags = variant.flags.length === 0 ? "" : ` ${variant.flags.join(" ")}`
  switch (variant.holder) {
    case "library":
      return "library process as installed: `node hold.mjs` (`Lease.acquire` over `KubernetesLeaseStore`, deep imports; the goal's row)"
    case "library --max-semi-space-size=1":
      return `the same, \`node${flags} hold.mjs\` (V8's young generation kept at 1 MiB semi-spaces)`
    case "library --lite-mode":
      return `the same, \`node${flags} hold.mjs\` (V8's lite mode: no JIT at all and no WebAssembly — so no \`fetch\` in Node)`
    case "library bundled":
      return `the same bundled by esbuild into one file: \`node hold.bundle.mjs\` (${fmt(f.libraryBundleKiB ?? Number.NaN, 0)} KiB)`
    case "library bundled --lite-mode":
      return `the same bundled, \`node${flags} hold.bundle.mjs\``
  }
}

/** "N files, M MiB; effect's: …" of what a script loaded. */
const loaded = (count: ModuleCount | string | undefined) => {
  if (count === undefined) return "not counted"
  if (typeof count === "string") return count
  const effect = count.byPackage["effect"]
  return `${count.files} (${mib(count.bytes / 2 ** 20, 1)})${effect === undefined ? "" : `; effect's ${effect.files} (${mib(effect.bytes / 2 ** 20, 1)})`}`
}

/** The library processes' own reports: `process.memoryUsage()`, V8's heap spaces, files loaded. */
const libraryProfile = (f: FootprintResult): Array<string> => {
  const v = medians(f)
  const profiled = v.libraries.flatMap((x) => (x.result?.profile === undefined ? [] : [{ variant: x.variant, p: x.result.profile }]))
  if (profiled.length === 0) return []
  const m = (bytes: number | undefined) => fmt((bytes ?? Number.NaN) / 2 ** 20, 1)
  const rows = profiled.map(({ p, variant }) => {
    const young = p.spaces["new_space"]
    const old = p.spaces["old_space"]
    return [
      `\`${variant.holder}\``,
      m(p.rss),
      m(p.heapTotal),
      m(p.heapUsed),
      m(p.external),
      `${m(p.loaded.youngCommitted)} (rss ${m(p.loaded.rss)})`,
      `${m(young?.committed)} (${m(young?.resident)}; ${m(young?.used)})`,
      `${m(old?.committed)} (${m(old?.used)})`,
      m(p.spaces["code_space"]?.committed),
      loaded(f.modules?.[variant.script])
    ]
  })
  return [
    "",
    `Profile of each library process, reported by the process itself ${fmt(profiled[0]!.p.afterSeconds, 1)} s after it held the lease (MiB):`,
    "",
    table([
      "library process",
      "rss",
      "heapTotal",
      "heapUsed",
      "external",
      "new_space committed once the imports had loaded (rss then)",
      "new_space (young generation) committed (resident; used)",
      "old_space committed (used)",
      "code_space committed",
      "files loaded (source on disk); of them effect's"
    ], rows),
    "",
    "From `process.memoryUsage()` and `v8.getHeapSpaceStatistics()` (committed: `space_size`, resident:",
    "`physical_space_size`, used: `space_used_size`). Files loaded: ESM and CommonJS files, counted with a",
    "`module.registerHooks` preload in a separate short run of `hold.mjs` and of `hold.bundle.mjs` (not in the measured",
    "processes; the flags do not change what loads), over the process's whole life, with their size on disk."
  ]
}
