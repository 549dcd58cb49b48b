import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { tsx } from "./support/child.js"
import { testTempDir } from "./support/temp.js"

/**
 * Runs an example with tsx in a fresh working directory (removed when the test
 * ends); `effect-bcd` resolves to src/ through tsconfig paths.
 */
const runExample = (example: string) => {
  const cwd = testTempDir()
  const started = Date.now()
  const run = spawnSync(process.execPath, ["--import", tsx, path.resolve("examples", example)], {
    cwd,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, TSX_TSCONFIG_PATH: path.resolve("tsconfig.json") }
  })
  const snapshots = path.join(cwd, "snapshots")
  const files = fs.existsSync(snapshots) ? fs.readdirSync(snapshots).filter((f) => f.endsWith(".txt")).sort() : []
  return { run, snapshots, files, elapsed: Date.now() - started }
}

describe("examples", () => {
  it(
    "npm run demo traces, recovers, catches a signal and a blocked event loop with eu-stack, traces once with gdb, sends all five as Backtrace JSON reports with frozen times, and exits 0 within 40 s",
    () => {
      const { elapsed, files, run, snapshots } = runExample("demo.ts")
      expect(run.status, run.stderr).toBe(0)
      expect(elapsed).toBeLessThan(40_000)
      expect(run.stdout).toMatch(/5 snapshots, 5 uploads/)
      // Each one sent as a Backtrace JSON report (the receiver parsed it), with the snapshot attached.
      expect(run.stdout.match(/Backtrace JSON, \d+ threads, 1 attachment \(200\)/g)).toHaveLength(5)
      expect(run.stdout.match(/'eu-stack'/g)).toHaveLength(4)
      expect(run.stdout.match(/'gdb'/g)).toHaveLength(1)
      expect(run.stdout).toContain("event loop blocked 1.5 s")
      // Two frozen columns per row, in milliseconds, measured (gdb's stop is long enough never to be missed).
      expect(run.stdout.match(/'\d+\.\d ms'/g)).toHaveLength(10)
      expect(run.stdout).toMatch(/'gdb' +│ 'Tracer\.trace\(error\)' .*│ '(\d{3,}\.\d) ms' +│/)
      expect(files).toHaveLength(5)
      for (const file of files) {
        expect(fs.statSync(path.join(snapshots, file)).mode & 0o777).toBe(0o600)
        expect(run.stdout).toContain(file)
      }
      expect(fs.statSync(snapshots).mode & 0o777).toBe(0o700)
    },
    90_000
  )

  it("the README's quickstart leaves one snapshot for the error and one for the defect", () => {
    const { files, run, snapshots } = runExample("quickstart.ts")
    expect(run.status, run.stderr).toBe(0)
    expect(files).toHaveLength(2)
    const [first, second] = files.map((f) => fs.readFileSync(path.join(snapshots, f), "utf8"))
    expect(first).toMatch(/^error: +payment declined$/m)
    expect(first).toMatch(/^classifiers: +Error$/m)
    expect(second).toMatch(/^error: +cart.items is undefined$/m)
    expect(second).toMatch(/^classifiers: +TypeError$/m)
    for (const text of [first!, second!]) expect(text).toMatch(/^TID \d+: \[main thread, faulted\]$/m)
  }, 90_000)
})
