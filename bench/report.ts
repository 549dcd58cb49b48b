/**
 * What embedding Node's view of the process in a text snapshot costs the
 * event loop: the library's `takeReport` (handles, heap, memory, resource
 * usage, limits, read without another thread's help, sanitised, as
 * indented JSON) against Node's own `process.report.getReport()` (the
 * baseline; not used by the library, since it waits for ever on a Worker
 * blocked in a native call), in one process, interleaved, with a few open
 * handles (a server, timers, a Worker). Also the JSON's size.
 *
 * The figures go to bench/RESULTS.md, section "Node report per snapshot"
 * (`--dry`: printed only).
 *
 *   npx tsx bench/report.ts [runs] [--dry]        (default 30)
 */
import * as Redacted from "effect/Redacted"
import * as http from "node:http"
import { Worker } from "node:worker_threads"
import { takeReport } from "../src/internal/snapshot/report.js"
import { machine, median, writeSection } from "./results.js"

const dry = process.argv.includes("--dry")
const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 30)

const server = http.createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1")
const timers = Array.from({ length: 10 }, (_, i) => setInterval(() => {}, 1000 + i))
const worker = new Worker("setInterval(() => {}, 1000)", { eval: true })
await new Promise((resolve) => worker.once("online", resolve))

const secrets = [Redacted.make("bench-token-0123456789")]
const time = (f: () => unknown) => {
  const start = performance.now()
  f()
  return performance.now() - start
}
// Warm-up: the first report loads what it needs.
for (let i = 0; i < 3; i++) takeReport(secrets)
const alone: Array<number> = []
const sanitised: Array<number> = []
for (let i = 0; i < runs; i++) {
  alone.push(time(() => process.report.getReport()))
  sanitised.push(time(() => takeReport(secrets)))
}
const bytes = Buffer.byteLength(takeReport(secrets))
const rawBytes = Buffer.byteLength(JSON.stringify(process.report.getReport(), null, 2))
server.close()
timers.forEach(clearInterval)
await worker.terminate()

const spread = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return `${sorted[0]!.toFixed(1)}–${sorted[sorted.length - 1]!.toFixed(1)}`
}
const body = [
  `Machine: ${machine()}. ${runs} runs each, interleaved, in one process with a server, 10 timers and a Worker.`,
  "",
  "| What | Median (ms) | Range (ms) | Ratio to `getReport()` |",
  "|---|---|---|---|",
  `| \`process.report.getReport()\` (baseline) | ${median(alone).toFixed(1)} | ${spread(alone)} | 1.00× |`,
  `| \`takeReport\`: the library's state, sanitised, as indented JSON | ${median(sanitised).toFixed(1)} | ${
    spread(sanitised)
  } | ${(median(sanitised) / median(alone)).toFixed(2)}× |`,
  "",
  `The embedded JSON: ${(bytes / 1024).toFixed(1)} KiB (Node's report as indented JSON: ${
    (rawBytes / 1024).toFixed(1)
  } KiB). The time is the event loop's, once per snapshot, with the tracer lock held; it is not time the process is stopped.`
].join("\n")
console.log(body)
if (!dry) writeSection("Node report per snapshot (bench/report.ts)", body)
