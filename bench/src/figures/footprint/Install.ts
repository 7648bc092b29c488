/**
 * What figure 7 measures is what a user installs: the workspace built (`pnpm build`, so that what
 * is installed is the commit measured), @leasekit/core, @leasekit/kubernetes and @leasekit/cli
 * packed with pnpm and installed with npm into a temporary app outside the workspace (npm
 * `overrides` take every @leasekit/* from the tarballs), the library process written there and
 * bundled by esbuild as an application would ship it. Fails with the end of the failing command's
 * output; leaves the temporary folder to its caller.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import type { Bench } from "../../Bench.ts"
import { checked, exec, lastLines } from "./Processes.ts"
import { countScript, holdScript } from "./Scripts.ts"

const pnpm = "pnpm@12.21.0"
const packed = ["@leasekit/core", "@leasekit/kubernetes", "@leasekit/cli"] as const

export interface Installed {
  /** The figure's folder (the app is in it), watched by the figure's lifeline. */
  readonly dir: string
  readonly app: string
  /** The installed executable, `node_modules/.bin/leasekit`. */
  readonly leasekit: string
  readonly installedMiB: number
  readonly cliBundleKiB: number
  /** `hold.bundle.mjs`, `hold.mjs` bundled. */
  readonly libraryBundleKiB: number
  /** The counting preload, as a URL for `--import`. */
  readonly countModules: string
}

const bytesOnDisk = (path: string): number => {
  const stat = Fs.lstatSync(path)
  return stat.isDirectory() ? Fs.readdirSync(path).reduce((sum, entry) => sum + bytesOnDisk(Path.join(path, entry)), 0) : stat.size
}

/**
 * Bundles the installed app's `hold.mjs` into `hold.bundle.mjs` as an application would ship it:
 * esbuild (the workspace's, the one that bundles the CLI) with the installed packages as input,
 * one ESM file for Node, `@kubernetes/client-node` left out (as the CLI leaves it out) and a
 * `require` for the CommonJS dependencies' imports of Node built-ins. Its size, KiB.
 */
const bundleHold = async (app: string): Promise<number> => {
  const esbuild = await import("esbuild")
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: ["hold.mjs"],
    outfile: "hold.bundle.mjs",
    bundle: true,
    platform: "node",
    format: "esm",
    external: ["@kubernetes/client-node"],
    banner: { js: "import { createRequire as __holdRequire } from \"node:module\"; const require = __holdRequire(import.meta.url);" },
    logLevel: "warning"
  })
  return Fs.statSync(Path.join(app, "hold.bundle.mjs")).size / 1024
}

/**
 * Builds the workspace, packs the three packages, installs them into `<dir>/app` and bundles the
 * library process there.
 */
export const install = async (bench: Bench, dir: string): Promise<Installed> => {
  const root = Path.resolve(bench.spawnContext.benchDir, "..")
  checked("pnpm build", await exec(bench, "npx", ["--yes", pnpm, "build"], root, 600_000))
  const packs = Path.join(dir, "packs")
  Fs.mkdirSync(packs)
  const fromTarballs: Record<string, string> = {}
  for (const name of packed) {
    const ended = checked(
      `pnpm pack ${name}`,
      await exec(bench, "npx", ["--yes", pnpm, "--filter", name, "pack", "--pack-destination", packs], root)
    )
    const tarball = ended.stdout.trim().split("\n").pop()!.trim()
    if (!Fs.existsSync(tarball)) throw new Error(`pnpm pack ${name} did not say where the tarball is: ${lastLines(ended.stdout)}`)
    fromTarballs[name] = `file:${tarball}`
  }
  const app = Path.join(dir, "app")
  Fs.mkdirSync(app)
  // effect at the version the workspace builds and tests with (the library script imports it)
  const effect = (JSON.parse(Fs.readFileSync(Path.join(bench.spawnContext.benchDir, "node_modules", "effect", "package.json"), "utf8")) as {
    readonly version: string
  }).version
  const manifest = { name: "leasekit-footprint", private: true, type: "module", dependencies: { ...fromTarballs, effect }, overrides: fromTarballs }
  Fs.writeFileSync(Path.join(app, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`)
  Fs.writeFileSync(Path.join(app, "hold.mjs"), holdScript)
  Fs.writeFileSync(Path.join(app, "count-modules.mjs"), countScript)
  checked("npm install", await exec(bench, "npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], app, 600_000))
  const dist = Path.join(app, "node_modules", "@leasekit", "cli", "dist")
  const cliBundle = Fs.readdirSync(dist).filter((f) => f.endsWith(".js")).reduce((sum, f) => sum + Fs.statSync(Path.join(dist, f)).size, 0)
  return {
    dir,
    app,
    leasekit: Path.join(app, "node_modules", ".bin", "leasekit"),
    installedMiB: bytesOnDisk(Path.join(app, "node_modules")) / 2 ** 20,
    cliBundleKiB: cliBundle / 1024,
    libraryBundleKiB: await bundleHold(app),
    countModules: Url.pathToFileURL(Path.join(app, "count-modules.mjs")).href
  }
}
