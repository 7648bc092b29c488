/**
 * Kubernetes `MicroTime`: the wire format of `spec.acquireTime` and `spec.renewTime` on a Lease.
 *
 * The API server parses MicroTime with Go's layout `2006-01-02T15:04:05.000000Z07:00`, so a write
 * must carry **exactly six** fractional digits: `Date#toISOString()`'s three digits are rejected
 * with HTTP 400 by a real server. Reading is lenient: RFC 3339 with or without a fraction (any
 * number of digits, as `metav1.Time` writes whole seconds), `Z` or a numeric offset.
 *
 * These are the text functions; `wire.ts`'s `MicroTime` Schema is built on them and is what the
 * Lease schema uses.
 *
 * Guarantees: `format` then `parse` returns the same epoch milliseconds, to the microsecond;
 * `parse` never throws — anything it cannot read is `undefined` (the Schema then fails decoding,
 * naming the field). Does not: represent times outside years 0000–9999 (formatting them yields
 * `undefined`).
 *
 * @internal
 */

const pad = (n: number, width: number): string => String(n).padStart(width, "0")

/**
 * Formats epoch milliseconds (fractions of a millisecond are kept to the microsecond) as
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ`. `undefined` for a non-finite or out-of-range instant.
 *
 * @internal
 */
export const format = (epochMillis: number): string | undefined => {
  if (!Number.isFinite(epochMillis)) return undefined
  const totalMicros = Math.round(epochMillis * 1000)
  const wholeMillis = Math.floor(totalMicros / 1000)
  const date = new Date(wholeMillis)
  const year = date.getUTCFullYear()
  if (Number.isNaN(year) || year < 0 || year > 9999) return undefined
  const micros = ((totalMicros % 1_000_000) + 1_000_000) % 1_000_000
  return `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}T${
    pad(date.getUTCHours(), 2)
  }:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}.${pad(micros, 6)}Z`
}

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

/**
 * Parses an RFC 3339 time (as a `MicroTime` or `Time` string, or a `Date` the client library may
 * have made of it) to epoch milliseconds, keeping microseconds as a fraction. `undefined` when it
 * is absent or cannot be read.
 *
 * @internal
 */
export const parse = (value: unknown): number | undefined => {
  if (value instanceof Date) {
    const millis = value.getTime()
    return Number.isFinite(millis) ? millis : undefined
  }
  if (typeof value !== "string") return undefined
  const match = rfc3339.exec(value.trim())
  if (match === null) return undefined
  const [, y, mo, d, h, mi, s, fraction, zulu, sign, offH, offM] = match
  const year = Number(y)
  const month = Number(mo)
  const day = Number(d)
  const hour = Number(h)
  const minute = Number(mi)
  const second = Number(s)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined
  const base = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59))
  // Date.UTC maps years 0–99 to 1900–1999; MicroTime years are literal.
  const date = new Date(base)
  if (year < 100) date.setUTCFullYear(year)
  if (date.getUTCDate() !== day) return undefined // e.g. February 30th
  const micros = fraction === undefined ? 0 : Math.floor(Number(fraction.padEnd(9, "0")) / 1000)
  let millis = date.getTime() + micros / 1000
  if (zulu === undefined) {
    const offset = (Number(offH) * 60 + Number(offM)) * 60_000
    if (Number(offH) > 23 || Number(offM) > 59) return undefined
    millis = sign === "+" ? millis - offset : millis + offset
  }
  return Number.isFinite(millis) ? millis : undefined
}
