/**
 * The `effect-bcd` command's cost (run `npm run build` first), each figure a
 * median over several runs with its spread, against a baseline measured in
 * the same run:
 *
 * - start-up: `effect-bcd --version` against an empty `node`;
 * - a trace: `effect-bcd trace <pid>` (eu-stack) of an idle Node program,
 *   against `eu-stack -p <pid>` run by hand.
 *
 *     npm run build && npx tsx bench/cli.ts [runs=7]
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { machine, median, writeSection } from "./results.js"

const root = fileURLToPath(new URL("..", import.meta.url))
const bin = path.join(root, "dist/bin/effect-bcd.js")
const runs = Number(process.argv[2] ?? 7)
if (!fs.existsSync(bin)) throw new Error("run `npm run build` first")

/** Wall time (s) and peak RSS (MiB) of one run, through GNU time. */
const timed = (argv: ReadonlyArray<string>) => {
  const child = spawnSync("/usr/bin/time", ["-f", "%e %M", ...argv], { encoding: "utf8" })
  if (child.status !== 0) throw new Error(`${argv.join(" ")}: ${child.stderr}`)
  const [seconds, kb] = child.stderr.trim().split("\n").pop()!.split(" ").map(Number)
  return { seconds: seconds!, mib: kb! / 1024 }
}

const sample = (argv: ReadonlyArray<string>) => {
  const all = Array.from({ length: runs }, () => timed(argv))
  const seconds = all.map((s) => s.seconds)
  return {
    seconds: median(seconds),
    spread: [Math.min(...seconds), Math.max(...seconds)] as const,
    mib: median(all.map((s) => s.mib))
  }
}

const target = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" })
const out = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-cli-"))
try {
  await new Promise((resolve) => setTimeout(resolve, 300))
  const pid = String(target.pid)
  const rows = [
    ["empty node", sample([process.execPath, "-e", ""])],
    ["effect-bcd --version", sample([process.execPath, bin, "--version"])],
    ["eu-stack -p <pid> by hand", sample(["eu-stack", "-p", pid])],
    ["effect-bcd trace <pid> (eu-stack)", sample([process.execPath, bin, "trace", "--out", out, pid])]
  ] as const
  const ratio = (a: number, b: number) => `×${(a / b).toFixed(1)}`
  const line = ([name, r]: typeof rows[number]) =>
    `| ${name} | ${r.seconds.toFixed(2)} s (${r.spread[0].toFixed(2)}–${r.spread[1].toFixed(2)}) | ${
      r.mib.toFixed(0)
    } MiB |`
  const body = [
    `${machine()}; median of ${runs} runs (min–max), wall time and peak RSS through GNU time.`,
    "",
    "| Run | Time | Peak RSS |",
    "|---|---|---|",
    ...rows.map(line),
    "",
    `Start-up: ${ratio(rows[1][1].seconds, rows[0][1].seconds)} an empty node's time. A trace: ` +
    `${ratio(rows[3][1].seconds, rows[2][1].seconds)} eu-stack by hand (start-up, the supervisor, the` +
    " snapshot's header and post-processing)."
  ].join("\n")
  console.log(body)
  writeSection("Command line (bench/cli.ts)", body)
} finally {
  target.kill("SIGKILL")
  fs.rmSync(out, { recursive: true, force: true })
}
