/**
 * examples/backtrace.ts (Go's examples/main.go flow) runs to completion as a
 * real child process: fake ptrace, real server, putDir, trace and recover.
 */
import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))

describe("examples/backtrace.ts", () => {
  it("uploads the leftover and both traces, and exits 0", () => {
    const child = spawnSync(process.execPath, ["--import", "tsx", "examples/backtrace.ts"], {
      cwd: root,
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, BCD_TRACER_PATH: "" }
    })
    expect(child.stderr).not.toMatch(/error/i)
    expect(child.status).toBe(0)
    expect(child.stdout).toContain("putDir: 1 uploaded, 0 failed")
    expect(child.stdout).toContain("the server received 3 snapshots")
    expect(child.stdout).not.toContain("example-token")
  })
})
