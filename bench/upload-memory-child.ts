/** One measured upload for bench/upload-memory.ts. */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import { submissionBody } from "../src/internal/jsonReport/body.js"
import { uploadFile } from "../src/internal/upload/file.js"

/**
 * `stream`: the file as the body; `whole`: the file read into memory first;
 * `multipart`: a small Backtrace JSON report with the file attached, as the
 * gdb backend sends a core file.
 */
export const runChild = async (mode: "stream" | "whole" | "multipart", file: string, endpoint: string) => {
  const url = new URL(`${endpoint}/post?${mode === "multipart" ? "format=json&" : ""}token=bench-token`)
  // Warm up the HTTP client with a tiny request so its code is loaded before the baseline.
  const warm = fs.mkdtempSync(file + "-warm")
  fs.writeFileSync(`${warm}/w.btt`, "w")
  const Platform = Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
  await Effect.runPromise(
    uploadFile(`${warm}/w.btt`, {
      url: new URL(`${endpoint}/post?token=bench-token`),
      timeout: Duration.seconds(30),
      retry: Schedule.stop,
      unlink: true
    }).pipe(
      Effect.provide(Platform)
    )
  )
  globalThis.gc?.()
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss())
  }, 5)
  const started = Date.now()
  const report = new TextEncoder().encode(JSON.stringify({
    uuid: "0b6c3a52-5d4e-4f6a-9b8c-7d6e5f4a3b2c",
    timestamp: Math.floor(Date.now() / 1000),
    lang: "nodejs",
    langVersion: process.version,
    agent: "effect-bcd",
    agentVersion: "0.1.0",
    mainThread: "js",
    threads: { js: { name: "js", fault: true, stack: [{ funcName: "main", library: "bench.js" }] } }
  }))
  const attached = [{ name: "big.core", path: file, contentType: "application/octet-stream" }]
  const upload: Effect.Effect<void, unknown, HttpClient.HttpClient | FileSystem.FileSystem> = mode !== "whole"
    ? uploadFile(file, {
      url,
      timeout: Duration.minutes(5),
      retry: Schedule.stop,
      unlink: false,
      ...(mode === "multipart" ? { body: submissionBody(report, attached) } : {})
    })
    : Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const body = fs.readFileSync(file)
      const response = yield* client.execute(
        HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUint8Array(body, "application/octet-stream"))
      )
      if (response.status !== 200) throw new Error(`status ${response.status}`)
    })
  await Effect.runPromise(upload.pipe(Effect.provide(Platform)))
  const ms = Date.now() - started
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage.rss())
  console.log(JSON.stringify({ peakGrowthMiB: (peak - base) / 1024 / 1024, ms }))
}
