/**
 * Admission under load: a FIFO lock, a bound on waiting traces, sampling
 * and a cap per window, Tracer.capture, metrics by outcome, and one summary
 * log line per storm.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Logger, LogLevel, Metric, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as TraceMetrics from "../src/TraceMetrics.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { shBackend } from "./support/backends.js"
import { withTempDir } from "./support/temp.js"

const outcome = (name: TraceMetrics.Outcome) =>
  Effect.map(Metric.value(Metric.tagged(TraceMetrics.traces, "outcome", name)), (state) => state.count)

/** The counts of every outcome, to compare before and after. */
const outcomes = Effect.all({
  ok: outcome("ok"),
  failed: outcome("failed"),
  timeout: outcome("timeout"),
  busy: outcome("busy"),
  dropped: outcome("dropped"),
  sampled_out: outcome("sampled_out")
})

const delta = <K extends string>(before: Record<K, number>, after: Record<K, number>) =>
  Object.fromEntries(Object.keys(after).map((k) => [k, after[k as K] - before[k as K]])) as Record<K, number>

const provide = (backend: ReturnType<typeof shBackend>, settings: TracerConfig.Input = {}) =>
  Effect.provide(Layer.merge(Tracer.layer(backend), TracerConfig.layer({ rateLimit: 0, ...settings })))

/** Waits until `file` has `n` lines. */
const lines = (file: string, n: number) =>
  Effect.gen(function*() {
    const read = () => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : [])
    while (read().length < n) yield* Effect.sleep("10 millis")
    return read()
  })

describe("admission", () => {
  it.live("waiters get the lock in the order they came (FIFO)", () =>
    withTempDir((dir) => {
      const log = path.join(dir, "order")
      const started = path.join(dir, "started")
      // Each run appends its label; the first holds the lock until `release` exists.
      const backend = shBackend(
        "echo \"$2\" >> \"$1\"; if [ \"$2\" = 0 ]; then echo go > \"$3\"; while [ ! -e \"$4\" ]; do sleep 0.02; done; fi",
        // Tracer.make builds the command once with an empty request to check it: no `n` then.
        (req) => [log, req.attributes.find(([k]) => k === "n")?.[1] ?? "-", started, path.join(dir, "release")]
      )
      return Effect.gen(function*() {
        const first = yield* Effect.fork(Tracer.trace(undefined, { attributes: { n: "0" } }))
        yield* lines(started, 1)
        const rest: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
        for (let n = 1; n <= 8; n++) {
          rest.push(yield* Effect.fork(Tracer.trace(undefined, { attributes: { n: String(n) } })))
          // Each waiter is in line before the next one comes.
          yield* Effect.sleep("20 millis")
        }
        fs.writeFileSync(path.join(dir, "release"), "")
        yield* Fiber.join(first)
        for (const fiber of rest) yield* Fiber.join(fiber)
        expect(yield* lines(log, 9)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8"])
      }).pipe(provide(backend, { maxWaiting: 20 }))
    }))

  it.live("beyond maxWaiting a trace fails at once with TraceBusyError, and the waiters still run", () =>
    Effect.gen(function*() {
      const holder = yield* Effect.fork(Tracer.trace())
      yield* Effect.sleep("100 millis")
      const waiters = yield* Effect.forEach([1, 2], () => Effect.fork(Tracer.trace()))
      yield* Effect.sleep("50 millis")
      const started = Date.now()
      const error = yield* Effect.flip(Tracer.trace())
      expect(Date.now() - started).toBeLessThan(100)
      expect(error).toMatchObject({ _tag: "TraceBusyError", reason: "queue-full" })
      yield* Fiber.join(holder)
      for (const waiter of waiters) yield* Fiber.join(waiter)
      // The places are given back: a later trace is taken.
      yield* Tracer.trace()
    }).pipe(provide(shBackend("sleep 0.5"), { maxWaiting: 2 })))

  it.live("sample and limit refuse traces before they run", () =>
    Effect.gen(function*() {
      const sampled = yield* Effect.flip(Tracer.trace().pipe(Effect.provide(TracerConfig.layer({ sample: 0 }))))
      expect(sampled).toMatchObject({ _tag: "TraceBusyError", reason: "sampled-out" })
      const limited = TracerConfig.layer({ rateLimit: 0, limit: { traces: 2, window: "1 minute" } })
      const results = yield* Effect.forEach([1, 2, 3], () => Effect.either(Tracer.trace()), { concurrency: 1 }).pipe(
        Effect.provide(limited)
      )
      expect(results.map((r) => r._tag)).toEqual(["Right", "Right", "Left"])
      expect(results[2]).toMatchObject({ left: { _tag: "TraceBusyError", reason: "limited" } })
      const byPredicate = yield* Effect.flip(
        Tracer.trace(new Error("skip me")).pipe(
          Effect.provide(TracerConfig.layer({ sample: (request) => Effect.succeed(request.error._tag === "None") }))
        )
      )
      expect(byPredicate).toMatchObject({ _tag: "TraceBusyError", reason: "sampled-out" })
    }).pipe(Effect.provide(Tracer.layer(shBackend("true")))))

  it.live("capture returns at once, never fails, and drops what cannot run soon", () =>
    withTempDir((dir) => {
      const pids = path.join(dir, "pids")
      const backend = shBackend("echo $$ >> \"$1\"; exec sleep 30", () => [pids])
      return Effect.gen(function*() {
        const before = yield* outcomes
        const started = Date.now()
        // The first hangs its tracer; one more may wait (maxWaiting 1); the other eight are dropped.
        for (let i = 0; i < 10; i++) yield* Tracer.capture(new Error(`capture ${i}`), { timeout: "1 second" })
        expect(Date.now() - started).toBeLessThan(500)
        yield* Tracer.awaitPending
        // The first's tracer overran its deadline; the second's deadline ran out while it waited for the lock.
        expect(delta(before, yield* outcomes)).toMatchObject({ dropped: 8, timeout: 2, ok: 0 })
      }).pipe(provide(backend, { maxWaiting: 1, killGrace: "100 millis" }))
    }), 30_000)

  it.live("metrics count each outcome of trace", () =>
    Effect.gen(function*() {
      const before = yield* outcomes
      const ranBefore = (yield* Metric.value(TraceMetrics.tracerRun)).count
      const stoppedBefore = (yield* Metric.value(TraceMetrics.processStopped)).count
      const first = yield* Tracer.trace().pipe(Effect.provide(Tracer.layer(shBackend("true"))))
      // The supervisor runner (the default) times the stop: none for `true`.
      expect(first.stoppedMs).toEqual(Option.some(0))
      expect((yield* Metric.value(TraceMetrics.processStopped)).count).toBe(stoppedBefore + 1)
      yield* Effect.flip(Tracer.trace().pipe(Effect.provide(Tracer.layer(shBackend("exit 3")))))
      yield* Effect.flip(
        Tracer.trace(undefined, { timeout: "200 millis" }).pipe(Effect.provide(Tracer.layer(shBackend("exec sleep 5"))))
      )
      yield* Effect.flip(
        Tracer.trace().pipe(
          Effect.provide(Tracer.layer(shBackend("true"))),
          Effect.provide(TracerConfig.layer({ sample: 0 }))
        )
      )
      const ran = yield* Metric.value(TraceMetrics.tracerRun)
      expect(delta(before, yield* outcomes)).toEqual({
        ok: 1,
        failed: 1,
        timeout: 1,
        busy: 0,
        dropped: 0,
        sampled_out: 1
      })
      // Run time is recorded for each tracer that finished (the `true` one), not for one that failed or overran.
      expect(ran.count - ranBefore).toBe(1)
    }).pipe(Effect.provide(TracerConfig.layer({ rateLimit: 0, killGrace: "100 millis" }))))

  it.live("a storm of 1,000 traces settles quickly with one summary line, and a trace after it succeeds", () => {
    const logged: Array<string> = []
    const logger = Logger.make(({ message }) => {
      logged.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    return Effect.gen(function*() {
      const started = Date.now()
      const results = yield* Effect.forEach(
        Array.from({ length: 1000 }, () => Effect.either(Tracer.trace())),
        (e) => e,
        { concurrency: "unbounded" }
      )
      expect(Date.now() - started).toBeLessThan(15_000)
      const ok = results.filter((r) => r._tag === "Right").length
      expect(ok).toBeGreaterThanOrEqual(1)
      expect(ok).toBeLessThanOrEqual(5)
      expect(results.filter((r) => r._tag === "Left" && r.left._tag === "TraceBusyError")).toHaveLength(1000 - ok)
      expect(logged.filter((l) => l.includes("Tracer busy"))).toHaveLength(1)
      yield* Effect.sleep("100 millis")
      yield* Tracer.trace()
    }).pipe(
      // A name of its own: identical lines are summarised process-wide, and other tests log "Tracer busy" too.
      provide(shBackend("true", undefined, { name: "storm" }), { maxWaiting: 4 }),
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All)))
    )
  }, 60_000)
  it.live("a cooldown that outlasts the deadline fails the trace at once in the lock phase", () =>
    Effect.gen(function*() {
      yield* Tracer.trace()
      const started = Date.now()
      const error = yield* Effect.flip(Tracer.trace(undefined, { timeout: "1 second" }))
      expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "lock" })
      expect(Date.now() - started).toBeLessThan(200)
      // The cooldown is process-wide: let it pass before the next test.
      yield* Effect.sleep("1500 millis")
    }).pipe(provide(shBackend("true"), { rateLimit: "1500 millis" })))
})
