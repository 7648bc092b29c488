/**
 * What every published package ships besides its code: the licence and a README.
 *
 * Each package carries its own copy of the repository's LICENSE, because `pnpm pack` takes files
 * from the package folder only. These tests keep the copies identical to the root file, so an edit
 * of one cannot silently leave the others behind, and catch a published package added without
 * them.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../..", import.meta.url))

const published = ["cli", "core", "kubernetes", "promise", "testing"] as const

interface Manifest {
  readonly name: string
  readonly private?: boolean
  readonly license?: string
  readonly files?: ReadonlyArray<string>
}

const manifestOf = (dir: string): Manifest =>
  JSON.parse(Fs.readFileSync(Path.join(root, "packages", dir, "package.json"), "utf8")) as Manifest

const rootLicense = Fs.readFileSync(Path.join(root, "LICENSE"))

describe("packaging", () => {
  it("the root LICENSE is the Apache License 2.0", () => {
    const text = rootLicense.toString("utf8")
    assert.include(text, "Apache License")
    assert.include(text, "Version 2.0, January 2004")
    assert.include(text, "END OF TERMS AND CONDITIONS")
  })

  it("the packages under packages/ that are not private are exactly the published ones", () => {
    const dirs = Fs.readdirSync(Path.join(root, "packages"), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && Fs.existsSync(Path.join(root, "packages", entry.name, "package.json")))
      .map((entry) => entry.name)
    const notPrivate = dirs.filter((dir) => manifestOf(dir).private !== true).sort()
    assert.deepStrictEqual(notPrivate, [...published])
  })

  for (const dir of published) {
    describe(`packages/${dir}`, () => {
      it("has a LICENSE identical to the root LICENSE", () => {
        const license = Path.join(root, "packages", dir, "LICENSE")
        assert.isTrue(Fs.existsSync(license), `${license} is missing`)
        assert.isTrue(Fs.readFileSync(license).equals(rootLicense), `${license} differs from the root LICENSE`)
      })

      it("has a README.md", () => {
        const readme = Path.join(root, "packages", dir, "README.md")
        assert.isTrue(Fs.existsSync(readme), `${readme} is missing`)
        assert.isTrue(Fs.readFileSync(readme, "utf8").trim().length > 0, `${readme} is empty`)
      })

      it("declares Apache-2.0 and ships LICENSE, README.md and CHANGELOG.md", () => {
        const manifest = manifestOf(dir)
        assert.strictEqual(manifest.license, "Apache-2.0")
        for (const file of ["LICENSE", "README.md", "CHANGELOG.md"]) {
          assert.include(manifest.files ?? [], file, `${manifest.name}: "files" lacks ${file}`)
        }
      })
    })
  }
})
