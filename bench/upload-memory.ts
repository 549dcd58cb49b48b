/**
 * Does an upload stream? Uploads one large file with the library's uploader
 * (HttpClientRequest.bodyFile over NodeHttpClient) and, as the baseline in the same run, with the
 * whole file read into memory first (HttpClientRequest.bodyUint8Array), each
 * in a fresh child process, against the coronerd-compatible server running in
 * another process. Prints peak RSS growth and throughput.
 *
 *     npx tsx bench/upload-memory.ts [MiB=256]
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const mib = Number(process.argv[2] ?? 256)

if (process.argv[2] === "--child") {
  const [, , , mode, file, endpoint] = process.argv
  const { runChild } = await import("./upload-memory-child.js")
  await runChild(mode as "stream" | "whole" | "multipart", file!, endpoint!)
  process.exit(0)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bcd-bench-"))
const file = path.join(dir, "big.btt")
const fd = fs.openSync(file, "w", 0o600)
const chunk = Buffer.alloc(1024 * 1024)
for (let i = 0; i < mib; i++) {
  chunk.fill(i & 0xff)
  fs.writeSync(fd, chunk)
}
fs.closeSync(fd)

const server = spawn(process.execPath, ["--import", "tsx", "examples/coronerd.ts", "0", "bench-token"], {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"]
})
const endpoint = await new Promise<string>((resolve) => {
  server.stdout!.once("data", (data: Buffer) => resolve(/http:\/\/127\.0\.0\.1:\d+/.exec(data.toString())![0]))
})

const run = (mode: string) => {
  const child = spawnSync(process.execPath, [
    "--import",
    "tsx",
    "bench/upload-memory.ts",
    "--child",
    mode,
    file,
    endpoint
  ], {
    cwd: root,
    encoding: "utf8"
  })
  if (child.status !== 0) throw new Error(child.stderr)
  return JSON.parse(child.stdout.trim().split("\n").pop()!) as { peakGrowthMiB: number; ms: number }
}

console.log(`file: ${mib} MiB`)
const results: Record<string, Array<{ peakGrowthMiB: number; ms: number }>> = { stream: [], whole: [] }
for (let i = 0; i < 3; i++) for (const mode of ["stream", "whole"]) results[mode]!.push(run(mode))
const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const mode of ["stream", "whole"]) {
  const growth = median(results[mode]!.map((r) => r.peakGrowthMiB))
  const ms = median(results[mode]!.map((r) => r.ms))
  console.log(
    `${mode.padEnd(6)} peak RSS growth ${growth.toFixed(1)} MiB, ${ms} ms (${(mib / (ms / 1000)).toFixed(0)} MiB/s)`
  )
}
const ratio = median(results.stream!.map((r) => r.peakGrowthMiB)) / median(results.whole!.map((r) => r.peakGrowthMiB))
console.log(`stream/whole peak RSS growth: ${ratio.toFixed(3)}`)
server.kill()
fs.rmSync(dir, { recursive: true, force: true })
