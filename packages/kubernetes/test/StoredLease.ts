/**
 * The unit tests' Lease as a current API server returns it: every field leasekit models, and
 * fields it does not (ownerReferences, finalizers, managedFields, coordinated-election spec
 * fields, a future spec field and a future top-level field) that must survive decoding, encoding
 * and updates. Its times are microsecond-precise and round-trip exactly.
 */
export const stored = {
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: {
    name: "nightly",
    namespace: "jobs",
    uid: "u-1",
    resourceVersion: "41",
    creationTimestamp: "2025-01-01T00:00:00Z",
    labels: { app: "report" },
    annotations: { "example.com/note": "kept" },
    ownerReferences: [{
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "report",
      uid: "d-1",
      controller: true,
      blockOwnerDeletion: true
    }],
    finalizers: ["example.com/keep"],
    managedFields: [{ manager: "kubectl", operation: "Update", apiVersion: "coordination.k8s.io/v1" }]
  },
  spec: {
    holderIdentity: "old-holder",
    leaseDurationSeconds: 15,
    acquireTime: "2023-11-14T22:13:20.123000Z",
    renewTime: "2023-11-14T22:13:30.123456Z",
    leaseTransitions: 3,
    strategy: "OldestEmulationVersion",
    preferredHolder: "candidate-2",
    someFutureField: { nested: [1, 2] }
  },
  someFutureTopLevelField: "kept"
}
