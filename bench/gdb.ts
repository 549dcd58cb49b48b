/**
 * How long a gdb trace takes, and how long it keeps this process frozen, per
 * mode (all threads, callerOnly, bt full, core). Prints medians of N runs.
 *
 * The frozen time is the longest gap between ticks of a 1 ms interval while
 * the trace runs: no JS runs while gdb holds the process stopped.
 *
 *   npx tsx bench/gdb.ts [runs]
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Gdb, Tracer, TracerConfig } from "../src/index.js"

const runs = Number(process.argv[2] ?? 5)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-gdb-"))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const measure = (options: Gdb.Options, traceOptions: Parameters<typeof Tracer.trace>[1]) =>
  Effect.gen(function*() {
    const total: Array<number> = []
    const frozen: Array<number> = []
    const size: Array<number> = []
    let cores = 0
    for (let i = 0; i < runs; i++) {
      let last = performance.now()
      let gap = 0
      const timer = setInterval(() => {
        const now = performance.now()
        gap = Math.max(gap, now - last)
        last = now
      }, 1)
      const started = performance.now()
      const result = yield* Tracer.trace(new Error("bench"), traceOptions)
      total.push(performance.now() - started)
      clearInterval(timer)
      frozen.push(gap)
      const file = result.snapshot._tag === "Some" ? result.snapshot.value : ""
      size.push(fs.statSync(file).size)
      const core = file.replace(/\.txt$/, ".core")
      if (fs.existsSync(core)) {
        size[size.length - 1]! += fs.statSync(core).size
        cores++
        fs.rmSync(core)
      }
      fs.rmSync(file)
    }
    return { total: median(total), frozen: median(frozen), bytes: median(size), cores }
  }).pipe(
    Effect.provide(
      Layer.merge(Gdb.live({ outputDir: dir, ...options }), TracerConfig.layer({ rateLimit: Duration.zero }))
    )
  )

const modes: ReadonlyArray<[string, Gdb.Options, Parameters<typeof Tracer.trace>[1]]> = [
  ["all threads (default)", {}, {}],
  ["callerOnly", {}, { callerOnly: true }],
  ["bt full", { full: true }, {}],
  ["core: true", { core: true }, { callerOnly: true }]
]

Effect.runPromise(
  Effect.gen(function*() {
    // Where Yama's ptrace_scope is 1, let gdb (a child) attach to this process.
    yield* Effect.ignore(Tracer.enableTracing)
    // Start libuv's threadpool so that its threads are part of the picture.
    yield* Effect.promise(() => fs.promises.readFile(import.meta.filename ?? process.argv[1]!))
    console.log(
      `gdb trace of this process (${fs.readdirSync(`/proc/${process.pid}/task`).length} threads), median of ${runs}`
    )
    console.log("mode                   total ms  frozen ms  output bytes")
    for (const [name, options, traceOptions] of modes) {
      const r = yield* measure(options, traceOptions)
      const note = options.core === true && r.cores === 0
        ? "  (core skipped: over maxCoreSize, see the snapshot header)"
        : ""
      console.log(
        `${name.padEnd(22)} ${r.total.toFixed(0).padStart(8)}  ${r.frozen.toFixed(0).padStart(9)}  ${
          String(r.bytes).padStart(12)
        }${note}`
      )
    }
  })
).finally(() => fs.rmSync(dir, { recursive: true, force: true }))
