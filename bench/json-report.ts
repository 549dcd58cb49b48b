/**
 * What a Backtrace JSON report costs, each figure against a baseline measured
 * in the same run:
 *
 * 1. Building the report of a real snapshot (gdb's and eu-stack's, of this
 *    process): `readReport` against reading the same file line by line and
 *    doing nothing with it (the I/O floor).
 * 2. Sending a large file attached to a report (`multipart/form-data`, as
 *    the gdb backend sends a core file): peak RSS growth and time, against
 *    the same file streamed as the whole body (the raw upload) and read into
 *    memory first. Each upload in a fresh child process, to a sink in this
 *    one.
 *
 *     npx tsx bench/json-report.ts [MiB=256] [runs=15]
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { EuStack, Gdb, Tracer, TracerConfig } from "../src/index.js"
import { submissionBody } from "../src/internal/jsonReport/body.js"
import { readReport } from "../src/internal/jsonReport/read.js"
import { uploadFile } from "../src/internal/upload/file.js"
import type { TraceResult } from "../src/TracerBackend.js"
import { machine, median, writeSection } from "./results.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const run = promisify(execFile)

/** One upload of `file` in this (fresh) process: its peak RSS growth and time, as a JSON line. */
if (process.argv[2] === "--child") {
  const [, , , mode, file, origin] = process.argv as Array<string>
  const url = new URL(`${origin}/post?format=json&token=bench`)
  const options = { url, timeout: Duration.minutes(5), retry: Schedule.stop, unlink: false }
  const report = new TextEncoder().encode(JSON.stringify({ uuid: "0b6c3a52-5d4e-4f6a-9b8c-7d6e5f4a3b2c" }))
  // Warm up: the upload code is loaded before the baseline.
  const warm = `${file}.warm`
  fs.writeFileSync(warm, "w")
  await Effect.runPromise(Effect.provide(uploadFile(warm, options), NodeFileSystem.layer))
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5)
  const started = Date.now()
  if (mode === "whole") {
    const body = fs.readFileSync(file)
    await fetch(url, { method: "POST", body })
  } else {
    const body = mode === "report"
      ? { body: submissionBody(report, [{ name: "big.core", path: file, contentType: "application/octet-stream" }]) }
      : {}
    await Effect.runPromise(Effect.provide(uploadFile(file, { ...options, ...body }), NodeFileSystem.layer))
  }
  const ms = Date.now() - started
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage.rss())
  console.log(JSON.stringify({ peakGrowthMiB: (peak - base) / 2 ** 20, ms }))
  process.exit(0)
}
const mib = Number(process.argv[2] ?? 256)
const runs = Number(process.argv[3] ?? 15)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bcd-report-bench-"))

const time = async (f: () => Promise<unknown>) => {
  const started = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - started) / 1e6
}

const readLines = async (file: string) => {
  let n = 0
  for await (const _ of readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity })) n++
  return n
}

const snapshot = (layer: Layer.Layer<Tracer.Tracer, unknown>) =>
  Effect.runPromise(
    Effect.gen(function*() {
      yield* Effect.ignore(Tracer.enableTracing)
      return yield* Tracer.trace(new TypeError("bench"))
    }).pipe(Effect.provide(Layer.merge(layer, TracerConfig.layer({ rateLimit: 0 }))))
  ) as Promise<TraceResult>

const build: Array<string> = []
for (
  const [name, layer] of [
    ["gdb", Gdb.layer({ outputDir: path.join(dir, "gdb") })],
    ["eu-stack", EuStack.layer({ outputDir: path.join(dir, "eu-stack") })]
  ] as const
) {
  const result = await snapshot(layer)
  const file = Option.getOrThrow(result.snapshot)
  const report = await readReport(file, result.request, {})
  const reads: Array<number> = []
  const builds: Array<number> = []
  for (let i = 0; i < runs; i++) {
    reads.push(await time(() => readLines(file)))
    builds.push(await time(() => readReport(file, result.request, {})))
  }
  const spread = (xs: Array<number>) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`
  const line = `| ${name} | ${(fs.statSync(file).size / 1024).toFixed(1)} KiB, ${
    Object.keys(report.threads).length
  } threads | ${(JSON.stringify(report).length / 1024).toFixed(1)} KiB | ${median(reads).toFixed(2)} ms (${
    spread(reads)
  }) | ${median(builds).toFixed(2)} ms (${spread(builds)}) | ${(median(builds) / median(reads)).toFixed(1)}× |`
  console.log(line)
  build.push(line)
}

// 2. A large attachment: each upload in a fresh child process, to a sink in this one.
const big = path.join(dir, "big.core")
const fd = fs.openSync(big, "w", 0o600)
const chunk = Buffer.alloc(1024 * 1024)
for (let i = 0; i < mib; i++) fs.writeSync(fd, chunk.fill(i & 0xff))
fs.closeSync(fd)
const sink = http.createServer((req, res) => {
  req.on("data", () => undefined)
  req.on("end", () => res.end("{\"response\":\"ok\"}"))
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
const origin = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`
const upload = async (mode: string) => {
  const { stdout } = await run(process.execPath, [
    "--import",
    "tsx",
    "bench/json-report.ts",
    "--child",
    mode,
    big,
    origin
  ], {
    cwd: root,
    encoding: "utf8"
  })
  return JSON.parse(stdout.trim().split("\n").pop()!) as { peakGrowthMiB: number; ms: number }
}
const modes = ["report", "file", "whole"] as const
const measured: Record<string, Array<{ peakGrowthMiB: number; ms: number }>> = { report: [], file: [], whole: [] }
try {
  for (let i = 0; i < 3; i++) for (const mode of modes) measured[mode]!.push(await upload(mode))
} finally {
  sink.close()
  fs.rmSync(dir, { recursive: true, force: true })
}
const growth = (mode: string) => median(measured[mode]!.map((r) => r.peakGrowthMiB))
const ms = (mode: string) => median(measured[mode]!.map((r) => r.ms))
const rows = modes.map((mode) =>
  `| ${mode} | ${growth(mode).toFixed(1)} MiB | ${ms(mode)} ms | ${(growth(mode) / growth("file")).toFixed(2)} | ${
    (ms(mode) / ms("file")).toFixed(2)
  } |`
)
console.log(rows.join("\n"))

writeSection(
  "Backtrace JSON reports (bench/json-report.ts)",
  `${machine()}. Median of ${runs} runs (spread min-max).

Building the report of a real snapshot of the bench's own process, against reading the same file line by line:

| tracer | snapshot, threads in its report | report JSON | read lines (baseline) | build report | ratio |
|---|---|---|---|---|---|
${build.join("\n")}

Sending a ${mib} MiB file attached to a report (\`report\`: multipart, the file streamed), against the same file
as the whole body (\`file\`: the raw upload, the baseline) and read into memory first (\`whole\`); median of 3
fresh child processes each, peak RSS sampled every 5 ms:

| upload | peak RSS growth | time | growth / file | time / file |
|---|---|---|---|---|
${rows.join("\n")}`
)
