/**
 * The two bare clients figure 6 measures renewals against: one PUT with node:https and
 * JSON.stringify on one keep-alive connection, and the same over one node:http2 session (as
 * client-go's transport does). By definition they are not `KubeClient`, so they stay hand-written.
 *
 * They read the server, CA and bearer token of the first cluster and user of the (JSON)
 * kubeconfig the control plane writes; they support nothing else (no YAML, no client
 * certificates, no exec credentials), and reject any answer with a status ≥ 300.
 *
 * @internal
 */
import * as Fs from "node:fs"
import * as Http2 from "node:http2"
import * as Https from "node:https"

/** One request: method, path, JSON body → the JSON answer. */
export type Send = (method: string, path: string, body: unknown) => Promise<Record<string, unknown>>

const credentials = (kubeconfig: string) => {
  const config = JSON.parse(Fs.readFileSync(kubeconfig, "utf8")) as {
    clusters: Array<{ cluster: { server: string; "certificate-authority-data": string } }>
    users: Array<{ user: { token: string } }>
  }
  return {
    server: config.clusters[0]!.cluster.server,
    ca: Buffer.from(config.clusters[0]!.cluster["certificate-authority-data"], "base64"),
    token: config.users[0]!.user.token
  }
}

/** node:https on one keep-alive connection. */
export const https = (kubeconfig: string): Send => {
  const { ca, server, token } = credentials(kubeconfig)
  const agent = new Https.Agent({ keepAlive: true, maxSockets: 1, ca })
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const request = Https.request(`${server}${path}`, {
        method,
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" }
      }, (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          if ((response.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path}: ${response.statusCode} ${text}`))
          else resolve(JSON.parse(text) as Record<string, unknown>)
        })
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end(JSON.stringify(body))
    })
}

/** One TLS connection multiplexing every request (node:http2). */
export const http2 = (kubeconfig: string): Send => {
  const { ca, server, token } = credentials(kubeconfig)
  const session = Http2.connect(server, { ca })
  session.unref()
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const stream = session.request({
        ":method": method,
        ":path": path,
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json"
      })
      let status = 0
      const chunks: Array<Buffer> = []
      stream.on("response", (headers) => (status = Number(headers[":status"])))
      stream.on("data", (chunk: Buffer) => chunks.push(chunk))
      stream.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8")
        if (status >= 300) reject(new Error(`${method} ${path}: ${status} ${text}`))
        else resolve(JSON.parse(text) as Record<string, unknown>)
      })
      stream.on("error", reject)
      stream.end(JSON.stringify(body))
    })
}
