// prepack of every published package: refuses to pack (or publish) a package that would not work
// when installed. Packages must be packed by pnpm, which applies `publishConfig` (exports and bin
// pointing at dist/) and turns `workspace:` ranges into versions — `npm pack` / `npm publish` do
// neither and would ship a package whose exports point at TypeScript sources. And dist/ must exist
// (`pnpm build`; `pnpm release` builds first).
import * as Fs from "node:fs"

const agent = process.env.npm_config_user_agent ?? ""
const problems = []
if (!agent.startsWith("pnpm/")) {
  problems.push(
    `packed by ${agent.split(" ")[0] || "an unknown tool"}: pack and publish with pnpm (\`pnpm pack\`, \`pnpm release\`), ` +
      "which applies publishConfig and replaces workspace: ranges"
  )
}
if (!Fs.existsSync("dist")) problems.push("dist/ is missing: run `pnpm build` at the repository's root first")
if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`prepack: ${problem}\n`)
  process.exit(1)
}
