/**
 * The Backtrace layer end to end: Tracer.trace -> ptrace's argv (a fake
 * ptrace, a real child process) -> the snapshot -> a streamed upload to a
 * real coronerd-compatible server on 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { fileURLToPath } from "node:url"
import * as Coronerd from "../examples/coronerd.js"
import { Backtrace, BacktraceLive, Tracer, TracerConfig } from "../src/index.js"

const FAKE_PTRACE = fileURLToPath(new URL("./fixtures/fake-ptrace.mjs", import.meta.url))
const TOKEN = "layer-Token-0123456789"
const fastRetry = Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
const NoCooldown = TracerConfig.layer({ rateLimit: "0 millis" })

class DiskFull extends Data.TaggedError("DiskFull")<{ readonly device: string }> {
  override get message() {
    return `disk full on ${this.device}`
  }
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "bcd-backtrace-"))
const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")
const recorded = (dir: string): Array<{ argv: Array<string>; cwd: string; stdin: string }> =>
  fs.readFileSync(path.join(dir, "fake-ptrace.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))

const live = Backtrace.live

const buildError = (options: Backtrace.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(live(options)).pipe(Effect.scoped))
    if (Exit.isSuccess(exit)) throw new Error("the layer was built")
    const error = yield* Effect.flip(exit)
    expect(error._tag).toBe("TracerConfigError")
    return error
  })

describe("Backtrace.layer", () => {
  it.live("traces through ptrace's argv, finds the snapshot, and uploads its bytes intact", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = path.join(tmp(), "new", "snapshots")
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
      const fiber = call!.argv[call!.argv.indexOf("--kv", call!.argv.indexOf("--classifier", call!.argv.indexOf("urgent") - 1) + 1) + 1]
      expect(fiber).toMatch(/^fiber:\d+$/)
      const tid = Option.getOrThrow(result.request.tid)
      // Go's order: the base options, the thread flags, the error, its class, the per-trace classifiers;
      // then what Go has no counterpart for: the fiber, the per-trace attributes.
      expect(call!.argv).toEqual([
        "--load=", "--faulted", String(process.pid),
        "--extra", "--kv", "version:1.2.3", "--classifier", "svc",
        "--fault-thread", String(tid),
        "--kv", "error:disk full on sda", "--classifier", "DiskFull", "--classifier", "urgent",
        "--kv", fiber, "--kv", "request:42"
      ])
      const snapshot = Option.getOrThrow(result.snapshot)
      expect(path.dirname(snapshot)).toBe(outputDir)
      const comm = fs.readFileSync("/proc/self/comm", "utf8").trim()
      expect(path.basename(snapshot).startsWith(`${comm}.${process.pid}.`)).toBe(true)
      expect(snapshot.endsWith(".btt")).toBe(true)
      expect(server.received).toHaveLength(1)
      expect(server.received[0]!.sha256).toBe(sha256(snapshot))
      expect(fs.existsSync(snapshot)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("unlink removes a snapshot after its upload; a failed upload fails the trace and keeps it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
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
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("with synchronousPut: false the upload runs in the background and awaitPending waits for it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      server.slowNext(1, 500)
      const outputDir = tmp()
      yield* Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(server.received).toHaveLength(0)
        yield* Tracer.awaitPending
        expect(server.received.map((r) => r.sha256)).toEqual([sha256(Option.getOrThrow(result.snapshot))])
      }).pipe(Effect.provide(live({ tracerPath: FAKE_PTRACE, outputDir, put: { endpoint: server.endpoint, token: TOKEN } })))
    }).pipe(Effect.scoped, Effect.provide(TracerConfig.layer({ rateLimit: "0 millis", synchronousPut: false }))))

  it.live("the token is in no log line while a trace's upload fails and succeeds (Debug)", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
      })
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir, put: { endpoint: server.endpoint, token: TOKEN, retry: fastRetry } })
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
      const outputDir = tmp()
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
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("the submit.backtrace.io path form is used unchanged", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
      const file = path.join(outputDir, "x.btt")
      fs.writeFileSync(file, "snapshot")
      yield* Backtrace.put(file).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        put: { endpoint: Redacted.make(`${server.endpoint}/myuniverse/${TOKEN}/minidump`) }
      })))
      expect(server.received.map((r) => r.path)).toEqual([`/myuniverse/${TOKEN}/minidump`])
    }).pipe(Effect.scoped))

  it.live("putDir uploads every *.btt below a directory, carries on past failures, and reports", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = tmp()
      fs.mkdirSync(path.join(dir, "sub", "deeper"), { recursive: true })
      const files = ["a.btt", "sub/b.btt", "sub/deeper/c.btt", "z.btt"].map((f) => path.join(dir, f))
      files.forEach((f, i) => fs.writeFileSync(f, `snapshot ${i} `.repeat(1000 * (i + 1))))
      fs.writeFileSync(path.join(dir, "notes.txt"), "not a snapshot")
      fs.symlinkSync(files[0]!, path.join(dir, "link.btt"))
      execFileSync("mkfifo", [path.join(dir, "sub", "pipe.btt")])
      const hashes = new Map(files.map((f) => [sha256(f), f]))
      server.failNext(1, 400)
      const summary = yield* Backtrace.putDir(dir).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir: dir,
        put: { endpoint: server.endpoint, token: TOKEN, unlink: true, retry: fastRetry, concurrency: 1 }
      })))
      expect(summary.failed.map((f) => f.path)).toEqual([files[0]])
      expect(summary.failed[0]!.reason).toContain("400")
      expect(summary.failed[0]!.error.status).toBe(400)
      expect([...summary.uploaded].sort()).toEqual(files.slice(1).sort())
      expect(summary.skipped).toEqual([
        { path: path.join(dir, "link.btt"), reason: "a symbolic link" },
        { path: path.join(dir, "sub", "pipe.btt"), reason: "not a regular file" }
      ])
      expect(server.received.map((r) => hashes.get(r.sha256)).sort()).toEqual(files.slice(1).sort())
      expect(fs.existsSync(files[0]!)).toBe(true)
      for (const f of files.slice(1)) expect(fs.existsSync(f)).toBe(false)
      expect(fs.existsSync(path.join(dir, "notes.txt"))).toBe(true)
    }).pipe(Effect.scoped))

  it.live("putDir lists after a running trace ends: a half-written snapshot is never uploaded (nor removed)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
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
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("putDir on a missing directory fails with a SystemError (NotFound) naming it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = path.join(tmp(), "missing")
      const error = yield* Effect.flip(Backtrace.putDir(dir).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir: tmp(),
        put: { endpoint: server.endpoint, token: TOKEN }
      }))))
      expect(error).toMatchObject({ _tag: "SystemError", reason: "NotFound", pathOrDescriptor: dir })
      expect(error.message).toContain("cannot list the directory: ENOENT")
    }).pipe(Effect.scoped))

  it.live("putDir uploads everything once, never more than `concurrency` at a time", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = tmp()
      for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(dir, `s${i}.btt`), `snapshot ${i}`.repeat(5000))
      // Slow answers keep each request open, so that unbounded uploads would overlap.
      server.slowNext(12, 200)
      const summary = yield* Backtrace.putDir(dir).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir: dir,
        put: { endpoint: server.endpoint, token: TOKEN, concurrency: 3 }
      })))
      expect(summary.uploaded).toHaveLength(12)
      expect(summary.failed).toEqual([])
      expect(new Set(server.received.map((r) => r.sha256)).size).toBe(12)
      expect(server.maxInFlight).toBeLessThanOrEqual(3)
      expect(server.maxInFlight).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped))

  it.live("without put options, put and putDir fail with TracerConfigError", () =>
    Effect.gen(function*() {
      const dir = tmp()
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir: dir })
      const a = yield* Effect.flip(Backtrace.put(path.join(dir, "x.btt")).pipe(Effect.provide(layer)))
      const b = yield* Effect.flip(Backtrace.putDir(dir).pipe(Effect.provide(layer)))
      for (const error of [a, b]) {
        expect(error._tag).toBe("TracerConfigError")
        if (error._tag === "TracerConfigError") expect(error.field).toBe("put")
      }
    }))

  it.live("permissions sets the mode of a created outputDir; an existing one is left alone", () =>
    Effect.gen(function*() {
      const created = path.join(tmp(), "snaps")
      const existing = tmp()
      fs.chmodSync(existing, 0o755)
      yield* Layer.build(live({ tracerPath: FAKE_PTRACE, outputDir: created, permissions: 0o750 })).pipe(Effect.scoped)
      yield* Layer.build(live({ tracerPath: FAKE_PTRACE, outputDir: existing })).pipe(Effect.scoped)
      expect(fs.statSync(created).mode & 0o7777).toBe(0o750)
      expect(fs.statSync(existing).mode & 0o7777).toBe(0o755)
      expect(fs.readdirSync(existing)).toEqual([])
    }))

  it.live("an outputDir that cannot be written fails when the layer is built", () =>
    Effect.gen(function*() {
      const file = path.join(tmp(), "a-file")
      fs.writeFileSync(file, "")
      const underFile = yield* buildError({ tracerPath: FAKE_PTRACE, outputDir: path.join(file, "snapshots") })
      expect(underFile.field).toBe("outputDir")
      expect(underFile.message).toContain("ENOTDIR")
      const isFile = yield* buildError({ tracerPath: FAKE_PTRACE, outputDir: file })
      expect(isFile.field).toBe("outputDir")
      // Even root cannot create files in /proc/self.
      const proc = yield* buildError({ tracerPath: FAKE_PTRACE, outputDir: "/proc/self" })
      expect(proc.field).toBe("outputDir")
      expect(proc.reason).toContain("cannot write in /proc/self")
      if (process.getuid?.() !== 0) {
        const readOnly = tmp()
        fs.chmodSync(readOnly, 0o500)
        expect((yield* buildError({ tracerPath: FAKE_PTRACE, outputDir: readOnly })).field).toBe("outputDir")
      }
    }))

  it.live("every bad option is a TracerConfigError naming it", () =>
    Effect.gen(function*() {
      const outputDir = tmp()
      const base = { tracerPath: FAKE_PTRACE, outputDir }
      const cases: ReadonlyArray<readonly [Backtrace.Options, string]> = [
        [{ ...base, tracerPath: "/nonexistent/ptrace" }, "tracerPath"],
        [{ ...base, tracerPath: path.join(outputDir) }, "tracerPath"],
        [{ ...base, permissions: -1 }, "permissions"],
        [{ ...base, permissions: 1.5 }, "permissions"],
        [{ ...base, signals: [] }, "signals"],
        [{ ...base, signals: ["SIGNOPE" as NodeJS.Signals] }, "signals"],
        [{ ...base, signals: ["SIGTERM", "SIGKILL"] }, "signals"],
        [{ ...base, signals: ["toString" as NodeJS.Signals] }, "signals"],
        [{ ...base, tracerPath: "" }, "tracerPath"],
        [{ ...base, outputDir: "" }, "outputDir"],
        [{ ...base, attributes: { "a:b": "x" } }, "attributes"],
        [{ ...base, attributes: { "": "x" } }, "attributes"],
        [{ ...base, attributes: { a: "x\0y" } }, "attributes"],
        [{ ...base, classifiers: [""] }, "classifiers"],
        [{ ...base, args: ["a\0b"] }, "args"],
        [{ ...base, stdin: path.join(outputDir, "missing") }, "stdin"],
        [{ ...base, stderr: path.join(outputDir, "no", "such", "dir", "err") }, "stderr"],
        [{ ...base, defaultTraceOptions: { timeout: "soon" as never } }, "defaultTraceOptions.timeout"],
        [{ ...base, put: { endpoint: "", token: TOKEN } }, "put.endpoint"],
        [{ ...base, put: { endpoint: "ftp://host", token: TOKEN } }, "put.endpoint"],
        [{ ...base, put: { endpoint: "host" } }, "put.token"],
        [{ ...base, put: { endpoint: "host", token: Redacted.make("") } }, "put.token"],
        [{ ...base, put: { endpoint: "host", token: TOKEN, timeout: "0 millis" } }, "put.timeout"],
        [{ ...base, put: { endpoint: "host", token: TOKEN, timeout: Duration.infinity } }, "put.timeout"],
        [{ ...base, put: { endpoint: "host", token: TOKEN, concurrency: 0 } }, "put.concurrency"]
      ]
      for (const [options, field] of cases) {
        const error = yield* buildError(options)
        expect({ field: error.field, message: error.message.includes(TOKEN) }).toEqual({ field, message: false })
      }
    }))

  it.live("stderr and stdin files are handed to the tracer", () =>
    Effect.gen(function*() {
      const outputDir = tmp()
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
    }).pipe(Effect.provide(NoCooldown)))

  it.live("a FIFO as stdin or stderr is refused when the layer is built (opening it would block)", () =>
    Effect.gen(function*() {
      const outputDir = tmp()
      const fifo = path.join(outputDir, "pipe")
      execFileSync("mkfifo", ["-m", "600", fifo])
      for (const field of ["stdin", "stderr"] as const) {
        const error = yield* buildError({ tracerPath: FAKE_PTRACE, outputDir, [field]: fifo })
        expect(error.field).toBe(field)
        expect(error.reason).toContain("is a FIFO")
      }
    }))

  it.live("with uploads on, a tracer that prints no snapshot path fails the trace with TracerRunError (no-snapshot)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
      const error = yield* Effect.flip(Tracer.trace().pipe(Effect.provide(live({
        tracerPath: "/bin/true",
        outputDir,
        put: { endpoint: server.endpoint, token: TOKEN }
      }))))
      expect(error).toMatchObject({ _tag: "TracerRunError", path: "/bin/true", reason: "no-snapshot" })
      expect(error.message).toBe(`Tracer /bin/true printed no snapshot path (stdout: "")`)
      expect(server.requests).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("a tracer that fails is the trace's TracerRunError, with its stderr; nothing is uploaded", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
      const error = yield* Effect.flip(Tracer.trace().pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir,
        args: ["--fake-exit=3"],
        put: { endpoint: server.endpoint, token: TOKEN, unlink: true }
      }))))
      expect(error._tag).toBe("TracerRunError")
      if (error._tag !== "TracerRunError") return
      expect(error.exitCode).toBe(3)
      expect(error.stderr).toContain("fake-ptrace: asked to fail")
      expect(server.requests).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("BacktraceLive names the missing ptrace when Backtrace is not installed", () =>
    Effect.gen(function*() {
      if (fs.existsSync(Backtrace.defaultTracerPath)) return
      const exit = yield* Effect.exit(Layer.build(BacktraceLive).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error.field).toBe("tracerPath")
      expect(error.message).toContain("/opt/backtrace/bin/ptrace")
    }))
})

describe("Backtrace.layerConfig", () => {
  const withEnv = (env: Record<string, string>) => Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  const configured = Backtrace.layerConfig()

  it.live("reads tracer, output, attributes, endpoint and token from BCD_* variables", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = path.join(tmp(), "env")
      const result = yield* Tracer.trace().pipe(
        Effect.provide(configured),
        withEnv({
          BCD_TRACER_PATH: FAKE_PTRACE,
          BCD_OUTPUT_DIR: outputDir,
          BCD_PERMISSIONS: "0750",
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
      expect(call!.argv).toEqual(expect.arrayContaining(["team:core", "url:http://x:1", "env"]))
      expect(server.received).toHaveLength(1)
      expect(fs.existsSync(Option.getOrThrow(result.snapshot))).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("a submission URL in BCD_ENDPOINT is read as Redacted and used", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = tmp()
      const env = withEnv({
        BCD_TRACER_PATH: FAKE_PTRACE,
        BCD_OUTPUT_DIR: outputDir,
        BCD_ENDPOINT: `${server.endpoint}/myuniverse/${TOKEN}/minidump`
      })
      const options = yield* env(Backtrace.config)
      for (const text of [util.inspect(options, { depth: 10 }), JSON.stringify(options), String(options.put?.endpoint)]) {
        expect(text).not.toContain(TOKEN)
      }
      yield* Tracer.trace().pipe(Effect.provide(configured), env)
      expect(server.received.map((r) => r.path)).toEqual([`/myuniverse/${TOKEN}/minidump`])
    }).pipe(Effect.scoped, Effect.provide(NoCooldown)))

  it.live("a malformed variable, or an endpoint without a token, is a TracerConfigError", () =>
    Effect.gen(function*() {
      const base = { BCD_TRACER_PATH: FAKE_PTRACE, BCD_OUTPUT_DIR: tmp() }
      const build = (env: Record<string, string>) =>
        Effect.flip(Layer.build(configured).pipe(Effect.scoped, withEnv({ ...base, ...env })))
      const permissions = yield* build({ BCD_PERMISSIONS: "rwx" })
      expect(permissions.field).toBe("environment")
      expect(permissions.message).toContain("BCD_PERMISSIONS")
      const timeout = yield* build({ BCD_TIMEOUT: "soon" })
      expect(timeout.message).toContain("BCD_TIMEOUT")
      const token = yield* build({ BCD_ENDPOINT: "backtrace.example.com" })
      expect(token.field).toBe("put.token")
      const unlink = yield* build({ BCD_ENDPOINT: "h", BCD_TOKEN: TOKEN, BCD_UNLINK: "maybe" })
      expect(unlink.message).toContain("BCD_UNLINK")
      expect(unlink.message).not.toContain(TOKEN)
    }))
})
