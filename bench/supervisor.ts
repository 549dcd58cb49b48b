/**
 * The out-of-process runner (src/internal/runner), measured; prints figures, asserts nothing.
 *
 * 1. Supervisor start: time from spawn until it accepts a connection
 *    ("listening") and until its hello ("ready": koffi loaded, subreaper set),
 *    and its memory once ready (Rss, Pss, Private), over N starts, with koffi
 *    (abstract socket) and without (socket path), interleaved with the floor:
 *    an empty Node program that listens.
 * 2. One trace of /bin/true through the supervisor, through the in-process
 *    runner (`Process.run` with the coreutils `timeout` watchdog), and a raw
 *    `child_process.spawn` + wait, interleaved in the same run; plus the
 *    longest event-loop gap (a 1 ms interval) while each runs. `--heap-mib M`
 *    first fills M MiB (fork's cost grows with the host's memory).
 *
 *   npx tsx bench/supervisor.ts [--starts 15] [--traces 200] [--heap-mib 0]
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as Process from "../src/internal/core/process.js"
import * as Watchdog from "../src/internal/core/watchdog.js"
import * as Client from "../src/internal/runner/client.js"
import { machine, writeSection } from "./results.js"

/** Printed lines, also written to bench/RESULTS.md at the end. */
const printed: Array<string> = []
const say = (line: string) => {
  console.log(line)
  printed.push(line)
}

const flag = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const STARTS = flag("starts", 15)
const TRACES = flag("traces", 200)
const HEAP_MIB = flag("heap-mib", 0)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)
const median = (xs: ReadonlyArray<number>) => sorted(xs)[Math.floor(xs.length / 2)]!
const spread = (xs: ReadonlyArray<number>, digits = 1) =>
  `median ${median(xs).toFixed(digits)} (min ${sorted(xs)[0]!.toFixed(digits)}, max ${
    sorted(xs).at(-1)!.toFixed(digits)
  })`

// ---- 1. start time and memory ----------------------------------------------------------

const memory = (pid: number) => {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)![1])
  return {
    rss: kib("Rss") / 1024,
    pss: kib("Pss") / 1024,
    private: (kib("Private_Clean") + kib("Private_Dirty")) / 1024
  }
}

/** Resolves with the time the socket connected and the time the first line arrived, or undefined if refused. */
const probe = (address: string) =>
  new Promise<{ connected: number; hello: number } | undefined>((resolve) => {
    const socket = net.createConnection(address)
    let connected = 0
    socket.once("connect", () => (connected = performance.now()))
    socket.once("data", () => {
      resolve({ connected, hello: performance.now() })
      socket.destroy()
    })
    socket.once("error", () => resolve(undefined))
  })

/** The floor: an empty Node program that listens and says one line. */
const FLOOR = "require(\"net\").createServer((c) => c.end(\"x\\n\")).listen(process.argv[1].replace(/^@/, \"\\0\"))"

const startOnce = async (kind: "koffi" | "no koffi" | "node floor", i: number, dir: string) => {
  const address = kind === "no koffi" ? path.join(dir, `s${i}.sock`) : `\0effect-bcd-bench-${process.pid}-${i}`
  const argv = kind === "node floor"
    ? ["-e", FLOOR, address.replace(/^\0/, "@")]
    : [Client.supervisorPath, String(process.pid), address.replace(/^\0/, "@"), kind === "koffi" ? "1" : "0"]
  const started = performance.now()
  const child = spawn(process.execPath, argv, {
    cwd: "/",
    detached: true,
    stdio: "ignore",
    env: {}
  })
  let seen: { connected: number; hello: number } | undefined
  while ((seen = await probe(address)) === undefined) await sleep(1)
  await sleep(100)
  const mem = memory(child.pid!)
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGKILL")
  await exited
  return { listening: seen.connected - started, ready: seen.hello - started, ...mem }
}

const measureStarts = async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-"))
  const kinds = ["koffi", "no koffi", "node floor"] as const
  const rows: Record<string, Array<Awaited<ReturnType<typeof startOnce>>>> = {
    koffi: [],
    "no koffi": [],
    "node floor": []
  }
  await startOnce("koffi", -1, dir) // warm the page cache
  for (let i = 0; i < STARTS; i++) for (const kind of kinds) rows[kind]!.push(await startOnce(kind, i, dir))
  fs.rmSync(dir, { recursive: true, force: true })
  say(`\nsupervisor start, ${STARTS} starts each (ms from spawn; MiB once ready)`)
  for (const [name, runs] of Object.entries(rows)) {
    say(`  ${name.padEnd(10)} listening ${spread(runs.map((r) => r.listening))}`)
    say(`  ${"".padEnd(10)} ready     ${spread(runs.map((r) => r.ready))}`)
    say(
      `  ${"".padEnd(10)} Rss ${spread(runs.map((r) => r.rss))}  Pss ${spread(runs.map((r) => r.pss))}  Private ${
        spread(runs.map((r) => r.private))
      }`
    )
  }
}

// ---- 2. one trace of /bin/true ----------------------------------------------------------

const rawSpawn = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn("/bin/true", [], { stdio: "ignore" })
    child.once("error", reject)
    child.once("exit", () => resolve())
  })

const spec: Process.Spec = {
  command: "/bin/true",
  args: [],
  cwd: undefined,
  env: process.env,
  stdin: undefined,
  stderr: undefined
}
const deadline = Option.some(Duration.seconds(10))
const grace = Duration.millis(500)
const supervised = () => Effect.runPromise(Client.run(spec, { deadline, grace }))
const inline = () =>
  Effect.runPromise(Process.run(spec, { deadline, grace, watchdog: Watchdog.detect(), onKillFailure: () => {} }))

/** Wall time and the longest event-loop gap (a 1 ms interval) of one run. */
const timed = async (run: () => Promise<unknown>) => {
  let last = performance.now()
  let gap = 0
  const timer = setInterval(() => {
    const now = performance.now()
    gap = Math.max(gap, now - last)
    last = now
  }, 1)
  const started = performance.now()
  await run()
  const wall = performance.now() - started
  clearInterval(timer)
  return { wall, gap: Math.max(gap, performance.now() - last) }
}

const measureTraces = async () => {
  const ballast: Array<Buffer> = []
  for (let i = 0; i < HEAP_MIB; i++) ballast.push(Buffer.alloc(2 ** 20, i))
  await Effect.runPromise(Client.ensure)
  const kinds = { raw: rawSpawn, supervisor: supervised, inline } as const
  const results = Object.fromEntries(Object.keys(kinds).map((k) => [k, [] as Array<{ wall: number; gap: number }>]))
  for (let i = 0; i < 10; i++) for (const run of Object.values(kinds)) await run() // warm-up
  for (let i = 0; i < TRACES; i++) {
    // Interleaved, in a rotating order, so that load on the machine hits every kind alike.
    const order = Object.entries(kinds)
    for (let r = 0; r < i % order.length; r++) order.push(order.shift()!)
    for (const [name, run] of order) results[name]!.push(await timed(run))
  }
  const raw = median(results.raw!.map((r) => r.wall))
  say(
    `\none trace of /bin/true, ${TRACES} interleaved runs each, host rss ${
      (process.memoryUsage().rss / 2 ** 20).toFixed(0)
    } MiB (ballast ${HEAP_MIB} MiB)`
  )
  for (const [name, runs] of Object.entries(results)) {
    const wall = runs.map((r) => r.wall)
    say(
      `  ${name.padEnd(10)} wall ${spread(wall, 2)} ms = ${(median(wall) / raw).toFixed(2)}x raw;` +
        ` longest event-loop gap ${spread(runs.map((r) => r.gap), 2)} ms`
    )
  }
  ballast.length = 0
}

say(`node ${process.version}, ${os.cpus().length} cpus, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
if (STARTS > 0) await measureStarts()
if (TRACES > 0) await measureTraces()
writeSection(
  `Supervisor, host heap ${HEAP_MIB} MiB (bench/supervisor.ts)`,
  `${machine()}. Medians with [min–max]; each trace kind interleaved with the others in one run.\n\n` +
    "```\n" + printed.join("\n").trim() + "\n```"
)
