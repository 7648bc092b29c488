/**
 * The mutation check: does the simulator catch known faults?
 *
 *   pnpm simulate:mutants                      every mutant in mutants.ts, the CI seed budget
 *   pnpm simulate:mutants --only a,b           some of them
 *   pnpm simulate:mutants --schedules N        a smaller budget (same first seed)
 *   pnpm simulate:mutants --keep               keep the mutated copies
 *
 * For each mutant it copies `packages/core/src` and `packages/core/test` to
 * `packages/core/.mutants/<name>/` (ignored by git; `effect` resolves from `packages/core/node_modules`
 * as it does for the original), applies the replacement — failing loudly unless the search text
 * occurs exactly once — and runs the simulator's CI budget on the copy, stopping at the first
 * violation. A mutant is caught when a violation is found (the seed and the property are printed),
 * survived when none is. Exits 1 if any mutant survived, did not apply, or crashed the simulator.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ciBudget } from "./Budget.ts"
import { type Mutant, mutants } from "./mutants.ts"

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? undefined : args[i + 1]
}
const only = option("only")?.split(",")
const schedules = Number(option("schedules") ?? ciBudget.schedules)
const keep = args.includes("--keep")

const repo = path.resolve(import.meta.dirname, "../../../..")
const core = path.join(repo, "packages/core")
const root = path.join(core, ".mutants")

type Verdict =
  | { readonly _tag: "caught"; readonly seed: string; readonly property: string; readonly seconds: number }
  | { readonly _tag: "survived"; readonly seconds: number }
  | { readonly _tag: "not-applied"; readonly detail: string }
  | { readonly _tag: "crashed"; readonly detail: string }

const run = (script: string): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [
      script,
      "--schedules",
      String(schedules),
      "--from",
      String(ciBudget.firstSeed),
      "--stop-on-failure"
    ], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("close", (code) => resolve({ code, output }))
  })

const check = async (mutant: Mutant): Promise<Verdict> => {
  if (!mutant.file.startsWith("packages/core/src/")) return { _tag: "not-applied", detail: `${mutant.file} is not under packages/core/src` }
  const dir = path.join(root, mutant.name)
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.cpSync(path.join(core, "src"), path.join(dir, "src"), { recursive: true })
  fs.cpSync(path.join(core, "test"), path.join(dir, "test"), { recursive: true })
  const target = path.join(dir, mutant.file.slice("packages/core/".length))
  if (!fs.existsSync(target)) return { _tag: "not-applied", detail: `${mutant.file} does not exist` }
  const text = fs.readFileSync(target, "utf8")
  const found = text.split(mutant.search).length - 1
  if (found !== 1) return { _tag: "not-applied", detail: `the search text occurs ${found} times in ${mutant.file} (must be once)` }
  fs.writeFileSync(target, text.replace(mutant.search, () => mutant.replace))
  const started = performance.now()
  const { code, output } = await run(path.join(dir, "test/simulation/main.ts"))
  const seconds = (performance.now() - started) / 1000
  if (!keep) fs.rmSync(dir, { recursive: true, force: true })
  if (code === 0) return { _tag: "survived", seconds }
  const verdict = /^seed (\d+): \d+ violation/m.exec(output)
  const property = /^ {2}\[([\w-]+)\]/m.exec(output)
  if (code === 1 && verdict !== null) {
    return { _tag: "caught", seed: verdict[1]!, property: property?.[1] ?? "teardown", seconds }
  }
  return { _tag: "crashed", detail: output.split("\n").slice(-15).join("\n") }
}

fs.mkdirSync(root, { recursive: true })
fs.writeFileSync(path.join(root, ".gitignore"), "*\n")
const selected = only === undefined ? mutants : mutants.filter((m) => only.includes(m.name))
let bad = 0
console.log(`mutation check: ${selected.length} mutant(s), up to ${schedules} schedules each (seeds from ${ciBudget.firstSeed})`)
for (const mutant of selected) {
  const verdict = await check(mutant)
  switch (verdict._tag) {
    case "caught":
      console.log(`caught     ${mutant.name.padEnd(38)} seed ${verdict.seed} [${verdict.property}] (${verdict.seconds.toFixed(1)} s)`)
      break
    case "survived":
      bad++
      console.log(`SURVIVED   ${mutant.name.padEnd(38)} ${schedules} schedules, no violation (${verdict.seconds.toFixed(1)} s) — ${mutant.description}`)
      break
    case "not-applied":
      bad++
      console.log(`NOT APPLIED ${mutant.name.padEnd(37)} ${verdict.detail}`)
      break
    case "crashed":
      bad++
      console.log(`CRASHED    ${mutant.name.padEnd(38)}\n${verdict.detail}`)
      break
  }
}
if (!keep) fs.rmSync(root, { recursive: true, force: true })
console.log(bad === 0 ? "every mutant was caught" : `${bad} mutant(s) not caught or not applied`)
process.exitCode = bad === 0 ? 0 : 1
