import { assert, describe, it } from "@effect/vitest"
import { proxyFor } from "../src/internal/proxy.ts"

type Env = Readonly<Record<string, string | undefined>>

/** The proxy chosen for `server`, as a string (`"direct"` for none). */
const chosen = (server: string, env: Env, kubeconfigProxyUrl?: string) =>
  proxyFor(new URL(server), kubeconfigProxyUrl, env)?.href ?? "direct"

const proxied = "http://proxy.corp:3128/"

describe("proxyFor", () => {
  it("the kubeconfig's proxy-url wins over the environment, even for localhost and NO_PROXY", () => {
    const env = { HTTPS_PROXY: "http://env-proxy:8080", NO_PROXY: "*" }
    assert.strictEqual(chosen("https://api.example.com:6443", env, "https://kc-proxy:8443"), "https://kc-proxy:8443/")
    assert.strictEqual(chosen("https://127.0.0.1:6443", {}, "http://u:p@kc-proxy:3128"), "http://u:p@kc-proxy:3128/")
    assert.strictEqual(chosen("https://localhost:6443", env, ""), "direct", "an empty proxy-url is none")
  })

  it("https servers use HTTPS_PROXY (else https_proxy), http servers HTTP_PROXY (else http_proxy)", () => {
    const table: ReadonlyArray<readonly [string, Env, string]> = [
      ["https://api.example.com", { HTTPS_PROXY: proxied }, proxied],
      ["https://api.example.com", { https_proxy: proxied }, proxied],
      ["https://api.example.com", { HTTPS_PROXY: proxied, https_proxy: "http://lower:1" }, proxied],
      ["https://api.example.com", { HTTPS_PROXY: "", https_proxy: proxied }, proxied],
      ["https://api.example.com", { HTTP_PROXY: proxied }, "direct"],
      ["http://api.example.com", { HTTP_PROXY: proxied }, proxied],
      ["http://api.example.com", { http_proxy: proxied }, proxied],
      ["http://api.example.com", { HTTPS_PROXY: proxied }, "direct"],
      ["https://api.example.com", {}, "direct"]
    ]
    for (const [server, env, expected] of table) {
      assert.strictEqual(chosen(server, env), expected, `${server} with ${JSON.stringify(env)}`)
    }
  })

  it("a proxy without a scheme is http; one that is no URL even then is ignored", () => {
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: "proxy.corp:3128" }), proxied)
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: "10.1.2.3:3128" }), "http://10.1.2.3:3128/")
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: "https://proxy.corp" }), "https://proxy.corp/")
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: "[bad" }), "direct")
  })

  it("localhost and loopback addresses are never proxied from the environment", () => {
    const env = { HTTPS_PROXY: proxied, HTTP_PROXY: proxied }
    for (
      const server of [
        "https://localhost:6443",
        "https://LOCALHOST",
        "http://localhost",
        "https://127.0.0.1:6443",
        "https://127.255.0.9",
        "https://[::1]:6443",
        "https://[::ffff:127.0.0.1]:6443"
      ]
    ) {
      assert.strictEqual(chosen(server, env), "direct", server)
    }
    assert.strictEqual(chosen("https://localhost.example.com", env), proxied, "only the name localhost itself")
    assert.strictEqual(chosen("https://128.0.0.1", env), proxied)
    assert.strictEqual(chosen("https://[::2]", env), proxied)
  })

  it("NO_PROXY: domains, subdomains, leading dots and *., ports, IPs, CIDRs, * — case-insensitively", () => {
    const table: ReadonlyArray<readonly [string, string, boolean]> = [
      // [server, NO_PROXY, proxied?]
      ["https://example.com", "example.com", false],
      ["https://api.example.com", "example.com", false],
      ["https://api.example.com", "EXAMPLE.com", false],
      ["https://notexample.com", "example.com", true],
      ["https://example.com", ".example.com", true],
      ["https://api.example.com", ".example.com", false],
      ["https://example.com", "*.example.com", true],
      ["https://api.example.com", "*.example.com", false],
      ["https://api.example.com:6443", "example.com:6443", false],
      ["https://api.example.com:6443", "example.com:443", true],
      ["https://api.example.com", "example.com:443", false],
      ["https://api.example.com", " other.org , example.com ", false],
      ["https://api.example.com", "other.org,,", true],
      ["https://10.0.0.5:6443", "10.0.0.5", false],
      ["https://10.0.0.5:6443", "10.0.0.5:6443", false],
      ["https://10.0.0.5:6443", "10.0.0.5:443", true],
      ["https://10.0.0.5:6443", "10.0.0.6", true],
      ["https://10.0.0.5", "10.0.0.0/8", false],
      ["https://11.0.0.5", "10.0.0.0/8", true],
      ["https://10.0.0.5", "10.0.0.7/31", true],
      ["https://10.0.0.6", "10.0.0.7/31", false],
      ["https://[fd00::1]:6443", "fd00::/8", false],
      ["https://[fe00::1]:6443", "fd00::/8", true],
      ["https://[fd00::1]:6443", "fd00::1", false],
      ["https://[fd00::1]", "0.0.0.0/0", true],
      ["https://10.0.0.5", "::/0", true],
      ["https://10.0.0.5", "0.0.0.0/0", false],
      ["https://[fd00::1]:6443", "[fd00::1]:6443", false],
      ["https://[fd00::1]:6443", "[fd00::1]:443", true],
      ["https://[::ffff:10.0.0.5]", "10.0.0.5", false],
      ["https://10.0.0.5", "::ffff:10.0.0.5", false],
      ["https://10.0.0.5", "10.0.0.5.nip.io", true],
      ["https://10.0.0.5", "0.0.5", true],
      ["https://api.example.com", "*", false],
      ["https://10.0.0.5", "*", false],
      ["https://api.example.com", "example.com/8", true],
      ["https://bücher.example", "bücher.example", false],
      ["https://api.example.com", ":6443", true]
    ]
    for (const [server, noProxy, expected] of table) {
      assert.strictEqual(
        chosen(server, { HTTPS_PROXY: proxied, NO_PROXY: noProxy }) === proxied,
        expected,
        `${server} with NO_PROXY=${noProxy}`
      )
    }
  })

  it("NO_PROXY wins over no_proxy; IP entries never match names, nor names IPs", () => {
    assert.strictEqual(
      chosen("https://api.example.com", { HTTPS_PROXY: proxied, NO_PROXY: "other.org", no_proxy: "example.com" }),
      proxied
    )
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: proxied, no_proxy: "example.com" }), "direct")
    assert.strictEqual(chosen("https://10.0.0.5", { HTTPS_PROXY: proxied, NO_PROXY: "10.0.0.5.example" }), proxied)
  })

  it("in a CGI process HTTP_PROXY is not used (a client could have set it); HTTPS_PROXY still is", () => {
    assert.strictEqual(chosen("http://api.example.com", { HTTP_PROXY: proxied, REQUEST_METHOD: "GET" }), "direct")
    assert.strictEqual(chosen("https://api.example.com", { HTTPS_PROXY: proxied, REQUEST_METHOD: "GET" }), proxied)
  })
})
