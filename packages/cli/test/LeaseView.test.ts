/**
 * `LeaseView`'s times: a renewTime (or acquireTime) ahead of this machine's clock — the holder's
 * clock runs ahead — is said to be in the future, never shown as a negative age.
 */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import * as LeaseView from "../src/LeaseView.ts"

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
