/**
 * Go's `examples/main.go` flow with the Backtrace backend: an output path,
 * attributes, uploads configured, leftovers from an earlier run uploaded with
 * `putDir`, signals registered, then traces of a typed error and of a defect.
 *
 * It runs anywhere: the tracer is the fake ptrace from `test/fixtures` (set
 * `BCD_TRACER_PATH=/opt/backtrace/bin/ptrace` to use the real one) and the
 * server is the coronerd-compatible one from `examples/coronerd.ts`.
 *
 *     npx tsx examples/backtrace.ts
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Backtrace, Tracer, TracerConfig } from "../src/index.js"
import * as Coronerd from "./coronerd.js"

class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly orderId: string }> {
  override get message() {
    return `payment declined for order ${this.orderId}`
  }
}

const tracerPath = process.env.BCD_TRACER_PATH ||
  fileURLToPath(new URL("../test/fixtures/fake-ptrace.mjs", import.meta.url))

const main = Effect.gen(function*() {
  const server = yield* Coronerd.make({ token: "example-token" })
  const outputDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bcd-example-")), "snapshots")
  // A snapshot left behind by an earlier run that could not upload it.
  fs.mkdirSync(path.join(outputDir, "2026-11-25"), { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(outputDir, "2026-11-25", "node.1234.1.btt"), "an older snapshot", { mode: 0o600 })

  const BacktraceLayer = Backtrace.live({
    tracerPath,
    outputDir, // tracer.SetOutputPath(dir, 0700)
    permissions: 0o700,
    attributes: { application: "checkout", version: "1.2.3" }, // tracer.AddKV(…)
    put: { endpoint: server.endpoint, token: Redacted.make(server.token), unlink: true } // tracer.ConfigurePut(…)
  })

  yield* Effect.gen(function*() {
    // tracer.PutDir(dir): upload what earlier runs left behind.
    const leftovers = yield* Backtrace.putDir(outputDir)
    yield* Effect.log(`putDir: ${leftovers.uploaded.length} uploaded, ${leftovers.failed.length} failed`)

    // bcd.Register(tracer): trace on the backend's signals (SIGABRT, SIGFPE, SIGSEGV, SIGILL, SIGBUS)
    // while this scope is open.
    yield* Tracer.register()

    yield* Tracer.addKV("stage", "running")

    // bcd.Trace(tracer, err, opts): a typed error, its tag becomes a classifier.
    const result = yield* Tracer.trace(new PaymentDeclined({ orderId: "A-17" }), {
      attributes: { order: "A-17" },
      timeout: "30 seconds"
    })
    yield* Effect.log(`traced to ${Option.getOrElse(result.snapshot, () => "(no path printed)")}`)

    // bcd.Recover(tracer, false, nil): a defect is traced, then swallowed.
    yield* Effect.die(new Error("unexpected state")).pipe(Effect.catchAllDefect(Tracer.recover))
  }).pipe(Effect.scoped, Effect.provide(BacktraceLayer))

  yield* Effect.log(`the server received ${server.received.length} snapshots`)
  for (const r of server.received) yield* Effect.log(`  ${r.sha256.slice(0, 16)}  ${r.body.length} bytes`)
  if (server.received.length !== 3) return yield* Effect.dieMessage("expected 3 uploads")
  const left = fs.readdirSync(outputDir, { recursive: true }).filter((f) => String(f).endsWith(".btt"))
  if (left.length !== 0) return yield* Effect.dieMessage(`snapshots left behind: ${left.join(", ")}`)
}).pipe(
  Effect.scoped,
  Effect.provide(TracerConfig.layer({ rateLimit: "100 millis" }))
)

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exit(1)
})
