/**
 * Figure 7's missed goals explained from the run's own numbers: what the CLI's start costs above
 * Node's, what a process holding a lease is made of (loading the modules against holding), where
 * the library process's memory is (its own profile, the files it loads) and what the variants
 * measured beside it take off, and what happened inside the 128 MiB limit. Paragraphs only; the
 * goals are judged in `../Footprint.ts`.
 */
import type { Explanation } from "../../Goal.ts"
import { plural } from "../../Markdown.ts"
import { fmt } from "../../Statistics.ts"
import { medians } from "./Model.ts"

/** Figure 7, start-up: what `--version` and `--help` cost above `node -e 0`. */
export const startup: Explanation = (r) => {
  if (r.footprint === undefined) return []
  const v = medians(r.footprint)
  return [
    `**What the numbers show (figure 7):** \`leasekit --version\` took ${fmt(v.version.wallMs, 0)} ms and \`leasekit --help\` ${fmt(v.help.wallMs, 0)} ms from spawn`,
    `to exit, against ${fmt(v.floor.wallMs, 0)} ms for \`node -e 0\` (${fmt(v.spawn.wallMs, 0)} ms of every one is spawning and reaping, the \`true\` row); their`,
    `peak RSS was ${fmt(v.version.peakMiB, 1)} and ${fmt(v.help.peakMiB, 1)} MiB against ${fmt(v.floor.peakMiB, 1)} MiB. So the CLI's own start costs about`,
    `${fmt(v.version.wallMs - v.floor.wallMs, 0)} ms and ${fmt(v.version.peakMiB - v.floor.peakMiB, 0)} MiB on top of Node's for \`--version\`: loading and running its`,
    `JavaScript (${fmt(r.footprint.cliBundleKiB, 0)} KiB in dist/*.js, effect, core and kubernetes bundled in). This figure does not take that`,
    "time apart; `node --cpu-prof` on the installed `leasekit --version` says where it goes."
  ]
}

/** Figure 7, holding a lease: the CLI and the library process beside bare Node, client-go and the imports alone. */
export const holding: Explanation = (r) => {
  if (r.footprint === undefined) return []
  const v = medians(r.footprint)
  const mib = (x: number) => `${fmt(x, 1)} MiB`
  const imports = v.imports.map((x) => `\`${x.module}\` ${mib(x.peakMiB)}`).join(", ")
  const loaded = v.imports[v.imports.length - 1]?.peakMiB ?? Number.NaN
  const unheld = [v.run, v.library].filter((x) => x.result?.held !== true)
  return [
    `**What the numbers show (figure 7):** holding one lease, the library process was at ${mib(v.library.steadyMiB)} (${mib(v.library.anonMiB)}`,
    `anonymous), \`leasekit run\`'s node process at ${mib(v.run.steadyMiB)} (${mib(v.run.anonMiB)} anonymous), the client-go contender at`,
    `${mib(v.clientgo.steadyMiB)}; \`node -e 0\` peaks at ${mib(v.floor.peakMiB)}. A node process that only imports the library, and`,
    `holds nothing, already peaks at: ${imports}. So of the library process's ${mib(v.library.steadyMiB - v.floor.peakMiB)} above bare`,
    `Node, ${mib(loaded - v.floor.peakMiB)} is loading the modules (effect's and leasekit's ESM files, one by one) and`,
    `${mib(v.library.steadyMiB - loaded)} building the client and holding the lease.`,
    v.run.steadyMiB < v.library.steadyMiB
      ? `The CLI runs the same code and more (the command line, the supervisor of CMD) from one tree-shaken bundle, and holds at ${
        mib(v.library.steadyMiB - v.run.steadyMiB)
      } less.`
      : `The CLI, which runs the same code and more from one bundle, holds at ${mib(v.run.steadyMiB - v.library.steadyMiB)} more than the library process.`,
    ...(unheld.length === 0 ? [] : ["A process that did not hold its lease is marked in the table; its numbers do not count."]),
    "This figure does not say what the memory consists of beyond that; a heap snapshot of the holding process would."
  ]
}

/**
 * Figure 7, the library process: where its memory above bare Node is (its own profile, the files
 * it loads) and what the variants measured beside it take off.
 */
export const library: Explanation = (r, goal) => {
  const f = r.footprint
  if (f === undefined) return []
  const v = medians(f)
  const p = v.library.result?.profile
  if (p === undefined) return holding(r, goal)
  const mib = (x: number) => `${fmt(x, 1)} MiB`
  const m = (bytes: number | undefined) => mib((bytes ?? Number.NaN) / 2 ** 20)
  const limit = 40e6 / 2 ** 20
  const above = (x: typeof v.library) => x.steadyMiB - v.floor.peakMiB
  const measured = (x: typeof v.library) => x.result?.held === true && x.result.rssMiB.length > 0
  const young = p.spaces["new_space"]
  const files = f.modules?.["hold.mjs"]
  const bundleFiles = f.modules?.["hold.bundle.mjs"]
  /** The packages that loaded the most files, "effect 183 (3.9 MiB), yaml 72 (0.3 MiB), …". */
  const most = typeof files === "object"
    ? Object.entries(files.byPackage).sort(([, a], [, b]) => b.files - a.files).slice(0, 3).map(([name, x]) => `${name} ${x.files} (${m(x.bytes)})`).join(", ")
    : ""
  const semi = v.semiSpace.result?.profile
  const bundled = v.bundled.result?.profile
  const bundledYoung = bundled?.spaces["new_space"]
  const remedy = (what: string, x: typeof v.library, more = "") =>
    measured(x) ? `${what} +${mib(above(x))} (${mib(x.steadyMiB)}${more}; ${above(x) <= limit ? "within" : "over"} the goal)` : `${what} not measured`
  /** RSS backed by files (the node binary, libc): VmRSS − RssAnon. */
  const fileBacked = (x: typeof v.library) => x.steadyMiB - x.anonMiB
  const lite = v.lite.result?.profile
  const cliFlags = v.run.result?.nodeFlags ?? []
  return [
    `**Cause (figure 7; the library process's own profile ${fmt(p.afterSeconds, 1)} s after it held the lease):** it held at`,
    `${mib(v.library.steadyMiB)}, +${mib(above(v.library))} above \`node -e 0\`. V8's heap had ${m(p.heapTotal)} committed for ${m(p.heapUsed)} in use;`,
    `of it the young generation (\`new_space\`) ${m(young?.committed)} committed (${m(young?.resident)} resident) for ${m(young?.used)} of objects, and`,
    `it was at ${m(p.loaded.youngCommitted)} already when the imports had loaded (RSS ${m(p.loaded.rss)} then), before the process did anything.`,
    typeof files === "object"
      ? `Loading is the process's allocation burst: ${files.files} files, ${m(files.bytes)} of source (most files: ${most}); V8 grows the`
      : "Loading the modules is the process's allocation burst; V8 grows the",
    "young generation to absorb it and keeps it committed while the process idles.",
    ...(measured(v.semiSpace) && semi !== undefined
      ? [
        `Kept small (\`--max-semi-space-size=1\`: new_space ${m(semi.spaces["new_space"]?.committed)} committed), the same process held at ${mib(v.semiSpace.steadyMiB)}:`,
        `${mib(v.library.steadyMiB - v.semiSpace.steadyMiB)} of the plain process's RSS is the grown young generation.`
      ]
      : []),
    ...(measured(v.bundled) && bundled !== undefined
      ? [
        `Bundled into one file (${typeof bundleFiles === "object" ? `${plural(bundleFiles.files, "file")}, ${m(bundleFiles.bytes)}, loaded` : "files not counted"} instead of ${
          typeof files === "object" ? files.files : "–"
        }), the same code held at ${mib(v.bundled.steadyMiB)},`,
        `${mib(v.library.steadyMiB - v.bundled.steadyMiB)} less: its young generation grew to ${m(bundledYoung?.committed)} (${m(bundledYoung?.resident)} resident, against ${m(young?.resident)}), and its`,
        `old_space holds ${m(bundled.spaces["old_space"]?.committed)} against ${m(p.spaces["old_space"]?.committed)} (less code to compile: esbuild keeps only what \`hold.mjs\` reaches).`
      ]
      : []),
    "",
    `**Remedies, measured in this run** (above \`node -e 0\`'s ${mib(v.floor.peakMiB)}; the goal allows +${mib(limit)}):`,
    `${remedy("bundling the application (esbuild, one ESM file, as applications ship)", v.bundled)}; ${
      remedy(
        "`node --lite-mode`",
        v.lite,
        lite === undefined
          ? ""
          : `: new_space ${m(lite.spaces["new_space"]?.committed)} committed, code_space ${m(lite.spaces["code_space"]?.committed)}, and ${mib(fileBacked(v.library) - fileBacked(v.lite))} less file-backed RSS`
      )
    };`,
    `${remedy("both", v.bundledLite)}. Lite mode is jitless: it turns WebAssembly off, and with it Node's \`fetch\` (undici's`,
    "parser; Node 22 touches it at start in some processes and crashes), so it suits only processes that never use `fetch`.",
    ...(measured(v.run)
      ? [
        `\`leasekit run\` is one bundle ${cliFlags.length > 0 ? `and runs as \`node ${cliFlags.join(" ")}\`` : "and runs without Node flags"}: it held at ${mib(v.run.steadyMiB)} (${
          mib(v.run.anonMiB)
        } anonymous)${
          measured(v.runNoFlags)
            ? `; without its flags at ${mib(v.runNoFlags.steadyMiB)} (${mib(v.runNoFlags.anonMiB)} anonymous)`
            : ""
        }.`
      ]
      : []),
    "The goal stays judged on the plain process: an application that loads the packages unbundled on Node's defaults",
    "pays the difference."
  ]
}

/** Figure 7, the 128 MiB limit. */
export const memoryLimit: Explanation = (r) => {
  const limit = r.footprint?.memoryLimit
  if (limit === undefined) return []
  const run = limit.run
  if (limit.mechanism === "none") {
    return [
      `**What the numbers show (figure 7):** no memory cgroup could be made on this machine (${limit.reason ?? ""}), so the`,
      `plain run stands in: it ${run.held ? "held the lease" : "did not hold the lease"} and peaked at ${fmt(run.peakRssMiB, 1)} MiB RSS (${run.exit}).`
    ]
  }
  return [
    `**What the numbers show (figure 7):** inside the ${limit.mechanism} limit of ${fmt(limit.limitBytes / 2 ** 20, 0)} MiB, \`leasekit run\` ${
      run.held ? `held the lease after ${fmt(run.heldAfterSeconds, 1)} s` : "**did not hold the lease**"
    } and`,
    `ended with ${run.exit}${run.failure === undefined ? "" : ` (${run.failure})`}. The cgroup's usage peaked at ${
      fmt((limit.peakUsageBytes ?? Number.NaN) / 2 ** 20, 1)
    } MiB and hit the limit ${limit.failcnt ?? "an unknown number of"}`,
    `times; ${limit.oomKills ?? "an unknown number of"} processes were OOM-killed. The node process's own peak RSS was ${fmt(run.peakRssMiB, 1)} MiB.`
  ]
}
