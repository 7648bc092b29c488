// CommonJS: require() of the ESM-only packages (require(esm), Node >= 20.19 / 22.12), Promise API.
const { IntervalLease } = require("@leasekit/promise")

const main = async () => {
  const lease = new IntervalLease({ namespace: process.env.LEASE_NAMESPACE, leaseName: process.argv[2], kubeconfig: process.env.KUBECONFIG })
  try {
    const token = await lease.run(async (signal, token) => {
      if (signal.aborted) throw new Error("aborted at start")
      return token
    }, { timeoutMs: 30_000 })
    console.log(`ran with token ${token}`)
  } finally {
    await lease.close()
  }
  console.log(`done on node ${process.version}`)
}
main().catch((error) => {
  console.error(error)
  process.exit(1)
})
