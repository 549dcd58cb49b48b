/**
 * Start-up cost of importing effect-bcd (run `npm run build` first): median
 * wall time and peak RSS of a fresh `node` that imports each entry, against an
 * empty `node` and the core (`dist/Tracer.js`) in the same run.
 *
 *     npm run build && npx tsx bench/import-cost.ts [runs=9]
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const runs = Number(process.argv[2] ?? 9)
if (!fs.existsSync(`${root}dist/index.js`)) throw new Error("run `npm run build` first")

const entries: Record<string, string> = {
  "empty node": "",
  "dist/Tracer.js (core)": `await import("${root}dist/Tracer.js")`,
  "dist/index.js (with Backtrace)": `await import("${root}dist/index.js")`,
  "index + BacktraceLive-style layer built with uploads": `
    const m = await import("${root}dist/index.js")
    const Effect = await import("effect/Effect"); const Layer = await import("effect/Layer")
    await Effect.runPromise(Effect.scoped(Layer.build(m.Backtrace.live({
      tracerPath: "/bin/true", outputDir: "${
    fs.mkdtempSync("/tmp/bcd-import-")
  }", put: { endpoint: "h", token: "t" } }))))`
}

const measure = (code: string) => {
  const samples = Array.from({ length: runs }, () => {
    const child = spawnSync("/usr/bin/time", ["-f", "%e %M", process.execPath, "--input-type=module", "-e", code], {
      cwd: root,
      encoding: "utf8"
    })
    if (child.status !== 0) throw new Error(child.stderr)
    const [seconds, kb] = child.stderr.trim().split("\n").pop()!.split(" ").map(Number)
    return { seconds: seconds!, mib: kb! / 1024 }
  })
  const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return { seconds: median(samples.map((s) => s.seconds)), mib: median(samples.map((s) => s.mib)) }
}

const results = Object.entries(entries).map(([name, code]) => ({ name, ...measure(code) }))
const core = results[1]!
for (const r of results) {
  console.log(
    `${r.name.padEnd(56)} ${r.seconds.toFixed(2)} s ${r.mib.toFixed(0).padStart(4)} MiB` +
      `  (x${(r.seconds / core.seconds).toFixed(2)} time, x${(r.mib / core.mib).toFixed(2)} RSS vs core)`
  )
}
