import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { alive, gone, readRecord, recordingBackend, shBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"
import { withTempDir } from "./support/temp.js"

describe("one tracer at a time, process-wide", () => {
  it.live("200 concurrent traces never overlap, across two Tracer instances", () =>
    withTempDir((dir) => {
      const log = path.join(dir, "record")
      const first = Tracer.make(recordingBackend(log))
      const second = Tracer.make(recordingBackend(log))
      return Effect.gen(function*() {
        const [a, b] = [yield* first, yield* second]
        // No deadline: under load, 200 runs in a row can take longer than any per-trace deadline would allow.
        yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
          (i % 2 === 0 ? a : b).trace(undefined, { timeout: "none" }), {
          concurrency: "unbounded",
          discard: true
        })
        const record = readRecord(log)
        expect(record).toHaveLength(400)
        record.forEach((entry, i) =>
          expect(entry.kind).toBe(i % 2 === 0 ? "start" : "end")
        )
        for (let i = 1; i < record.length; i++) expect(record[i]!.ns >= record[i - 1]!.ns).toBe(true)
      }).pipe(
        Effect.scoped,
        // All 200 may wait: this is about the lock, not admission.
        Effect.provide(TracerConfig.layer({ rateLimit: 0, maxWaiting: 200 }))
      )
    }), 60_000)

  it.live("a trace interrupted while waiting for the lock leaks no permit", () =>
    withTempDir((dir) => {
      const log = path.join(dir, "record")
      return Effect.gen(function*() {
        const holder = yield* Effect.fork(Tracer.trace(undefined, { timeout: "10 seconds" }))
        yield* Effect.sleep("300 millis")
        const waiter = yield* Effect.fork(Tracer.trace())
        yield* Effect.sleep("100 millis")
        yield* Fiber.interrupt(waiter)
        yield* Fiber.join(holder)
        // With a leaked permit this would time out in the lock phase.
        const exit = yield* Effect.exit(Tracer.trace(undefined, { timeout: "3 seconds" }))
        expect(Exit.isSuccess(exit)).toBe(true)
        expect(readRecord(log).filter((e) => e.kind === "start")).toHaveLength(2)
      }).pipe(Effect.provide(Layer.merge(Tracer.layer(recordingBackend(log, "1")), noCooldown)))
    }))

  it.live("a trace interrupted while its tracer runs kills the tracer and leaks no permit", () =>
    withTempDir((dir) => {
      const pidFile = path.join(dir, "pid")
      const backend = shBackend("echo $$ > \"$1\"; exec sleep 30", () => [pidFile])
      return Effect.gen(function*() {
        const tracer = yield* Tracer.make(backend)
        const running = yield* Effect.fork(tracer.trace())
        while (!fs.existsSync(pidFile) || fs.readFileSync(pidFile, "utf8").trim() === "") {
          yield* Effect.sleep("20 millis")
        }
        const pid = Number(fs.readFileSync(pidFile, "utf8"))
        expect(alive(pid)).toBe(true)
        yield* Fiber.interrupt(running)
        expect(yield* Effect.promise(() => gone(pid, 250))).toBe(true)
        fs.rmSync(pidFile)
        const quick = shBackend("echo ok")
        const result = yield* (yield* Tracer.make(quick)).trace(undefined, { timeout: "3 seconds" })
        expect(result.stdout).toBe("ok\n")
      }).pipe(Effect.scoped, Effect.provide(noCooldown))
    }))
})

describe("one deadline over the lock wait and the run", () => {
  it.live("reports the lock phase when the wait for another tracer runs out", () =>
    Effect.gen(function*() {
      const tracer = yield* Tracer.make(shBackend("sleep 1.5"))
      const holder = yield* Effect.fork(tracer.trace())
      yield* Effect.sleep("200 millis")
      const error = yield* Effect.flip(tracer.trace(undefined, { timeout: "300 millis" }))
      expect(error._tag).toBe("TraceTimeoutError")
      expect(error.message).toBe("Tracer lock acquisition timed out")
      yield* Fiber.join(holder)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("reports the execution phase when the tracer overruns", () =>
    Effect.gen(function*() {
      const start = Date.now()
      const error = yield* Effect.flip(Tracer.trace(undefined, { timeout: "500 millis" }))
      expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      expect(error.message).toBe("Tracer execution timed out")
      expect(Date.now() - start).toBeLessThan(5_000)
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(shBackend("exec sleep 30")), noCooldown))))

  it.live("the lock wait counts against the same deadline as the run", () =>
    Effect.gen(function*() {
      const tracer = yield* Tracer.make(shBackend("sleep 1"))
      const holder = yield* Effect.fork(tracer.trace())
      yield* Effect.sleep("100 millis")
      // ~0.9 s of waiting plus 1 s of running exceeds 1.7 s, though each alone would not
      // (0.8 s of slack for a slow spawn of the holder).
      const error = yield* Effect.flip(tracer.trace(undefined, { timeout: "1700 millis" }))
      expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      yield* Fiber.join(holder)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))
})
