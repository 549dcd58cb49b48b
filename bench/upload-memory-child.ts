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
import { uploadFile } from "../src/internal/upload/file.js"

export const runChild = async (mode: "stream" | "whole", file: string, endpoint: string) => {
  const url = new URL(`${endpoint}/post?token=bench-token`)
  // Warm up the HTTP client with a tiny request so its code is loaded before the baseline.
  const warm = fs.mkdtempSync(file + "-warm")
  fs.writeFileSync(`${warm}/w.btt`, "w")
  const Platform = Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
  await Effect.runPromise(
    uploadFile(`${warm}/w.btt`, { url, timeout: Duration.seconds(30), retry: Schedule.stop, unlink: true }).pipe(
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
  const upload: Effect.Effect<void, unknown, HttpClient.HttpClient | FileSystem.FileSystem> = mode === "stream"
    ? uploadFile(file, { url, timeout: Duration.minutes(5), retry: Schedule.stop, unlink: false })
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
