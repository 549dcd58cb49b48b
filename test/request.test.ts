import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Layer, Option } from "effect"
import { clampUtf8 } from "../src/internal/core/text.js"
import * as Tracer from "../src/Tracer.js"
import { argvBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"

const TracerLive = Layer.merge(Tracer.layer(argvBackend()), noCooldown)
const lines = (stdout: string) => stdout.trim().split("\n")

class DiskFull extends Data.TaggedError("DiskFull")<{ readonly message: string }> {}
class QuotaError extends Error {}

describe("classification", () => {
  it.live("a tagged error classifies by _tag, a class by its constructor name", () =>
    Effect.gen(function*() {
      const tagged = yield* Tracer.trace(new DiskFull({ message: "no space" }))
      expect(lines(tagged.stdout)).toContain("classifier=DiskFull")
      expect(lines(tagged.stdout)).toContain("kv=error:no space")
      const plain = yield* Tracer.trace(new QuotaError("over quota"))
      expect(lines(plain.stdout)).toContain("classifier=QuotaError")
      expect(lines(plain.stdout)).toContain("kv=error:over quota")
      const off = yield* Tracer.trace(new QuotaError("x"), { errorClassification: false })
      expect(lines(off.stdout).filter((l) => l.startsWith("classifier="))).toEqual([])
      const none = yield* Tracer.trace()
      expect(lines(none.stdout).some((l) => l.startsWith("kv=error:"))).toBe(false)
    }).pipe(Effect.provide(TracerLive)))

  it.live("a value whose getters throw (a revoked Proxy) is still traced", () =>
    Effect.gen(function*() {
      const { proxy, revoke } = Proxy.revocable({}, {})
      revoke()
      const result = yield* Tracer.trace(proxy)
      expect(lines(result.stdout)).toEqual(
        expect.arrayContaining(["kv=error:[unprintable value]", "classifier=Object"])
      )
    }).pipe(Effect.provide(TracerLive)))

  it.live("a message with NUL bytes is sanitised and the trace still runs", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(new Error("before\0after"))
      expect(lines(result.stdout)).toContain("kv=error:before\\0after")
      expect(Option.getOrThrow(result.request.error)).toBe("before\\0after")
    }).pipe(Effect.provide(TracerLive)))

  it.live("a message over 64 KiB is truncated and the trace still runs", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(new Error("é".repeat(200 * 1024)))
      const error = lines(result.stdout).find((l) => l.startsWith("kv=error:"))!
      expect(Buffer.byteLength(error)).toBeLessThanOrEqual(64 * 1024 + "kv=error:".length)
      expect(error.startsWith("kv=error:éééé")).toBe(true)
      expect(error.endsWith("...[truncated]")).toBe(true)
    }).pipe(Effect.provide(TracerLive)))
})

describe("argv limits", () => {
  it("clampUtf8 cuts on a character boundary, never over the limit", () => {
    for (
      const [text, max] of [["a" + "é".repeat(100), 50], ["€".repeat(100), 50], ["a😀".repeat(50), 50], [
        "ab",
        50
      ]] as const
    ) {
      for (let cut = max; cut > max - 4; cut--) {
        const out = clampUtf8(text, cut, "...")
        expect(Buffer.byteLength(out)).toBeLessThanOrEqual(cut)
        expect(out).not.toContain("\uFFFD")
        if (out !== text) expect(text.startsWith(out.slice(0, -3))).toBe(true)
      }
    }
    expect(clampUtf8("a\0b", 50, "...")).toBe("a\\0b")
  })

  it.live("an attribute over the kernel's 128 KiB argv limit is cut, and the trace still runs", () =>
    Effect.gen(function*() {
      // "kv=big:" is 7 bytes, so the cut falls inside a two-byte character.
      const result = yield* Tracer.trace(undefined, { attributes: { big: "é".repeat(70_000) } })
      const line = lines(result.stdout).find((l) => l.startsWith("kv=big:"))!
      expect(Buffer.byteLength(line)).toBeLessThan(128 * 1024)
      expect(line.endsWith("é...")).toBe(true)
    }).pipe(Effect.provide(TracerLive)))
})

describe("the request", () => {
  it.live("carries the pid, the calling thread, the fiber id and the span", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fiberId
      const result = yield* Tracer.trace(undefined, { faulted: true }).pipe(Effect.withSpan("checkout"))
      expect(result.request.pid).toBe(process.pid)
      // The test runs on the main thread, whose tid is the pid.
      expect(Option.getOrThrow(result.request.tid)).toBe(process.pid)
      expect(lines(result.stdout)).toContain(`fiber=${fiber._tag === "Runtime" ? fiber.id : -1}`)
      expect(lines(result.stdout)).toContain("kv=span:checkout")
      expect(lines(result.stdout).some((l) => /^kv=trace_id:[0-9a-f]{32}$/.test(l))).toBe(true)
      expect(lines(result.stdout).some((l) => /^kv=span_id:[0-9a-f]{16}$/.test(l))).toBe(true)
      const unthreaded = yield* Tracer.trace(undefined, { faulted: false, callerOnly: false })
      expect(Option.isNone(unthreaded.request.tid)).toBe(true)
    }).pipe(Effect.provide(TracerLive)))

  it.live("addKV, addClassifier and addOptions change every later trace; clearOptions empties them", () =>
    Effect.gen(function*() {
      yield* Tracer.addKV("region", "eu-west-1")
      yield* Tracer.addClassifier("checkout")
      yield* Tracer.addOptions("--verbose", "--x")
      expect(yield* Tracer.options).toEqual({
        attributes: [["region", "eu-west-1"]],
        classifiers: ["checkout"],
        args: ["--verbose", "--x"]
      })
      const first = lines((yield* Tracer.trace(undefined, { attributes: { order: "42" } })).stdout)
      expect(first).toEqual(
        expect.arrayContaining([
          "kv=region:eu-west-1",
          "kv=order:42",
          "classifier=checkout",
          "arg=--verbose",
          "arg=--x"
        ])
      )
      // Per-trace attributes do not stick.
      const second = lines((yield* Tracer.trace()).stdout)
      expect(second).toContain("kv=region:eu-west-1")
      expect(second).not.toContain("kv=order:42")
      yield* Tracer.clearOptions
      expect(yield* Tracer.options).toEqual({ attributes: [], classifiers: [], args: [] })
      const third = lines((yield* Tracer.trace()).stdout)
      expect(third.filter((l) => l.startsWith("kv=region") || l.startsWith("classifier=") || l.startsWith("arg=")))
        .toEqual([])
    }).pipe(Effect.provide(TracerLive)))
})

describe("another process (TraceOptions.pid)", () => {
  it.live("the request names that pid, with no calling thread; without it, this process and its thread", () =>
    Effect.gen(function*() {
      const other = yield* Tracer.trace(undefined, { pid: process.ppid, faulted: true })
      expect(lines(other.stdout)).toContain(`pid=${process.ppid}`)
      expect(other.request.pid).toBe(process.ppid)
      expect(other.request.tid).toEqual(Option.none())
      const own = yield* Tracer.trace(undefined, { faulted: true })
      expect(lines(own.stdout)).toContain(`pid=${process.pid}`)
      expect(Option.isSome(own.request.tid)).toBe(true)
    }).pipe(Effect.provide(TracerLive)))

  it.live("a pid that is not a positive integer is a defect naming the field", () =>
    Effect.gen(function*() {
      for (const pid of [0, -1, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(Tracer.trace(undefined, { pid }))
        expect(exit._tag).toBe("Failure")
        const defect = exit._tag === "Failure" ? Cause.squash(exit.cause) : undefined
        expect(defect).toMatchObject({ _tag: "TracerConfigError", field: "pid" })
      }
    }).pipe(Effect.provide(TracerLive)))
})
