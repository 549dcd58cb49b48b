/**
 * The Backtrace layer end to end: Tracer.trace -> ptrace's argv (a fake
 * ptrace, a real child process) -> the snapshot -> a streamed upload to a
 * real coronerd-compatible server on 127.0.0.1. What needs no trace (the
 * options checked when the layer is built, put and putDir) is in
 * backtrace-layer.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as util from "node:util"
import * as Coronerd from "../examples/coronerd.js"
import { Backtrace, Tracer, TracerConfig } from "../src/index.js"
import { FAKE_PTRACE, fastRetry, live, sha256, TOKEN } from "./support/backtrace.js"
import { noCooldown } from "./support/config.js"
import { tempDir } from "./support/temp.js"

class DiskFull extends Data.TaggedError("DiskFull")<{ readonly device: string }> {
  override get message() {
    return `disk full on ${this.device}`
  }
}

const recorded = (dir: string): Array<{ argv: Array<string>; cwd: string; stdin: string }> =>
  fs.readFileSync(path.join(dir, "fake-ptrace.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))

describe("Backtrace.layer", () => {
  it.live("traces through ptrace's argv, finds the snapshot, and uploads its bytes intact", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = path.join(yield* tempDir, "new", "snapshots")
      const layer = live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        attributes: { version: "1.2.3" },
        classifiers: ["svc"],
        args: ["--extra"],
        put: { endpoint: server.endpoint, token: Redacted.make(TOKEN), retry: fastRetry }
      })
      const result = yield* Tracer.trace(new DiskFull({ device: "sda" }), {
        attributes: { request: "42" },
        classifications: ["urgent"]
      }).pipe(Effect.provide(layer))

      expect(fs.statSync(outputDir).mode & 0o777).toBe(0o700)
      const [call] = recorded(outputDir)
      expect(call!.cwd).toBe(outputDir)
      const fiber = call!.argv[call!.argv.indexOf("--classifier=urgent") + 1]
      expect(fiber).toMatch(/^--kv=fiber:\d+$/)
      const tid = Option.getOrThrow(result.request.tid)
      // Go's order: the base options, the thread flags, the error, its class, the per-trace classifiers;
      // then what Go has no counterpart for: the fiber, the per-trace attributes.
      expect(call!.argv).toEqual([
        "--load=",
        "--faulted",
        String(process.pid),
        "--extra",
        "--kv=version:1.2.3",
        "--classifier=svc",
        "--fault-thread",
        String(tid),
        "--kv=error:disk full on sda",
        "--classifier=DiskFull",
        "--classifier=urgent",
        fiber,
        "--kv=request:42"
      ])
      const snapshot = Option.getOrThrow(result.snapshot)
      expect(path.dirname(snapshot)).toBe(outputDir)
      const comm = fs.readFileSync("/proc/self/comm", "utf8").trim()
      expect(path.basename(snapshot).startsWith(`${comm}.${process.pid}.`)).toBe(true)
      expect(snapshot.endsWith(".btt")).toBe(true)
      expect(server.received).toHaveLength(1)
      expect(server.received[0]!.sha256).toBe(sha256(snapshot))
      expect(fs.existsSync(snapshot)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("unlink removes a snapshot after its upload; a failed upload fails the trace and keeps it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const layer = live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        put: { endpoint: server.endpoint, token: TOKEN, unlink: true, retry: fastRetry }
      })
      yield* Effect.gen(function*() {
        server.failNext(1, 500)
        const ok = yield* Tracer.trace()
        expect(fs.existsSync(Option.getOrThrow(ok.snapshot))).toBe(false)
        expect(server.requests.map((r) => r.answered)).toEqual([500, 200])

        server.failNext(10, 500)
        const error = yield* Effect.flip(Tracer.trace(new Error("boom")))
        expect(error._tag).toBe("SnapshotUploadError")
        if (error._tag !== "SnapshotUploadError") return
        expect(error.status).toBe(500)
        expect(path.dirname(error.path)).toBe(outputDir)
        expect(fs.existsSync(error.path)).toBe(true)
        expect(error.message).not.toContain(TOKEN)
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("a snapshot is accepted once: one trace and two putDir calls upload it once (unlink: false)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir, put: { endpoint: server.endpoint, token: TOKEN } })
      yield* Effect.gen(function*() {
        const snapshot = Option.getOrThrow((yield* Tracer.trace()).snapshot)
        // A snapshot an earlier run could not upload.
        server.failNext(1, 400)
        const left = Option.getOrThrow((yield* Effect.either(Tracer.trace())).pipe(
          (e) => e._tag === "Left" && e.left._tag === "SnapshotUploadError" ? Option.some(e.left.path) : Option.none()
        ))
        const first = yield* Backtrace.putDir(outputDir)
        const second = yield* Backtrace.putDir(outputDir)
        expect(first.uploaded).toEqual([left])
        expect(second.uploaded).toEqual([])
        expect(server.received.map((r) => r.sha256)).toEqual([sha256(snapshot), sha256(left)])
        // Both snapshots are still there, and put, asked by name, sends one again.
        expect(fs.existsSync(snapshot) && fs.existsSync(left)).toBe(true)
        yield* Backtrace.put(snapshot)
        expect(server.received).toHaveLength(3)
        // A snapshot rewritten since it was sent is sent again.
        fs.appendFileSync(left, "more")
        expect((yield* Backtrace.putDir(outputDir)).uploaded).toEqual([left])
      }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("with synchronousPut: false the upload runs in the background and awaitPending waits for it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      server.slowNext(1, 500)
      const outputDir = yield* tempDir
      yield* Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(server.received).toHaveLength(0)
        yield* Tracer.awaitPending
        expect(server.received.map((r) => r.sha256)).toEqual([sha256(Option.getOrThrow(result.snapshot))])
      }).pipe(
        Effect.provide(live({ tracerPath: FAKE_PTRACE, outputDir, put: { endpoint: server.endpoint, token: TOKEN } }))
      )
    }).pipe(Effect.scoped, Effect.provide(TracerConfig.layer({ rateLimit: "0 millis", synchronousPut: false }))))

  it.live("the token is in no log line while a trace's upload fails and succeeds (Debug)", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
      })
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const layer = live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        put: { endpoint: server.endpoint, token: TOKEN, retry: fastRetry }
      })
      yield* Effect.gen(function*() {
        server.failNext(1, 503)
        yield* Tracer.trace(new Error(`not the token`))
        server.failNext(10, 500)
        const error = yield* Effect.flip(Tracer.trace())
        expect(error._tag).toBe("SnapshotUploadError")
      }).pipe(
        Effect.provide(layer),
        Logger.withMinimumLogLevel(LogLevel.Debug),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Effect.provide(TracerConfig.layer({ rateLimit: "0 millis", logLevel: LogLevel.Debug }))
      )
      expect(lines.some((l) => l.includes("Uploaded"))).toBe(true)
      expect(lines.some((l) => l.includes("Failed to upload snapshot"))).toBe(true)
      for (const line of lines) expect(line).not.toContain(TOKEN)
    }).pipe(Effect.scoped))

  it.live("with onTrace: false a trace uploads nothing, and Backtrace.put uploads on demand", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      yield* Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(server.requests).toHaveLength(0)
        const snapshot = Option.getOrThrow(result.snapshot)
        yield* Backtrace.put(snapshot)
        expect(server.received.map((r) => r.sha256)).toEqual([sha256(snapshot)])
      }).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        put: { endpoint: `${server.endpoint}/post?token=${TOKEN}`, onTrace: false }
      })))
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("putDir lists after a running trace ends: a half-written snapshot is never uploaded (nor removed)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const snapshots = () => fs.readdirSync(outputDir).filter((f) => f.endsWith(".btt"))
      yield* Effect.gen(function*() {
        const trace = yield* Effect.fork(Tracer.trace())
        // Wait until the tracer has written half its snapshot and paused.
        while (snapshots().length === 0) yield* Effect.sleep("20 millis")
        const summary = yield* Backtrace.putDir(outputDir)
        const result = yield* Fiber.join(trace)
        expect(summary.uploaded).toEqual([Option.getOrThrow(result.snapshot)])
        expect(server.received.map((r) => r.size)).toEqual([256 * 1024])
      }).pipe(
        Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no snapshot appeared") }),
        Effect.provide(live({
          tracerPath: FAKE_PTRACE,
          outputDir,
          args: ["--fake-pause=1000"],
          put: { endpoint: server.endpoint, token: TOKEN, onTrace: false, unlink: true }
        }))
      )
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("stderr and stdin files are handed to the tracer", () =>
    Effect.gen(function*() {
      const outputDir = yield* tempDir
      const stderr = path.join(outputDir, "tracer.err")
      const stdin = path.join(outputDir, "tracer.in")
      fs.writeFileSync(stdin, "input")
      fs.writeFileSync(stderr, "earlier\n")
      const result = yield* Tracer.trace().pipe(
        Effect.provide(live({ tracerPath: FAKE_PTRACE, outputDir, stdin, stderr }))
      )
      expect(Option.isSome(result.snapshot)).toBe(true)
      expect(recorded(outputDir).map((c) => c.stdin)).toEqual(["input"])
      expect(fs.readFileSync(stderr, "utf8")).toBe(`earlier\nfake-ptrace: tracing ${process.pid}\n`)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("with uploads on, a tracer that prints no snapshot path fails the trace with TracerRunError (no-snapshot)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const error = yield* Effect.flip(
        Tracer.trace().pipe(Effect.provide(live({
          tracerPath: "/bin/true",
          outputDir,
          put: { endpoint: server.endpoint, token: TOKEN }
        })))
      )
      expect(error).toMatchObject({ _tag: "TracerRunError", path: "/bin/true", reason: "no-snapshot" })
      expect(error.message).toBe(`Tracer /bin/true printed no snapshot path (stdout: "")`)
      expect(server.requests).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("a tracer that fails is the trace's TracerRunError, with its stderr; nothing is uploaded", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const error = yield* Effect.flip(
        Tracer.trace().pipe(Effect.provide(live({
          tracerPath: FAKE_PTRACE,
          outputDir,
          args: ["--fake-exit=3"],
          put: { endpoint: server.endpoint, token: TOKEN, unlink: true }
        })))
      )
      expect(error._tag).toBe("TracerRunError")
      if (error._tag !== "TracerRunError") return
      expect(error.exitCode).toBe(3)
      expect(error.stderr).toContain("fake-ptrace: asked to fail")
      expect(server.requests).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))
})

describe("Backtrace.layerConfig", () => {
  const withEnv = (env: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  const configured = Backtrace.layerConfig()

  it.live("reads tracer, output, attributes, endpoint and token from BCD_* variables", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = path.join(yield* tempDir, "env")
      const result = yield* Tracer.trace().pipe(
        Effect.provide(configured),
        withEnv({
          BCD_TRACER_PATH: FAKE_PTRACE,
          BCD_OUTPUT_DIR: outputDir,
          BCD_PERMISSIONS: "0750",
          BCD_ALLOW_SHARED_PERMISSIONS: "true",
          BCD_ATTRIBUTES: "team:core,url:http://x:1",
          BCD_CLASSIFIERS: "env",
          BCD_ENDPOINT: server.endpoint,
          BCD_TOKEN: TOKEN,
          BCD_UNLINK: "true",
          BCD_TIMEOUT: "30 seconds"
        })
      )
      expect(fs.statSync(outputDir).mode & 0o777).toBe(0o750)
      const [call] = recorded(outputDir)
      expect(call!.argv).toEqual(expect.arrayContaining(["--kv=team:core", "--kv=url:http://x:1", "--classifier=env"]))
      expect(server.received).toHaveLength(1)
      expect(fs.existsSync(Option.getOrThrow(result.snapshot))).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("a submission URL in BCD_ENDPOINT is read as Redacted and used", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
      const env = withEnv({
        BCD_TRACER_PATH: FAKE_PTRACE,
        BCD_OUTPUT_DIR: outputDir,
        BCD_ENDPOINT: `${server.endpoint}/myuniverse/${TOKEN}/minidump`
      })
      const options = yield* env(Backtrace.config)
      for (
        const text of [util.inspect(options, { depth: 10 }), JSON.stringify(options), String(options.put?.endpoint)]
      ) {
        expect(text).not.toContain(TOKEN)
      }
      yield* Tracer.trace().pipe(Effect.provide(configured), env)
      expect(server.received.map((r) => r.path)).toEqual([`/myuniverse/${TOKEN}/minidump`])
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))
})

describe("ptrace's argv from hostile values (a real process records it)", () => {
  class Hostile extends Data.TaggedError("--load=/tmp/evil.so")<{ readonly message: string }> {}

  it.live("a _tag or attribute that looks like an option stays inside one --opt=value element", () =>
    Effect.gen(function*() {
      const outputDir = yield* tempDir
      yield* Tracer.trace(new Hostile({ message: "-v" }), { attributes: { "--core": "--load=/y.so" } }).pipe(
        Effect.provide(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir }))
      )
      const [call] = recorded(outputDir)
      expect(call!.argv).toContain("--classifier=--load=/tmp/evil.so")
      expect(call!.argv).toContain("--kv=error:-v")
      expect(call!.argv).toContain("--kv=_-core:--load=/y.so")
      expect(call!.argv.filter((a) => /^--load=./.test(a) || a === "-v" || a === "--core")).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))

  it.live("errorMessage: \"omit\" (or BCD_ERROR_MESSAGE=omit) keeps the message out of ptrace's argv", () =>
    Effect.gen(function*() {
      const outputDir = yield* tempDir
      const secret = "password=hunter2"
      yield* Tracer.trace(new Error(secret)).pipe(
        Effect.provide(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir, errorMessage: "omit" }))
      )
      yield* Tracer.trace(new Error(secret)).pipe(
        Effect.provide(Backtrace.layerConfig()),
        Effect.withConfigProvider(ConfigProvider.fromMap(
          new Map([["BCD_TRACER_PATH", FAKE_PTRACE], ["BCD_OUTPUT_DIR", outputDir], ["BCD_ERROR_MESSAGE", "omit"]])
        ))
      )
      const calls = recorded(outputDir)
      expect(calls).toHaveLength(2)
      for (const call of calls) {
        expect(call.argv.join("\n")).not.toContain("hunter2")
        expect(call.argv).toContain("--classifier=Error")
      }
    }).pipe(Effect.scoped, Effect.provide(noCooldown)))
})
