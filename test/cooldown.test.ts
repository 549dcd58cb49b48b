import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Schedule, TestClock } from "effect"
import * as path from "node:path"
import * as Lock from "../src/internal/core/lock.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { readRecord, recordingBackend, shBackend } from "./support/backends.js"
import { fixture } from "./support/child.js"
import { tempDir, withTempDir } from "./support/temp.js"

const starts = (log: string) => readRecord(log).filter((e) => e.kind === "start").map((e) => Number(e.ns / 1_000_000n))
const ends = (log: string) => readRecord(log).filter((e) => e.kind === "end").map((e) => Number(e.ns / 1_000_000n))

const withLog = <A, E, R>(f: (log: string) => Effect.Effect<A, E, R>) =>
  withTempDir((dir) => f(path.join(dir, "record")))

describe("cooldown (rateLimit)", () => {
  it.live(
    "Go's TestConcurrentRateLimit in miniature: 4 fibers for 3.5 s with a 1 s cooldown",
    () =>
      withLog((log) =>
        Effect.gen(function*() {
          const loop = Effect.forever(Effect.ignore(Tracer.trace()))
          const fibers = yield* Effect.forEach([1, 2, 3, 4], () => Effect.fork(loop))
          yield* Effect.sleep("3500 millis")
          yield* Fiber.interruptAll(fibers)
          const s = starts(log)
          // Progress was made (a loose floor: spawns are slow on a loaded 2-core CI box); the ceiling is Go's assertion.
          expect(s.length).toBeGreaterThanOrEqual(2)
          expect(s.length).toBeLessThanOrEqual(Math.floor(3500 / 1000) + 1)
          const e = ends(log)
          for (let i = 1; i < s.length; i++) expect(s[i]! - e[i - 1]!).toBeGreaterThanOrEqual(990)
        }).pipe(
          Effect.provide(
            Layer.merge(Tracer.layer(recordingBackend(log)), TracerConfig.layer({ rateLimit: "1 second" }))
          )
        )
      ),
    20_000
  )

  it.live(
    "any Schedule may drive the cooldown: an exponential one doubles the gaps",
    () =>
      withLog((log) =>
        Effect.gen(function*() {
          yield* Effect.repeatN(Tracer.trace(), 3)
          const s = starts(log)
          const e = ends(log)
          expect(s).toHaveLength(4)
          const gaps = s.slice(1).map((start, i) => start - e[i]!)
          expect(gaps[0]).toBeGreaterThanOrEqual(190)
          expect(gaps[1]).toBeGreaterThanOrEqual(390)
          expect(gaps[2]).toBeGreaterThanOrEqual(790)
        }).pipe(Effect.provide(Layer.merge(
          Tracer.layer(recordingBackend(log)),
          TracerConfig.layer({ rateLimit: Schedule.exponential("200 millis") })
        )))
      ),
    20_000
  )

  it.live("the cooldown follows a failed and a timed-out trace too", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const failing = yield* Tracer.make(shBackend("echo \"start $(date +%s%N)\" >> \"$1\"; exit 3", () => [log]))
        const hanging = yield* Tracer.make(
          shBackend("echo \"start $(date +%s%N)\" >> \"$1\"; exec sleep 30", () => [log])
        )
        const ok = yield* Tracer.make(recordingBackend(log))
        const failed = yield* Effect.flip(failing.trace())
        expect(failed).toMatchObject({ _tag: "TracerRunError", exitCode: 3 })
        const afterFailure = Date.now()
        yield* ok.trace()
        expect(Date.now() - afterFailure).toBeGreaterThanOrEqual(590)
        const timedOut = yield* Effect.flip(hanging.trace(undefined, { timeout: "1 second" }))
        expect(timedOut).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
        const afterTimeout = Date.now()
        yield* ok.trace()
        expect(Date.now() - afterTimeout).toBeGreaterThanOrEqual(590)
      }).pipe(Effect.scoped, Effect.provide(TracerConfig.layer({ rateLimit: "600 millis", killGrace: 200 })))
    ), 20_000)

  it.effect("cooldownEnd steps a Schedule and restarts it when it is done (TestClock)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(10_000)
      const schedule = Schedule.exponential("1 second").pipe(Schedule.intersect(Schedule.recurs(2)))
      expect(yield* Lock.cooldownEnd(schedule, 10_000)).toBe(11_000)
      expect(yield* Lock.cooldownEnd(schedule, 20_000)).toBe(22_000)
      // recurs(2) is exhausted: no cooldown, and the schedule starts over.
      expect(yield* Lock.cooldownEnd(schedule, 30_000)).toBe(30_000)
      expect(yield* Lock.cooldownEnd(schedule, 40_000)).toBe(41_000)
      expect(yield* Lock.cooldownEnd(TracerConfig.decode({ rateLimit: Duration.seconds(3) }).rateLimit, 50_000)).toBe(
        53_000
      )
    }))

  it.live("a finished program does not wait out its cooldown", () =>
    Effect.gen(function*() {
      const child = yield* fixture("trace-once", {}, { cwd: yield* tempDir })
      const { code } = yield* child.exit
      const exitedAt = Date.now()
      const [word, tracedAt] = child.stdout().trim().split(" ")
      expect(word).toBe("traced")
      expect(code).toBe(0)
      expect(exitedAt - Number(tracedAt)).toBeLessThan(2_000)
    }).pipe(Effect.scoped), 30_000)
})
