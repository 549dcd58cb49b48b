/**
 * The Effect context in a snapshot: `Tracer.trace(cause)` classified by
 * what failed, the span's identifying attributes, the `bcd.snapshot` event
 * on the span, and error values that throw when read.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, FiberId, Layer, Option } from "effect"
import * as EffectTracer from "effect/Tracer"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { argvBackend } from "./support/backends.js"

class OutOfStock extends Data.TaggedError("OutOfStock")<{ readonly message: string }> {}
class PaymentDeclined extends Data.TaggedError("PaymentDeclined")<{ readonly message: string }> {}

const snapshotPath = "/var/tmp/bcd-context-test-snapshot.txt"
const withConfig = (input: TracerConfig.Input = {}) =>
  Layer.merge(
    Tracer.layer(argvBackend({ snapshot: () => Option.some(snapshotPath) })),
    TracerConfig.layer({ rateLimit: 0, ...input })
  )
const lines = (stdout: string) => stdout.trim().split("\n")
const classifiers = (stdout: string) => lines(stdout).filter((l) => l.startsWith("classifier="))
const kv = (stdout: string, key: string) =>
  lines(stdout).filter((l) => l.startsWith(`kv=${key}:`)).map((l) => l.slice(`kv=${key}:`.length))

describe("Tracer.trace(cause)", () => {
  it.live("a Fail is classified by the failure's _tag, with its message", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.fail(new OutOfStock({ message: "sku 42 is gone" })))
      const result = yield* Tracer.trace((exit as { cause: Cause.Cause<unknown> }).cause)
      expect(classifiers(result.stdout)).toEqual(["classifier=OutOfStock"])
      expect(kv(result.stdout, "error")).toEqual(["sku 42 is gone"])
    }).pipe(Effect.provide(withConfig())))

  it.live("a Die is classified by the defect's class", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(Cause.die(new TypeError("x is not a function")))
      expect(classifiers(result.stdout)).toEqual(["classifier=TypeError"])
      expect(kv(result.stdout, "error")).toEqual(["x is not a function"])
    }).pipe(Effect.provide(withConfig())))

  it.live("an Interrupt-only cause is classified Interrupt", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(Cause.interrupt(FiberId.make(7, 0)))
      expect(classifiers(result.stdout)).toEqual(["classifier=Interrupt"])
      expect(kv(result.stdout, "error")).toEqual(["interrupted"])
    }).pipe(Effect.provide(withConfig())))

  it.live("sequential and parallel causes: the first failure, before any defect or interruption", () =>
    Effect.gen(function*() {
      const interrupted = Cause.interrupt(FiberId.make(1, 0))
      const sequential = Cause.sequential(
        Cause.sequential(interrupted, Cause.die(new RangeError("later defect"))),
        Cause.fail(new PaymentDeclined({ message: "card declined" }))
      )
      const parallel = Cause.parallel(
        Cause.fail(new OutOfStock({ message: "first" })),
        Cause.fail(new PaymentDeclined({ message: "second" }))
      )
      const defects = Cause.parallel(interrupted, Cause.die(new RangeError("only defect")))
      expect(classifiers((yield* Tracer.trace(sequential)).stdout)).toEqual(["classifier=PaymentDeclined"])
      expect(classifiers((yield* Tracer.trace(parallel)).stdout)).toEqual(["classifier=OutOfStock"])
      const dead = yield* Tracer.trace(defects)
      expect(classifiers(dead.stdout)).toEqual(["classifier=RangeError"])
      expect(kv(dead.stdout, "error")).toEqual(["only defect"])
    }).pipe(Effect.provide(withConfig())))

  it.live("the tapErrorCause idiom, with concurrent failures", () =>
    Effect.gen(function*() {
      const traced: Array<string> = []
      yield* Effect.all([
        Effect.fail(new OutOfStock({ message: "a" })),
        Effect.sleep("10 millis").pipe(Effect.zipRight(Effect.dieMessage("b")))
      ], { concurrency: "unbounded" }).pipe(
        Effect.tapErrorCause((cause) => Effect.map(Tracer.trace(cause), (r) => traced.push(...classifiers(r.stdout)))),
        Effect.ignore
      )
      expect(traced).toEqual(["classifier=OutOfStock"])
    }).pipe(Effect.provide(withConfig())))
})

describe("span attributes", () => {
  it.live("the HTTP attributes of the enclosing spans and the program's own keys are copied", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(new Error("boom")).pipe(
        Effect.withSpan("load-user", { attributes: { "url.path": "/users/42/profile" } }),
        Effect.withSpan("GET /users/:id", {
          attributes: {
            "http.route": "/users/:id",
            "http.request.method": "GET",
            "url.path": "/users/42",
            "tenant.id": 17,
            "unlisted": "not copied"
          }
        })
      )
      expect(kv(result.stdout, "span")).toEqual(["load-user"])
      expect(kv(result.stdout, "http.route")).toEqual(["/users/:id"])
      expect(kv(result.stdout, "http.request.method")).toEqual(["GET"])
      // The nearest span's value wins.
      expect(kv(result.stdout, "url.path")).toEqual(["/users/42/profile"])
      expect(kv(result.stdout, "tenant.id")).toEqual(["17"])
      expect(kv(result.stdout, "unlisted")).toEqual([])
    }).pipe(Effect.provide(withConfig({ spanAttributes: ["tenant.id"] }))))

  it.live("each value is cut to 1 KiB and all of them to 8 KiB", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 20 }, (_, i) => `big.${i}`)
      const attributes = Object.fromEntries(keys.map((k) => [k, "x".repeat(5000)]))
      const result = yield* Tracer.trace(new Error("boom")).pipe(Effect.withSpan("big", { attributes }))
      const copied = keys.flatMap((k) => kv(result.stdout, k))
      expect(copied.length).toBeGreaterThan(0)
      expect(copied.length).toBeLessThan(keys.length)
      for (const value of copied) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(1024)
      expect(copied.reduce((n, v) => n + Buffer.byteLength(v), 0)).toBeLessThanOrEqual(8 * 1024)
    }).pipe(Effect.provide(withConfig({ spanAttributes: Array.from({ length: 20 }, (_, i) => `big.${i}`) }))))
})

/** A Tracer that records each span's events: what an OpenTelemetry exporter would receive. */
const recordingTracer = () => {
  const events: Array<{ span: string; name: string; attributes: Record<string, unknown> | undefined }> = []
  let next = 0
  const tracer = EffectTracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      return {
        _tag: "Span",
        name,
        spanId: `span-${++next}`,
        traceId: "trace-1",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => attributes.set(key, value),
        event: (event, _time, eventAttributes) => events.push({ span: name, name: event, attributes: eventAttributes }),
        addLinks: () => {}
      }
    },
    context: (f) => f()
  })
  return { tracer, events }
}

describe("the bcd.snapshot span event", () => {
  it.live("a finished trace adds an event naming its snapshot to the current span", () =>
    Effect.gen(function*() {
      const { events, tracer } = recordingTracer()
      const result = yield* Tracer.trace(new Error("boom")).pipe(Effect.withSpan("checkout"), Effect.withTracer(tracer))
      expect(Option.getOrThrow(result.snapshot)).toBe(snapshotPath)
      expect(events).toEqual([{
        span: "checkout",
        name: "bcd.snapshot",
        attributes: { "bcd.snapshot.path": snapshotPath, "bcd.backend": "sh-test" }
      }])
      expect(kv(result.stdout, "trace_id")).toEqual(["trace-1"])
    }).pipe(Effect.provide(withConfig())))

  it.live("a background capture names its snapshot on the span it was called in", () =>
    Effect.gen(function*() {
      const { events, tracer } = recordingTracer()
      yield* Tracer.capture(new Error("boom")).pipe(Effect.withSpan("background"), Effect.withTracer(tracer))
      yield* Effect.flatMap(Tracer.Tracer, (t) => t.awaitPending)
      expect(events.map((e) => [e.span, e.name])).toEqual([["background", "bcd.snapshot"]])
    }).pipe(Effect.provide(withConfig())))

  it.live("a span whose event throws does not fail the trace", () =>
    Effect.gen(function*() {
      const { tracer } = recordingTracer()
      const throwing = EffectTracer.make({
        span: (...args) => ({
          ...tracer.span(...args),
          event: () => {
            throw new Error("exporter down")
          }
        }),
        context: (f) => f()
      })
      const result = yield* Tracer.trace(new Error("boom")).pipe(Effect.withSpan("x"), Effect.withTracer(throwing))
      expect(result.exitCode).toBe(0)
    }).pipe(Effect.provide(withConfig())))
})
