/**
 * How the two servers are configured: the files they read (static bearer tokens, the audit
 * policy, data and certificate folders) and their command lines.
 *
 * kube-apiserver: HTTPS on `127.0.0.1:<port>` with the PKI's serving certificate, client
 * certificates verified against the CA, the static tokens, RBAC, service-account keys, no insecure
 * port, and — when auditing is on — a JSON audit log at Metadata level of every resource request
 * by the three users (health, discovery and OpenAPI requests are not logged), written in blocking
 * mode so that an event is in the file when its request completes. etcd: one member on loopback
 * (plain HTTP), its data in the folder.
 *
 * Extra flags given in the options are appended, so they win over these.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import type { Pki } from "../pki.ts"
import type { ControlPlaneError, UserName } from "./model.ts"
import { setupError } from "./model.ts"

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/readyz*", "/healthz*", "/livez*", "/version", "/openapi*", "/api", "/api/*", "/apis", "/apis/*"]
  - level: Metadata
    users: ["admin", "restricted", "nobody"]
  - level: None
`

/** Where things are, and which ports. @internal */
export interface Layout {
  readonly dir: string
  readonly port: number
  readonly etcdPort: number
  readonly etcdPeerPort: number
  readonly auditLog: string
}

const file = (layout: Layout, name: string) => Path.join(layout.dir, name)

/** Writes the token file, the audit policy and the servers' folders. @internal */
export const writeFiles = (
  layout: Layout,
  tokens: { readonly [U in UserName]: string }
): Effect.Effect<void, ControlPlaneError> =>
  Effect.try({
    try: () => {
      Fs.writeFileSync(
        file(layout, "tokens.csv"),
        [
          `${tokens.admin},admin,leasekit-admin,"system:masters"`,
          `${tokens.restricted},restricted,leasekit-restricted`,
          `${tokens.nobody},nobody,leasekit-nobody`
        ].join("\n") + "\n",
        { mode: 0o600 }
      )
      Fs.writeFileSync(file(layout, "audit-policy.yaml"), auditPolicy)
      Fs.mkdirSync(file(layout, "etcd-data"), { mode: 0o700 })
      Fs.mkdirSync(file(layout, "apiserver-certs"), { mode: 0o700 })
    },
    catch: setupError("cannot write the configuration files")
  })

/** Servers read no configuration from our environment (etcd would honour `ETCD_*` variables). @internal */
export const serverEnv = (): Readonly<Record<string, string | undefined>> =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")))

/** etcd's flags. @internal */
export const etcdArgs = (layout: Layout, extra: ReadonlyArray<string>): ReadonlyArray<string> => {
  const url = `http://127.0.0.1:${layout.etcdPort}`
  const peer = `http://127.0.0.1:${layout.etcdPeerPort}`
  return [
    "--name=leasekit",
    `--data-dir=${file(layout, "etcd-data")}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=leasekit=${peer}`,
    "--initial-cluster-state=new",
    `--initial-cluster-token=leasekit-${Path.basename(layout.dir)}`,
    ...extra
  ]
}

/** kube-apiserver's flags. @internal */
export const apiserverArgs = (
  layout: Layout,
  pki: Pki,
  audit: boolean,
  extra: ReadonlyArray<string>
): ReadonlyArray<string> => [
  `--etcd-servers=http://127.0.0.1:${layout.etcdPort}`,
  "--bind-address=127.0.0.1",
  "--advertise-address=127.0.0.1",
  `--secure-port=${layout.port}`,
  "--insecure-port=0",
  `--cert-dir=${file(layout, "apiserver-certs")}`,
  `--tls-cert-file=${pki.certFile}`,
  `--tls-private-key-file=${pki.keyFile}`,
  `--client-ca-file=${pki.caFile}`,
  `--token-auth-file=${file(layout, "tokens.csv")}`,
  "--authorization-mode=RBAC",
  "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
  `--service-account-key-file=${pki.serviceAccountPublicKeyFile}`,
  `--service-account-signing-key-file=${pki.serviceAccountPrivateKeyFile}`,
  "--service-cluster-ip-range=10.0.0.0/24",
  "--endpoint-reconciler-type=none",
  "--profiling=false",
  ...(audit
    ? [
      `--audit-policy-file=${file(layout, "audit-policy.yaml")}`,
      `--audit-log-path=${layout.auditLog}`,
      "--audit-log-format=json",
      "--audit-log-mode=blocking"
    ]
    : []),
  ...extra
]
