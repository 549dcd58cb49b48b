import { configDefaults, defineConfig } from "vitest/config"

/**
 * The `pure` project: files that spawn no tracer, send no signals and never
 * stop the worker (argv rendering, parsing, config decoding, layer options,
 * uploads to a loopback HTTP server). They run in parallel, in worker threads.
 * Every other file is in `system`, so a new file is serial until it is listed
 * here.
 */
const pure = [
  "test/backtrace-layer.test.ts",
  "test/backtrace-pure.test.ts",
  "test/backtrace-upload.test.ts",
  "test/cli-parts.test.ts",
  "test/config.test.ts",
  "test/eustack-parts.test.ts",
  "test/gdb-parts.test.ts",
  "test/json-report-parts.test.ts",
  "test/hostile-config.test.ts",
  "test/report-pure.test.ts"
]

const timeouts = { testTimeout: 60_000, hookTimeout: 60_000 }

export default defineConfig({
  test: {
    // fileParallelism and maxWorkers are root-only in Vitest 3 (a project may not set them), and
    // each pool is sized from the root. Only `system` uses forks: one fork at a time keeps it
    // serial on any machine, while `pure` runs in threads beside it (fileParallelism: the default, true).
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
    projects: [
      {
        test: {
          name: "pure",
          include: pure,
          pool: "threads",
          ...timeouts
        }
      },
      {
        test: {
          name: "system",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...pure],
          // gdb, signals, real tracer processes: tracers ptrace-stop their own worker, so one file
          // at a time (the root's poolOptions.forks), each in a fresh process.
          pool: "forks",
          // Each worker is traced by its own children (gdb): allow that where Yama's ptrace_scope is 1.
          setupFiles: ["test/setup.ts"],
          ...timeouts
        }
      }
    ]
  }
})
