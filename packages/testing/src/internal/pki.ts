/**
 * Throwaway credentials for one control plane: a CA, a serving certificate for 127.0.0.1 and
 * localhost and a client certificate for user `cert-admin` in group `system:masters` (signed by
 * `openssl`), an RSA key pair for service-account tokens and random bearer tokens (both from
 * `node:crypto`).
 *
 * Node can make keys but not certificates, so certificates need the `openssl` command (Debian's
 * `openssl` package; present on nearly every system). The result is checked with
 * `X509Certificate` before it is used: the serving certificate must be signed by the CA and valid
 * for 127.0.0.1.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Process from "../Process.ts"

const run = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Process.run(command, args, { cwd }).pipe(Effect.provide(Process.layer))

/** @internal */
export interface Pki {
  readonly caFile: string
  readonly caPem: string
  readonly certFile: string
  readonly keyFile: string
  /** A client certificate (CN `cert-admin`, O `system:masters`) and its key. */
  readonly clientCertFile: string
  readonly clientKeyFile: string
  readonly serviceAccountPublicKeyFile: string
  readonly serviceAccountPrivateKeyFile: string
}

const opensslConfig = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = leasekit
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`

const ecKeyPem = (): string =>
  Crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" })
    .toString()

/** @internal */
export const randomToken = (): string => Crypto.randomBytes(24).toString("hex")

/** Writes the PKI into `dir` (created if needed). @internal */
export const make = (dir: string, openssl = "openssl"): Effect.Effect<Pki, Error> =>
  Effect.gen(function*() {
    const file = (name: string) => Path.join(dir, name)
    yield* Effect.sync(() => {
      Fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      Fs.writeFileSync(file("openssl.cnf"), opensslConfig)
      Fs.writeFileSync(file("ca.key"), ecKeyPem(), { mode: 0o600 })
      Fs.writeFileSync(file("apiserver.key"), ecKeyPem(), { mode: 0o600 })
      Fs.writeFileSync(file("client.key"), ecKeyPem(), { mode: 0o600 })
      const sa = Crypto.generateKeyPairSync("rsa", { modulusLength: 2048 })
      Fs.writeFileSync(file("sa.key"), sa.privateKey.export({ type: "pkcs1", format: "pem" }), { mode: 0o600 })
      Fs.writeFileSync(file("sa.pub"), sa.publicKey.export({ type: "spki", format: "pem" }))
    })
    const cnf = file("openssl.cnf")
    yield* run(openssl, [
      "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", "30",
      "-config", cnf, "-extensions", "v3_ca", "-subj", "/CN=leasekit-test-ca"
    ], dir)
    /** Signs `<name>.key`'s certificate for `subject` with the CA, with extensions `section`. */
    const issue = (name: string, subject: string, serial: number, section: string) =>
      run(openssl, ["req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-config", cnf, "-subj", subject], dir).pipe(
        Effect.andThen(run(openssl, [
          "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", String(serial),
          "-out", `${name}.crt`, "-days", "30", "-extfile", cnf, "-extensions", section
        ], dir))
      )
    yield* issue("apiserver", "/CN=kube-apiserver", 2, "v3_server")
    yield* issue("client", "/O=system:masters/CN=cert-admin", 3, "v3_client")
    const caPem = Fs.readFileSync(file("ca.crt"), "utf8")
    const ca = new Crypto.X509Certificate(caPem)
    const serving = new Crypto.X509Certificate(Fs.readFileSync(file("apiserver.crt")))
    if (!serving.verify(ca.publicKey) || serving.checkIP("127.0.0.1") === undefined) {
      return yield* Effect.fail(new Error("the generated serving certificate does not verify against the CA for 127.0.0.1"))
    }
    return {
      caFile: file("ca.crt"),
      caPem,
      certFile: file("apiserver.crt"),
      keyFile: file("apiserver.key"),
      clientCertFile: file("client.crt"),
      clientKeyFile: file("client.key"),
      serviceAccountPublicKeyFile: file("sa.pub"),
      serviceAccountPrivateKeyFile: file("sa.key")
    }
  })
