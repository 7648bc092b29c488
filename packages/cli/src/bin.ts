#!/usr/bin/env node
/**
 * The installed `leasekit` executable: checks the Node version, then runs the CLI (`main.ts`).
 *
 * Guarantees: on a Node older than the package's `engines` it exits 69 with one line naming the
 * version found and the one needed, instead of failing somewhere inside a dependency.
 * Does not: choose a Node; `#!/usr/bin/env node` runs the first `node` on `PATH`.
 *
 * @since 0.1.0
 */
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(`leasekit: needs Node >= 22.19 (this is ${process.version})\n  fix: install a current Node (24 LTS) and run leasekit with it\n`)
  process.exit(69)
}
await import("./main.ts")
