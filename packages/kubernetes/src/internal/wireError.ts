/**
 * What a malformed Kubernetes object says about itself: `WireError`, made from a Schema issue tree
 * (`wireError`) — the path of the first problem (`spec.renewTime`, `items[3].metadata`) and what was
 * wrong with it.
 *
 * Guarantees: never the whole object (it may be large): an offending value is quoted to at most 60
 * characters, escaped, one line; objects and arrays are named, not shown.
 * Does not: decode (`wire.ts` does).
 *
 * @internal
 */
import * as Data from "effect/Data"
import type * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"

/**
 * What a schema accepts, for a message: its `expected` annotation, or Effect's own description
 * (`Expected string` → `string`).
 */
export const expectedOf = (ast: SchemaAST.AST): string => {
  const own = SchemaAST.resolve(ast)?.["expected"]
  return typeof own === "string"
    ? own
    : SchemaIssue.defaultLeafHook(new SchemaIssue.InvalidType(ast)).replace(/^Expected /, "")
}

/**
 * A wire object that is not what the API promises. `path` names the field (`spec.renewTime`,
 * `items[3].metadata`, `object.spec`; `""` for the value itself), `detail` what was wrong with it.
 *
 * @internal
 */
export class WireError extends Data.TaggedError("WireError")<{
  readonly what: "Lease" | "LeaseList" | "WatchEvent"
  readonly path: string
  readonly detail: string
}> {
  override get message(): string {
    return `a malformed ${this.what}: ${this.path === "" ? "" : `${this.path}: `}${this.detail}`
  }
}

const maxQuoted = 60

const cut = (text: string): string => text.length > maxQuoted ? `${text.slice(0, maxQuoted)}…` : text

/** A short, one-line, escaped rendering of an offending value. */
export const preview = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(cut(value))
  if (value === null) return "null"
  if (Array.isArray(value)) return `an array of ${value.length}`
  if (typeof value === "object") return "an object"
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return cut(String(value))
  return typeof value
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const formatPath = (path: ReadonlyArray<PropertyKey>): string => {
  let out = ""
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`
    else if (typeof key === "string" && identifier.test(key) && key.length <= maxQuoted) out += out === "" ? key : `.${key}`
    else out += `[${JSON.stringify(cut(String(key)))}]`
  }
  return out
}

const got = (issue: SchemaIssue.Issue): string =>
  SchemaIssue.hasInput(issue) ? `, got ${preview(issue.input)}` : ""

/** The first problem of an issue tree: where it is and what it is. */
const firstProblem = (
  issue: SchemaIssue.Issue,
  path: ReadonlyArray<PropertyKey>
): { readonly path: ReadonlyArray<PropertyKey>; readonly detail: string } => {
  switch (issue._tag) {
    case "Pointer":
      return firstProblem(issue.issue, [...path, ...issue.path])
    case "Composite":
      return firstProblem(issue.issues[0], path)
    case "Encoding":
      return firstProblem(issue.issue, path)
    case "AnyOf":
      return issue.issues.length === 1 && issue.issues[0] !== undefined
        ? firstProblem(issue.issues[0], path)
        : { path, detail: `expected ${expectedOf(issue.ast)}${got(issue)}` }
    case "Filter": {
      const expected = issue.filter.annotations?.expected
      return typeof expected === "string"
        ? { path, detail: `expected ${expected}${got(issue)}` }
        : firstProblem(issue.issue, path)
    }
    case "InvalidType":
      return { path, detail: `expected ${expectedOf(issue.ast)}${got(issue)}` }
    case "InvalidValue": {
      const expected = issue.annotations?.expected
      return { path, detail: `${typeof expected === "string" ? `expected ${expected}` : "invalid value"}${got(issue)}` }
    }
    case "MissingKey":
      return { path, detail: "missing" }
    case "UnexpectedKey":
      return { path, detail: `not allowed${got(issue)}` }
    case "Forbidden":
      return { path, detail: `cannot be read${got(issue)}` }
    case "OneOf":
      return { path, detail: `matches more than one form${got(issue)}` }
  }
}

/** The `WireError` of a failed decode or encode of a `what`: its first problem, where it is and what it is. */
export const wireError = (what: WireError["what"], error: Schema.SchemaError): WireError => {
  const { detail, path } = firstProblem(error.issue, [])
  return new WireError({ what, path: formatPath(path), detail })
}
