/** One measured run of the library for bench/upload.ts, in a fresh process. */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Backtrace, TracerConfig } from "../src/index.js"
import { uploadFile } from "../src/internal/upload/file.js"

const FAKE_PTRACE = fileURLToPath(new URL("../test/fixtures/fake-ptrace.mjs", import.meta.url))

const peakRss = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]) * 1024

/** Times `f` after a warm-up; the peak RSS is reset first, so its growth is this upload's. */
const measured = async (f: () => Promise<unknown>) => {
  fs.writeFileSync("/proc/self/clear_refs", "5")
  const before = process.memoryUsage.rss()
  const started = performance.now()
  await f()
  const ms = performance.now() - started
  return { ms, growthMiB: (peakRss() - before) / 2 ** 20 }
}

/** The `*.btt` files of `dir`, sorted. */
const snapshotsIn = (dir: string) =>
  fs.readdirSync(dir).filter((f) => f.endsWith(".btt")).sort().map((f) => path.join(dir, f))

/**
 * The baseline in this runtime: Node's own HTTP client over a keep-alive agent, each file read whole
 * (`fs.promises.readFile`) and sent from memory, `concurrency` at a time; warmed on 20 files as putDir is.
 */
const byHand = async (dir: string, warmDir: string, origin: URL, concurrency: number) => {
  const agent = new http.Agent({ keepAlive: true })
  const url = new URL(`${origin.origin}/post?token=bench-token`)
  const post = (body: Buffer) =>
    new Promise<void>((resolve, reject) => {
      const req = http.request(url, {
        method: "POST",
        agent,
        headers: { "content-type": "application/octet-stream", "content-length": body.length }
      })
      req.on("response", (res) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`))
        res.resume().on("end", resolve)
      })
      req.on("error", reject)
      req.end(body)
    })
  const all = async (files: ReadonlyArray<string>) => {
    let next = 0
    const worker = async () => {
      while (next < files.length) await post(await fs.promises.readFile(files[next++]!))
    }
    await Promise.all(Array.from({ length: concurrency }, worker))
  }
  await all(snapshotsIn(warmDir))
  const result = await measured(() => all(snapshotsIn(dir)))
  agent.destroy()
  return result
}

export const measure = async (mode: "file" | "dir" | "node", target: string, origin: URL, concurrency = 8) => {
  const warm = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bcd-bench-warm-")), "warm.btt")
  fs.writeFileSync(warm, Buffer.alloc(1024 * 1024), { mode: 0o600 })
  const warmDir = path.dirname(warm)
  if (mode !== "file") {
    // Warm: the same code path once, on 20 files of the same size elsewhere.
    const size = fs.statSync(snapshotsIn(target)[0]!).size
    fs.rmSync(warm)
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(warmDir, `w${i}.btt`), Buffer.alloc(size), { mode: 0o600 })
  }
  if (mode === "node") return byHand(target, warmDir, origin, concurrency)
  if (mode === "file") {
    const url = new URL(`${origin.origin}/post?token=bench-token`)
    const upload = (file: string) =>
      Effect.runPromise(
        uploadFile(file, { url, timeout: Duration.minutes(5), retry: Schedule.stop, unlink: false }).pipe(
          Effect.provide(NodeFileSystem.layer)
        )
      )
    await upload(warm)
    return measured(() => upload(target))
  }
  const layer = Backtrace.live({
    tracerPath: FAKE_PTRACE,
    outputDir: target,
    put: { endpoint: origin.origin, token: "bench-token", onTrace: false, retry: Schedule.stop, concurrency }
  })
  const result = await Effect.runPromise(
    Effect.gen(function*() {
      const uploader = yield* Backtrace.Uploader
      yield* uploader.putDir(warmDir)
      return yield* Effect.promise(() =>
        measured(async () => {
          const summary = await Effect.runPromise(uploader.putDir(target))
          if (summary.failed.length > 0 || summary.uploaded.length === 0) {
            throw new Error(
              `putDir did not upload all: ${summary.uploaded.length} uploaded, ${summary.failed.length} failed (${
                summary.failed[0]?.reason
              })`
            )
          }
        })
      )
    }).pipe(
      Effect.provide(layer),
      // No trace runs here: the tracer's supervisor process is not started, so its start does not share the CPU.
      Effect.provide(TracerConfig.layer({ runner: "inline" }))
    )
  )
  // The next round sends them again.
  fs.rmSync(path.join(target, ".effect-bcd-sent"), { force: true })
  return result
}
