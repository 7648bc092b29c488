/**
 * Type-checks the documented examples: every ```ts block in a doc comment of
 * `packages/*\/src/**\/*.ts` and in the READMEs (`README.md`, `packages/*\/README.md`).
 *
 *   pnpm docs:examples            check them all
 *   pnpm docs:examples --keep     keep the generated folder (its path is printed)
 *
 * Each block becomes a module of its own (`export {}` is appended, so top-level names never clash
 * and top-level `await` works) in a fresh folder `docs/.examples-*` (ignored by git, removed
 * afterwards). The folder lies inside this package so that imports resolve as a user's would:
 * `@leasekit/*` through this package's workspace links and the packages' `exports` (their
 * sources; `./internal/*` stays out of reach), `effect` and `@effect/vitest` from its
 * dependencies. The folder's tsconfig extends the root's — strict, `exactOptionalPropertyTypes`,
 * NodeNext — except `noUnusedLocals` / `noUnusedParameters`: an example may name what it does
 * not use (`(signal, token) => …` shows what a callback gets). The compiler is the workspace's
 * (the root's TypeScript 7, not this package's TypeScript 6, which is TypeDoc's); its messages
 * are reported at the example's line in the file it came from.
 *
 * There is no way to skip a block: an example that uses something it does not define declares it
 * (`declare function writeReport(…): …`), so every example compiles as written. A ```ts fence left
 * open fails the check, and so does finding no example at all.
 *
 * Plain `node:` modules, not Effect's platform: a build-time script that reads some sixty files and
 * runs one process, as the workspace's other scripts (the simulator's `mutate.ts`) do.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

const docsDir = path.resolve(import.meta.dirname, "..")
const root = path.resolve(docsDir, "..")

/** One fenced block: its code, and where each of its lines came from. */
interface Example {
  /** The file it was taken from, relative to the workspace root. */
  readonly source: string
  /** The block's code lines, as a module's lines. */
  readonly lines: ReadonlyArray<string>
  /** For each code line, its 1-based line in `source`. */
  readonly sourceLines: ReadonlyArray<number>
  /** For each code line, how many characters of `source`'s line precede it (the ` * ` of a doc comment). */
  readonly sourceColumns: ReadonlyArray<number>
}

/** A text line with its place in the file, before fences are looked for. */
interface Line {
  readonly text: string
  readonly line: number
  readonly column: number
}

/** A ```ts fence left open: the check cannot know where the example ends. */
class UnclosedFence extends Error {}

const fenceOpen = /^\s*```\s*(\S*)/
const fenceClose = /^\s*```\s*$/

/** The ```ts / ```typescript blocks among `lines` (other languages' blocks are passed over). */
const examplesIn = (source: string, lines: ReadonlyArray<Line>): Array<Example> => {
  const examples: Array<Example> = []
  let i = 0
  while (i < lines.length) {
    const open = fenceOpen.exec(lines[i]!.text)
    if (open === null) {
      i++
      continue
    }
    const language = open[1]!
    const start = i
    i++
    const body: Array<Line> = []
    while (i < lines.length && !fenceClose.test(lines[i]!.text)) body.push(lines[i++]!)
    if (i === lines.length) {
      throw new UnclosedFence(`${source}:${lines[start]!.line}: a \`\`\`${language} fence is never closed`)
    }
    i++
    if (language === "ts" || language === "typescript") {
      examples.push({
        source,
        lines: body.map((l) => l.text),
        sourceLines: body.map((l) => l.line),
        sourceColumns: body.map((l) => l.column)
      })
    }
  }
  return examples
}

/** The doc comments (`/** … *\/`) of a TypeScript file, as lines without their ` * ` margin. */
const docCommentLines = (text: string): Array<Array<Line>> =>
  Array.from(text.matchAll(/\/\*\*[\s\S]*?\*\//g), (match) => {
    const firstLine = text.slice(0, match.index).split("\n").length
    const firstColumn = match.index - (text.lastIndexOf("\n", match.index) + 1) + 3
    return match[0].slice(3, -2).split("\n").map((raw, k) => {
      // The opening line keeps what follows `/**`; the others lose their `*` margin and one space.
      const margin = k === 0 ? 0 : /^\s*\*? ?/.exec(raw)![0].length
      return { text: raw.slice(margin), line: firstLine + k, column: k === 0 ? firstColumn : margin }
    })
  })

const relative = (file: string) => path.relative(root, file).split(path.sep).join("/")

const typeScriptSources = (): Array<string> =>
  fs.readdirSync(path.join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(root, "packages", entry.name, "src")))
    .flatMap((entry) => {
      const src = path.join(root, "packages", entry.name, "src")
      return fs.readdirSync(src, { recursive: true, encoding: "utf8" })
        .filter((file) => file.endsWith(".ts") && !file.split(path.sep).includes("node_modules"))
        .map((file) => path.join(src, file))
    })
    .sort()

const readmes = (): Array<string> =>
  [
    path.join(root, "README.md"),
    ...fs.readdirSync(path.join(root, "packages"))
      .map((name) => path.join(root, "packages", name, "README.md"))
      .filter((file) => fs.existsSync(file))
      .sort()
  ]

const collect = (): Array<Example> => [
  ...typeScriptSources().flatMap((file) =>
    docCommentLines(fs.readFileSync(file, "utf8")).flatMap((comment) => examplesIn(relative(file), comment))
  ),
  ...readmes().flatMap((file) =>
    examplesIn(
      relative(file),
      fs.readFileSync(file, "utf8").split("\n").map((text, k) => ({ text, line: k + 1, column: 0 }))
    )
  )
]

/** The workspace's compiler: the root's `typescript` (this package's own is TypeScript 6, for TypeDoc). */
const workspaceTsc = (): { readonly bin: string; readonly version: string } => {
  const manifestPath = createRequire(path.join(root, "package.json")).resolve("typescript/package.json")
  const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8")) as { version: string; bin: { tsc: string } }
  return { bin: path.join(path.dirname(manifestPath), manifest.bin.tsc), version: manifest.version }
}

const moduleName = (example: Example, index: number): string =>
  `${String(index + 1).padStart(2, "0")}_${example.source.replace(/[^A-Za-z0-9]+/g, "_")}_L${example.sourceLines[0] ?? 0}.ts`

/** Rewrites `name.ts(line,col): …` of the generated modules to `source:line:col: …`. */
const locate = (output: string, byModule: ReadonlyMap<string, Example>): string =>
  output.replace(/^([^\s(]+\.ts)\((\d+),(\d+)\)/gm, (whole, file: string, line: string, column: string) => {
    const example = byModule.get(path.basename(file))
    const k = Number(line) - 1
    if (example === undefined || k >= example.lines.length) return whole
    return `${example.source}:${example.sourceLines[k]}:${Number(column) + example.sourceColumns[k]!}`
  })

const main = (): number => {
  const keep = process.argv.includes("--keep")
  let examples: Array<Example>
  try {
    examples = collect()
  } catch (error) {
    if (error instanceof UnclosedFence) {
      console.error(error.message)
      return 1
    }
    throw error
  }
  if (examples.length === 0) {
    console.error("check-examples: found no ```ts example at all; the extraction is broken")
    return 1
  }

  const dir = fs.mkdtempSync(path.join(docsDir, ".examples-"))
  try {
    const byModule = new Map<string, Example>()
    examples.forEach((example, index) => {
      const name = moduleName(example, index)
      byModule.set(name, example)
      fs.writeFileSync(path.join(dir, name), `${example.lines.join("\n")}\nexport {}\n`)
    })
    // ESM, as the packages are: top-level await, and `import` of ESM-only dependencies.
    fs.writeFileSync(path.join(dir, "package.json"), `${JSON.stringify({ private: true, type: "module" }, null, 2)}\n`)
    fs.writeFileSync(
      path.join(dir, "tsconfig.json"),
      `${
        JSON.stringify(
          {
            extends: path.relative(dir, path.join(root, "tsconfig.json")).split(path.sep).join("/"),
            compilerOptions: { noEmit: true, noUnusedLocals: false, noUnusedParameters: false },
            include: ["*.ts"]
          },
          null,
          2
        )
      }\n`
    )

    const tsc = workspaceTsc()
    const run = spawnSync(process.execPath, [tsc.bin, "-p", "tsconfig.json", "--pretty", "false"], {
      cwd: dir,
      encoding: "utf8"
    })
    if (run.error !== undefined) throw run.error
    const output = locate(`${run.stdout}${run.stderr}`, byModule).trimEnd()
    const files = new Set(examples.map((example) => example.source)).size
    if (run.status !== 0) {
      if (output !== "") console.error(output)
      console.error(
        `check-examples: TypeScript ${tsc.version} rejected the examples (exit ${run.status ?? run.signal}); ${examples.length} examples from ${files} files`
      )
      return 1
    }
    if (output !== "") console.log(output)
    console.log(`check-examples: ${examples.length} examples from ${files} files type-check (TypeScript ${tsc.version})`)
    return 0
  } finally {
    if (keep) console.log(`check-examples: kept ${relative(dir)}`)
    else fs.rmSync(dir, { recursive: true, force: true })
  }
}

process.exitCode = main()
