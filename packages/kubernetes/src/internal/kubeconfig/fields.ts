/**
 * Typed access to the fields of one kubeconfig mapping (`fieldsOf`): a field of the wrong type fails
 * with its path and what to write instead, as kubectl refuses it; `null` and absent are the same.
 *
 * Guarantees: an error names the field's path and the type found, never the value (it may be a
 * secret); base64 is Go's (standard alphabet, padded, line breaks skipped).
 * Does not: decide whether a field is required or how fields combine (the resolvers do).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { type KubeConfigError, fail } from "./error.ts"
import { isObject, type Raw } from "./raw.ts"

/** Go's base64 for `[]byte` fields: standard alphabet, padded; line breaks are skipped. */
const decodeBase64 = (text: string): Buffer | undefined => {
  const compact = text.replace(/[\r\n]/g, "")
  return compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact) ? Buffer.from(compact, "base64") : undefined
}

export const describeType = (value: unknown): string =>
  Array.isArray(value) ? "a list" : isObject(value) ? "a mapping" : typeof value === "boolean" ? "a boolean" : `a ${typeof value}`

/** Typed access to the fields of one mapping; a field of the wrong type fails with its path. */
export const fieldsOf = (source: string, body: Raw, where: string) => {
  const wrongType = (key: string, expected: string, value: unknown, advice: string) =>
    fail("Invalid", source, `${where}.${key} must be ${expected}, found ${describeType(value)}; ${advice}`)
  const quoteAdvice = "quote the value (YAML reads unquoted yes/no/on/off as booleans and digits as numbers)"
  const string = (key: string): Effect.Effect<string | undefined, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null || value === "") return Effect.succeed(undefined)
    return typeof value === "string" ? Effect.succeed(value) : wrongType(key, "a string", value, quoteAdvice)
  }
  const boolean = (key: string): Effect.Effect<boolean, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null) return Effect.succeed(false)
    return typeof value === "boolean" ? Effect.succeed(value) : wrongType(key, "true or false", value, "write true or false")
  }
  const mapping = (key: string): Effect.Effect<Raw | undefined, KubeConfigError> => {
    const value = body[key]
    if (value === undefined || value === null) return Effect.succeed(undefined)
    return isObject(value) ? Effect.succeed(value) : wrongType(key, "a mapping", value, "see `kubectl config view`")
  }
  const stringList = (value: unknown, key: string): Effect.Effect<ReadonlyArray<string>, KubeConfigError> => {
    if (value === undefined || value === null) return Effect.succeed([])
    if (Array.isArray(value) && value.every((item) => typeof item === "string")) return Effect.succeed(value)
    return wrongType(key, "a list of strings", value, quoteAdvice)
  }
  const strings = (key: string) => stringList(body[key], key)
  const stringLists = (key: string): Effect.Effect<Readonly<Record<string, ReadonlyArray<string>>>, KubeConfigError> =>
    Effect.gen(function*() {
      const map = yield* mapping(key)
      const out: Record<string, ReadonlyArray<string>> = {}
      for (const [name, value] of Object.entries(map ?? {})) out[name] = yield* stringList(value, `${key}.${name}`)
      return out
    })
  const base64 = (key: string): Effect.Effect<Buffer | undefined, KubeConfigError> =>
    Effect.flatMap(string(key), (text) => {
      if (text === undefined) return Effect.succeed(undefined)
      const data = decodeBase64(text)
      return data === undefined
        ? fail("Invalid", source, `${where}.${key} is not valid base64; copy it again (\`kubectl config view --raw\`)`)
        : Effect.succeed(data)
    })
  return { string, boolean, mapping, strings, stringLists, base64 }
}
