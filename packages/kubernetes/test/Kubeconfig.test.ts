import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Kubeconfig from "../src/internal/kubeconfig.ts"

const secret = "s3cr3t-bearer-token-that-must-never-be-printed"
const password = "pa55-w0rd-never-printed"

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "leasekit-kubeconfig-"))

const kubeconfig = (
  options: {
    server?: string
    cluster?: Record<string, unknown>
    user?: Record<string, unknown>
    current?: string
    namespace?: string
  } = {}
) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c1", cluster: { server: options.server ?? "https://127.0.0.1:6443", ...options.cluster } }],
    users: [{ name: "u1", user: options.user ?? { token: secret } }],
    contexts: [
      { name: "ctx1", context: { cluster: "c1", user: "u1", ...(options.namespace ? { namespace: options.namespace } : {}) } },
      { name: "ctx-no-cluster", context: { cluster: "missing", user: "u1" } },
      { name: "ctx-no-user", context: { cluster: "c1", user: "ghost" } }
    ],
    "current-context": options.current ?? "ctx1"
  })

const assertNoSecrets = (text: string) => {
  assert.notInclude(text, secret, "never the token")
  assert.notInclude(text, password, "never the password")
}

/** The loader's failure; its message (and so detail and hint) holds no secret. */
const failure = (load: Effect.Effect<Kubeconfig.Loaded, Kubeconfig.KubeConfigError>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(load)
    assert.instanceOf(error, Kubeconfig.KubeConfigError)
    assertNoSecrets(error.message)
    return error
  })

/** A successful load; its warnings hold no secret. */
const loaded = (load: Effect.Effect<Kubeconfig.Loaded, Kubeconfig.KubeConfigError>) =>
  Effect.tap(load, (l) => Effect.sync(() => assertNoSecrets(l.warnings.join("\n"))))

const writeFile = (dir: string, name: string, content: string) => {
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  return file
}

describe("kubeconfig: files, contexts and clusters", () => {
  it.effect("a missing file fails with NotFound, naming the file and how to point at another", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "nope.yaml")
      const error = yield* failure(Kubeconfig.fromFiles([file]))
      assert.strictEqual(error.reason, "NotFound")
      assert.include(error.message, file)
      assert.include(error.message, "KUBECONFIG")
    }))

  it.effect("a directory fails with Unreadable", () =>
    Effect.gen(function*() {
      const error = yield* failure(Kubeconfig.fromFiles([tempDir()]))
      assert.strictEqual(error.reason, "Unreadable")
    }))

  it.effect("an unknown context fails with UnknownContext, listing the defined ones", () =>
    Effect.gen(function*() {
      const error = yield* failure(Kubeconfig.fromString(kubeconfig(), { context: "prod" }))
      assert.strictEqual(error.reason, "UnknownContext")
      assert.include(error.message, "\"prod\"")
      assert.include(error.message, "ctx1")
      const none = yield* failure(Kubeconfig.fromString(kubeconfig({ current: "" })))
      assert.strictEqual(none.reason, "UnknownContext")
      assert.include(none.message, "use-context")
    }))

  it.effect("the detail speaks of the configuration only; the library's own options (layerConfig, { context }) are in the hint", () =>
    Effect.gen(function*() {
      const errors = [
        yield* failure(Kubeconfig.fromFiles([path.join(tempDir(), "nope.yaml")])),
        yield* failure(Kubeconfig.fromString(kubeconfig(), { context: "prod" })),
        yield* failure(Kubeconfig.fromString(kubeconfig({ current: "" }))),
        yield* failure(Kubeconfig.inCluster({ env: {} }))
      ]
      for (const error of errors) {
        assert.notMatch(error.detail, /layerConfig|LEASEKIT_|\{ context \}/, error.detail)
        assert.isString(error.hint)
        assert.isTrue(error.message.endsWith(`; ${error.hint}`), error.message)
      }
      assert.include(errors[0]!.detail, "the file does not exist")
      assert.include(errors[1]!.detail, "context \"prod\" is not defined (defined: ctx1")
    }))

  it.effect("a context without a cluster fails with NoCluster, without a user with NoCredentials; plain http needs insecure-skip-tls-verify", () =>
    Effect.gen(function*() {
      const noCluster = yield* failure(Kubeconfig.fromString(kubeconfig(), { context: "ctx-no-cluster" }))
      assert.strictEqual(noCluster.reason, "NoCluster")
      assert.include(noCluster.message, "\"missing\"")
      const noUser = yield* failure(Kubeconfig.fromString(kubeconfig(), { context: "ctx-no-user" }))
      assert.strictEqual(noUser.reason, "NoCredentials")
      assert.include(noUser.message, "\"ghost\"")
      const plainHttp = yield* failure(Kubeconfig.fromString(kubeconfig({ server: "http://127.0.0.1:8080" })))
      assert.strictEqual(plainHttp.reason, "NoCluster")
      assert.include(plainHttp.message, "insecure-skip-tls-verify")
      const notUrl = yield* failure(Kubeconfig.fromString(kubeconfig({ server: `ftp://u:${password}@host` })))
      assert.strictEqual(notUrl.reason, "NoCluster")
      assert.include(notUrl.message, "ftp://***@host")
    }))

  it.effect("a valid kubeconfig gives the context's namespace, user and server (no trailing slash), and the file's directory", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = writeFile(dir, "config", kubeconfig({ namespace: "team-a", server: "https://127.0.0.1:6443/prefix/" }))
      const result = yield* loaded(Kubeconfig.fromFiles([file]))
      assert.strictEqual(result.namespace, "team-a")
      assert.strictEqual(result.context, "ctx1")
      assert.strictEqual(result.cluster, "c1")
      assert.strictEqual(result.user, "u1")
      assert.strictEqual(result.server, "https://127.0.0.1:6443/prefix")
      assert.strictEqual(result.source, file)
      assert.strictEqual(result.baseDir, dir)
      assert.deepStrictEqual(result.auth, { _tag: "Token", token: secret })
      assert.deepStrictEqual(result.tls, { insecureSkipTlsVerify: false })
      assert.deepStrictEqual(result.warnings, [])
      const overridden = yield* loaded(Kubeconfig.fromString(kubeconfig({ namespace: "team-a" }), { namespace: "jobs" }))
      assert.strictEqual(overridden.namespace, "jobs")
      assert.isUndefined(overridden.baseDir)
      const defaulted = yield* loaded(Kubeconfig.fromString(kubeconfig()))
      assert.strictEqual(defaulted.namespace, "default")
    }))

  it.effect("a context namespace that is not a DNS label is refused, as kubectl refuses it", () =>
    Effect.gen(function*() {
      const error = yield* failure(Kubeconfig.fromString(kubeconfig({ namespace: "Team_A" })))
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "\"Team_A\"")
    }))

  it.effect("several files merge: the first definition of a name wins, each file's relative paths resolve against its own folder, missing files are skipped", () =>
    Effect.gen(function*() {
      const a = tempDir()
      const b = tempDir()
      writeFile(b, "token", `${secret}\n`)
      writeFile(b, "ca.crt", "-----BEGIN CERTIFICATE-----\n")
      const fileA = writeFile(
        a,
        "config",
        JSON.stringify({
          contexts: [{ name: "ctx1", context: { cluster: "c1", user: "u1", namespace: "from-a" } }],
          "current-context": "ctx1"
        })
      )
      const fileB = writeFile(
        b,
        "config",
        JSON.stringify({
          clusters: [{ name: "c1", cluster: { server: "https://b.example:6443", "certificate-authority": "ca.crt" } }],
          users: [{ name: "u1", user: { tokenFile: "token" } }],
          contexts: [{ name: "ctx1", context: { cluster: "c1", user: "u1", namespace: "from-b" } }],
          "current-context": "other"
        })
      )
      const result = yield* loaded(
        Kubeconfig.fromDefault({ kubeconfig: [fileA, path.join(a, "missing"), fileB].join(path.delimiter) })
      )
      assert.strictEqual(result.namespace, "from-a", "the first file's context wins")
      assert.strictEqual(result.context, "ctx1", "the first file's current-context wins")
      assert.strictEqual(result.server, "https://b.example:6443")
      assert.deepStrictEqual(result.tls.ca, { _tag: "File", path: path.join(b, "ca.crt") })
      assert.deepStrictEqual(result.auth, { _tag: "TokenFile", path: path.join(b, "token"), token: secret })
      assert.isUndefined(result.baseDir, "a merged list has no single directory")
      const none = yield* failure(Kubeconfig.fromFiles([path.join(a, "x"), path.join(a, "y")]))
      assert.strictEqual(none.reason, "NotFound")
    }))

  it.effect("a field of the wrong type is refused with its path, not its value", () =>
    Effect.gen(function*() {
      const server = yield* failure(Kubeconfig.fromString(kubeconfig({ server: 6443 as unknown as string })))
      assert.strictEqual(server.reason, "Invalid")
      assert.include(server.message, "clusters[\"c1\"].cluster.server must be a string, found a number")
      const token = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { token: 12345 } })))
      assert.include(token.message, "users[\"u1\"].user.token must be a string, found a number")
      assert.notInclude(token.message, "12345")
      const insecure = yield* failure(Kubeconfig.fromString(kubeconfig({ cluster: { "insecure-skip-tls-verify": "true" } })))
      assert.include(insecure.message, "insecure-skip-tls-verify must be true or false, found a string")
      const clusters = yield* failure(Kubeconfig.fromString(JSON.stringify({ clusters: { c1: {} }, "current-context": "x" })))
      assert.include(clusters.message, "clusters must be a list")
    }))

  it.effect("inline certificate data must be base64; the message does not quote it", () =>
    Effect.gen(function*() {
      const error = yield* failure(
        Kubeconfig.fromString(kubeconfig({ user: { "client-certificate-data": "QUJD", "client-key-data": `${secret}!` } }))
      )
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "client-key-data is not valid base64")
      const ok = yield* loaded(
        Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority-data": "QUJD\nREVG" } }))
      )
      assert.deepStrictEqual(ok.tls.ca, { _tag: "Data", data: Buffer.from("ABCDEF") }, "line breaks are skipped, as Go skips them")
    }))
})

describe("kubeconfig: YAML", () => {
  it.effect("garbage YAML fails with Invalid, naming the line but not quoting the text", () =>
    Effect.gen(function*() {
      const file = path.join(tempDir(), "config")
      fs.writeFileSync(file, `users:\n- name: u\n  user:\n    token: ${secret}\n  : : [\n`)
      const error = yield* failure(Kubeconfig.fromFiles([file]))
      assert.strictEqual(error.reason, "Invalid")
      assert.match(error.message, /line \d+/)
      const scalar = yield* failure(Kubeconfig.fromString("just a string"))
      assert.strictEqual(scalar.reason, "Invalid")
      assert.include(scalar.message, "kubectl config view")
      const empty = yield* failure(Kubeconfig.fromString(""))
      assert.include(empty.message, "found nothing")
    }))

  it.effect("a YAML error's message has the line and column and a fixed description, never the text around it", () =>
    Effect.gen(function*() {
      const escape = yield* failure(Kubeconfig.fromString(`users:\n- name: u1\n  user:\n    token: "${secret}\\q"\n`))
      assert.include(escape.detail, "line 4, column")
      assert.include(escape.detail, "invalid escape sequence")
      assert.notInclude(escape.detail, "\\q")
      const quote = yield* failure(Kubeconfig.fromString(`users:\n- name: u1\n  user:\n    password: '${password}\n`))
      assert.include(quote.detail, "missing closing character")
      const alias = yield* failure(Kubeconfig.fromString(`users:\n- name: u1\n  user:\n    token: *${secret}\n`))
      assert.include(alias.detail, "an alias with no anchor defined before it")
    }))

  it.effect("a billion-laughs alias bomb is refused in well under a second", () =>
    Effect.gen(function*() {
      const levels = "abcdefghi".split("")
      const bomb = [
        "apiVersion: v1",
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]",
        ...levels.slice(1).map((name, i) => `${name}: &${name} [${Array(9).fill(`*${levels[i]}`).join(",")}]`),
        "clusters: [{name: c1, cluster: {server: 'https://127.0.0.1'}}]"
      ].join("\n")
      const started = performance.now()
      const error = yield* failure(Kubeconfig.fromString(bomb))
      const elapsed = performance.now() - started
      assert.strictEqual(error.reason, "Invalid")
      assert.include(error.message, "excessive aliasing")
      assert.isBelow(elapsed, 500, `took ${elapsed} ms`)
    }))

  it.effect("YAML 1.1 as kubectl reads it: yes/on are true, merge keys, the last duplicate key wins; sexagesimal and dates stay text", () =>
    Effect.gen(function*() {
      const yaml = [
        "base: &base",
        "  server: https://10.0.0.1:6443",
        "  server: https://10.0.0.2:6443",
        "clusters:",
        "- name: c1",
        "  cluster:",
        "    <<: *base",
        "    tls-server-name: api.example",
        "- name: c2",
        "  cluster:",
        "    server: http://10.0.0.3:8080",
        "    insecure-skip-tls-verify: yes",
        "users:",
        "- name: u1",
        "  user:",
        "    username: 2001-12-14",
        "    password: 12:30",
        "- name: u2",
        "  user:",
        "    token: yes",
        "contexts:",
        "- {name: ctx1, context: {cluster: c1, user: u1}}",
        "- {name: ctx2, context: {cluster: c2}}",
        "- {name: ctx3, context: {cluster: c1, user: u2}}",
        "current-context: ctx1"
      ].join("\n")
      const one = yield* loaded(Kubeconfig.fromString(yaml))
      assert.strictEqual(one.server, "https://10.0.0.2:6443")
      assert.strictEqual(one.tls.serverName, "api.example")
      assert.deepStrictEqual(one.auth, { _tag: "Basic", username: "2001-12-14", password: "12:30" })
      const two = yield* loaded(Kubeconfig.fromString(yaml, { context: "ctx2" }))
      assert.isTrue(two.tls.insecureSkipTlsVerify)
      const three = yield* failure(Kubeconfig.fromString(yaml, { context: "ctx3" }))
      assert.include(three.message, "token must be a string, found a boolean; quote the value")
    }))
})

describe("kubeconfig: TLS and transport hardening", () => {
  it.effect("a certificate authority with insecure-skip-tls-verify is refused, naming the cluster and the fix", () =>
    Effect.gen(function*() {
      const data = yield* failure(
        Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority-data": "QUJD", "insecure-skip-tls-verify": true } }))
      )
      assert.strictEqual(data.reason, "Invalid")
      assert.include(data.message, "cluster \"c1\"")
      assert.include(data.message, "certificate-authority-data")
      assert.include(data.message, "remove insecure-skip-tls-verify")
      const dir = tempDir()
      writeFile(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n")
      const file = writeFile(
        dir,
        "config",
        kubeconfig({ cluster: { "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true } })
      )
      const fromFile = yield* failure(Kubeconfig.fromFiles([file]))
      assert.strictEqual(fromFile.reason, "Invalid")
      assert.include(fromFile.message, "not allowed")
    }))

  it.effect("a file and inline data for the same CA, certificate or key are refused; a missing CA file is Unreadable", () =>
    Effect.gen(function*() {
      const ca = yield* failure(
        Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority": "/ca.crt", "certificate-authority-data": "QUJD" } }))
      )
      assert.strictEqual(ca.reason, "Invalid")
      assert.include(ca.message, "both certificate-authority and certificate-authority-data")
      const cert = yield* failure(
        Kubeconfig.fromString(
          kubeconfig({ user: { "client-certificate": "/c.crt", "client-certificate-data": "QUJD", "client-key-data": "QUJD" } })
        )
      )
      assert.include(cert.message, "both client-certificate and client-certificate-data")
      const missing = yield* failure(Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority": "/nope/ca.crt" } })))
      assert.strictEqual(missing.reason, "Unreadable")
      assert.include(missing.message, "/nope/ca.crt")
    }))

  it.effect("a client certificate needs its key (and the other way round); missing files are NoCredentials", () =>
    Effect.gen(function*() {
      const noKey = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { "client-certificate-data": "QUJD" } })))
      assert.strictEqual(noKey.reason, "NoCredentials")
      assert.include(noKey.message, "add client-key")
      const noCert = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { "client-key-data": "QUJD" } })))
      assert.include(noCert.message, "add client-certificate")
      const dir = tempDir()
      const file = writeFile(dir, "config", kubeconfig({ user: { "client-certificate": "c.crt", "client-key": "c.key" } }))
      const missing = yield* failure(Kubeconfig.fromFiles([file]))
      assert.strictEqual(missing.reason, "NoCredentials")
      assert.include(missing.message, path.join(dir, "c.crt"))
    }))

  it.effect("plain http sends no credentials (as kubectl) and warns when the user had some", () =>
    Effect.gen(function*() {
      const insecure = { "insecure-skip-tls-verify": true }
      const token = yield* loaded(Kubeconfig.fromString(kubeconfig({ server: "http://127.0.0.1:8080", cluster: insecure })))
      assert.deepStrictEqual(token.auth, { _tag: "None" })
      assert.lengthOf(token.warnings, 1)
      assert.include(token.warnings[0]!, "bearer token")
      assert.include(token.warnings[0]!, "unencrypted")
      const basic = yield* loaded(
        Kubeconfig.fromString(
          kubeconfig({
            server: "http://127.0.0.1:8080",
            cluster: insecure,
            user: { username: "admin", password, "client-certificate-data": "QUJD", "client-key-data": "QUJD" }
          })
        )
      )
      assert.deepStrictEqual(basic.auth, { _tag: "None" })
      assert.deepStrictEqual(basic.tls, { insecureSkipTlsVerify: true }, "no client certificate without TLS")
      assert.include(basic.warnings[0]!, "username and password and client certificate")
      const anonymous = yield* loaded(Kubeconfig.fromString(kubeconfig({ server: "http://127.0.0.1:8080", cluster: insecure, user: {} })))
      assert.deepStrictEqual(anonymous.warnings, [])
    }))

  it.effect("a user name and password in the server URL leave the URL and become basic auth when the user has no other", () =>
    Effect.gen(function*() {
      const server = `https://admin:${encodeURIComponent(password + "@/")}@10.0.0.1:6443/`
      const result = yield* loaded(Kubeconfig.fromString(kubeconfig({ server, user: {} })))
      assert.strictEqual(result.server, "https://10.0.0.1:6443")
      assert.deepStrictEqual(result.auth, { _tag: "Basic", username: "admin", password: `${password}@/` })
      const withToken = yield* failure(Kubeconfig.fromString(kubeconfig({ server: `https://admin:${password}@10.0.0.1:6443` })))
      assert.strictEqual(withToken.reason, "Invalid")
      assert.include(withToken.message, "https://***@10.0.0.1:6443")
      assert.include(withToken.message, "bearer token")
      const withCert = yield* loaded(
        Kubeconfig.fromString(
          kubeconfig({ server: `https://admin:${password}@h:6443`, user: { "client-certificate-data": "QUJD", "client-key-data": "QUJD" } })
        )
      )
      assert.strictEqual(withCert.auth._tag, "Basic", "a client certificate is TLS: the URL's credentials go along")
      assert.isDefined(withCert.tls.cert)
    }))

  it.effect("proxy-url: http(s) only (SOCKS refused, as today), credentials kept for the transport but redacted in messages", () =>
    Effect.gen(function*() {
      const socks = yield* failure(Kubeconfig.fromString(kubeconfig({ cluster: { "proxy-url": "socks5://127.0.0.1:1080" } })))
      assert.strictEqual(socks.reason, "Invalid")
      assert.include(socks.message, "socks5://127.0.0.1:1080")
      assert.include(socks.message, "http:// and https:// proxies")
      const socksWithPassword = yield* failure(
        Kubeconfig.fromString(kubeconfig({ cluster: { "proxy-url": `socks5://u:${password}@127.0.0.1:1080` } }))
      )
      assert.include(socksWithPassword.message, "socks5://***@127.0.0.1:1080")
      const other = yield* failure(Kubeconfig.fromString(kubeconfig({ cluster: { "proxy-url": `ftp://u:${password}@p` } })))
      assert.include(other.message, "not an http(s) proxy URL")
      const garbage = yield* failure(Kubeconfig.fromString(kubeconfig({ cluster: { "proxy-url": `http://u:${password}@[p` } })))
      assert.include(garbage.message, "http://***@[p")
      const kept = yield* loaded(
        Kubeconfig.fromString(kubeconfig({ cluster: { "proxy-url": `http://u:${password}@proxy.corp:3128` } }))
      )
      assert.strictEqual(kept.proxyUrl, `http://u:${password}@proxy.corp:3128`)
    }))

  it("redactUrl replaces user name and password, over-redacting rather than leaking on strings that are no URL", () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ["https://user:pass@host:6443/path", "https://***@host:6443/path"],
      ["https://user@host", "https://***@host"],
      ["https://host:6443/api@v1", "https://***@v1"],
      ["https://host:6443", "https://host:6443"],
      ["http://u:p@ss/w@rd@host", "http://***@host"],
      ["https://u:pa/ss@host", "https://***@host"],
      ["user:pass@host:3128", "***@host:3128"],
      ["not a url", "not a url"],
      ["", ""]
    ]
    for (const [input, expected] of table) assert.strictEqual(Kubeconfig.redactUrl(input), expected, input)
  })
})

describe("kubeconfig: credentials and their precedence", () => {
  it.effect("a missing token file fails with NoCredentials, naming the file", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const file = writeFile(dir, "config", kubeconfig({ user: { tokenFile: "token" } }))
      const error = yield* failure(Kubeconfig.fromFiles([file]))
      assert.strictEqual(error.reason, "NoCredentials")
      assert.include(error.message, path.join(dir, "token"), "a relative tokenFile resolves against the kubeconfig's folder")
    }))

  it.effect("token files: tokenFile and token-file, read now and trimmed; empty or several lines are NoCredentials", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      writeFile(dir, "token", `\n ${secret} \n`)
      for (const key of ["tokenFile", "token-file"]) {
        const file = writeFile(dir, `config-${key}`, kubeconfig({ user: { [key]: "token" } }))
        const result = yield* loaded(Kubeconfig.fromFiles([file]))
        assert.deepStrictEqual(result.auth, { _tag: "TokenFile", path: path.join(dir, "token"), token: secret }, key)
      }
      writeFile(dir, "empty", " \n")
      const empty = yield* failure(Kubeconfig.fromFiles([writeFile(dir, "c-empty", kubeconfig({ user: { tokenFile: "empty" } }))]))
      assert.strictEqual(empty.reason, "NoCredentials")
      assert.include(empty.message, "is empty")
      writeFile(dir, "two", `${secret}\nAuthorization: other\n`)
      const two = yield* failure(Kubeconfig.fromFiles([writeFile(dir, "c-two", kubeconfig({ user: { tokenFile: "two" } }))]))
      assert.strictEqual(two.reason, "NoCredentials")
      assert.include(two.message, "more than one line")
      const inline = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { token: `${secret}\r\nX-Injected: 1` } })))
      assert.strictEqual(inline.reason, "Invalid")
    }))

  it.effect("token with tokenFile: client-go starts with the inline token and re-reads the file later", () =>
    Effect.gen(function*() {
      const result = yield* loaded(Kubeconfig.fromString(kubeconfig({ user: { token: secret, tokenFile: "/run/token" } })))
      assert.deepStrictEqual(result.auth, { _tag: "TokenFile", path: "/run/token", token: secret })
    }))

  it.effect("a bearer token with basic auth, or exec with auth-provider, is refused as kubectl refuses it", () =>
    Effect.gen(function*() {
      for (
        const user of [
          { token: secret, username: "admin" },
          { token: secret, password },
          { tokenFile: "/run/token", username: "admin", password }
        ]
      ) {
        const error = yield* failure(Kubeconfig.fromString(kubeconfig({ user })))
        assert.strictEqual(error.reason, "Invalid", JSON.stringify(Object.keys(user)))
        assert.include(error.message, "more than one authentication method")
      }
      const plugins = yield* failure(
        Kubeconfig.fromString(kubeconfig({ user: { exec: { command: "x" }, "auth-provider": { name: "oidc" } } }))
      )
      assert.include(plugins.message, "both exec and auth-provider")
    }))

  it.effect("a token or basic auth wins over exec and auth-provider (which are ignored with a warning); a client certificate goes along", () =>
    Effect.gen(function*() {
      const cert = { "client-certificate-data": "QUJD", "client-key-data": "REVG" }
      const tokenAndExec = yield* loaded(
        Kubeconfig.fromString(kubeconfig({ user: { token: secret, exec: { command: "get-token" }, ...cert } }))
      )
      assert.deepStrictEqual(tokenAndExec.auth, { _tag: "Token", token: secret })
      assert.deepStrictEqual(tokenAndExec.tls.cert, { _tag: "Data", data: Buffer.from("ABC") })
      assert.deepStrictEqual(tokenAndExec.tls.key, { _tag: "Data", data: Buffer.from("DEF") })
      assert.include(tokenAndExec.warnings.join("\n"), "exec plugin that is not run because the user also has a bearer token")
      const basicAndProvider = yield* loaded(
        Kubeconfig.fromString(kubeconfig({ user: { username: "admin", password, "auth-provider": { name: "oidc" } } }))
      )
      assert.deepStrictEqual(basicAndProvider.auth, { _tag: "Basic", username: "admin", password })
      assert.include(basicAndProvider.warnings.join("\n"), "auth-provider \"oidc\", which is not used because the user also has a username and password")
    }))

  it.effect("exec runs only without a client certificate; auth-provider is used with one", () =>
    Effect.gen(function*() {
      const cert = { "client-certificate-data": "QUJD", "client-key-data": "REVG" }
      const execAndCert = yield* loaded(Kubeconfig.fromString(kubeconfig({ user: { exec: { command: "get-token" }, ...cert } })))
      assert.deepStrictEqual(execAndCert.auth, { _tag: "None" })
      assert.isDefined(execAndCert.tls.cert)
      assert.include(execAndCert.warnings.join("\n"), "client certificate")
      const providerUser = { "auth-provider": { name: "oidc", config: { "id-token": secret } }, ...cert }
      const providerAndCert = yield* loaded(Kubeconfig.fromString(kubeconfig({ user: providerUser })))
      assert.deepStrictEqual(providerAndCert.auth, { _tag: "AuthProvider", name: "oidc", user: providerUser })
      assert.isDefined(providerAndCert.tls.key)
      const noName = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { "auth-provider": { config: {} } } })))
      assert.include(noName.message, "auth-provider has no name")
      const passwordOnly = yield* loaded(Kubeconfig.fromString(kubeconfig({ user: { password } })))
      assert.deepStrictEqual(passwordOnly.auth, { _tag: "None" })
      assert.include(passwordOnly.warnings.join("\n"), "password but no username")
    }))

  it.effect("exec keeps the raw mapping (a command with a path made absolute) and the CA for the plugin's cluster info", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      writeFile(dir, "ca.crt", "CA-BYTES")
      const exec = { apiVersion: "client.authentication.k8s.io/v1", command: "./bin/get-token", args: ["--x"] }
      const file = writeFile(dir, "config", kubeconfig({ cluster: { "certificate-authority": "ca.crt" }, user: { exec } }))
      const result = yield* loaded(Kubeconfig.fromFiles([file]))
      assert.deepStrictEqual(result.auth, { _tag: "Exec", exec: { ...exec, command: path.join(dir, "bin/get-token") } })
      assert.strictEqual(result.certificateAuthorityData, Buffer.from("CA-BYTES").toString("base64"))
      assert.strictEqual(result.baseDir, dir)
      const onPath = yield* loaded(
        Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority-data": "QUJD" }, user: { exec: { command: "aws" } } }))
      )
      assert.deepStrictEqual(onPath.auth, { _tag: "Exec", exec: { command: "aws" } }, "a command on PATH stays as it is")
      assert.strictEqual(onPath.certificateAuthorityData, "QUJD")
      const token = yield* loaded(Kubeconfig.fromString(kubeconfig({ cluster: { "certificate-authority-data": "QUJD" } })))
      assert.isUndefined(token.certificateAuthorityData, "only exec users need it")
      const notMapping = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { exec: "get-token" } })))
      assert.include(notMapping.message, "users[\"u1\"].user.exec must be a mapping")
    }))

  it.effect("impersonation: as, as-uid, as-groups and as-user-extra; groups, uid or extras need as", () =>
    Effect.gen(function*() {
      const result = yield* loaded(
        Kubeconfig.fromString(
          kubeconfig({
            user: {
              token: secret,
              as: "jane",
              "as-uid": "42",
              "as-groups": ["devs", "ops"],
              "as-user-extra": { scopes: ["view", "edit"] }
            }
          })
        )
      )
      assert.deepStrictEqual(result.impersonate, {
        user: "jane",
        uid: "42",
        groups: ["devs", "ops"],
        extra: { scopes: ["view", "edit"] }
      })
      const none = yield* loaded(Kubeconfig.fromString(kubeconfig()))
      assert.deepStrictEqual(none.impersonate, { groups: [], extra: {} })
      const noUser = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { "as-groups": ["devs"] } })))
      assert.strictEqual(noUser.reason, "Invalid")
      assert.include(noUser.message, "without as")
      const badGroups = yield* failure(Kubeconfig.fromString(kubeconfig({ user: { as: "jane", "as-groups": "devs" } })))
      assert.include(badGroups.message, "as-groups must be a list of strings")
    }))
})

describe("kubeconfig: in a pod", () => {
  it.effect("in-cluster outside a pod fails with NoCluster", () =>
    Effect.gen(function*() {
      const error = yield* failure(Kubeconfig.inCluster({ env: {} }))
      assert.strictEqual(error.reason, "NoCluster")
      assert.include(error.message, "KUBERNETES_SERVICE_HOST")
    }))

  it.effect("in a pod: the service account's token, CA and namespace, the API server from the environment", () =>
    Effect.gen(function*() {
      const root = tempDir()
      fs.writeFileSync(path.join(root, "token"), `${secret}\n`)
      fs.writeFileSync(path.join(root, "ca.crt"), "-----BEGIN CERTIFICATE-----\n")
      fs.writeFileSync(path.join(root, "namespace"), "jobs")
      const result = yield* loaded(Kubeconfig.inCluster({
        root,
        env: { KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }
      }))
      assert.strictEqual(result.server, "https://[fd00::1]:443")
      assert.strictEqual(result.namespace, "jobs")
      assert.strictEqual(result.context, "in-cluster")
      assert.strictEqual(result.source, "(in-cluster)")
      assert.deepStrictEqual(result.tls.ca, { _tag: "File", path: path.join(root, "ca.crt") })
      assert.deepStrictEqual(result.auth, { _tag: "TokenFile", path: path.join(root, "token"), token: secret }, "trimmed")

      fs.rmSync(path.join(root, "token"))
      const noToken = yield* failure(Kubeconfig.inCluster({
        root,
        env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }
      }))
      assert.strictEqual(noToken.reason, "NoCredentials")
      assert.include(noToken.message, "automountServiceAccountToken")
    }))
})
