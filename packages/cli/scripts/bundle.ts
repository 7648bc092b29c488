/**
 * Builds the installed `leasekit`: one tree-shaken ESM bundle of the CLI with everything it runs
 * (effect, @effect/platform-node, @leasekit/core, @leasekit/kubernetes, yaml) in `dist/`, split so
 * that the command line is parsed before the rest is loaded.
 *
 * Left out of the bundle, and loaded only when asked for: `@leasekit/testing` (the local control
 * plane of `demo` and `control-plane start`, an optional peer; only its `Process` module, which
 * `run` stops its command with, is bundled) and `@kubernetes/client-node` (only for a kubeconfig
 * with an `oidc` auth-provider). `dist/meta.json` lists what went in, by size;
 * `dist/THIRD-PARTY-LICENSES.md` carries the licence of every package bundled (the bundle
 * redistributes their code).
 *
 * Run by `pnpm build` (the package's `build` script).
 */
import * as esbuild from "esbuild"
import * as Fs from "node:fs"
import * as Path from "node:path"

const root = Path.join(import.meta.dirname, "..")

/**
 * `@leasekit/testing` stays outside the bundle (an optional peer, loaded by `demo` and
 * `control-plane start` only), except its `Process` module: `run` stops its command with
 * `Process.terminate`, and `run` must work where the testing package is not installed.
 */
const testingExternal: esbuild.Plugin = {
  name: "leasekit-testing-external",
  setup(build) {
    build.onResolve({ filter: /^@leasekit\/testing(\/.*)?$/ }, (args) =>
      args.path === "@leasekit/testing/Process" ? undefined : { path: args.path, external: true })
  }
}
const dist = Path.join(root, "dist")
Fs.rmSync(dist, { recursive: true, force: true })

const result = await esbuild.build({
  absWorkingDir: root,
  // (the demo's worker processes are @leasekit/testing's contender, run from that package)
  entryPoints: [{ in: "src/bin.ts", out: "bin" }],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22.19",
  // the CLI is an executable: its dependencies' `import` builds, as Node would load them
  conditions: ["import"],
  external: ["@kubernetes/client-node"],
  plugins: [testingExternal],
  // chunks beside the entry point
  chunkNames: "[name]-[hash]",
  sourcemap: "linked",
  sourcesContent: false,
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: true,
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  // a CommonJS dependency's require() of a Node built-in needs a real `require` in ESM
  banner: { js: "import { createRequire as __leasekitRequire } from \"node:module\"; const require = __leasekitRequire(import.meta.url);" }
})
Fs.writeFileSync(Path.join(dist, "meta.json"), JSON.stringify(result.metafile))

/** The package folder an input of the bundle belongs to (`…/node_modules/<name>`), if any. */
const packageOf = (input: string): string | undefined => {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)
  return match === null ? undefined : Path.resolve(root, match[1]!)
}
const bundled = new Set<string>()
for (const output of Object.values(result.metafile.outputs)) {
  for (const input of Object.keys(output.inputs)) {
    const dir = packageOf(input)
    if (dir !== undefined) bundled.add(dir)
  }
}
const notices = [...bundled].map((dir) => {
  const manifest = JSON.parse(Fs.readFileSync(Path.join(dir, "package.json"), "utf8")) as { name: string; version: string; license?: string }
  const file = Fs.readdirSync(dir).find((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name))
  if (file === undefined) throw new Error(`${manifest.name}: no licence file to ship with the bundle`)
  return { name: manifest.name, text: `## ${manifest.name} ${manifest.version} (${manifest.license ?? "see below"})\n\n${Fs.readFileSync(Path.join(dir, file), "utf8").trim()}\n` }
}).sort((a, b) => a.name.localeCompare(b.name))
Fs.writeFileSync(
  Path.join(dist, "THIRD-PARTY-LICENSES.md"),
  `# Third-party licences\n\nThe \`leasekit\` executable (\`dist/\`) bundles these packages.\n\n${notices.map((n) => n.text).join("\n")}`
)
const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith(".js"))
for (const [file, output] of outputs) {
  process.stdout.write(`${file}  ${(output.bytes / 1024).toFixed(0)} KiB\n`)
}
