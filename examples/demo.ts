/**
 * The demo: effect-bcd's main job, on its built-in defaults, with no server
 * and no account. Run it with `npm ci && npm run demo` on a machine with
 * eu-stack (Debian's `elfutils`) and gdb.
 *
 * 1. A coronerd-compatible receiver starts on 127.0.0.1 (a random port).
 * 2. The eu-stack backend is provided, sending each snapshot to that receiver
 *    as a Backtrace JSON report (the text snapshot attached).
 * 3. A small program traces a failing operation (`Tracer.trace`), recovers a
 *    defect (`Effect.catchAllDefect(Tracer.recover)`), registers SIGUSR2 and
 *    sends itself SIGUSR2 (`Tracer.register`), and blocks its own event loop
 *    for 1.5 s under `Tracer.watchEventLoop` (a hang snapshot).
 * 4. The same failing operation is traced once more with the gdb backend,
 *    for comparison (skipped when gdb is missing).
 * 5. A table shows each snapshot: its backend, path, size, thread count,
 *    what was sent (read back from the receiver: "Backtrace JSON, 13 threads,
 *    1 attachment"), and how long the process was frozen: the longest stop of
 *    its main thread and of any thread, seen from outside by a sampler
 *    process reading /proc/<pid>/task/<tid>/stat (bench/stops.ts, as
 *    bench/freeze.ts measures it).
 *
 * Everything else is a default: one tracer at a time, a 120 s deadline, a
 * 3 s cooldown between traces, synchronous uploads. The one change is
 * `resendSignal: false`: by default the signal is re-raised after its trace,
 * and SIGUSR2's default action would end the demo.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { longest, type Sampler, startSampler, type Stop, stopsIn } from "../bench/stops.js"
import { EuStack, Gdb, Tracer, TracerConfig } from "../src/index.js"
import * as Coronerd from "./coronerd.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly orderId: string }> {
  override get message() {
    return `payment declined for order ${this.orderId}`
  }
}

const outputDir = path.resolve("snapshots")

interface Row {
  readonly backend: string
  readonly step: string
  readonly snapshot: string
  /** When the step started and ended (epoch ms), to line it up with the sampler's stops. */
  readonly start: number
  readonly end: number
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/** The hash of the snapshot a receipt carries: the attached text of a JSON report, or the body itself. */
const snapshotHash = (received: Coronerd.Received) => received.report?.attachments[0]?.sha256 ?? received.sha256

/** What the receiver got for a snapshot: a Backtrace JSON report (its threads and attachments), or the file. */
const sent = (receiver: Coronerd.Coronerd, file: string) => {
  const hash = sha256(file)
  const got = receiver.received.find((r) => snapshotHash(r) === hash)
  if (got?.report === undefined) return got === undefined ? "NOT uploaded" : "text file (200)"
  const threads = Object.keys(got.report.json.threads as object).length
  const attachments = got.report.attachments.length
  return `Backtrace JSON, ${threads} threads, ${attachments} attachment${attachments === 1 ? "" : "s"} (200)`
}

const snapshots = () =>
  new Set(fs.existsSync(outputDir) ? fs.readdirSync(outputDir).filter((f) => f.endsWith(".txt")) : [])

/** Runs one step, waits for its snapshot's upload, and names the snapshot it left. */
const step = (
  backend: string,
  name: string,
  receiver: Coronerd.Coronerd,
  effect: Effect.Effect<unknown, unknown, Tracer.Tracer>
) =>
  Effect.gen(function*() {
    const uploads = receiver.received.length
    const start = Date.now()
    yield* Effect.ignore(effect)
    // A signal's trace runs in a fiber of its own: wait until its upload (the trace's last act) has landed.
    yield* Effect.sync(() => receiver.received.length).pipe(
      Effect.repeat({
        until: (n) => n > uploads,
        schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo("60 seconds"))
      })
    )
    // The snapshot is the file that was uploaded (a hang snapshot's file is created before the step, when armed).
    const uploaded = snapshotHash(receiver.received[uploads]!)
    const file = [...snapshots()].find((f) => sha256(path.join(outputDir, f)) === uploaded)
    return {
      backend,
      step: name,
      snapshot: path.join(outputDir, file ?? "(none)"),
      start,
      end: Date.now()
    } satisfies Row
  })

/** JS that never yields for `ms`: the event loop is blocked. */
function busyFor(ms: number): number {
  const end = Date.now() + ms
  let sum = 0
  while (Date.now() < end) sum += Math.sqrt(sum + 1)
  return sum
}

const chargeCard = Effect.fail(new PaymentDeclined({ orderId: "42" })).pipe(
  Effect.tapError((error) => Tracer.trace(error))
)

const euStackSteps = (receiver: Coronerd.Coronerd) =>
  Effect.gen(function*() {
    const traced = yield* step("eu-stack", "Tracer.trace(error)", receiver, chargeCard)
    const recovered = yield* step(
      "eu-stack",
      "Tracer.recover(defect)",
      receiver,
      Effect.die(new TypeError("cart.items is undefined")).pipe(Effect.catchAllDefect(Tracer.recover))
    )
    yield* Tracer.register(["SIGUSR2"])
    const signalled = yield* step(
      "eu-stack",
      "SIGUSR2",
      receiver,
      Effect.sync(() => process.kill(process.pid, "SIGUSR2"))
    )
    yield* Tracer.watchEventLoop({ threshold: Duration.millis(500) })
    // Past the cooldown of the last trace (3 s by default): the watcher honours it too.
    yield* Effect.sleep(Duration.seconds(3))
    const hung = yield* step(
      "eu-stack",
      "event loop blocked 1.5 s",
      receiver,
      Effect.sync(() => busyFor(1500))
    )
    return [traced, recovered, signalled, hung]
  })

/** Threads in a snapshot: gdb's `Thread 1 (…` or eu-stack's `TID 1234:` headings. */
const threadCount = (file: string) =>
  (fs.readFileSync(file, "utf8").match(/^(?:Thread \d+ \(|TID \d+:)/gm) ?? []).length

const ms = (value: number) => `${value.toFixed(1)} ms`

const report = (rows: ReadonlyArray<Row>, stops: ReadonlyArray<Stop>, receiver: Coronerd.Coronerd) => {
  const table = rows.map((row) => {
    const mine = stopsIn(stops, row.start, row.end)
    return {
      backend: row.backend,
      step: row.step,
      snapshot: path.relative(process.cwd(), row.snapshot),
      size: `${(fs.statSync(row.snapshot).size / 1024).toFixed(1)} KiB`,
      threads: threadCount(row.snapshot),
      upload: sent(receiver, row.snapshot),
      "frozen, main thread": ms(longest(mine.filter((s) => s.tid === process.pid))),
      "frozen, any thread": ms(longest(mine))
    }
  })
  console.table(table)
  console.log(
    "frozen: the longest ptrace stop seen by a sampler reading /proc/<pid>/task/*/stat every ~0.25 ms " +
      "(a shorter stop may be missed); bench/RESULTS.md, \"Freeze per snapshot\", has the medians."
  )
  return table.every((row) => !row.upload.startsWith("NOT") && row.threads > 0)
}

/** The gdb row, or a note when gdb is missing: eu-stack is the demo's backend, gdb the comparison. */
const gdbSteps = (receiver: Coronerd.Coronerd) =>
  Effect.scoped(step("gdb", "Tracer.trace(error)", receiver, chargeCard)).pipe(
    Effect.provide(
      Gdb.live({ outputDir, put: { endpoint: receiver.endpoint, token: Redacted.make(receiver.token) } })
    ),
    Effect.map((row) => [row]),
    Effect.catchTag(
      "TracerConfigError",
      (error) => Effect.as(Effect.sync(() => console.warn(`no gdb row: ${error.message}`)), [])
    )
  )

const main = Effect.gen(function*() {
  const started = Date.now()
  // eu-stack and gdb run as our children; where Yama's ptrace_scope is 1 (Ubuntu's default) they may not attach without this.
  yield* Tracer.enableTracing.pipe(Effect.catchAll((error) => Effect.sync(() => console.warn(error.message))))
  const receiver = yield* Coronerd.make({ token: "demo-token" })
  console.log(`receiver listening on ${receiver.endpoint}; snapshots go to ${outputDir}`)
  const put = { endpoint: receiver.endpoint, token: Redacted.make(receiver.token) }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-demo-"))
  const sampler = yield* Effect.acquireRelease(
    Effect.sync((): Sampler => startSampler(process.pid, work, false)),
    (sampler) =>
      Effect.sync(() => {
        sampler.kill()
        fs.rmSync(work, { recursive: true, force: true })
      })
  )
  const config = TracerConfig.layer({ resendSignal: false })
  const euStackRows = yield* euStackSteps(receiver).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(EuStack.live({ outputDir, put }), config))
  )
  const gdbRows = yield* gdbSteps(receiver).pipe(Effect.provide(config))
  const rows = [...euStackRows, ...gdbRows]
  const { stops } = yield* Effect.promise(() => sampler.finish())
  const ok = report(rows, stops, receiver)
  console.log(
    `${rows.length} snapshots, ${receiver.received.length} uploads, ${((Date.now() - started) / 1000).toFixed(1)} s`
  )
  if (!ok) return yield* Effect.fail("a snapshot was not uploaded")
})

Effect.runPromise(
  Effect.scoped(main).pipe(
    // The one thing the demo cannot do without: eu-stack. The error names its package (elfutils).
    Effect.catchTag("TracerConfigError", (error) => Effect.fail(`the demo needs eu-stack: ${error.message}`))
  )
).catch((error) => {
  console.error("demo failed:", error)
  process.exitCode = 1
})
