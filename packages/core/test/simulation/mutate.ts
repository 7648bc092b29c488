/**
 * The mutation check: do the simulator and the regression tests catch known faults?
 *
 *   pnpm simulate:mutants                      every mutant in mutants.ts, the CI seed budget
 *   pnpm simulate:mutants --only a,b           some of them
 *   pnpm simulate:mutants --schedules N        a smaller budget (same first seed)
 *   pnpm simulate:mutants --keep               keep the mutated copies
 *
 * For each mutant it copies the workspace's packages to `.mutants/<name>/` (ignored by git; laid
 * out and linked as `MutantCopy.ts` says, so that the copy imports only the copy — `@leasekit/core`
 * inside the copied packages/kubernetes is the copied core — while `effect` and the other
 * dependencies resolve as they do for the original) and applies the replacement, failing loudly
 * unless the search text occurs exactly once. Then:
 *
 * - checked by the simulator (the default): runs the simulator's CI budget on the copy, stopping at
 *   the first violation. Caught when a violation is found (the seed and the property are printed),
 *   survived when none is.
 * - checked by a regression test (`checkedBy: { test, testName? }`): runs that test file with vitest
 *   in the copy (with `testName`, only the tests whose name contains it). Caught when a test fails
 *   (the failing test is printed), survived when all pass. The same test is first run once on an
 *   unmutated copy (`.mutants/.unmutated/`); if it does not pass there, the copy is broken and no
 *   failure on it counts as a catch: the mutant is reported BROKEN COPY. A mutated file that no
 *   longer loads is CRASHED, not caught.
 *
 * Exits 1 if any mutant survived, did not apply, crashed, or had a broken copy.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { ciBudget } from "./Budget.ts"
import * as MutantCopy from "./MutantCopy.ts"
import { type Mutant, mutants } from "./mutants.ts"

const args = process.argv.slice(2)
const option = (name: string) => {
  const i = args.indexOf(`--${name}`)
  return i === -1 ? undefined : args[i + 1]
}
const only = option("only")?.split(",")
const schedules = Number(option("schedules") ?? ciBudget.schedules)
const keep = args.includes("--keep")

const root = path.join(MutantCopy.repo, ".mutants")

type Verdict =
  | { readonly _tag: "caught"; readonly seed: string; readonly property: string; readonly seconds: number }
  | { readonly _tag: "caught-by-test"; readonly test: string; readonly failed: ReadonlyArray<string>; readonly total: number; readonly seconds: number }
  | { readonly _tag: "survived"; readonly seconds: number }
  | { readonly _tag: "survived-test"; readonly test: string; readonly passed: number; readonly seconds: number }
  | { readonly _tag: "not-applied"; readonly detail: string }
  | { readonly _tag: "crashed"; readonly detail: string }
  | { readonly _tag: "broken-copy"; readonly test: string; readonly detail: string }

const simulate = (script: string): Promise<{ code: number | null; output: string }> =>
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

const describeTest = (test: string, testName: string | undefined) =>
  testName === undefined ? test : `${test} -t "${testName}"`

/** The run of each (test file, test name) on the unmutated copy, made once. */
const unmutated = new Map<string, Promise<MutantCopy.TestRun>>()
const unmutatedDir = path.join(root, ".unmutated")
const unmutatedRun = (test: string, testName: string | undefined): Promise<MutantCopy.TestRun> => {
  const key = JSON.stringify([test, testName ?? null])
  let run = unmutated.get(key)
  if (run === undefined) {
    if (unmutated.size === 0) MutantCopy.make(unmutatedDir)
    run = MutantCopy.runTest(unmutatedDir, test, testName).then((result) => {
      if (result._tag === "passed") {
        console.log(
          `unmutated  ${describeTest(test, testName)} passes on an unmutated copy (${result.passed} test(s), ${result.seconds.toFixed(1)} s)`
        )
      }
      return result
    })
    unmutated.set(key, run)
  }
  return run
}

const check = async (mutant: Mutant): Promise<Verdict> => {
  const checkedBy = mutant.checkedBy ?? "simulator"
  const mutatedPackage = MutantCopy.packageOf(mutant.file, "src")
  if (mutatedPackage === undefined) return { _tag: "not-applied", detail: `${mutant.file} is not under packages/<package>/src` }
  if (checkedBy === "simulator" && mutatedPackage !== "core") {
    return { _tag: "not-applied", detail: `${mutant.file}: the simulator runs packages/core only; name a regression test in checkedBy` }
  }
  if (checkedBy !== "simulator") {
    if (MutantCopy.packageOf(checkedBy.test, "test") === undefined) {
      return { _tag: "not-applied", detail: `${checkedBy.test} is not under packages/<package>/test` }
    }
    if (!fs.existsSync(path.join(MutantCopy.repo, checkedBy.test))) return { _tag: "not-applied", detail: `${checkedBy.test} does not exist` }
    const baseline = await unmutatedRun(checkedBy.test, checkedBy.testName)
    if (baseline._tag !== "passed") {
      const detail = baseline._tag === "failed" ? `failing: ${baseline.failed.join("; ")}` : baseline.detail
      return { _tag: "broken-copy", test: describeTest(checkedBy.test, checkedBy.testName), detail }
    }
  }
  const dir = path.join(root, mutant.name)
  MutantCopy.make(dir)
  const edits = [{ search: mutant.search, replace: mutant.replace }, ...(mutant.andAlso ?? [])]
  const notApplied = edits.reduce<string | undefined>(
    (failed, edit) => failed ?? MutantCopy.mutate(dir, "file" in edit && edit.file !== undefined ? edit.file : mutant.file, edit.search, edit.replace),
    undefined
  )
  if (notApplied !== undefined) {
    if (!keep) fs.rmSync(dir, { recursive: true, force: true })
    return { _tag: "not-applied", detail: notApplied }
  }
  if (checkedBy !== "simulator") {
    const result = await MutantCopy.runTest(dir, checkedBy.test, checkedBy.testName)
    if (!keep) fs.rmSync(dir, { recursive: true, force: true })
    const test = describeTest(checkedBy.test, checkedBy.testName)
    switch (result._tag) {
      case "failed":
        return { _tag: "caught-by-test", test: checkedBy.test, failed: result.failed, total: result.total, seconds: result.seconds }
      case "passed":
        return { _tag: "survived-test", test, passed: result.passed, seconds: result.seconds }
      case "crashed":
        return { _tag: "crashed", detail: `${test}: ${result.detail}` }
    }
  }
  const started = performance.now()
  const { code, output } = await simulate(path.join(dir, "packages/core/test/simulation/main.ts"))
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

const shorten = (text: string, max: number) => text.length <= max ? text : `${text.slice(0, max - 1)}…`

fs.mkdirSync(root, { recursive: true })
fs.writeFileSync(path.join(root, ".gitignore"), "*\n")
const selected = only === undefined ? mutants : mutants.filter((m) => only.includes(m.name))
const byTest = selected.filter((m) => (m.checkedBy ?? "simulator") !== "simulator").length
let bad = 0
console.log(
  `mutation check: ${selected.length} mutant(s), up to ${schedules} schedules each (seeds from ${ciBudget.firstSeed})${
    byTest === 0 ? "" : `; ${byTest} of them by a regression test`
  }`
)
for (const mutant of selected) {
  const verdict = await check(mutant)
  switch (verdict._tag) {
    case "caught":
      console.log(`caught     ${mutant.name.padEnd(38)} seed ${verdict.seed} [${verdict.property}] (${verdict.seconds.toFixed(1)} s)`)
      break
    case "caught-by-test": {
      const more = verdict.failed.length > 1 ? ` +${verdict.failed.length - 1} more of ${verdict.total}` : ""
      console.log(
        `caught     ${mutant.name.padEnd(38)} test ${verdict.test} [${shorten(verdict.failed[0]!, 90)}${more}] (${verdict.seconds.toFixed(1)} s)`
      )
      break
    }
    case "survived":
      bad++
      console.log(`SURVIVED   ${mutant.name.padEnd(38)} ${schedules} schedules, no violation (${verdict.seconds.toFixed(1)} s) — ${mutant.description}`)
      break
    case "survived-test":
      bad++
      console.log(
        `SURVIVED   ${mutant.name.padEnd(38)} ${verdict.test}: ${verdict.passed} test(s) passed (${verdict.seconds.toFixed(1)} s) — ${mutant.description}`
      )
      break
    case "not-applied":
      bad++
      console.log(`NOT APPLIED ${mutant.name.padEnd(37)} ${verdict.detail}`)
      break
    case "crashed":
      bad++
      console.log(`CRASHED    ${mutant.name.padEnd(38)}\n${verdict.detail}`)
      break
    case "broken-copy":
      bad++
      console.log(`BROKEN COPY ${mutant.name.padEnd(37)} ${verdict.test} does not pass on an unmutated copy: ${verdict.detail}`)
      break
  }
}
if (!keep) fs.rmSync(root, { recursive: true, force: true })
console.log(bad === 0 ? "every mutant was caught" : `${bad} mutant(s) not caught or not applied`)
process.exitCode = bad === 0 ? 0 : 1
