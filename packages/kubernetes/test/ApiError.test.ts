/**
 * How an API server's error answers become `LeaseStoreError`s (`internal/apiError.ts`): above all,
 * that a 404 counts as "the lease does not exist" only when a Kubernetes API server said so.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as ApiError from "../src/internal/apiError.ts"
import * as ApiRequest from "../src/internal/apiRequest.ts"
import * as Proxy from "../src/internal/proxy.ts"
import * as Wire from "../src/internal/wire.ts"

const ctx: ApiError.RequestContext = {
  operation: "get",
  key: { namespace: "jobs", name: "nightly" },
  namespace: "jobs",
  verb: "get",
  user: "u1",
  context: "ctx1",
  server: "https://10.0.0.1:6443"
}

/** The error for an answer with `status` and `body`, as the store reads it. */
const answer = (status: number, body: string) =>
  ApiRequest.fromResponse(
    ctx,
    HttpClientResponse.fromWeb(
      HttpClientRequest.get("/apis/coordination.k8s.io/v1/namespaces/jobs/leases/nightly"),
      new Response(body, { status })
    )
  )

const leaseNotFound = JSON.stringify({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message: "leases.coordination.k8s.io \"nightly\" not found",
  reason: "NotFound",
  details: { name: "nightly", group: "coordination.k8s.io", kind: "leases" },
  code: 404
})

describe("ApiError", () => {
  it.effect("a 404 Status from a Kubernetes API server means the lease does not exist", () =>
    Effect.gen(function*() {
      const error = yield* answer(404, leaseNotFound)
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.detail, "the lease does not exist")
    }))

  it.effect("a 404 whose body is not a Kubernetes Status is not 'absent': the server is named as not a Kubernetes API server", () =>
    Effect.gen(function*() {
      for (
        const body of [
          "404 page not found\n",
          "<html><head><title>404 Not Found</title></head><body>nginx</body></html>",
          JSON.stringify({ error: "not found", code: 404 }),
          JSON.stringify({ kind: "Lease", code: 404 }),
          "[]",
          ""
        ]
      ) {
        const error = yield* answer(404, body)
        assert.strictEqual(error.reason, "Unsupported", body)
        assert.include(error.detail, "the server at https://10.0.0.1:6443 is not a Kubernetes API server", body)
        assert.include(error.detail, "check the server URL", body)
        assert.notInclude(error.detail, "\n", "one line, whatever the body holds")
      }
      assert.include((yield* answer(404, "404 page not found\n")).detail, "answered 404 with \"404 page not found\"")
      assert.include((yield* answer(404, "")).detail, "with an empty body")
      assert.include((yield* answer(404, "x".repeat(500))).detail, `"${"x".repeat(80)}…"`, "a long body is cut")
    }))

  it.effect("other statuses keep their mapping, with or without a Status body", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* answer(403, JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden" }))).reason, "Forbidden")
      assert.strictEqual((yield* answer(503, "<html>Service Unavailable</html>")).reason, "Unavailable")
      assert.strictEqual((yield* answer(409, JSON.stringify({ kind: "Status", code: 409, reason: "Conflict" }))).reason, "Conflict")
    }))

  it("isStatusObject accepts exactly JSON objects of kind Status", () => {
    assert.isTrue(ApiError.isStatusObject(leaseNotFound))
    assert.isFalse(ApiError.isStatusObject("not json"))
    assert.isFalse(ApiError.isStatusObject("null"))
    assert.isFalse(ApiError.isStatusObject(JSON.stringify({ kind: "status" })))
    assert.isFalse(ApiError.isStatusObject(JSON.stringify([{ kind: "Status" }])))
  })

  it("parseStatus reads a Status body (string or object) leniently, and nothing from what is not one", () => {
    assert.deepStrictEqual(ApiError.parseStatus(leaseNotFound), {
      code: 404,
      reason: "NotFound",
      message: "leases.coordination.k8s.io \"nightly\" not found",
      details: { name: "nightly", kind: "leases" }
    })
    assert.deepStrictEqual(ApiError.parseStatus({ kind: "Status", code: "409", reason: "Conflict" }), { reason: "Conflict" })
    for (const body of ["not json", "null", JSON.stringify({ code: 409, reason: "Conflict" }), 42, undefined]) {
      assert.deepStrictEqual(ApiError.parseStatus(body), {}, String(body))
    }
  })

  it.effect("a Status body's reason still decides a 409 (AlreadyExists / Conflict)", () =>
    Effect.gen(function*() {
      assert.strictEqual(
        (yield* answer(409, JSON.stringify({ kind: "Status", code: 409, reason: "AlreadyExists" }))).reason,
        "AlreadyExists"
      )
      assert.strictEqual((yield* answer(409, JSON.stringify({ kind: "Status", code: 409, reason: 5 }))).reason, "Conflict")
    }))

  it("a malformed answer is Invalid, naming the server and the field, and says a write was applied", () => {
    const wire = new Wire.WireError({ what: "Lease", path: "spec.renewTime", detail: "expected an RFC 3339 time, got \"x\"" })
    const read = ApiError.fromCause(ctx, wire)
    assert.strictEqual(read.reason, "Invalid")
    assert.strictEqual(read.cause, wire)
    assert.include(
      read.detail,
      "the API server at https://10.0.0.1:6443 answered with a malformed Lease: spec.renewTime: expected an RFC 3339 time, got \"x\""
    )
    assert.notInclude(read.detail, "applied")
    const write = ApiError.malformedAnswer({ ...ctx, operation: "update", verb: "update" }, wire)
    assert.include(write.detail, "(the write was applied)")
  })

  it("a Lease leasekit will not send is Invalid, and says it was not sent", () => {
    const error = ApiError.unsendable(
      { ...ctx, operation: "update", verb: "update" },
      new Wire.WireError({ what: "Lease", path: "spec.leaseDurationSeconds", detail: "expected an integer, got 1.5" })
    )
    assert.strictEqual(error.reason, "Invalid")
    assert.strictEqual(
      error.detail,
      "the lease was not sent: it would be a malformed Lease: spec.leaseDurationSeconds: expected an integer, got 1.5"
    )
  })

  it("a failure of the proxy names the proxy (without its password) and does not blame the API server", () => {
    const proxy = new URL("https://user:hunter2@proxy.example:3128")
    const failure = (cause: Error & { code?: string; statusCode?: number }) => ApiError.fromCause(ctx, new Proxy.ProxyFailure(proxy, cause))
    const tls = failure(Object.assign(new Error("unable to verify the first certificate"), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }))
    const refused = failure(Object.assign(new Error("Failed to establish tunnel"), { code: "ERR_PROXY_TUNNEL", statusCode: 407 }))
    const down = failure(Object.assign(new Error("connect ECONNREFUSED 10.0.0.9:3128"), { code: "ECONNREFUSED" }))
    for (const error of [tls, refused, down]) {
      assert.strictEqual(error.reason, "Unavailable")
      assert.include(error.detail, "proxy at https://proxy.example:3128")
      assert.include(error.detail, ctx.server)
      assert.notInclude(error.detail, "hunter2")
      assert.notInclude(error.message, "hunter2")
      assert.notInclude(error.detail, "TLS verification of the API server")
    }
    assert.include(tls.detail, "TLS verification of the proxy at https://proxy.example:3128 failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)")
    assert.include(refused.detail, "refused to open a tunnel to the API server at https://10.0.0.1:6443 (HTTP 407)")
    assert.include(down.detail, "through the proxy at https://proxy.example:3128 (ECONNREFUSED")
    // A TLS failure without a proxy is still the API server's.
    const direct = ApiError.fromCause(ctx, Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }))
    assert.include(direct.detail, "TLS verification of the API server at https://10.0.0.1:6443")
  })
})
