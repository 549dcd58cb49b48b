/**
 * A server that snapshots its failures without making any response wait: a
 * middleware hands every defect and every 5xx to `Tracer.capture`, which
 * returns at once, runs the trace in the background, and drops traces in a
 * storm (counted in `TraceMetrics.traces`).
 *
 * Run it with `npx tsx examples/server.ts`, then `curl localhost:8080/fail`.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Cause, Effect, Layer } from "effect"
import { createServer } from "node:http"
import { pathToFileURL } from "node:url"
import { GdbLive, Tracer } from "../src/index.js"

/**
 * Captures a snapshot for every defect, and for every response with a 5xx
 * status; the response itself is never delayed.
 *
 * @since 0.1.0
 */
export const captureFailures = HttpMiddleware.make((app) =>
  app.pipe(
    Effect.tapErrorCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Tracer.capture(cause)),
    Effect.tap((response) =>
      response.status >= 500 ? Tracer.capture(new Error(`HTTP ${response.status}`)) : Effect.void
    )
  )
)

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/ok", HttpServerResponse.text("ok")),
  HttpRouter.get("/fail", Effect.die(new TypeError("cart.items is undefined"))),
  HttpRouter.get("/unavailable", HttpServerResponse.text("try later", { status: 503 }))
)

/**
 * The server on `port` of 127.0.0.1, with the middleware.
 *
 * @since 0.1.0
 */
export const ServerLive = (port: number) =>
  HttpServer.serve(router, captureFailures).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
  )

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  Layer.launch(ServerLive(8080).pipe(Layer.provide(GdbLive))).pipe(Effect.runFork)
}
