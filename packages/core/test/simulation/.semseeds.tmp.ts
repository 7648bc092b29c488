import * as Runner from "/work/wt-17sim/packages/core/test/simulation/Runner.ts"
const from = Number(process.argv[2] ?? 8), n = Number(process.argv[3] ?? 250)
const s = await Runner.runMany({ firstSeed: from, stride: 8, schedules: n })
console.log(Runner.figures(s))
for (const f of s.failing.slice(0, 3)) console.log(f.report.split("\n").slice(0, 60).join("\n"))
