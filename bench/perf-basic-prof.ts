/**
 * Can `--perf-basic-prof` (V8's `/tmp/perf-<pid>.map`, which names JIT
 * frames in eu-stack and gdb snapshots) be switched on at run time, with
 * `v8.setFlagsFromString`? And what does the flag cost when given at start?
 *
 * Each check is a fresh `node` child:
 * - run time: `v8.setFlagsFromString("--perf-basic-prof")`, then code
 *   compiled on the main thread, and a `worker_threads` Worker started
 *   after the call; is each one's code in the map?
 * - at start (`--perf-basic-prof`, and through `NODE_OPTIONS`): the same;
 * - cost: start-up to the end of `import("effect")` plus a small Effect
 *   program, with and without the flag (median of N), and the map's size.
 *
 * The figures go to bench/RESULTS.md, section "`--perf-basic-prof` at run
 * time" (`--dry`: printed only).
 *
 *   npx tsx bench/perf-basic-prof.ts [runs] [--dry]        (default 7)
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { machine, writeSection } from "./results.js"

const dry = process.argv.includes("--dry")
const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 7)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** A child that compiles `mainHot` on the main thread and `workerHot` in a Worker, then reports what its map holds. */
const probe = (setAtRunTime: boolean) => `
  const v8 = require("node:v8")
  const fs = require("node:fs")
  const { Worker } = require("node:worker_threads")
  const map = "/tmp/perf-" + process.pid + ".map"
  let callUs = 0
  if (${setAtRunTime}) {
    const t = performance.now()
    v8.setFlagsFromString("--perf-basic-prof")
    callUs = (performance.now() - t) * 1000
  }
  function mainHot(n) { let s = 0; for (let i = 0; i < n; i++) s += i % 3; return s }
  let t = 0
  for (let i = 0; i < 3000; i++) t += mainHot(10000)
  const w = new Worker("function workerHot(n){let s=0;for(let i=0;i<n;i++)s+=i%5;return s}; let t=0; for(let i=0;i<3000;i++) t+=workerHot(10000)", { eval: true })
  w.on("exit", () => {
    const text = fs.existsSync(map) ? fs.readFileSync(map, "utf8") : ""
    fs.rmSync(map, { force: true })
    console.log(JSON.stringify({ callUs, map: text !== "", mainHot: text.includes("mainHot"), workerHot: text.includes("workerHot") }))
  })
`

const node = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(process.execPath, args, { encoding: "utf8", env, cwd: root, stdio: ["ignore", "pipe", "inherit"] })

const logArgs = (dir: string) => [`--logfile=${path.join(dir, "v8.log")}`, "--no-logfile-per-isolate"]

const tmp = fs.mkdtempSync("/tmp/effect-bcd-bench-perfprof-")
try {
  const checks: ReadonlyArray<[string, ReadonlyArray<string>, NodeJS.ProcessEnv?]> = [
    ["v8.setFlagsFromString at run time", ["-e", probe(true)]],
    ["--perf-basic-prof at start", ["--perf-basic-prof", ...logArgs(tmp), "-e", probe(false)]],
    ["NODE_OPTIONS=--perf-basic-prof", ["-e", probe(false)], { ...process.env, NODE_OPTIONS: "--perf-basic-prof" }]
  ]
  const lines = [
    "| How | Map written | Main thread's code named | Later Worker's code named | Call (µs) |",
    "|---|---|---|---|---|"
  ]
  for (const [name, args, env] of checks) {
    const r = JSON.parse(node(args, env).trim().split("\n").pop()!)
    const yes = (b: boolean) => (b ? "yes" : "no")
    lines.push(
      `| ${name} | ${yes(r.map)} | ${yes(r.mainHot)} | ${yes(r.workerHot)} | ${
        name.includes("run time") ? r.callUs.toFixed(0) : "-"
      } |`
    )
  }
  for (const f of fs.readdirSync(root).filter((f) => /^isolate-.*-v8\.log$/.test(f))) {
    // NODE_OPTIONS gives no place for the log: remove what it wrote in the working directory.
    fs.rmSync(path.join(root, f), { force: true })
  }

  // Cost at start: import effect and run a small program.
  const program = `
    import("effect").then(({ Effect }) => Effect.runPromise(Effect.forEach(Array.from({ length: 1000 }, (_, i) => i), (i) => Effect.succeed(i * 2))))
      .then(() => {
        const map = "/tmp/perf-" + process.pid + ".map"
        const size = require("node:fs").existsSync(map) ? require("node:fs").statSync(map).size : 0
        require("node:fs").rmSync(map, { force: true })
        console.log(JSON.stringify({ ms: performance.timeOrigin + performance.now() - ${"${startedAt}"}, size }))
      })
  `
  const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const measure = (flags: ReadonlyArray<string>) => {
    const ms: Array<number> = []
    const sizes: Array<number> = []
    for (let i = 0; i < runs; i++) {
      const startedAt = performance.timeOrigin + performance.now()
      const r = JSON.parse(
        node([...flags, "-e", program.replace("${startedAt}", String(startedAt))]).trim().split("\n").pop()!
      )
      ms.push(r.ms)
      sizes.push(r.size)
    }
    return { ms: median(ms), size: median(sizes) }
  }
  const without = measure([])
  const withFlag = measure(["--perf-basic-prof", ...logArgs(tmp)])
  lines.push(
    "",
    `Start-up to the end of \`import("effect")\` and a 1,000-element \`Effect.forEach\`, median of ${runs}:`,
    "",
    "| Flags | Time (ms) | Perf map (KB) |",
    "|---|---|---|",
    `| none | ${without.ms.toFixed(0)} | - |`,
    `| --perf-basic-prof | ${withFlag.ms.toFixed(0)} | ${(withFlag.size / 1024).toFixed(0)} |`
  )
  const body = `${machine()}. \`npx tsx bench/perf-basic-prof.ts ${runs}\`; each check a fresh \`node\`.\n\n` +
    lines.join("\n")
  console.log(body)
  if (!dry) writeSection("`--perf-basic-prof` at run time", body)
} finally {
  fs.rmSync(tmp, { recursive: true, force: true })
}
