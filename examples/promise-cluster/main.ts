/**
 * leasekit on a cluster, from plain TypeScript (no Effect in sight): `IntervalLease.run` takes the
 * lease `nightly-report`, runs the function while holding it — its `signal` aborts if the lease is
 * lost — and releases it.
 *
 * Where: the kubeconfig in `KUBECONFIG` (else `~/.kube/config`, else the pod's service account);
 * the namespace in `LEASE_NAMESPACE` (default `default`).
 *
 * Run: `npm install && node main.ts`.
 */
// #region readme
import { IntervalLease } from "@leasekit/promise"
import { setTimeout as sleep } from "node:timers/promises"

const lease = new IntervalLease({ namespace: process.env.LEASE_NAMESPACE ?? "default", leaseName: "nightly-report" })
try {
  const rows = await lease.run(async (signal, token) => {
    // runs only while this process holds the lease; `signal` aborts if it is lost
    console.log(`holding the lease, fencing token ${token}`)
    await sleep(1_000, undefined, { signal })
    return 42
  }, { timeoutMs: 60_000 })
  console.log(`report written: ${rows} rows`)
} finally {
  await lease.close()
}
// #endregion
