/**
 * What the numbers were measured on: the machine (cores, memory, CPU model, load) and the versions
 * of everything involved (Node, effect, kube-apiserver, etcd, client-go, Go).
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Machine {
  readonly cores: number
  readonly cpuModel: string
  readonly memoryGiB: number
  readonly kernel: string
  readonly loadAverage: ReadonlyArray<number>
}

export const machine = (): Machine => ({
  cores: Os.cpus().length,
  cpuModel: Os.cpus()[0]?.model.trim() ?? "unknown",
  memoryGiB: Os.totalmem() / 1024 ** 3,
  kernel: `${Os.type()} ${Os.release()}`,
  loadAverage: Os.loadavg()
})

const firstLine = (command: string, args: ReadonlyArray<string>): string => {
  try {
    const out = ChildProcess.execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })
    return out.split("\n")[0]!.trim()
  } catch (error) {
    return `unknown (${String(error).split("\n")[0]})`
  }
}

const packageVersion = (benchDir: string, name: string): string => {
  try {
    const file = Path.join(benchDir, "node_modules", ...name.split("/"), "package.json")
    return (JSON.parse(Fs.readFileSync(Fs.realpathSync(file), "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
}

export interface Versions {
  readonly node: string
  readonly effect: string
  readonly kubeApiserver: string
  readonly etcd: string
  readonly clientGo: string
  readonly go: string
}

export const versions = (options: {
  readonly benchDir: string
  readonly kubeApiserver: string
  readonly etcd: string
  readonly clientgoBinary: string
}): Versions => {
  // The baseline is built from the Debian kubernetes tree; its client-go is that tree's staging copy.
  // (build.sh names the binary clientgo-contender-<kubernetes version>-<hash>).
  const tree = /clientgo-contender-(v[0-9.]+)-/.exec(Path.basename(options.clientgoBinary))
  return {
    node: process.version,
    effect: packageVersion(options.benchDir, "effect"),
    kubeApiserver: firstLine(options.kubeApiserver, ["--version"]),
    etcd: firstLine(options.etcd, ["--version"]),
    clientGo: tree ? `k8s.io/client-go from Kubernetes ${tree[1]} (Debian source, vendored staging copy)` : "unknown",
    go: firstLine("go", ["version"])
  }
}
