/**
 * The demo: effect-bcd's main job, on its built-in defaults, with no server
 * and no account. Run it with `npm ci && npm run demo` on a machine with gdb.
 *
 * 1. A coronerd-compatible receiver starts on 127.0.0.1 (a random port).
 * 2. The gdb backend is provided, sending each snapshot to that receiver as a
 *    Backtrace JSON report (the text snapshot attached).
 * 3. A small program traces a failing operation (`Tracer.trace`), recovers a
 *    defect (`Effect.catchAllDefect(Tracer.recover)`), and registers SIGUSR2
 *    and sends itself SIGUSR2 (`Tracer.register`).
 * 4. A table shows each snapshot: its path, size, thread count, what was sent
 *    (read back from the receiver), and how long the process was frozen while
 *    gdb held it.
 *
 * Everything else is a default: one tracer at a time, a 120 s deadline, a
 * 3 s cooldown between traces, synchronous uploads. The one change is
 * `resendSignal: false`: by default the signal is re-raised after its trace,
 * and SIGUSR2's default action would end the demo.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Gdb, Tracer, TracerConfig } from "../src/index.js"
import * as Coronerd from "./coronerd.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly orderId: string }> {
  override get message() {
    return `payment declined for order ${this.orderId}`
  }
}

const outputDir = path.resolve("snapshots")

/** The longest gap between ticks of a 1 ms timer: how long the process stood still. */
const freezeMeter = () => {
  let last = performance.now()
  let longest = 0
  const timer = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, 1)
  return {
    take: () => {
      const value = longest
      longest = 0
      return value
    },
    stop: () => clearInterval(timer)
  }
}

interface Row {
  readonly step: string
  readonly snapshot: string
  readonly frozenMs: number
}

const snapshots = () =>
  new Set(fs.existsSync(outputDir) ? fs.readdirSync(outputDir).filter((f) => f.endsWith(".txt")) : [])

/** Runs one step, waits for its snapshot's upload, and names the snapshot it left. */
const step = (
  name: string,
  meter: ReturnType<typeof freezeMeter>,
  receiver: Coronerd.Coronerd,
  effect: Effect.Effect<unknown, unknown, Tracer.Tracer>
) =>
  Effect.gen(function*() {
    const before = snapshots()
    const uploads = receiver.received.length
    meter.take()
    yield* Effect.ignore(effect)
    // A signal's trace runs in a fiber of its own: wait until its upload (the trace's last act) has landed.
    yield* Effect.sync(() => receiver.received.length).pipe(
      Effect.repeat({
        until: (n) => n > uploads,
        schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("60 seconds"))
      })
    )
    const fresh = [...snapshots()].filter((f) => !before.has(f))
    return { step: name, snapshot: path.join(outputDir, fresh[0] ?? "(none)"), frozenMs: meter.take() } satisfies Row
  })

const program = (meter: ReturnType<typeof freezeMeter>, receiver: Coronerd.Coronerd) =>
  Effect.gen(function*() {
    const traced = yield* step(
      "Tracer.trace(error)",
      meter,
      receiver,
      Effect.fail(new PaymentDeclined({ orderId: "42" })).pipe(Effect.tapError((error) => Tracer.trace(error)))
    )
    const recovered = yield* step(
      "Tracer.recover(defect)",
      meter,
      receiver,
      Effect.die(new TypeError("cart.items is undefined")).pipe(Effect.catchAllDefect(Tracer.recover))
    )
    yield* Tracer.register(["SIGUSR2"])
    const signalled = yield* step("SIGUSR2", meter, receiver, Effect.sync(() => process.kill(process.pid, "SIGUSR2")))
    return [traced, recovered, signalled]
  })

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

const threadCount = (file: string) => (fs.readFileSync(file, "utf8").match(/^Thread \d+ \(/gm) ?? []).length

/** What the receiver got for a snapshot: a Backtrace JSON report (its threads and attachments), or the file. */
const sent = (receiver: Coronerd.Coronerd, file: string) => {
  const hash = sha256(file)
  const got = receiver.received.find((r) => r.sha256 === hash || r.report?.attachments.some((a) => a.sha256 === hash))
  if (got?.report === undefined) return got === undefined ? "NOT uploaded" : "text file (200)"
  const threads = Object.keys(got.report.json.threads as object).length
  const attachments = got.report.attachments.length
  return `Backtrace JSON, ${threads} threads, ${attachments} attachment${attachments === 1 ? "" : "s"} (200)`
}

const report = (rows: ReadonlyArray<Row>, receiver: Coronerd.Coronerd) => {
  const table = rows.map((row) => ({
    step: row.step,
    snapshot: path.relative(process.cwd(), row.snapshot),
    size: `${(fs.statSync(row.snapshot).size / 1024).toFixed(1)} KiB`,
    threads: threadCount(row.snapshot),
    upload: sent(receiver, row.snapshot),
    frozen: `${row.frozenMs.toFixed(0)} ms`
  }))
  console.table(table)
  return table.every((row) => !row.upload.startsWith("NOT") && row.threads > 0)
}

const main = Effect.gen(function*() {
  const started = Date.now()
  // gdb runs as our child; where Yama's ptrace_scope is 1 (Ubuntu's default) a child may not attach without this.
  yield* Tracer.enableTracing.pipe(Effect.catchAll((error) => Effect.sync(() => console.warn(error.message))))
  const receiver = yield* Coronerd.make({ token: "demo-token" })
  console.log(`receiver listening on ${receiver.endpoint}; gdb snapshots go to ${outputDir}`)
  const GdbTracer = Gdb.live({
    outputDir,
    put: { endpoint: receiver.endpoint, token: Redacted.make(receiver.token) }
  })
  const meter = freezeMeter()
  const rows = yield* program(meter, receiver).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(GdbTracer, TracerConfig.layer({ resendSignal: false }))),
    Effect.ensuring(Effect.sync(meter.stop))
  )
  const ok = report(rows, receiver)
  console.log(
    `${rows.length} snapshots, ${receiver.received.length} uploads, ${((Date.now() - started) / 1000).toFixed(1)} s`
  )
  if (!ok) return yield* Effect.fail("a snapshot was not uploaded")
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error("demo failed:", error)
  process.exitCode = 1
})
