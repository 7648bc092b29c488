/**
 * Reading JSON whose shape is not trusted (API answers, audit-log lines): parse without throwing,
 * look fields up without casts. Nothing here validates a whole document; callers read the fields
 * they need and treat anything else as absent.
 *
 * @internal
 */

/** The text parsed as JSON, `undefined` when it is not JSON. @internal */
export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The value as a record of fields (`{}` when it is not an object). @internal */
export const asRecord = (u: unknown): Record<string, unknown> =>
  typeof u === "object" && u !== null ? u as Record<string, unknown> : {}

/** The value when it is a string. @internal */
export const asString = (u: unknown): string | undefined => typeof u === "string" ? u : undefined
