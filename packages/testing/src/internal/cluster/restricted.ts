/**
 * The restricted identity on an existing cluster: a ServiceAccount that may only get, create and
 * update leases in the suite's namespace (a Role and RoleBinding there, labelled as the suite's),
 * with a token from the TokenRequest API (valid one hour), and a kubeconfig that uses it.
 *
 * The kubeconfig is a list, as `KUBECONFIG` takes it: a small file of our own (the identity's user,
 * a context naming the admin context's cluster and the namespace, and `current-context`) followed
 * by the admin kubeconfig(s). Merged as kubectl merges them, the first file's entries win, and the
 * cluster entry — server, CA, TLS name, proxy — is the admin's, exactly as written there (relative
 * paths still resolve against its own file). Only the admin kubeconfig's `current-context` and
 * that context's `cluster` are read here.
 *
 * Guarantees: when `make` succeeds the authorizer already allows the identity to update leases
 * (it learns of bindings through an informer; asked with SelfSubjectAccessReviews for up to 20 s).
 *
 * @internal
 */
import * as KubeClient from "@leasekit/kubernetes/KubeClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Yaml from "yaml"
import { asRecord, asString } from "../json.ts"
import * as Rbac from "../rbac.ts"
import { expectStatus, managedBy, send } from "./api.ts"
import { ClusterError } from "./model.ts"

const name = "leasekit-restricted"

/** The cluster name of the current context of a kubeconfig list (first setting wins, as kubectl merges). */
const currentCluster = (kubeconfig: string): Effect.Effect<string, ClusterError> =>
  Effect.try({
    try: () => {
      const files = kubeconfig.split(Path.delimiter).filter((f) => f !== "" && Fs.existsSync(f))
      const configs = files.map((f) => asRecord(Yaml.parse(Fs.readFileSync(f, "utf8"))))
      const current = configs.map((c) => asString(c["current-context"])).find((c) => c !== undefined && c !== "")
      const context = configs.flatMap((c) => Array.isArray(c["contexts"]) ? c["contexts"] : []).map(asRecord).find(
        (entry) => entry["name"] === current
      )
      const cluster = asString(asRecord(context?.["context"])["cluster"])
      if (cluster === undefined) throw new Error(`no cluster for the current context ${current ?? "(none)"}`)
      return cluster
    },
    catch: (cause) =>
      new ClusterError({
        detail: `cannot read ${kubeconfig}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
  })

/** Creates the identity in `namespace` and writes its kubeconfig into `dir`; answers the list. @internal */
export const make = (
  client: KubeClient.KubeClientService,
  kubeconfig: string,
  namespace: string,
  dir: string
): Effect.Effect<string, ClusterError, Scope.Scope> =>
  Effect.gen(function*() {
    const cluster = yield* currentCluster(kubeconfig)
    const post = (what: string, path: string, body: unknown) =>
      send(client, { method: "POST", path, body }).pipe(Effect.flatMap((r) => expectStatus(what, r, [201])))
    yield* post("create the ServiceAccount", `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, labels: managedBy }
    })
    yield* post("create the Role", Rbac.path(namespace, "roles"), Rbac.leaseRole(name, managedBy))
    yield* post(
      "create the RoleBinding",
      Rbac.path(namespace, "rolebindings"),
      Rbac.roleBinding(name, { kind: "ServiceAccount", name, namespace }, managedBy)
    )
    const tokenRequest = yield* post(
      "request a ServiceAccount token (TokenRequest API)",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 3600 } }
    )
    const token = asString(asRecord(asRecord(tokenRequest.json)["status"])["token"])
    if (token === undefined) {
      return yield* new ClusterError({ detail: `TokenRequest answered without a token: ${tokenRequest.body.slice(0, 300)}` })
    }
    const file = Path.join(dir, "kubeconfig-restricted.json")
    yield* Effect.sync(() =>
      Fs.writeFileSync(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          users: [{ name, user: { token } }],
          contexts: [{ name, context: { cluster, user: name, namespace } }],
          "current-context": name
        }),
        { mode: 0o600 }
      )
    )
    const list = [file, ...kubeconfig.split(Path.delimiter).filter((f) => f !== "")].join(Path.delimiter)
    const restricted = yield* KubeClient.makeFromFile(list).pipe(
      Effect.mapError((e) => new ClusterError({ detail: `restricted kubeconfig: ${e.message}`, cause: e }))
    )
    yield* send(restricted, { method: "POST", path: Rbac.reviewPath, body: Rbac.updateLeasesReview(namespace) }).pipe(
      Effect.flatMap((r) =>
        Rbac.isAllowed(r.json)
          ? Effect.void
          : Effect.fail(new ClusterError({ detail: `RBAC for ${name} not effective: ${r.status} ${r.body.slice(0, 300)}` }))
      ),
      Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 100 })
    )
    return list
  })
