/**
 * The copies of the workspace the mutation check (`mutate.ts`) mutates, and the regression-test
 * runs on them.
 *
 * A copy mirrors the workspace's packages at `<dir>/packages/<package>/` — every file of each
 * package but its `node_modules` (and its package.json, so a package's self-references such as
 * `@leasekit/core/testing` resolve inside the copy) — with the root `tsconfig.json` and
 * `vitest.config.ts` beside them. Each copied package gets a `node_modules` of its own whose
 * entries point where the original's point, except a workspace package (`@leasekit/core` inside
 * packages/kubernetes, …), which points to that package's copy. So whatever runs in a copy
 * imports only the copy: a mutant in core is what kubernetes' tests see, a mutant in kubernetes is
 * what its own tests see, and `effect` and every other dependency are the very instances the
 * original resolves (one `effect` for all packages, as in the workspace).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/** The repository root (this file is packages/core/test/simulation/MutantCopy.ts). */
export const repo = path.resolve(import.meta.dirname, "../../../..")

const packagesDir = path.join(repo, "packages")

/** The workspace packages under `packages/` (those with a package.json). */
const workspacePackages = (): ReadonlyArray<string> =>
  fs.readdirSync(packagesDir).filter((name) => fs.existsSync(path.join(packagesDir, name, "package.json")))

/** `packages/<name>/…` → `<name>`; `undefined` for a path outside `packages/<name>/<under>/`. */
export const packageOf = (file: string, under: "src" | "test"): string | undefined =>
  new RegExp(`^packages/([^/]+)/${under}/.`).exec(file)?.[1]

/** Gives the copied package `name` a `node_modules` resolving like the original's, workspace packages to their copies. */
const linkDependencies = (dir: string, name: string) => {
  const from = path.join(packagesDir, name, "node_modules")
  if (!fs.existsSync(from)) return
  const to = path.join(dir, "packages", name, "node_modules")
  const link = (entry: string) => {
    let real: string
    try {
      real = fs.realpathSync(path.join(from, entry))
    } catch {
      return // a dangling link in the original: it resolves nowhere there either
    }
    const inWorkspace = path.dirname(real) === packagesDir && fs.existsSync(path.join(dir, "packages", path.basename(real)))
    const target = inWorkspace ? path.join(dir, "packages", path.basename(real)) : real
    fs.mkdirSync(path.dirname(path.join(to, entry)), { recursive: true })
    fs.symlinkSync(target, path.join(to, entry), "dir")
  }
  for (const entry of fs.readdirSync(from)) {
    if (entry.startsWith(".")) continue // .bin, caches
    if (entry.startsWith("@")) {
      for (const scoped of fs.readdirSync(path.join(from, entry))) link(`${entry}/${scoped}`)
    } else {
      link(entry)
    }
  }
}

/** Makes a fresh, unmutated copy of the workspace's packages at `dir` (removing what was there). */
export const make = (dir: string): void => {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(path.join(dir, "packages"), { recursive: true })
  const names = workspacePackages()
  for (const name of names) {
    fs.cpSync(path.join(packagesDir, name), path.join(dir, "packages", name), {
      recursive: true,
      filter: (source) => {
        const base = path.basename(source)
        return base !== "node_modules" && base !== ".mutants"
      }
    })
  }
  for (const name of names) linkDependencies(dir, name)
  for (const file of ["tsconfig.json", "vitest.config.ts"]) {
    if (fs.existsSync(path.join(repo, file))) fs.copyFileSync(path.join(repo, file), path.join(dir, file))
  }
}

/**
 * Replaces `search`, which must occur exactly once, by `replace` in `file` (relative to the
 * repository root) inside the copy at `dir`; the reason it could not, or `undefined`.
 */
export const mutate = (dir: string, file: string, search: string, replace: string): string | undefined => {
  const target = path.join(dir, file)
  if (!fs.existsSync(target)) return `${file} does not exist`
  const text = fs.readFileSync(target, "utf8")
  const found = text.split(search).length - 1
  if (found !== 1) return `the search text occurs ${found} times in ${file} (must be once)`
  fs.writeFileSync(target, text.replace(search, () => replace))
  return undefined
}

/** How a regression-test run on a copy ended. */
export type TestRun =
  | { readonly _tag: "passed"; readonly passed: number; readonly seconds: number }
  | {
    readonly _tag: "failed"
    readonly failed: ReadonlyArray<string>
    readonly total: number
    readonly seconds: number
  }
  /** No test failed, yet the run did not pass: the file did not load, an error escaped, or no test ran. */
  | { readonly _tag: "crashed"; readonly detail: string; readonly seconds: number }

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const withoutColours = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "")

interface JsonResults {
  readonly success?: boolean
  readonly numPassedTests?: number
  readonly numFailedTests?: number
  readonly numTotalTests?: number
  readonly testResults?: ReadonlyArray<{
    readonly name?: string
    readonly status?: string
    readonly message?: string
    readonly assertionResults?: ReadonlyArray<{ readonly fullName?: string; readonly status?: string }>
  }>
}

/**
 * Runs the test file `test` (relative to the repository root, under `packages/<name>/test/`) with
 * vitest inside the copy at `dir`, with the copied root `vitest.config.ts`; with `testName`, only
 * the tests whose full name contains it (a literal text, passed as an escaped `-t` pattern).
 */
export const runTest = (dir: string, test: string, testName?: string): Promise<TestRun> =>
  new Promise((resolve) => {
    const results = path.join(dir, ".vitest-results.json")
    fs.rmSync(results, { force: true })
    const started = performance.now()
    const child = spawn(process.execPath, [
      path.join(repo, "node_modules/vitest/vitest.mjs"),
      "run",
      "--root",
      dir,
      "--config",
      path.join(dir, "vitest.config.ts"),
      "--reporter",
      "default",
      "--reporter",
      "json",
      "--outputFile.json",
      results,
      ...(testName === undefined ? [] : ["-t", escapeRegExp(testName)]),
      test
    ], { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" } })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000
      const tail = () => output.trimEnd().split("\n").slice(-20).join("\n")
      let json: JsonResults
      try {
        json = JSON.parse(fs.readFileSync(results, "utf8")) as JsonResults
      } catch {
        return resolve({ _tag: "crashed", detail: withoutColours(`vitest exited ${code} without results\n${tail()}`), seconds })
      }
      const files = json.testResults ?? []
      const failed = files.flatMap((file) =>
        (file.assertionResults ?? []).filter((a) => a.status === "failed").map((a) => a.fullName ?? "(unnamed)")
      )
      if (failed.length > 0) return resolve({ _tag: "failed", failed, total: json.numTotalTests ?? failed.length, seconds })
      const passed = json.numPassedTests ?? 0
      if (code === 0 && json.success === true && passed > 0) return resolve({ _tag: "passed", passed, seconds })
      const why = files.length === 0
        ? "no test file matched"
        : passed === 0 && code === 0
        ? "no test ran (does the test name match?)"
        : files.map((file) => file.message).filter((m) => m !== undefined && m !== "").join("\n") ||
          `vitest exited ${code}`
      return resolve({ _tag: "crashed", detail: withoutColours(`${why}\n${tail()}`), seconds })
    })
  })
