// Ports of Backtrace's Go bcd_test.go: TestTrace, TestTimeout and TestRecover.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Backtrace from "../src/Backtrace.js"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import { argvBackend, shBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"
import { testTempDir } from "./support/temp.js"

const lines = (stdout: string) => stdout.trim().split("\n")

const FAKE_PTRACE = fileURLToPath(new URL("./fixtures/fake-ptrace.mjs", import.meta.url))
/** The argv of each fake ptrace run in `dir`. */
const argvs = (dir: string): Array<Array<string>> =>
  fs.readFileSync(path.join(dir, "fake-ptrace.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).argv)

describe("Go's bcd_test.go", () => {
  it.live("TestTrace: the options given reach the tracer", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace(new RangeError("out of range"), {
        faulted: true,
        callerOnly: true,
        classifications: ["c1", "c2"],
        attributes: { k: "v" }
      })
      expect(result.request).toMatchObject({ faulted: true, callerOnly: true, classifiers: ["RangeError", "c1", "c2"] })
      expect(lines(result.stdout)).toEqual(expect.arrayContaining([
        "classifier=RangeError",
        "classifier=c1",
        "classifier=c2",
        "kv=error:out of range",
        "kv=k:v"
      ]))
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(argvBackend()), noCooldown))))

  it.live("TestTimeout: absent uses the backend default, a Duration is used as given, \"none\" means no deadline", () =>
    Effect.gen(function*() {
      const backend = shBackend("sleep 0.7")
      const tracer = yield* Tracer.make({
        ...backend,
        defaultTraceOptions: { ...backend.defaultTraceOptions, timeout: Duration.millis(300) }
      })
      const byDefault = yield* Effect.flip(tracer.trace())
      expect(byDefault).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      const explicit = yield* Effect.exit(tracer.trace(undefined, { timeout: "5 seconds" }))
      expect(Exit.isSuccess(explicit)).toBe(true)
      const tooShort = yield* Effect.flip(tracer.trace(undefined, { timeout: "100 millis" }))
      expect(tooShort).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      const none = yield* Effect.exit(tracer.trace(undefined, { timeout: "none" }))
      expect(Exit.isSuccess(none)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it("an infinite Duration means no deadline, like \"none\"", () => {
    expect(TraceOptions.deadline("none")).toEqual(Option.none())
    expect(TraceOptions.deadline(Duration.infinity)).toEqual(Option.none())
    expect(TraceOptions.deadline("2 seconds")).toEqual(Option.some(Duration.seconds(2)))
  })

  it.live("TestRecover: recover traces a defect and swallows it; recoverWith repanics with the original", () =>
    Effect.gen(function*() {
      const traced: Array<string> = []
      const tracer = yield* Tracer.make(argvBackend())
      const recording = {
        ...tracer,
        trace: (error?: unknown, options?: Parameters<typeof tracer.trace>[1]) =>
          tracer.trace(error, options).pipe(Effect.tap((r) => Effect.sync(() => traced.push(r.stdout))))
      }
      const defect = new TypeError("undefined is not a function")
      const recovered = yield* Effect.die(defect).pipe(
        Effect.catchAllDefect(Tracer.recover),
        Effect.as("carried on"),
        Effect.provideService(Tracer.Tracer, recording)
      )
      expect(recovered).toBe("carried on")
      expect(lines(traced[0]!)).toEqual(
        expect.arrayContaining(["classifier=TypeError", "kv=error:undefined is not a function"])
      )

      const repanicked = yield* Effect.exit(
        Effect.die(defect).pipe(
          Effect.catchAllDefect(Tracer.recoverWith({ repanic: true, classifications: ["panic"] })),
          Effect.provideService(Tracer.Tracer, recording)
        )
      )
      expect(traced).toHaveLength(2)
      expect(lines(traced[1]!)).toContain("classifier=panic")
      expect(Exit.isFailure(repanicked) && Option.getOrUndefined(Cause.dieOption(repanicked.cause))).toBe(defect)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("recover swallows a trace that fails, too", () =>
    Effect.gen(function*() {
      const result = yield* Effect.die("boom").pipe(Effect.catchAllDefect(Tracer.recover), Effect.as("ok"))
      expect(result).toBe("ok")
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(shBackend("exit 2")), noCooldown))))
})

describe("Go's BTTracer argv (tracer.go's Finalize over the options bcd.go's Trace built), against the fake ptrace", () => {
  it.live("the base options in call order right after the pid, then --thread, --fault-thread, the error, its class, the per-trace classifiers", () =>
    Effect.gen(function*() {
      const outputDir = testTempDir()
      // Go: t.AddOptions(nil, "--extra") at set-up; then AddKV(nil, "version", "1.2.3"), AddClassifier(nil, "svc"),
      // AddOptions(nil, "--x", "--y"), AddKV(nil, "region", "eu"); then bcd.Trace(t, err, &TraceOptions{Faulted: true,
      // CallerOnly: true, ErrClassification: true, Classifications: []string{"c1", "c2"}}).
      const result = yield* Effect.gen(function*() {
        yield* Tracer.addKV("version", "1.2.3")
        yield* Tracer.addClassifier("svc")
        yield* Tracer.addOptions("--x", "--y")
        yield* Tracer.addKV("region", "eu")
        return yield* Tracer.trace(new RangeError("out of range"), {
          faulted: true,
          callerOnly: true,
          classifications: ["c1", "c2"]
        })
      }).pipe(Effect.provide(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir, args: ["--extra"] })))
      const tid = String(Option.getOrThrow(result.request.tid))
      expect(argvs(outputDir)).toEqual([[
        "--load=",
        "--faulted",
        String(process.pid),
        "--extra",
        "--kv=version:1.2.3",
        "--classifier=svc",
        "--x",
        "--y",
        "--kv=region:eu",
        "--thread",
        tid,
        "--fault-thread",
        tid,
        "--kv=error:out of range",
        "--classifier=RangeError",
        "--classifier=c1",
        "--classifier=c2",
        // Go merges the goroutine id into --module=go:…; the fiber id has no such place, so it comes last.
        `--kv=fiber:${result.request.fiberId}`
      ]])
      fs.rmSync(outputDir, { recursive: true, force: true })
    }).pipe(Effect.provide(noCooldown)))

  it.live("an empty error message is passed as `--kv=error:` (Go's e.Error() is \"\")", () =>
    Effect.gen(function*() {
      const outputDir = testTempDir()
      yield* Effect.gen(function*() {
        yield* Tracer.trace(new Error(""), { faulted: false })
        yield* Tracer.trace(new Error(), { faulted: false })
      }).pipe(Effect.provide(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir })))
      for (const argv of argvs(outputDir)) {
        expect(argv.slice(3, 5)).toEqual(["--kv=error:", "--classifier=Error"])
      }
      expect(argvs(outputDir)).toHaveLength(2)
      fs.rmSync(outputDir, { recursive: true, force: true })
    }).pipe(Effect.provide(noCooldown)))
})
