/**
 * Schema pieces shared by the exec plugin's two wire formats (the kubeconfig's `exec` mapping and
 * the `ExecCredential` a plugin prints): optional fields that may be `null`, and messages from
 * Schema issues that name the path and the kind of problem, never the value.
 *
 * Guarantees: `describeIssue` walks the issue tree itself, so that no input can slip into a message
 * (an `env` value, a token).
 * Does not: decode anything by itself.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import type * as SchemaIssue from "effect/SchemaIssue"

/** An optional field that may also be `null` (kubeconfigs and plugins write both). */
export const optionalNullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

/** Each problem as `<path> <what>`, walking the issue tree itself so that no input can slip in. */
const issueLines = (issue: SchemaIssue.Issue, at: ReadonlyArray<string>): Array<string> => {
  switch (issue._tag) {
    case "Pointer":
      return issueLines(issue.issue, [...at, ...issue.path.map(String)])
    case "Composite":
      return issue.issues.flatMap((inner) => issueLines(inner, at))
    case "AnyOf":
      return issue.issues.length > 0
        ? issue.issues.flatMap((inner) => issueLines(inner, at))
        : [`${at.join(".")} has the wrong type`]
    case "Encoding":
      return issueLines(issue.issue, at)
    case "Filter":
      return [`${at.join(".")} is invalid`]
    case "MissingKey":
      return [`${at.join(".")} is missing`]
    default:
      return [`${at.join(".")} has the wrong type`]
  }
}

/** The problems of `issue` as one sentence, paths rooted at `root`; never a value. */
export const describeIssue = (issue: SchemaIssue.Issue, root: string): string =>
  [...new Set(issueLines(issue, [root]))].join("; ")
