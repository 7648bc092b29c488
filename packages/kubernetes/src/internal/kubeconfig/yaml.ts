/**
 * Reading a kubeconfig file and parsing its YAML as kubectl does (go-yaml v2 behind
 * sigs.k8s.io/yaml): YAML 1.1 scalars (`yes`/`no`/`on`/`off`/`y`/`n` are booleans, `0777` is octal,
 * `0x1f` hex), merge keys (`<<`), duplicate keys (the last wins), only the first document of a
 * stream; unlike YAML 1.1, and like go-yaml, no sexagesimal numbers (`1:20` stays text) and no
 * timestamps (dates stay text). Aliases are limited: a document in which one anchor's uses times the
 * aliases nested in it exceed 10,000 (a "billion laughs" alias bomb) is refused within milliseconds,
 * as kubectl refuses "excessive aliasing".
 *
 * Guarantees: YAML errors carry only a line, a column and a fixed description, never the offending
 * text (it may hold secrets); the `yaml` package is loaded on first use only.
 * Does not: check the document's structure beyond its being a mapping.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import type * as YAML from "yaml"
import { envHint, errnoCode, fail, type KubeConfigError } from "./error.ts"
import { isObject, type Raw } from "./raw.ts"

/** What each `yaml` error code means, in words that quote nothing from the file. */
const yamlProblems: Readonly<Record<string, string>> = {
  ALIAS_PROPS: "an alias has an anchor or a tag",
  BAD_ALIAS: "a malformed alias",
  BAD_DIRECTIVE: "a malformed directive",
  BAD_DQ_ESCAPE: "an invalid escape sequence in a double-quoted string",
  BAD_INDENT: "wrong indentation",
  BAD_PROP_ORDER: "anchor and tag in the wrong order",
  BAD_SCALAR_START: "a plain value starts with a reserved character (quote it)",
  BLOCK_AS_IMPLICIT_KEY: "a nested mapping where a key was expected",
  BLOCK_IN_FLOW: "a block collection inside a flow collection",
  DUPLICATE_KEY: "a duplicate key",
  IMPOSSIBLE: "an internal parser error",
  KEY_OVER_1024_CHARS: "a key longer than 1024 characters",
  MISSING_CHAR: "a missing closing character (quote or bracket)",
  MULTILINE_IMPLICIT_KEY: "a key that spans lines",
  MULTIPLE_ANCHORS: "two anchors on one node",
  MULTIPLE_DOCS: "several documents",
  MULTIPLE_TAGS: "two tags on one node",
  NON_STRING_KEY: "a key that is not a string",
  RESOURCE_EXHAUSTION: "nesting too deep",
  TAB_AS_INDENT: "a tab used for indentation",
  TAG_RESOLVE_FAILED: "a value that does not fit its tag",
  UNEXPECTED_TOKEN: "an unexpected token"
}

/** Aliases one anchor may expand to before the document counts as an alias bomb. */
const maxAliasCount = 10_000

const yamlOptions = {
  version: "1.1",
  merge: true,
  uniqueKeys: false,
  prettyErrors: false,
  // go-yaml v2 reads neither sexagesimal numbers nor timestamps: keep them as text.
  customTags: (tags: Array<YAML.Tags[number]>) =>
    tags.filter((tag) =>
      !(typeof tag === "object" && (tag.format === "TIME" || tag.tag === "tag:yaml.org,2002:timestamp"))
    )
} as const

type YamlOutcome =
  | { readonly _tag: "Value"; readonly value: unknown }
  | { readonly _tag: "Error"; readonly problem: string; readonly line?: number; readonly column?: number }

/**
 * The `yaml` package, loaded on first use (Node caches it): a process configured in-cluster, with
 * no kubeconfig to read, never loads it. It is CommonJS: `default` is its `module.exports`, under
 * Node and in a bundle alike (a bundler's chunk for it may export nothing else).
 */
const loadYaml: Effect.Effect<Yaml> = Effect.promise(() => import("yaml").then((module): Yaml => module.default))

/** What is used of the `yaml` package. */
type Yaml = Pick<typeof YAML, "LineCounter" | "parseAllDocuments">

/** Parses the first document; never lets text of the file into the outcome. */
const parseYaml = (YAML: Yaml, text: string): YamlOutcome => {
  const lineCounter = new YAML.LineCounter()
  try {
    const first = YAML.parseAllDocuments(text, { ...yamlOptions, lineCounter })[0]
    if (first === undefined) return { _tag: "Value", value: null }
    const error = first.errors[0]
    if (error !== undefined) {
      const { line, col } = lineCounter.linePos(error.pos[0])
      return { _tag: "Error", problem: yamlProblems[error.code] ?? "a syntax error", line, column: col }
    }
    return { _tag: "Value", value: first.toJS({ maxAliasCount }) }
  } catch (error) {
    // Alias errors are thrown while converting; their messages name the anchor, so keep none.
    const message = error instanceof Error ? error.message : ""
    return {
      _tag: "Error",
      problem: message.startsWith("Excessive alias count")
        ? "excessive aliasing (refused as a possible alias bomb)"
        : message.startsWith("Unresolved alias")
        ? "an alias with no anchor defined before it"
        : error instanceof RangeError
        ? "nesting too deep"
        : "a document that cannot be read"
    }
  }
}

/** Reads a kubeconfig file's text. */
export const readFile = (file: string): Effect.Effect<string, KubeConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) => cause
  }).pipe(
    Effect.catch((cause) => {
      const code = errnoCode(cause)
      if (code === "ENOENT" || code === "ENOTDIR") {
        return fail("NotFound", file, "the file does not exist", undefined, envHint)
      }
      return fail(
        "Unreadable",
        file,
        `the file cannot be read (${code ?? String(cause)}); check that it is a regular file readable by this process (uid ${
          process.getuid?.() ?? "?"
        })`,
        cause
      )
    })
  )

/** Parses kubeconfig YAML; errors name the line and column only (the text may hold secrets). */
export const parse = (text: string, source: string): Effect.Effect<Raw, KubeConfigError> =>
  Effect.gen(function*() {
    const outcome = parseYaml(yield* loadYaml, text)
    if (outcome._tag === "Error") {
      const where = outcome.line === undefined ? "" : ` at line ${outcome.line}, column ${outcome.column}`
      return yield* fail(
        "Invalid",
        source,
        `not valid YAML${where}: ${outcome.problem}; fix the file or point KUBECONFIG at another one`
      )
    }
    const value = outcome.value
    if (!isObject(value)) {
      return yield* fail(
        "Invalid",
        source,
        `not a kubeconfig (expected a YAML mapping with clusters, contexts and users, found ${
          value === null || value === undefined ? "nothing" : Array.isArray(value) ? "a list" : typeof value
        }); generate one with \`kubectl config view --raw --minify\``
      )
    }
    return value
  })
