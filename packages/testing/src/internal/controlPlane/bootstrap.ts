/**
 * What a started control plane needs before a test uses it: the test namespace, the Role and
 * RoleBinding that let `restricted` get, create and update leases there (and nothing else), and a
 * kubeconfig file per user.
 *
 * Guarantees: objects are created as admin and an existing one (409) is accepted; when `bootstrap`
 * succeeds the RBAC for `restricted` is effective — the authorizer learns of new bindings through
 * an informer, so it is asked (a SelfSubjectAccessReview as `restricted`, which puts no lease
 * request in the audit log) until it allows, for up to about 20 seconds.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type { ApiRequest, ApiResponse, ControlPlaneUser } from "../../ControlPlane.ts"
import * as Rbac from "../rbac.ts"
import * as Kubeconfig from "./kubeconfig.ts"
import type { UserName } from "./model.ts"
import { ControlPlaneError } from "./model.ts"

type Request = (req: ApiRequest) => Effect.Effect<ApiResponse, ControlPlaneError>

/** Creates the namespace and the RBAC for `restricted`, and waits until it is effective. @internal */
export const namespaceAndRbac = (request: Request, namespace: string): Effect.Effect<void, ControlPlaneError> =>
  Effect.gen(function*() {
    const ensure = (path: string, body: unknown) =>
      request({ method: "POST", path, body }).pipe(
        Effect.flatMap((res) =>
          res.status === 201 || res.status === 409
            ? Effect.void
            : Effect.fail(
              new ControlPlaneError({ reason: "Setup", detail: `POST ${path} answered ${res.status}: ${res.body}` })
            )
        )
      )
    yield* ensure("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } })
    yield* ensure(Rbac.path(namespace, "roles"), Rbac.leaseRole("leasekit-restricted"))
    yield* ensure(
      Rbac.path(namespace, "rolebindings"),
      Rbac.roleBinding("leasekit-restricted", { kind: "User", name: "restricted" })
    )
    yield* request({
      user: "restricted",
      method: "POST",
      path: Rbac.reviewPath,
      body: Rbac.updateLeasesReview(namespace),
      timeout: Duration.seconds(2)
    }).pipe(
      Effect.flatMap((res) =>
        Rbac.isAllowed(res.json)
          ? Effect.void
          : Effect.fail(
            new ControlPlaneError({ reason: "Setup", detail: `RBAC for restricted not effective: ${res.status} ${res.body}` })
          )
      ),
      Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 200 })
    )
  })

/** The three users with a kubeconfig file each in the folder. @internal */
export const users = (
  credentials: Kubeconfig.Credentials
): Effect.Effect<{ readonly [U in UserName]: ControlPlaneUser }, ControlPlaneError> =>
  Effect.gen(function*() {
    const user = (name: UserName) =>
      Effect.map(
        Kubeconfig.write(credentials, { user: name }),
        (kubeconfig): ControlPlaneUser => ({ name, token: credentials.tokens[name], kubeconfig })
      )
    return { admin: yield* user("admin"), restricted: yield* user("restricted"), nobody: yield* user("nobody") }
  })
