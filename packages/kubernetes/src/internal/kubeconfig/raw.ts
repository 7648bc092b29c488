/**
 * The raw kubeconfig document, before validation: its named entries (`clusters`, `contexts`,
 * `users`), merging several files as client-go does, and making a file's relative paths absolute.
 *
 * Guarantees: merging keeps the first definition of a name (client-go's rule) and the first non-empty
 * `current-context`; `absolutize` resolves exactly the fields client-go's `ResolveLocalPaths` does.
 * Does not: check types or values (`fields.ts` and the resolvers do), or read any file (`fileExists`
 * only asks whether one is there).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs/promises"
import * as path from "node:path"

/** A YAML mapping as parsed, nothing checked yet. */
export type Raw = Record<string, unknown>

/** Whether a parsed value is a mapping (not null, not a list). */
export const isObject = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

export const namedEntries = (raw: Raw, field: string): Array<Raw> => {
  const list = raw[field]
  return Array.isArray(list) ? list.filter(isObject) : []
}

export const nameOf = (entry: Raw): string | undefined => typeof entry["name"] === "string" ? entry["name"] : undefined

/** Merges kubeconfig files as client-go does: the first file to define a name wins. */
export const merge = (configs: ReadonlyArray<Raw>): Raw => {
  const merged: Raw = { apiVersion: "v1", kind: "Config", clusters: [], contexts: [], users: [] }
  for (const field of ["clusters", "contexts", "users"] as const) {
    const seen = new Set<string>()
    const out: Array<Raw> = []
    for (const config of configs) {
      for (const entry of namedEntries(config, field)) {
        const name = nameOf(entry)
        if (name === undefined || seen.has(name)) continue
        seen.add(name)
        out.push(entry)
      }
    }
    merged[field] = out
  }
  const current = configs.map((c) => c["current-context"]).find((c) => typeof c === "string" && c !== "")
  if (current !== undefined) merged["current-context"] = current
  return merged
}

export const resolveIn = (baseDir: string | undefined, file: string): string =>
  baseDir === undefined ? path.resolve(file) : path.resolve(baseDir, file)

/**
 * Makes a file's relative paths absolute against its directory, as client-go's `ResolveLocalPaths`:
 * CA, client certificate and key, token file, and an exec command that contains a path separator.
 */
export const absolutize = (raw: Raw, baseDir: string): Raw => {
  const fix = (entries: Array<Raw>, inner: string, fields: ReadonlyArray<string>) =>
    entries.map((entry) => {
      const body = entry[inner]
      if (!isObject(body)) return entry
      const next: Raw = { ...body }
      for (const field of fields) {
        const value = next[field]
        if (typeof value === "string" && value !== "") next[field] = resolveIn(baseDir, value)
      }
      const exec = next["exec"]
      if (isObject(exec) && typeof exec["command"] === "string" && exec["command"].includes(path.sep)) {
        next["exec"] = { ...exec, command: resolveIn(baseDir, exec["command"]) }
      }
      return { ...entry, [inner]: next }
    })
  return {
    ...raw,
    clusters: fix(namedEntries(raw, "clusters"), "cluster", ["certificate-authority"]),
    users: fix(namedEntries(raw, "users"), "user", ["client-certificate", "client-key", "tokenFile", "token-file"])
  }
}

/** Whether a file exists (any error reading it counts as absent). */
export const fileExists = (file: string) => Effect.promise(() => fs.access(file).then(() => true, () => false))
