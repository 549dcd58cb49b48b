/**
 * Hostile configuration and argv (issue 13, items 8 and 10): every bad value
 * is refused when the layer is built, naming the variable or option, and no
 * user string reaches ptrace's argv as an option of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Backtrace, Gdb, TracerConfig } from "../src/index.js"
import { loadConfig } from "../src/internal/core/config.js"
import { traceRequest } from "./support/backends.js"
import { FAKE_PTRACE } from "./support/backtrace.js"
import { tempDir } from "./support/temp.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

/** Builds `Backtrace.layerConfig()` from `env` (plus a fake ptrace and a fresh folder); its error, if any. */
const buildFromEnv = (env: Record<string, string>) =>
  Effect.gen(function*() {
    const base = { BCD_TRACER_PATH: FAKE_PTRACE, BCD_OUTPUT_DIR: yield* tempDir }
    return yield* Layer.build(Backtrace.layerConfig()).pipe(
      Effect.scoped,
      withEnv({ ...base, ...env }),
      Effect.flip,
      Effect.option
    )
  }).pipe(Effect.scoped)

const refused = (env: Record<string, string>, variable: string) =>
  Effect.gen(function*() {
    const error = yield* buildFromEnv(env)
    expect(Option.isSome(error), `${JSON.stringify(env)} was accepted`).toBe(true)
    const e = Option.getOrThrow(error)
    expect(e._tag).toBe("TracerConfigError")
    expect(e.message).toContain(variable)
  })

const buildError = (options: Backtrace.Options) =>
  Effect.gen(function*() {
    const outputDir = yield* tempDir
    const exit = yield* Effect.exit(Layer.build(Backtrace.live({ tracerPath: FAKE_PTRACE, outputDir, ...options })))
    if (Exit.isSuccess(exit)) return undefined
    return Option.getOrUndefined(Cause.failureOption(exit.cause))
  }).pipe(Effect.scoped)

describe("bad BCD_* values are refused when the layer is built, naming the variable", () => {
  it.live("BCD_TIMEOUT of 0 or a negative duration", () =>
    Effect.gen(function*() {
      yield* refused({ BCD_TIMEOUT: "0 seconds" }, "BCD_TIMEOUT")
      yield* refused({ BCD_TIMEOUT: "-1 seconds" }, "BCD_TIMEOUT")
      yield* refused({ BCD_TIMEOUT: " -5 millis" }, "BCD_TIMEOUT")
      expect(yield* buildFromEnv({ BCD_TIMEOUT: "none" })).toEqual(Option.none())
      expect(yield* buildFromEnv({ BCD_TIMEOUT: "2 seconds" })).toEqual(Option.none())
    }))

  it.effect("negative BCD_RATE_LIMIT, BCD_DRAIN_TIMEOUT, BCD_KILL_GRACE, BCD_FATAL_BUDGET", () =>
    Effect.gen(function*() {
      for (const name of ["BCD_RATE_LIMIT", "BCD_DRAIN_TIMEOUT", "BCD_KILL_GRACE", "BCD_FATAL_BUDGET"]) {
        const error = yield* Effect.flip(
          Effect.provide(TracerConfig.TracerConfig, TracerConfig.fromEnv).pipe(withEnv({ [name]: "-1 seconds" }))
        )
        expect(error._tag).toBe("TracerConfigError")
        expect(error.message).toContain(name)
      }
      // 0 is a valid cooldown and drain.
      const config = yield* Effect.provide(TracerConfig.TracerConfig, TracerConfig.fromEnv).pipe(
        withEnv({ BCD_RATE_LIMIT: "0 seconds", BCD_DRAIN_TIMEOUT: "0 millis" })
      )
      expect(config.drainTimeout.value).toMatchObject({ _tag: "Millis", millis: 0 })
    }))

  it.effect("a negative duration given in code is refused too, not made 0", () =>
    Effect.gen(function*() {
      for (const input of [{ rateLimit: -1 }, { drainTimeout: "-3 seconds" }, { killGrace: -5 }] as const) {
        expect(() => TracerConfig.decode(input)).toThrow(/must not be negative/)
      }
    }))

  it.live("BCD_PERMISSIONS that lets others in needs BCD_ALLOW_SHARED_PERMISSIONS=true", () =>
    Effect.gen(function*() {
      yield* refused({ BCD_PERMISSIONS: "0777" }, "BCD_PERMISSIONS")
      yield* refused({ BCD_PERMISSIONS: "0750" }, "BCD_ALLOW_SHARED_PERMISSIONS")
      expect(yield* buildFromEnv({ BCD_PERMISSIONS: "0700" })).toEqual(Option.none())
      expect(yield* buildFromEnv({ BCD_PERMISSIONS: "0750", BCD_ALLOW_SHARED_PERMISSIONS: "true" })).toEqual(
        Option.none()
      )
    }))

  it.effect("BCD_ATTRIBUTES: a comma inside a value is written \\, and is never split silently", () =>
    Effect.gen(function*() {
      const read = (text: string) =>
        loadConfig(Backtrace.config).pipe(withEnv({ BCD_ATTRIBUTES: text }), Effect.map((o) => o.attributes))
      expect(yield* read("k:a\\,b,x:y")).toEqual({ k: "a,b", x: "y" })
      expect(yield* read("path:C:\\\\dir")).toEqual({ path: "C:\\dir" })
      for (const bad of ["k:a,b", "k:a,k:b", "-x:1", ":v", "k:a\\b"]) {
        const error = yield* Effect.flip(read(bad))
        expect(error.message, bad).toContain("BCD_ATTRIBUTES")
      }
    }))
})

describe("bad options given in code are refused when the layer is built, naming the option", () => {
  it.live("permissions that let others in need allowSharedPermissions", () =>
    Effect.gen(function*() {
      expect(yield* buildError({ permissions: 0o777 })).toMatchObject({ field: "permissions" })
      expect(yield* buildError({ permissions: 0o704 })).toMatchObject({ field: "permissions" })
      expect(yield* buildError({ permissions: 0o750, allowSharedPermissions: true })).toBeUndefined()
    }))

  it.live("a deadline of 0 or less", () =>
    Effect.gen(function*() {
      for (const timeout of ["0 seconds", "-1 seconds", 0, -5] as const) {
        expect(yield* buildError({ defaultTraceOptions: { timeout } }), String(timeout)).toMatchObject({
          field: "defaultTraceOptions.timeout"
        })
      }
      const gdb = yield* Effect.flip(
        Layer.build(Gdb.live({ gdbPath: "/nonexistent", defaultTraceOptions: { timeout: "0 seconds" } }))
      ).pipe(Effect.scoped)
      expect(gdb).toMatchObject({ field: "defaultTraceOptions.timeout" })
    }))

  it.live("attribute keys with ':', a leading '-', a newline or a NUL byte", () =>
    Effect.gen(function*() {
      for (const key of ["a:b", "-x", "--load=/x.so", "a\nb", "a\0b", "a\rb", ""]) {
        const error = yield* buildError({ attributes: { [key]: "v" } })
        expect(error, JSON.stringify(key)).toMatchObject({ _tag: "TracerConfigError", field: "attributes" })
      }
    }))

  it.live("errorMessage other than argv or omit", () =>
    Effect.gen(function*() {
      expect(yield* buildError({ errorMessage: "stdin" as "omit" })).toMatchObject({ field: "errorMessage" })
    }))
})

describe("ptrace's argv: no user string becomes an option of its own", () => {
  const hostile = traceRequest({
    error: Option.some("--load=/tmp/evil.so"),
    classifiers: ["--load=/x.so", "-v"],
    attributes: [["error", "--load=/tmp/evil.so"], ["--core", "--load=/y.so"], ["a:b\nc", "-z"]],
    base: []
  })

  it("each classifier and attribute is one --opt=value element", () => {
    const argv = Backtrace.renderArgs(hostile)
    expect(argv).toEqual([
      "--load=",
      "--faulted",
      "4242",
      "--kv=error:--load=/tmp/evil.so",
      "--classifier=--load=/x.so",
      "--classifier=-v",
      "--kv=fiber:7",
      "--kv=_-core:--load=/y.so",
      "--kv=a_b_c:-z"
    ])
    // Only our own fixed options start an element with "-"; a user string never does.
    const ours = /^--(load=|faulted$|kv=|classifier=)/
    expect(argv.filter((a) => a.startsWith("-") && !ours.test(a))).toEqual([])
  })

  it("errorMessage: \"omit\" keeps the message out of argv, and keeps the class", () => {
    const request = traceRequest({
      error: Option.some("password=hunter2"),
      classifiers: ["AuthError"],
      attributes: [["error", "password=hunter2"], ["user", "bob"]]
    })
    const argv = Backtrace.renderArgs(request, "omit")
    expect(argv.join(" ")).not.toContain("hunter2")
    expect(argv).toContain("--classifier=AuthError")
    expect(argv).toContain("--kv=user:bob")
    expect(Backtrace.renderArgs(request)).toContain("--kv=error:password=hunter2")
  })
})
