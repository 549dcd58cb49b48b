import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, LogLevel } from "effect"
import { cooldownEnd } from "../src/internal/core/lock.js"
import * as TracerConfig from "../src/TracerConfig.js"

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("TracerConfig", () => {
  it.effect("defaults are Go's GlobalConfig defaults", () =>
    Effect.gen(function*() {
      const config = yield* TracerConfig.TracerConfig
      expect(config).toMatchObject({ panicOnKillFailure: true, resendSignal: true, synchronousPut: true })
      expect(yield* cooldownEnd(config.rateLimit, 0)).toBe(3_000)
      expect(config.logLevel).toBe(LogLevel.Error)
    }))

  it.effect("layer overrides some settings and keeps the rest", () =>
    Effect.gen(function*() {
      const config = yield* TracerConfig.TracerConfig
      expect(config.synchronousPut).toBe(false)
      expect(config.panicOnKillFailure).toBe(true)
    }).pipe(Effect.provide(TracerConfig.layer({ synchronousPut: false }))))

  it.effect("fromEnv reads BCD_* variables", () =>
    Effect.gen(function*() {
      const config = yield* TracerConfig.TracerConfig
      expect(config.resendSignal).toBe(false)
      expect(config.panicOnKillFailure).toBe(true)
      expect(yield* cooldownEnd(config.rateLimit, 0)).toBe(500)
      expect(Duration.toMillis(config.killGrace)).toBe(1_000)
      expect(config.logLevel).toBe(LogLevel.Debug)
    }).pipe(
      Effect.provide(TracerConfig.fromEnv),
      Effect.provide(withEnv({ BCD_RESEND_SIGNAL: "false", BCD_RATE_LIMIT: "500 millis", BCD_LOG_LEVEL: "Debug" }))
    ))

  it.effect("span attributes and the Node report: defaults, then BCD_SPAN_ATTRIBUTES and BCD_NODE_REPORT", () =>
    Effect.gen(function*() {
      expect(TracerConfig.defaults.spanAttributes).toEqual(["http.route", "http.request.method", "url.path"])
      expect(TracerConfig.defaults.nodeReport).toBe(true)
      const config = yield* Effect.provide(TracerConfig.TracerConfig, TracerConfig.fromEnv).pipe(
        Effect.provide(withEnv({ BCD_SPAN_ATTRIBUTES: "tenant.id, url.path,job.name", BCD_NODE_REPORT: "false" }))
      )
      expect(config.spanAttributes).toEqual(["http.route", "http.request.method", "url.path", "tenant.id", "job.name"])
      expect(config.nodeReport).toBe(false)
      const bad = yield* Effect.flip(Effect.provide(TracerConfig.TracerConfig, TracerConfig.fromEnv)).pipe(
        Effect.provide(withEnv({ BCD_SPAN_ATTRIBUTES: "ok,bad:key" }))
      )
      expect(bad.message).toContain("spanAttributes")
      expect(() => TracerConfig.decode({ spanAttributes: [""] })).toThrow(RangeError)
    }))

  it.effect("a malformed variable is a TracerConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.provide(TracerConfig.TracerConfig, TracerConfig.fromEnv))
      expect(error._tag).toBe("TracerConfigError")
      expect(error.message).toContain("BCD_SYNCHRONOUS_PUT")
    }).pipe(Effect.provide(withEnv({ BCD_SYNCHRONOUS_PUT: "maybe" }))))
})
