/**
 * The simulator's only source of randomness: a small seeded pseudo-random generator.
 *
 * Every choice a schedule makes — its contenders, their options, the faults, the pauses, the
 * operations — comes from a `Prng` derived from the schedule's seed, so one seed replays one
 * schedule exactly. `fork(label)` derives an independent stream from the same seed (one per
 * contender and concern), so adding a draw in one place does not shift the draws of another.
 * `asRandomService` hands a stream to Effect's `Random` service (core draws its back-off jitter
 * from it).
 *
 * Guarantees: the same seed and the same sequence of calls give the same numbers, on every
 * platform (32-bit integer arithmetic only). Does not guarantee: statistical quality beyond what
 * a test needs (sfc32, not a cryptographic generator).
 */
import type { Random } from "effect"

export interface Prng {
  /** A number in [0, 1). */
  readonly next: () => number
  /** An integer in [lo, hi], both inclusive. */
  readonly int: (lo: number, hi: number) => number
  /** A number in [lo, hi). */
  readonly between: (lo: number, hi: number) => number
  /** True with probability `p`. */
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
  /** Picks by weight: `[[weight, value], …]`. */
  readonly weighted: <A>(choices: ReadonlyArray<readonly [number, A]>) => A
  /** An independent stream for `label`, derived from this stream's seed (not from its position). */
  readonly fork: (label: string) => Prng
}

/** 32-bit string hash (FNV-1a), to turn labels into seed material. */
const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

const sfc32 = (a: number, b: number, c: number, d: number) => () => {
  a |= 0
  b |= 0
  c |= 0
  d |= 0
  const t = (((a + b) | 0) + d) | 0
  d = (d + 1) | 0
  a = b ^ (b >>> 9)
  b = (c + (c << 3)) | 0
  c = (c << 21) | (c >>> 11)
  c = (c + t) | 0
  return (t >>> 0) / 4294967296
}

/** A generator for `seed`; `path` names the derived stream (empty for the root). */
export const make = (seed: number, path = ""): Prng => {
  const raw = sfc32(hash(`a${seed}/${path}`), hash(`b${seed}/${path}`), hash(`c${seed}/${path}`), seed >>> 0)
  for (let i = 0; i < 12; i++) raw()
  const next = raw
  const self: Prng = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    between: (lo, hi) => lo + next() * (hi - lo),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted: (choices) => {
      const total = choices.reduce((sum, [w]) => sum + w, 0)
      let x = next() * total
      for (const [w, value] of choices) {
        if (x < w) return value
        x -= w
      }
      return choices[choices.length - 1]![1]
    },
    fork: (label) => make(seed, path === "" ? label : `${path}/${label}`)
  }
  return self
}

/** Effect's `Random` service drawing from `prng`. */
export const asRandomService = (prng: Prng): Random.Random => ({
  nextDoubleUnsafe: () => prng.next(),
  nextIntUnsafe: () => Math.floor(prng.next() * Number.MAX_SAFE_INTEGER)
})
