/**
 * The traced process of bench/freeze.ts: a Node process with about a dozen
 * threads, kept busy, that takes one snapshot of itself per message from its
 * parent (over IPC) and answers with when it started and ended, how long the
 * main thread's event loop stalled meanwhile, and the snapshot's size.
 *
 * Load, moderate on purpose (about one core in all): two `worker_threads`
 * Workers busy in JS 2 ms out of every 10; four pbkdf2 jobs (about 4 ms
 * each) queued on libuv's threadpool every 40 ms; a 1 ms timer on the main
 * thread, whose longest gap is the event-loop stall.
 *
 *   (started by bench/freeze.ts)
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Worker } from "node:worker_threads"
import { EuStack, Gdb, Tracer, TracerConfig } from "../src/index.js"

/**
 * A snapshot to take. `eu-stack, SCHED_FIFO` runs eu-stack at real-time
 * priority (a diagnostic; needs root). `idle` takes none: the host waits one
 * second, the control for the event-loop stall a loaded machine causes alone.
 */
export type Kind = "eu-stack" | "eu-stack, SCHED_FIFO" | "gdb" | "gdb callerOnly" | "process.report" | "idle"

/** The host's answer to one snapshot. */
export interface Done {
  readonly kind: Kind
  /** Epoch ms, sub-ms precision. */
  readonly start: number
  readonly end: number
  /** The longest gap between ticks of the main thread's 1 ms timer, in the snapshot's window. */
  readonly stallMs: number
  readonly bytes: number
}

const now = () => performance.timeOrigin + performance.now()

// The load.
const source = `
  setInterval(() => { const end = Date.now() + 2; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1) }, 10)
`
const workers = [0, 1].map(() => new Worker(source, { eval: true }))
const pbkdf2 = () => {
  for (let i = 0; i < 4; i++) crypto.pbkdf2("secret", "salt", 4000, 32, "sha256", () => {})
}
const pool = setInterval(pbkdf2, 40)
pbkdf2()

// The event-loop stall: the longest gap between ticks since `stall.reset()`.
const stall = (() => {
  let last = performance.now()
  let longest = 0
  setInterval(() => {
    const t = performance.now()
    longest = Math.max(longest, t - last)
    last = t
  }, 1)
  return {
    reset: () => {
      longest = 0
      last = performance.now()
    },
    read: () => Math.max(longest, performance.now() - last)
  }
})()

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-bench-freeze-"))

const shutdown = () => {
  clearInterval(pool)
  workers.forEach((w) => w.terminate())
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(process.exitCode ?? 0)
}

const program = Effect.gen(function*() {
  yield* Effect.ignore(Tracer.enableTracing)
  const euStack = yield* Tracer.make(yield* EuStack.make({ outputDir: dir }))
  const gdb = yield* Tracer.make(yield* Gdb.make({ outputDir: dir }))
  // eu-stack at real-time priority: the same tracer, never kept waiting for a CPU while it holds a thread.
  const fifo = path.join(dir, "eu-stack-fifo")
  fs.writeFileSync(fifo, `#!/bin/sh\nexec chrt -f 5 eu-stack "$@"\n`, { mode: 0o700 })
  const euStackFifo = yield* Tracer.make(yield* EuStack.make({ outputDir: dir, euStackPath: fifo }))
  const requests = yield* Queue.unbounded<Kind>()
  process.on("message", (message: Kind | "exit") => {
    if (message === "exit") shutdown()
    else Queue.unsafeOffer(requests, message)
  })
  // Let libuv's threads start and the JIT warm up before the first snapshot.
  yield* Effect.sleep("1 second")
  const { runner } = yield* TracerConfig.TracerConfig
  process.send!({ ready: true, pid: process.pid, threads: fs.readdirSync("/proc/self/task").length, runner })

  const snapshot = (kind: Kind): Effect.Effect<number, unknown> => {
    if (kind === "process.report") {
      return Effect.sync(() => JSON.stringify(process.report.getReport()).length)
    }
    if (kind === "idle") return Effect.as(Effect.sleep("1 second"), 0)
    const tracer = kind === "eu-stack" ? euStack : kind === "eu-stack, SCHED_FIFO" ? euStackFifo : gdb
    return Effect.map(tracer.trace(new Error("bench"), { callerOnly: kind === "gdb callerOnly" }), (result) => {
      const file = result.snapshot._tag === "Some" ? result.snapshot.value : ""
      const bytes = fs.statSync(file).size
      fs.rmSync(file)
      return bytes
    })
  }

  for (;;) {
    const kind = yield* Queue.take(requests)
    // A quiet moment first, so that the timer's gaps belong to this snapshot.
    yield* Effect.sleep("20 millis")
    stall.reset()
    const start = now()
    const bytes = yield* snapshot(kind)
    const end = now()
    const done: Done = { kind, start, end, stallMs: stall.read(), bytes }
    process.send!(done)
  }
})

Effect.runPromise(
  Effect.scoped(program).pipe(Effect.provide(TracerConfig.layer({ rateLimit: Duration.zero })))
).catch((error) => {
  console.error(error)
  process.exitCode = 1
  shutdown()
})
