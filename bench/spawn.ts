// Cost of one trace against a raw child_process.spawn of the same program, measured in the same run.
// Run: npx tsx bench/spawn.ts [iterations]
import * as Command from "@effect/platform/Command"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"

const iterations = Number(process.argv[2] ?? 200)

const rawSpawn = () =>
  new Promise<void>((resolve, reject) => {
    const child = spawn("/bin/true", [], { stdio: "ignore" })
    child.once("error", reject)
    child.once("exit", () => resolve())
  })

const timeIt = async (run: () => Promise<unknown>) => {
  for (let i = 0; i < 10; i++) await run()
  const started = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) await run()
  return Number(process.hrtime.bigint() - started) / 1e6 / iterations
}

const backend = {
  name: "true",
  program: "/bin/true",
  defaultTraceOptions: TraceOptions.defaults,
  command: () => Command.make("/bin/true")
}

const main = Effect.gen(function*() {
  const tracer = yield* Tracer.make(backend)
  const traced = (timeout: TraceOptions.Timeout) => () =>
    Effect.runPromise(
      tracer.trace(undefined, { timeout }).pipe(
        Effect.provide(TracerConfig.layer({ rateLimit: 0 }))
      )
    )
  const baseline = yield* Effect.promise(() => timeIt(rawSpawn))
  const watched = yield* Effect.promise(() => timeIt(traced("10 seconds")))
  const unwatched = yield* Effect.promise(() => timeIt(traced("none")))
  const rss = process.memoryUsage().rss / 2 ** 20
  console.log(`iterations: ${iterations}`)
  console.log(`raw spawn of /bin/true (baseline): ${baseline.toFixed(2)} ms`)
  console.log(`trace, with watchdog:    ${watched.toFixed(2)} ms  = ${(watched / baseline).toFixed(2)}x baseline`)
  console.log(`trace, timeout "none":   ${unwatched.toFixed(2)} ms  = ${(unwatched / baseline).toFixed(2)}x baseline`)
  console.log(`rss after: ${rss.toFixed(0)} MiB`)
})

Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(Layer.empty)))
