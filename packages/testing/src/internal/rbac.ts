/**
 * The restricted identity's rights, written once for the local control plane's static user and
 * an existing cluster's ServiceAccount: a Role that may only `get`, `create` and `update` leases
 * in one namespace, the RoleBinding that grants it, and the SelfSubjectAccessReview that asks
 * whether the authorizer applies it yet (it learns of new bindings through an informer).
 *
 * @internal
 */
import { asRecord } from "./json.ts"

const group = "rbac.authorization.k8s.io"

/** The Role `name`: get, create and update on `coordination.k8s.io` leases. @internal */
export const leaseRole = (name: string, labels?: Readonly<Record<string, string>>) => ({
  apiVersion: `${group}/v1`,
  kind: "Role",
  metadata: { name, ...(labels === undefined ? {} : { labels }) },
  rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }]
})

/** The RoleBinding `name` granting the Role `name` to `subject`. @internal */
export const roleBinding = (
  name: string,
  subject:
    | { readonly kind: "User"; readonly name: string }
    | { readonly kind: "ServiceAccount"; readonly name: string; readonly namespace: string },
  labels?: Readonly<Record<string, string>>
) => ({
  apiVersion: `${group}/v1`,
  kind: "RoleBinding",
  metadata: { name, ...(labels === undefined ? {} : { labels }) },
  roleRef: { apiGroup: group, kind: "Role", name },
  subjects: [subject.kind === "User" ? { apiGroup: group, ...subject } : subject]
})

/** The path of the namespace's Roles (`roles`) or RoleBindings (`rolebindings`). @internal */
export const path = (namespace: string, kind: "roles" | "rolebindings") => `/apis/${group}/v1/namespaces/${namespace}/${kind}`

/** Where to POST `updateLeasesReview`, as the identity in question. @internal */
export const reviewPath = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

/** "May I update leases in `namespace`?" @internal */
export const updateLeasesReview = (namespace: string) => ({
  apiVersion: "authorization.k8s.io/v1",
  kind: "SelfSubjectAccessReview",
  spec: { resourceAttributes: { namespace, verb: "update", group: "coordination.k8s.io", resource: "leases" } }
})

/** The review's answer: allowed? @internal */
export const isAllowed = (review: unknown): boolean => asRecord(asRecord(review)["status"])["allowed"] === true
