#!/usr/bin/env node
/**
 * The installed `leasekit` executable: checks the Node version, sets the process flags leasekit
 * runs with, then runs the CLI (`main.ts`).
 *
 * Process flags: a command (anything but bare `--help` / `--version`) re-executes this process
 * in place (`process.execve`: same pid, same stdio, same environment) with a young generation
 * capped at 1 MiB per semi-space (`--max-semi-space-size=1`): loading the CLI is a burst of
 * allocation that would otherwise grow it, and keep it, for the hours `run` may hold a lease
 * (about 3 MiB of anonymous memory, a tenth of leasekit's own; bench figure 7 measures it with and
 * without). It costs one more Node start-up (about 25 ms). Not `--lite-mode`/`--jitless`,
 * although smaller: they turn off WebAssembly, which Node's own `fetch` (and client-node's oidc
 * path) needs. Not done when Node was started with flags of its own (`node --inspect …/bin.js`,
 * or `NODE_OPTIONS`: those are the user's choice), when `LEASEKIT_NODE_FLAGS` is set (its value,
 * possibly empty, replaces the flags), or where `process.execve` does not exist.
 *
 * Node's compile cache is not enabled: in the shared temporary folder another local user could
 * plant code in it that a root `leasekit` would run (Node trusts the cache's files), and a CronJob's
 * fresh container would never reuse it. `NODE_COMPILE_CACHE`, set by the user, still turns it on.
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

/** The flags a command runs with: `LEASEKIT_NODE_FLAGS` (split at spaces), else a capped young generation. */
const flags = (): ReadonlyArray<string> => {
  const configured = process.env["LEASEKIT_NODE_FLAGS"]
  return configured === undefined ? ["--max-semi-space-size=1"] : configured.split(" ").filter((flag) => flag !== "")
}

/** Whether the arguments name a command (rather than only asking for help or the version). */
const runsCommand = (args: ReadonlyArray<string>) => args.some((arg) => !arg.startsWith("-"))

const marker = "LEASEKIT_REEXECUTED"
const userFlags = process.execArgv.length > 0 || (process.env["NODE_OPTIONS"] ?? "").trim() !== ""
if (process.env[marker] === undefined && !userFlags && runsCommand(process.argv.slice(2))) {
  const wanted = flags()
  if (wanted.length > 0 && typeof process.execve === "function") {
    try {
      process.execve(process.execPath, [process.execPath, ...wanted, ...process.argv.slice(1)], { ...process.env, [marker]: "1" })
    } catch {
      // not possible here (a platform without execve): run without the flags
    }
  }
}
delete process.env[marker]

await import("./main.ts")
