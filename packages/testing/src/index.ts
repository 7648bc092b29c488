/**
 * `@leasekit/testing`: a real local Kubernetes control plane (etcd + kube-apiserver) for tests,
 * a TCP fault proxy to put between a client and it, the process layer leasekit's tools share, and a
 * contender harness: a contender process that takes leases on it, driven through one line
 * protocol, the fenced resource its critical sections write to, and the exclusion checker.
 *
 * @module @leasekit/testing
 * @since 0.1.0
 */

/**
 * Finding the etcd / kube-apiserver / kubectl binaries.
 *
 * @since 0.1.0
 */
export * as ControlPlaneAssets from "./ControlPlaneAssets.ts"

/**
 * Starting, controlling and inspecting a local control plane.
 *
 * @since 0.1.0
 */
export * as ControlPlane from "./ControlPlane.ts"

/**
 * "A cluster" to test against: an existing one named by the environment, else a local control
 * plane; namespaces, a restricted identity, kubectl and plain API requests.
 *
 * @since 0.2.0
 */
export * as Cluster from "./Cluster.ts"

/**
 * Reading kube-apiserver's JSON audit log: requests between two marks, filtered and counted.
 *
 * @since 0.2.0
 */
export * as AuditLog from "./AuditLog.ts"

/**
 * Child processes in their own process group: spawning, signalling, the one SIGTERM → grace →
 * SIGKILL stop, line protocols over stdin/stdout, and a lifeline for when this process dies.
 *
 * @since 0.2.0
 */
export * as Process from "./Process.ts"

/**
 * A TCP proxy with latency, blackhole and reset faults.
 *
 * @since 0.1.0
 */
export * as FaultProxy from "./FaultProxy.ts"

/**
 * The line protocol of contender processes: commands, events, the µs `CLOCK_MONOTONIC` clock.
 *
 * @since 0.2.0
 */
export * as ContenderProtocol from "./ContenderProtocol.ts"

/**
 * Driving contender processes: spawn, send commands, await events, stop.
 *
 * @since 0.2.0
 */
export * as Contender from "./Contender.ts"

/**
 * The fenced resource a contender's critical section writes to with its fencing token.
 *
 * @since 0.2.0
 */
export * as Fence from "./Fence.ts"

/**
 * The exclusion checker: overlaps, stale writes accepted, token order, stuck periods, pauses.
 *
 * @since 0.2.0
 */
export * as Exclusion from "./Exclusion.ts"
