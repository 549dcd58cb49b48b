/**
 * Misbehaving upload servers on 127.0.0.1 that the coronerd-compatible
 * example server does not play: any handler, over HTTP or over HTTPS with a
 * self-signed certificate made at test time by the `openssl` CLI.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { tempDir } from "./temp.js"

/** A running server: its origin and the requests it has seen. */
export interface TestServer {
  readonly origin: string
  readonly requests: Array<http.IncomingMessage>
}

/** A self-signed certificate for 127.0.0.1 (and `localhost`), made by `openssl` in a fresh folder. */
export const selfSigned: Effect.Effect<{ readonly key: string; readonly cert: string }, never, Scope.Scope> = Effect
  .gen(function*() {
    const dir = yield* tempDir
    const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")]
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=effect-bcd test",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost"
    ], { stdio: "ignore" })
    return { key: fs.readFileSync(key, "utf8"), cert: fs.readFileSync(cert, "utf8") }
  })

/** A server on 127.0.0.1 running `handler`, over TLS when `tls` is given; closed with the scope. */
export const serve = (
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  tls?: { readonly key: string; readonly cert: string }
): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; state: TestServer }>((resume) => {
      const requests: Array<http.IncomingMessage> = []
      const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
        requests.push(req)
        handler(req, res)
      }
      const server = tls === undefined ? http.createServer(onRequest) : https.createServer(tls, onRequest)
      server.listen(0, "127.0.0.1", () => {
        const port = (server.address() as AddressInfo).port
        const origin = `${tls === undefined ? "http" : "https"}://127.0.0.1:${port}`
        resume(Effect.succeed({ server, state: { origin, requests } }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ state }) => state))

/** Reads a request's body whole, then calls `then`. */
export const afterBody = (req: http.IncomingMessage, then: () => void): void => {
  req.on("data", () => undefined)
  req.on("end", then)
  req.on("error", () => undefined)
}
