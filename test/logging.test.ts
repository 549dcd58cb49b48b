import { describe, expect, it } from "@effect/vitest"
import { Effect, HashMap, Layer, Logger, LogLevel } from "effect"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { shBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const capture = () => {
  const lines: Array<Line> = []
  const logger = Logger.make(({ annotations, logLevel, message }) =>
    lines.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.join(" ") : String(message),
      annotations: Object.fromEntries(HashMap.toEntries(annotations))
    })
  )
  return {
    lines,
    layer: Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.All))
  }
}

describe("logging", () => {
  it.live("by default only errors are logged, annotated with the backend's name", () => {
    const { layer, lines } = capture()
    return Effect.gen(function*() {
      yield* Tracer.trace()
      yield* Effect.flip(Tracer.trace(undefined, { timeout: "100 millis" }))
      expect(lines.map((l) => l.level)).toEqual(["ERROR"])
      expect(lines[0]).toMatchObject({ message: "Tracer execution timed out", annotations: { bcd: "sh-test" } })
    }).pipe(Effect.provide(Layer.mergeAll(Tracer.layer(shBackend("sleep 0.3")), noCooldown, layer)))
  })

  it.live("TracerConfig.logLevel lowers the library's own minimum", () => {
    const { layer, lines } = capture()
    return Effect.gen(function*() {
      yield* Tracer.trace()
      const debug = lines.filter((l) => l.level === "DEBUG")
      expect(debug.some((l) => l.message.startsWith("Starting tracer sh"))).toBe(true)
      expect(debug.every((l) => l.annotations.bcd === "sh-test")).toBe(true)
    }).pipe(Effect.provide(Layer.mergeAll(
      Tracer.layer(shBackend("true")),
      TracerConfig.layer({ rateLimit: 0, logLevel: LogLevel.Debug }),
      layer
    )))
  })
})
