import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests spawn real tracers that ptrace-stop their own worker; keep files apart.
    fileParallelism: false,
    pool: "forks",
    // Each worker is traced by its own children (gdb): allow that where Yama's ptrace_scope is 1.
    setupFiles: ["test/setup.ts"]
  }
})
