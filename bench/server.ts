// A loopback HTTP server whose route fails (a defect, answered 500) under load, with `Tracer.capture` in a
// middleware against the same server without tracing, interleaved in one run. Latencies are measured by a
// load generator in a separate process (keep-alive connections). The tracer is `/bin/true`: this measures
// what the library costs a server, not a tracer's own freeze (see "Freeze per snapshot" for that).
// Run: npx tsx bench/server.ts [requests per round] [rounds]
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Command from "@effect/platform/Command"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import * as http from "node:http"
import { promisify } from "node:util"
import { captureFailures } from "../examples/server.js"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { machine, median, writeSection } from "./results.js"

const REQUESTS = Number(process.argv[2] ?? 2000)
const ROUNDS = Number(process.argv[3] ?? 5)
const CONCURRENCY = 16

/** The load generator: `n` GETs of `url` over `c` keep-alive connections; prints the latencies (ms) as JSON. */
if (process.argv[2] === "--load") {
  const [url, n, c] = [process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])]
  const agent = new http.Agent({ keepAlive: true, maxSockets: c })
  const latencies: Array<number> = []
  let next = 0
  const one = (): Promise<void> =>
    next++ >= n ? Promise.resolve() : new Promise<void>((resolve, reject) => {
      const started = performance.now()
      http.get(url, { agent }, (res) => {
        res.resume()
        res.on("end", () => {
          latencies.push(performance.now() - started)
          resolve()
        })
      }).on("error", reject)
    }).then(one)
  await Promise.all(Array.from({ length: c }, one))
  agent.destroy()
  process.stdout.write(JSON.stringify(latencies) + "\n")
  process.exit(0)
}

const router = HttpRouter.empty.pipe(HttpRouter.get("/fail", Effect.die(new TypeError("cart.items is undefined"))))
const backend = {
  name: "true",
  program: "/bin/true",
  defaultTraceOptions: TraceOptions.defaults,
  command: () => Command.make("/bin/true")
}

const serve = (port: number, traced: boolean) =>
  (traced ? HttpServer.serve(router, captureFailures) : HttpServer.serve(router)).pipe(
    Layer.provide(NodeHttpServer.layer(http.createServer, { port, host: "127.0.0.1" }))
  )

const p99 = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.99)]!

/** The load generator's latencies; asynchronous, so that the servers in this process keep answering. */
const load = async (port: number) => {
  const args = ["--load", `http://127.0.0.1:${port}/fail`, String(REQUESTS), String(CONCURRENCY)]
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, import.meta.filename, ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 2 ** 20
  })
  return JSON.parse(stdout) as Array<number>
}

const main = Effect.gen(function*() {
  const results = { plain: [] as Array<number>, captured: [] as Array<number> }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, port] of [["plain", 18080], ["captured", 18081]] as const) {
      const latencies = yield* Effect.promise(() => load(port))
      results[name].push(p99(latencies))
    }
  }
  const ratio = median(results.captured) / median(results.plain)
  const spread = (xs: ReadonlyArray<number>) =>
    `${median(xs).toFixed(1)} ms [${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}]`
  const body =
    `${machine()}. ${ROUNDS} rounds of ${REQUESTS} requests over ${CONCURRENCY} keep-alive connections to a route that ` +
    `dies (500), each round against both servers in turn; the p99 of each round, median [min–max] over rounds.\n\n` +
    `| server | p99 latency |\n|---|---|\n| without tracing | ${spread(results.plain)} |\n` +
    `| with \`Tracer.capture\` of every defect and 5xx | ${spread(results.captured)} (${ratio.toFixed(2)}× without) |`
  console.log(body)
  writeSection("A failing route under load (bench/server.ts)", body)
})

// The load generator runs in its own process, so that the servers' event loop is this process's alone.
Layer.launch(Layer.mergeAll(serve(18080, false), serve(18081, true))).pipe(
  Effect.provide(Layer.merge(Tracer.layer(backend), TracerConfig.layer({}))),
  Effect.forkDaemon,
  Effect.zipRight(Effect.sleep("500 millis")),
  Effect.zipRight(main),
  Effect.runPromise
).then(() => process.exit(0))
