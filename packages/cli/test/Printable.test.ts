/**
 * What leasekit prints from a Lease or an API server cannot drive the terminal: `Printable`, and
 * its use in the text renderings of `status` / `list` and in every `leasekit: …` line.
 */
import { assert, describe, it } from "@effect/vitest"
import { LeaseStoreError } from "@leasekit/core"
import { Option } from "effect"
import * as ExitCode from "../src/internal/ExitCode.ts"
import * as LeaseView from "../src/internal/LeaseView.ts"
import { printable } from "../src/internal/Printable.ts"

/** Any character a terminal acts on: C0, DEL, C1, line/paragraph separators, bidi controls. */
const dangerous = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/

describe("printable", () => {
  it("escapes C0, DEL and C1 controls visibly; an escape sequence loses its ESC", () => {
    assert.strictEqual(printable("a\nb\rc\td"), "a\\nb\\rc\\td")
    assert.strictEqual(printable("x\u001b[2J\u001b[H"), "x\\x1b[2J\\x1b[H")
    assert.strictEqual(printable("\u0000\u0007\u0008\u007f"), "\\x00\\x07\\x08\\x7f")
    assert.strictEqual(printable("\u009b31m\u0085"), "\\x9b31m\\x85", "C1: the one-character CSI, NEL")
    assert.strictEqual(printable("\u001b]0;title\u0007"), "\\x1b]0;title\\x07", "OSC (window title)")
  })

  it("escapes line separators and bidirectional overrides that reorder the line", () => {
    assert.strictEqual(printable("a\u2028b\u2029c"), "a\\u{2028}b\\u{2029}c")
    assert.strictEqual(printable("evil\u202egnp.exe"), "evil\\u{202e}gnp.exe")
    assert.strictEqual(printable("\u2066x\u2069"), "\\u{2066}x\\u{2069}")
  })

  it("escapes the backslash, so every escape stands for one character of the input", () => {
    assert.strictEqual(printable("C:\\x1b"), "C:\\\\x1b")
    assert.notStrictEqual(printable("\\x1b"), printable("\u001b"))
  })

  it("leaves ordinary text alone, Unicode included", () => {
    for (const text of ["worker-1_4242_k2j9x1", "pod/ns — ünïcødé ✓ 日本", "\"quoted\" 'x' $y"]) {
      assert.strictEqual(printable(text), text)
    }
  })

  it("never leaves a dangerous character, for every code point up to U+FFFF", () => {
    let all = ""
    for (let c = 0; c <= 0xffff; c++) if (c < 0xd800 || c > 0xdfff) all += String.fromCharCode(c)
    assert.notMatch(printable(all), dangerous)
  })
})

describe("text output sanitised", () => {
  const now = 1_700_000_100_000
  const hostile = "evil\u001b[2J\u001b[H\nState:   free\r\u009b2K"
  const record = (spec: Record<string, unknown>) =>
    Option.some({ key: { namespace: "jobs", name: "nightly" }, version: "7", metadata: {}, ...spec })

  it("status and list escape the holder identity (no screen clearing, no forged lines)", () => {
    const view = LeaseView.make(
      { namespace: "jobs", name: "nightly" },
      record({ holder: hostile, durationSeconds: 20, renewTime: now - 1000, acquireTime: now - 2000, transitions: 1 }),
      now
    )
    const status = LeaseView.renderStatus(view)
    assert.notMatch(status.replaceAll("\n", ""), dangerous)
    assert.include(status, "Holder:   evil\\x1b[2J\\x1b[H\\nState:   free\\r\\x9b2K")
    assert.strictEqual(status.match(/^State:/gm)?.length, 1, "no forged State line")
    const list = LeaseView.renderList([view], true)
    assert.strictEqual(list.split("\n").length, 3, "a header and one row")
    assert.notMatch(list.replaceAll("\n", ""), dangerous)
    assert.strictEqual(view.holder, hostile, "the view (and so the JSON) keeps the real value")
  })

  it("leasekit: lines escape what they quote (the 'held by' of run --try, API server messages)", () => {
    const text = ExitCode.render(ExitCode.fail(75, `lease jobs/nightly is held by "${hostile}"`, "fix\u001b[31m it"))
    assert.strictEqual(text.split("\n").length, 3, "one line and the fix")
    assert.notMatch(text.replaceAll("\n", ""), dangerous)
    const store = ExitCode.render(ExitCode.fromError(
      new LeaseStoreError({ operation: "get", key: { namespace: "jobs", name: "n" }, reason: "Unavailable", detail: "said:\u001b]0;pwned\u0007" })
    ))
    assert.include(store, "said:\\x1b]0;pwned\\x07")
  })
})
