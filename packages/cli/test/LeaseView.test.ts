/**
 * `LeaseView`'s times: a renewTime (or acquireTime) ahead of this machine's clock — the holder's
 * clock runs ahead — is said to be in the future, never shown as a negative age.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as LeaseView from "../src/internal/LeaseView.ts"

const key = { namespace: "jobs", name: "nightly" }
const now = 1_700_000_100_000
const record = (spec: Record<string, unknown>) => Option.some({ key, version: "7", metadata: {}, ...spec })

describe("LeaseView times", () => {
  it("ago: past times as '… ago', future ones as '… in the future (clock skew?)'", () => {
    assert.strictEqual(LeaseView.ago(4.2), "4.20s ago")
    assert.strictEqual(LeaseView.ago(0), "0ms ago")
    assert.strictEqual(LeaseView.ago(-3540), "59m00s in the future (clock skew?)")
    assert.strictEqual(LeaseView.ago(-0.25), "250ms in the future (clock skew?)")
    assert.strictEqual(LeaseView.ago(null), "-")
  })

  it("status and list show a renewTime an hour ahead of this clock as in the future, not '-59m ago'", () => {
    const view = LeaseView.make(
      key,
      record({ holder: "h", durationSeconds: 20, renewTime: now + 3_540_000, acquireTime: now + 3_500_000, transitions: 2 }),
      now
    )
    assert.strictEqual(view.renewedSecondsAgo, -3540, "the JSON keeps the signed figure")
    assert.strictEqual(view.state, "held")
    const status = LeaseView.renderStatus(view)
    assert.notInclude(status, "-59m")
    assert.notMatch(status, /-\d[^\n]* ago/)
    assert.match(status, /^Renewed:\s+\S+ \(59m00s in the future \(clock skew\?\)\)$/m)
    assert.match(status, /^Acquired:\s+\S+ \(58m20s in the future \(clock skew\?\)\)$/m)
    assert.match(status, /^Expires:\s+no estimate by its renewTime, which lies ahead of this machine's clock \(clock skew\?\); a contender/m)
    const list = LeaseView.renderList([view], false)
    assert.include(list, "59m00s in the future (clock skew?)")
    assert.notInclude(list, "-59m")
  })

  it("a renewTime in the past keeps its age and estimate", () => {
    const view = LeaseView.make(key, record({ holder: "h", durationSeconds: 20, renewTime: now - 5000, transitions: 2 }), now)
    const status = LeaseView.renderStatus(view)
    assert.match(status, /^Renewed:\s+\S+ \(5\.00s ago\)$/m)
    assert.include(status, "~15.0s by its renewTime")
  })
})

describe("status --watch", () => {
  const view = (spec: Record<string, unknown> | undefined, expiresInMillis?: number) =>
    LeaseView.make(key, spec === undefined ? Option.none() : record(spec), now, expiresInMillis)
  const held = { holder: "a", durationSeconds: 20, renewTime: now - 1000, transitions: 2 }

  it("a change is a new tenure (holder or token), a release, a deletion or the holder judged expired — a renewal is not", () => {
    const tenure = (v: LeaseView.LeaseView) => LeaseView.tenureOf(v)
    const start = tenure(view(held, 19_000))
    assert.strictEqual(tenure(view({ ...held, renewTime: now, version: "8" }, 20_000)), start, "a renewal")
    assert.strictEqual(tenure(view({ ...held, metadata: { labels: { a: "b" } } }, 19_000)), start, "a label")
    assert.notStrictEqual(tenure(view({ ...held, transitions: 3 }, 20_000)), start, "the same holder's new tenure")
    assert.notStrictEqual(tenure(view({ ...held, holder: "b", transitions: 3 }, 20_000)), start, "a new holder")
    assert.notStrictEqual(tenure(view(held, 0)), start, "judged expired")
    assert.strictEqual(tenure(view({ ...held, holder: "" })), "free")
    assert.strictEqual(tenure(view(undefined)), "absent")
  })

  it("each change is one line, stamped with this machine's time, its parts from the lease escaped", () => {
    const at = "2023-11-14T22:15:00.000Z"
    assert.strictEqual(
      LeaseView.renderChange(view({ ...held, holder: "evil\nforged" }, 19_000), now),
      `${at}  lease jobs/nightly is held by "evil\\nforged" (token 2)\n`
    )
    assert.strictEqual(LeaseView.renderChange(view({ ...held, holder: "" }), now), `${at}  lease jobs/nightly is free (released; last token 2)\n`)
    assert.strictEqual(LeaseView.renderChange(view(undefined), now), `${at}  lease jobs/nightly does not exist (free)\n`)
    assert.match(LeaseView.renderChange(view(held, 0), now), /^\S+ {2}lease jobs\/nightly: holder "a" \(token 2\) is expired as this observer judges it — .*\n$/)
  })
})
