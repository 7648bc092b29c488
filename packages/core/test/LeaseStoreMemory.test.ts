import { suite } from "@leasekit/core/testing"
import * as LeaseStore from "../src/LeaseStore.ts"

suite("memory", LeaseStore.layerMemory(), { otherNamespace: "other", coordinatedLeaderElection: true })

suite("memory without watch", LeaseStore.layerMemory({ watch: false }), { watch: false })
