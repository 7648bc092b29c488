/**
 * A command's handler loaded on first use. The command line (flags, help, examples) is defined
 * eagerly; what a command does — and everything it imports: the Kubernetes client, the store, the
 * supervisor, the demo — is a separate module the bundle puts in its own chunk, loaded by
 * `import()` only when that command runs. So `--help`, `--version` and each command load only what
 * they run.
 *
 * Does not: catch a chunk that fails to load (a broken installation): that is a defect, reported
 * as an internal error (exit 70).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * The handler exported by `load()`'s module, called with the parsed command line.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handler = <C, A, E, R>(load: () => Promise<{ readonly handler: (config: C) => Effect.Effect<A, E, R> }>) =>
(config: C): Effect.Effect<A, E, R> => Effect.flatMap(Effect.promise(load), (module) => module.handler(config))
