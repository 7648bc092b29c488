/**
 * Holder identities: who a lease record says holds it.
 *
 * Exclusion rests on identities being unique: a contender treats a record naming its own identity
 * as its own, so two live contenders sharing an identity would both believe they hold the lease.
 * The default identity is therefore made fresh for every contender: the pod name (`$POD_NAME`,
 * from the Downward API) or the hostname, then the process id and a random suffix —
 * `web-7f9c_4211_k3j9x2`. It is readable in `kubectl get lease` and never shared by default.
 *
 * Guarantees: a default identity is non-empty, at most 128 characters, and differs between calls.
 * Does not guarantee: uniqueness of identities you pass yourself — a stable identity lets a
 * restarted process re-adopt its own lease, but two live processes must never be given the same.
 *
 * @since 0.1.0
 */
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as os from "node:os"

/**
 * The longest holder identity leasekit accepts.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxLength = 128

const suffixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

const randomSuffix = Effect.gen(function*() {
  let suffix = ""
  for (let i = 0; i < 6; i++) {
    suffix += suffixAlphabet[yield* Random.nextIntBetween(0, suffixAlphabet.length, { halfOpen: true })]
  }
  return suffix
})

/**
 * Where this process runs: `$POD_NAME` when set, else the hostname.
 *
 * @since 0.1.0
 * @category constructors
 */
export const base: Effect.Effect<string> = Effect.gen(function*() {
  // Straight from the ConfigProvider (the environment, unless replaced): the `Config` module
  // would load all of Schema into every process that holds a lease.
  const provider = yield* ConfigProvider.ConfigProvider
  const pod = yield* provider.load(["POD_NAME"])
  return pod?._tag === "Value" && pod.value.trim() !== "" ? pod.value : os.hostname()
}).pipe(Effect.orElseSucceed(() => os.hostname()))

/**
 * A fresh identity for one contender: `<pod or host>_<pid>_<random>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<string> = Effect.gen(function*() {
  const suffix = `_${process.pid}_${yield* randomSuffix}`
  return (yield* base).slice(0, maxLength - suffix.length) + suffix
})
