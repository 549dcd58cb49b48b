/**
 * Upload speed and memory against `curl`, side by side in one run, to the
 * same loopback receiver (a sink in its own process that reads each body,
 * answers 200 and keeps connections alive):
 *
 * - one large file: `uploadFile` (in a fresh child process, peak RSS growth
 *   read from `VmHWM` after resetting it) against `curl -T` (POST);
 * - `putDir` of many small files (default concurrency 8, then 4) against one `curl -Z`
 *   run that sends the same files; the receiver counts the connections each used.
 *
 * Rounds interleave the two; medians with [min–max]. Writes its section of
 * bench/RESULTS.md.
 *
 *     npx tsx bench/upload.ts [MiB=1024] [rounds=5] [files=200] [KiB=100]
 */
import { execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { machine, median, writeSection } from "./results.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const run = promisify(execFile)

/** The receiver: reads and drops each body, answers 200; prints its origin, then a count per `GET /count`. */
if (process.argv[2] === "--receiver") {
  let connections = 0
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.method === "GET") {
      res.end(JSON.stringify({ connections }))
      connections = 0
      return
    }
    req.on("data", () => undefined)
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{\"response\":\"ok\"}")
    })
  })
  server.on("connection", () => connections++)
  server.listen(0, "127.0.0.1", () => {
    console.log(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  })
  await new Promise(() => undefined)
}

/** One measured run of the library, in a fresh process: prints `{ ms, growthMiB }`. */
if (process.argv[2] === "--child") {
  const [, , , mode, target, origin, concurrency] = process.argv as Array<string>
  const { measure } = await import("./upload-child.js")
  console.log(
    JSON.stringify(await measure(mode as "file" | "dir" | "node", target!, new URL(origin!), Number(concurrency)))
  )
  process.exit(0)
}

const mib = Number(process.argv[2] ?? 1024)
const rounds = Number(process.argv[3] ?? 5)
const count = Number(process.argv[4] ?? 200)
const kib = Number(process.argv[5] ?? 100)

const work = fs.mkdtempSync(path.join(os.tmpdir(), "bcd-bench-upload-"))
const big = path.join(work, "big.btt")
{
  const fd = fs.openSync(big, "w", 0o600)
  const chunk = Buffer.alloc(1024 * 1024)
  for (let i = 0; i < mib; i++) fs.writeSync(fd, chunk.fill(i & 0xff))
  fs.closeSync(fd)
}
const small = path.join(work, "small")
fs.mkdirSync(small, { mode: 0o700 })
const smallFiles = Array.from({ length: count }, (_, i) => {
  const file = path.join(small, `s${String(i).padStart(4, "0")}.btt`)
  fs.writeFileSync(file, Buffer.alloc(kib * 1024, i & 0xff), { mode: 0o600 })
  return file
})

const receiver = spawn(process.execPath, [...process.execArgv, import.meta.filename, "--receiver"], {
  stdio: ["ignore", "pipe", "inherit"]
})
const origin = await new Promise<string>((resolve) => {
  receiver.stdout!.once("data", (data: Buffer) => resolve(data.toString().trim()))
})
const url = `${origin}/post?token=bench-token`
const connectionsSince = async () =>
  (JSON.parse(await (await fetch(`${origin}/count`)).text()) as { connections: number }).connections

const timed = async (f: () => Promise<unknown>) => {
  const started = performance.now()
  await f()
  return performance.now() - started
}

const curlFile = () =>
  timed(() =>
    run("curl", [
      "-sS",
      "--fail",
      "-o",
      "/dev/null",
      "-X",
      "POST",
      "-H",
      "Expect:",
      "-H",
      "content-type: application/octet-stream",
      "-T",
      big,
      url
    ])
  )

const curlDir = () => {
  // One curl, every file a transfer of its own, run in parallel (-Z) over reused connections.
  const config = path.join(work, "curl.config")
  fs.writeFileSync(
    config,
    smallFiles.map((f) =>
      `url = "${url}"\nupload-file = "${f}"\noutput = "/dev/null"\nrequest = "POST"\n` +
      `header = "Expect:"\nheader = "content-type: application/octet-stream"\n`
    ).join("")
  )
  return timed(() => run("curl", ["-sS", "--fail", "-Z", "-K", config]))
}

const library = async (mode: "file" | "dir" | "node", concurrency = 8) => {
  const { stdout } = await run(process.execPath, [
    ...process.execArgv,
    import.meta.filename,
    "--child",
    mode,
    mode === "file" ? big : small,
    origin,
    String(concurrency)
  ], { cwd: root })
  return JSON.parse(stdout.trim().split("\n").pop()!) as { ms: number; growthMiB: number }
}

const figures = {
  curlFile: [] as Array<number>,
  libFile: [] as Array<number>,
  libGrowth: [] as Array<number>,
  curlDir: [] as Array<number>,
  libDir: [] as Array<number>,
  libDir4: [] as Array<number>,
  nodeDir: [] as Array<number>,
  curlConnections: [] as Array<number>,
  libConnections: [] as Array<number>
}
// Page cache warm for both.
await curlFile()
for (let round = 0; round < rounds; round++) {
  figures.curlFile.push(await curlFile())
  const file = await library("file")
  figures.libFile.push(file.ms)
  figures.libGrowth.push(file.growthMiB)
  await connectionsSince()
  figures.curlDir.push(await curlDir())
  figures.curlConnections.push(await connectionsSince())
  figures.libDir.push((await library("dir")).ms)
  figures.libConnections.push(await connectionsSince())
  figures.libDir4.push((await library("dir", 4)).ms)
  await connectionsSince()
  figures.nodeDir.push((await library("node")).ms)
  await connectionsSince()
  console.log(`round ${round + 1}/${rounds} done`)
}
receiver.kill("SIGKILL") // tsx, which runs it, passes SIGTERM on instead of dying of it
fs.rmSync(work, { recursive: true, force: true })

const spread = (xs: ReadonlyArray<number>, digits = 0) =>
  `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`
const rate = (ms: ReadonlyArray<number>) => ms.map((m) => mib / (m / 1000))
const fileRatios = figures.curlFile.map((c, i) => c / figures.libFile[i]!)
const dirRatios = figures.libDir.map((l, i) => l / figures.curlDir[i]!)
const dir4Ratios = figures.libDir4.map((l, i) => l / figures.curlDir[i]!)
const nodeRatios = figures.nodeDir.map((n, i) => n / figures.curlDir[i]!)
const libOverNode = figures.libDir.map((l, i) => l / figures.nodeDir[i]!)
const body = `${machine()}. ${rounds} rounds, each: \`curl -T\` then \`uploadFile\` of one ${mib} MiB file, then one
\`curl -Z\` (up to 50 transfers at once) then \`Backtrace.putDir\` (concurrency 8, its default, then 4) of ${count} × ${kib} KiB files, all POSTed to one loopback
receiver in its own process that reads each body and answers 200. The library runs in a fresh process per
measurement (\`runner: "inline"\`: no trace runs, so no supervisor process starts beside it), after a warm-up (one 1 MiB upload; for putDir, a putDir of 20 files of the same size); its peak RSS growth is \`VmHWM\` (reset first) less RSS before the upload.
curl's times include its process start. Medians [min–max]; each ratio is taken within a round (curl and the
library back to back), then the median of the rounds' ratios is given. The last row is a baseline in the
library's runtime: Node's own HTTP client over a keep-alive agent, each file read whole and sent from memory,
in a fresh process warmed the same way.

| measure | curl | effect-bcd | ratio |
|---|---|---|---|
| ${mib} MiB upload, MiB/s | ${spread(rate(figures.curlFile))} | ${spread(rate(figures.libFile))} | ${
  spread(fileRatios, 2)
}× curl's speed |
| ${mib} MiB upload, peak RSS growth | — | ${spread(figures.libGrowth, 1)} MiB | |
| putDir of ${count} × ${kib} KiB, ms | ${spread(figures.curlDir)} | ${spread(figures.libDir)} | ${
  spread(dirRatios, 2)
}× curl's time |
| the same, \`concurrency: 4\`, ms | ${spread(figures.curlDir)} | ${spread(figures.libDir4)} | ${
  spread(dir4Ratios, 2)
}× curl's time |
| connections opened for the ${count} files (concurrency 8) | ${spread(figures.curlConnections)} | ${
  spread(figures.libConnections)
} | |
| the same files by hand with \`node:http\` (concurrency 8), ms | ${spread(figures.curlDir)} | ${
  spread(figures.nodeDir)
} | ${spread(nodeRatios, 2)}× curl's time; putDir took ${spread(libOverNode, 2)}× this |`
console.log(body)
writeSection("Uploads against curl (bench/upload.ts)", body)
process.exit(0)
