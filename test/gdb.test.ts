/**
 * The gdb backend against real gdb attached to a real Node process: this test
 * worker itself (the Tracer traces its own process), and a child program
 * started with `--perf-basic-prof` for JIT frame names.
 */
import type { BacktraceSubmitBody } from "@backtrace/sdk-core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Coronerd from "../examples/coronerd.js"
import { Gdb, Tracer } from "../src/index.js"
import { DEFAULT_MAX_CORE_SIZE, fromSettings } from "../src/internal/gdb/backend.js"
import { END_MARKER } from "../src/internal/gdb/command.js"
import { probeGdb } from "../src/internal/gdb/probe.js"
import { defaultTraceOptions } from "../src/internal/snapshot/file.js"
import { asNobody } from "./support/backends.js"
import { perfBasicProf, runFixture } from "./support/child.js"
import { noCooldown } from "./support/config.js"
import { smallCores } from "./support/cores.js"
import { tempDir, withTempDir } from "./support/temp.js"

class UploadFailed extends Data.TaggedError("UploadFailed")<{ readonly order: string }> {
  override get message() {
    return `payment declined for order ${this.order}`
  }
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

const provide = (options: Gdb.Options) => Effect.provide(Layer.merge(Gdb.live(options), noCooldown))

/** Thread headings of a snapshot: `Thread N (… (LWP x) …): [labels]`, with their frames. */
const threads = (text: string) => {
  const out: Array<{ heading: string; lwp: number; labels: string; frames: string }> = []
  const blocks = text.split("\n\n")
  for (const block of blocks) {
    const [heading, ...frames] = block.replace(/^\n+/, "").split("\n")
    const m = /^Thread \d+ \(.*\(LWP (\d+)\).*\):(?: \[(.*)\])?$/.exec(heading ?? "")
    if (m !== null) out.push({ heading: heading!, lwp: Number(m[1]), labels: m[2] ?? "", frames: frames.join("\n") })
  }
  return out
}

/** Makes sure libuv's threadpool has started (its threads appear on first use). */
const useThreadpool = Effect.promise(() => fs.promises.readFile(fileURLToPath(import.meta.url)))

describe("Gdb backend (real gdb attached to this test process)", () => {
  it.live("writes one 0600 snapshot naming the main thread and libuv's threads", () =>
    withTempDir((scratch) => {
      const dir = path.join(scratch, "out")
      return Effect.gen(function*() {
        yield* useThreadpool
        const started = Date.now()
        const result = yield* Tracer.trace(new Error("disk full"), {
          attributes: { request: "GET /x" },
          classifications: ["io"]
        })
        const elapsed = Date.now() - started
        const file = Option.getOrThrow(result.snapshot)
        expect(path.dirname(file)).toBe(dir)
        expect(path.basename(file)).toMatch(new RegExp(`^gdbtest\\.${process.pid}\\.\\d{8}T\\d{6}\\.\\d{3}Z\\.txt$`))
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
        expect(fs.statSync(file).mode & 0o777).toBe(0o600)
        expect(fs.readdirSync(dir)).toEqual([path.basename(file)])

        const text = fs.readFileSync(file, "utf8")
        // The header.
        expect(text).toMatch(new RegExp(`^pid: +${process.pid}$`, "m"))
        expect(text).toMatch(/^error: +disk full$/m)
        expect(text).toMatch(/^classifiers: +Error, io$/m)
        expect(text).toMatch(/^ {2}request: GET \/x$/m)
        expect(text).toMatch(/^stack:\n {2}Error: disk full\n {6}at /m)
        // gdb's part, complete.
        expect(text).toContain("==== info threads ====")
        expect(text).toContain(END_MARKER)
        const all = threads(text)
        const main = all.filter((t) => t.labels.includes("main thread"))
        expect(main).toHaveLength(1)
        expect(main[0]!.lwp).toBe(process.pid)
        expect(main[0]!.labels).toContain("faulted")
        expect(main[0]!.frames).toMatch(/\buv_run\b/)
        const pool = all.filter((t) => t.labels.includes("libuv threadpool"))
        expect(pool.length).toBeGreaterThanOrEqual(1)
        for (const t of pool) expect(t.frames).toMatch(/\bworker \(/)
        // Every thread of the process was backtraced.
        const lwps = fs.readdirSync(`/proc/${process.pid}/task`).map(Number)
        expect(all.length).toBeGreaterThanOrEqual(Math.min(...[lwps.length - 2, 4]))
        console.log(`gdb snapshot: ${all.length} threads, ${text.length} bytes, trace ${elapsed} ms`)
      }).pipe(provide({ outputDir: dir, program: "gdbtest" }))
    }))

  it.live("callerOnly backtraces the calling thread alone", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const result = yield* Tracer.trace(new Error("only me"), { callerOnly: true, faulted: false })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        const all = threads(text)
        expect(all).toHaveLength(1)
        expect(all[0]!.lwp).toBe(Option.getOrThrow(result.request.tid))
        expect(all[0]!.labels).toBe("main thread, caller")
        expect(text).toMatch(/^caller only: +yes$/m)
        expect(text).toContain(END_MARKER)
      }).pipe(provide({ outputDir: dir }))
    ))

  it.live("core: true writes a core file that gdb -c can read", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        const file = Option.getOrThrow(result.snapshot)
        const core = file.replace(/\.txt$/, ".core")
        expect(fs.statSync(core).isFile()).toBe(true)
        expect(fs.statSync(core).mode & 0o777).toBe(0o600)
        const text = fs.readFileSync(file, "utf8")
        expect(text).toContain(`core file:   ${core}`)
        expect(text).toContain(`Saved corefile ${core}`)
        const read = execFileSync("gdb", ["-batch", "-nx", "-c", core, process.execPath, "-ex", "info threads"], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"]
        })
        expect(read).toContain(`LWP ${process.pid}`)
        expect(read).toMatch(/^\* 1 +Thread /m)
      }).pipe(provide({ outputDir: dir, core: true }))
    ))

  it.live("a core larger than maxCoreSize is skipped, and the header says why", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toMatch(/^core file: +skipped: it would take about [\d.]+ GiB .* more than maxCoreSize/m)
        expect(text).not.toContain("generate-core-file")
        expect(text).not.toContain("Saved corefile")
        expect(text).toContain(END_MARKER)
        expect(fs.readdirSync(dir).filter((f) => f.endsWith(".core"))).toEqual([])
      }).pipe(provide({ outputDir: dir, core: true, maxCoreSize: 1024 }))
    ))

  // Traces queued together all pass the check made when their command is built; the lock-time check stops the later ones.
  it.live("a core that no longer fits once the trace holds the lock is left out, and the header says why", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const gdb = yield* probeGdb("gdb")
        if (!gdb.capabilities.python) return // Without Python the command decides; see the maxCoreSize test.
        let calls = 0
        const backend = yield* fromSettings({
          gdbPath: gdb.path,
          capabilities: gdb.capabilities,
          outputDir: dir,
          program: "late",
          full: false,
          core: true,
          maxCoreSize: DEFAULT_MAX_CORE_SIZE,
          defaultTraceOptions: defaultTraceOptions({}),
          put: Option.none(),
          // Room to spare when the command is built; none left once the trace holds the lock.
          diskSpace: () => (calls++ === 0 ? { free: 2 ** 50, total: 2 ** 50 } : { free: 2 ** 20, total: 2 ** 50 })
        })
        const tracer = yield* Tracer.make(backend)
        const result = yield* tracer.trace(undefined, { callerOnly: true })
        expect(calls).toBe(2)
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toMatch(
          /^core file: +skipped: it would take about [\d.]+ GiB and the output folder has 0\.0 GiB free/m
        )
        expect(text).not.toContain("Saved corefile")
        expect(text).toContain(END_MARKER)
        expect(fs.readdirSync(dir).filter((f) => f.endsWith(".core"))).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(noCooldown))
    ))

  it.live("Tracer.addOptions runs extra gdb commands whose output lands in the snapshot", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        yield* Tracer.addOptions("-ex", "info sharedlibrary")
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toMatch(/^From +To +Syms Read +Shared Object Library$/m)
        expect(text).toMatch(/libc\.so/)
        expect(text.indexOf("Shared Object Library")).toBeLessThan(text.indexOf(END_MARKER))
      }).pipe(provide({ outputDir: dir }))
    ))

  // gdb 10 and 11 download from DEBUGINFOD_URLS while this process is stopped; gdb gets it empty.
  it.live("gdb runs with DEBUGINFOD_URLS empty, whatever this process has", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const saved = process.env.DEBUGINFOD_URLS
            process.env.DEBUGINFOD_URLS = "https://debuginfod.example.invalid/"
            return saved
          }),
          (saved) =>
            Effect.sync(() =>
              saved === undefined ? delete process.env.DEBUGINFOD_URLS : (process.env.DEBUGINFOD_URLS = saved)
            )
        )
        // gdb's `environment` starts as gdb's own environment.
        yield* Tracer.addOptions("-ex", "show environment DEBUGINFOD_URLS")
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toMatch(/^DEBUGINFOD_URLS = $/m)
        expect(text).not.toContain("debuginfod.example")
      }).pipe(Effect.scoped, provide({ outputDir: dir }))
    ))

  it.live("a trace that times out waiting for the lock leaves no file", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const [first, second] = yield* Effect.all([
          Effect.either(Tracer.trace(new Error("first"))),
          // Starts while the first holds the lock (gdb runs for more than 100 ms).
          Effect.either(
            Effect.zipRight(Effect.sleep("20 millis"), Tracer.trace(new Error("second"), { timeout: "100 millis" }))
          )
        ], { concurrency: 2 })
        expect(first._tag).toBe("Right")
        expect(second).toMatchObject({ _tag: "Left", left: { _tag: "TraceTimeoutError", phase: "lock" } })
        const files = fs.readdirSync(dir)
        expect(files).toHaveLength(1)
        expect(fs.readFileSync(path.join(dir, files[0]!), "utf8")).toContain("error:       first")
      }).pipe(provide({ outputDir: dir }))
    ))

  it.live("a snapshot gdb did not finish fails the trace, and is kept marked .partial", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        // Logging off before the end: gdb exits 0, but its end marker is not in the file.
        yield* Tracer.addOptions("-ex", "set logging enabled off")
        const error = yield* Effect.flip(Tracer.trace(undefined, { callerOnly: true }))
        const [file] = fs.readdirSync(dir)
        expect(file).toMatch(/\.txt\.partial$/)
        const partial = path.join(dir, file!)
        expect(fs.readFileSync(partial, "utf8")).not.toMatch(new RegExp(`^${END_MARKER}$`, "m"))
        expect(error).toMatchObject({ _tag: "TracerRunError", reason: "incomplete", leftBehind: [partial] })
        expect(error.message).toContain(`left behind: ${partial}`)
      }).pipe(provide({ outputDir: dir }))
    ))

  // /tmp is shared: whoever creates /tmp/perf-<pid>.map first owns it. A FIFO there must not hang the trace.
  it.live("a FIFO at this process's perf map path neither blocks nor fails the trace", () =>
    withTempDir((dir) => {
      const map = `/tmp/perf-${process.pid}.map`
      return Effect.gen(function*() {
        if (fs.existsSync(map)) return
        yield* Effect.acquireRelease(
          Effect.sync(() => execFileSync("mkfifo", [map])),
          () => Effect.sync(() => fs.rmSync(map, { force: true }))
        )
        // A frame gdb could not name, so that the perf map is looked at whatever this thread was doing.
        yield* Tracer.addOptions("-ex", "echo #0  0x00007f0000001010 in ?? ()\\n")
        const result = yield* Tracer.trace(undefined, { callerOnly: true }).pipe(Effect.timeout("30 seconds"))
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toContain("#0  0x00007f0000001010 in ?? ()")
        expect(text).toContain(END_MARKER)
      }).pipe(Effect.scoped, provide({ outputDir: dir }))
    }))

  // gdb run as nobody may not attach to this root process: the kernel refuses, for real.
  it.live.runIf(process.getuid?.() === 0 && fs.existsSync("/usr/bin/setpriv"))(
    "a refused attach is a TracerRunError with gdb's message and a hint",
    () =>
      withTempDir((dir) => {
        const wrapper = asNobody(dir, "gdb")
        const out = path.join(dir, "out")
        return Effect.gen(function*() {
          const error = yield* Effect.flip(Tracer.trace(new Error("refused"), { callerOnly: true }))
          expect(error).toMatchObject({ _tag: "TracerRunError", exitCode: 2 })
          expect(error.message).toContain("ptrace: Operation not permitted")
          expect((error as { hint?: string }).hint).toMatch(/ptrace was refused|ptrace_scope|SYS_PTRACE/)
          // The header stays: the trace is on record even though gdb could not attach.
          const files = fs.readdirSync(out)
          expect(files).toHaveLength(1)
          expect(fs.readFileSync(path.join(out, files[0]!), "utf8")).toContain("error:       refused")
        }).pipe(provide({ outputDir: out, gdbPath: wrapper }))
      })
  )

  it.live("full: true prints each frame's locals", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        // `bt full` lists locals (or says there are none) under frames.
        expect(text).toMatch(/^ {8}\S+ = |No locals\.|No symbol table info available\./m)
      }).pipe(provide({ outputDir: dir, full: true }))
    ))
})

describe("Gdb layer checks its options when built", () => {
  const build = (options: Gdb.Options) => Effect.exit(Effect.scoped(Layer.build(Gdb.live(options))))
  const configError = (exit: Exit.Exit<unknown, unknown>) => {
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    expect(error).toMatchObject({ _tag: "TracerConfigError" })
    return error as { readonly field: string; readonly message: string }
  }

  it.live("a missing gdb is a TracerConfigError on gdbPath", () =>
    Effect.gen(function*() {
      const byName = configError(yield* build({ gdbPath: "no-such-gdb-effect-bcd", outputDir: yield* tempDir }))
      expect(byName.field).toBe("gdbPath")
      expect(byName.message).toContain("no-such-gdb-effect-bcd")
      const byPath = configError(yield* build({ gdbPath: "/nonexistent/bin/gdb", outputDir: yield* tempDir }))
      expect(byPath.field).toBe("gdbPath")
    }).pipe(Effect.scoped))

  it.live("layerConfig reads BCD_GDB_PATH and BCD_OUTPUT_DIR", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir, "out")
      const env = (vars: Record<string, string>) =>
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(vars))))
      const missing = configError(
        yield* Effect.exit(Effect.scoped(Layer.build(Gdb.layerConfig()))).pipe(
          env({ BCD_GDB_PATH: "no-such-gdb-effect-bcd" })
        )
      )
      expect(missing.field).toBe("gdbPath")
      const built = yield* Effect.exit(Effect.scoped(Layer.build(Gdb.layerConfig()))).pipe(env({ BCD_OUTPUT_DIR: dir }))
      expect(Exit.isSuccess(built)).toBe(true)
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    }).pipe(Effect.scoped))

  it.live("a program that is not gdb is a TracerConfigError on gdbPath", () =>
    Effect.gen(function*() {
      const error = configError(yield* build({ gdbPath: "true", outputDir: yield* tempDir }))
      expect(error.field).toBe("gdbPath")
      expect(error.message).toContain("does not answer like gdb")
    }).pipe(Effect.scoped))

  it.live("an unwritable outputDir is a TracerConfigError on outputDir", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir, "a-file")
      fs.writeFileSync(file, "")
      const under = configError(yield* build({ outputDir: path.join(file, "snapshots") }))
      expect(under.field).toBe("outputDir")
      const quote = configError(yield* build({ outputDir: path.join(yield* tempDir, "it's") }))
      expect(quote.field).toBe("outputDir")
    }).pipe(Effect.scoped))

  it.live("a negative maxCoreSize is a TracerConfigError on maxCoreSize", () =>
    Effect.gen(function*() {
      const error = configError(yield* build({ outputDir: yield* tempDir, core: true, maxCoreSize: -1 }))
      expect(error.field).toBe("maxCoreSize")
    }).pipe(Effect.scoped))

  it.live("a missing outputDir is created 0700", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir, "a", "b")
      const exit = yield* build({ outputDir: dir })
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
    }).pipe(Effect.scoped))

  it.live("a put URL that is not http(s) is a TracerConfigError that does not show it, and creates no folder", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir, "never")
      const error = configError(
        yield* build({ outputDir: dir, put: { url: Redacted.make("ftp://host/post?token=s3cr3t-token") } })
      )
      expect(error.field).toBe("put.url")
      expect(error.message).not.toContain("s3cr3t")
      expect(fs.existsSync(dir)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("an infinite, zero or malformed put timeout is a TracerConfigError, not a defect", () =>
    Effect.gen(function*() {
      const url = "http://127.0.0.1:1/post"
      for (const timeout of [Duration.infinity, Duration.zero, "soon" as Duration.DurationInput]) {
        const error = configError(yield* build({ outputDir: yield* tempDir, put: { url, timeout } }))
        expect(error.field).toBe("put.timeout")
      }
    }).pipe(Effect.scoped))
})

describe("Gdb put (real HTTP server on 127.0.0.1)", () => {
  it.live("sends a Backtrace JSON report to host:port + token: every thread, the JS stack, classifiers, attributes", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: "tok-123456" })
      const dir = yield* tempDir
      const started = Date.now()
      const result = yield* Tracer.trace(new UploadFailed({ order: "42" }), {
        attributes: { route: "POST /checkout" },
        classifications: ["payments"]
      }).pipe(
        Effect.withSpan("checkout"),
        provide({
          outputDir: dir,
          program: "shop",
          put: { endpoint: server.endpoint, token: Redacted.make("tok-123456"), version: "2.0.1" }
        })
      )
      const file = Option.getOrThrow(result.snapshot)
      expect(server.requests.map((r) => r.path)).toEqual(["/post"])
      const received = server.received[0]!
      expect(received.format).toBe("json")
      expect(received.contentType).toMatch(/^multipart\/form-data; boundary=/)
      const report = received.report!
      expect(report.multipart).toBe(true)
      const json = report.json as unknown as BacktraceSubmitBody
      expect(json).toMatchObject({ lang: "nodejs", langVersion: process.version, agent: "effect-bcd" })
      expect(json.timestamp).toBeGreaterThanOrEqual(Math.floor(started / 1000) - 1)
      expect(json.timestamp).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000))

      // The JS stack of the error is the faulting thread: this test file, with line and column.
      expect(json.mainThread).toBe("js")
      const js = json.threads.js!
      expect(js.fault).toBe(true)
      const own = js.stack.find((f) => f.library === fileURLToPath(import.meta.url))
      expect(own?.line).toBeGreaterThan(0)
      expect(own?.column).toBeGreaterThan(0)

      // Every native thread of the snapshot, keyed by LWP, named by its role.
      const text = fs.readFileSync(file, "utf8")
      const lwps = threads(text).map((t) => String(t.lwp))
      expect(lwps.length).toBeGreaterThanOrEqual(5)
      expect(Object.keys(json.threads).filter((k) => k !== "js").sort()).toEqual([...lwps].sort())
      const main = json.threads[String(process.pid)]!
      expect(main.name).toBe("main thread, faulted")
      expect(main.fault).toBe(false)
      // Libraries come from gdb or this process's mappings: uv_run is in the node executable.
      expect(main.stack.find((f) => f.funcName === "uv_run")?.library).toBe(fs.realpathSync(process.execPath))
      expect(Object.values(json.threads).some((t) => t.name === "libuv threadpool")).toBe(true)

      expect(json.classifiers).toEqual(["UploadFailed", "payments"])
      expect(json.attributes).toMatchObject({
        "error.message": "payment declined for order 42",
        route: "POST /checkout",
        span: "checkout",
        "process.id": process.pid,
        hostname: os.hostname(),
        "uname.sysname": "Linux",
        application: "shop",
        "application.version": "2.0.1",
        tracer: "gdb",
        "snapshot.complete": true
      })
      expect(json.attributes!.trace_id).toMatch(/^[0-9a-f]+$/)
      expect(json.annotations!.stack).toMatch(/^UploadFailed: payment declined for order 42\n/)
      // The header's Node view of the process, as an object.
      expect(json.annotations!["node process state"]).toMatchObject({ node: { pid: process.pid } })

      // The snapshot itself, attached; kept without unlink.
      expect(report.attachments.map((a) => [a.name, a.contentType])).toEqual([
        [path.basename(file), "text/plain; charset=utf-8"]
      ])
      expect(report.attachments[0]!.sha256).toBe(sha256(file))
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("a submission URL gets /<universe>/<token>/json; the core file is attached; unlink removes both", () =>
    Effect.gen(function*() {
      yield* smallCores
      const server = yield* Coronerd.make({ token: "tok-123456" })
      const dir = yield* tempDir
      const endpoint = Redacted.make(`${server.endpoint}/acme/tok-123456/minidump`)
      yield* Tracer.trace(new Error("with core"), { callerOnly: true }).pipe(
        provide({ outputDir: dir, core: true, put: { endpoint, unlink: true } })
      )
      expect(server.requests.map((r) => r.path)).toEqual(["/acme/tok-123456/json"])
      const report = server.received[0]!.report!
      expect(report.attachments.map((a) => path.extname(a.name))).toEqual([".txt", ".core"])
      const [snapshot, core] = report.attachments
      expect(snapshot!.body.toString("utf8")).toContain("error:       with core")
      expect(core!.contentType).toBe("application/octet-stream")
      expect(core!.body.subarray(0, 4).toString("latin1")).toBe("\x7fELF")
      // callerOnly: the calling thread alone, beside the JS stack.
      expect(Object.keys(report.json.threads as object).sort()).toEqual([String(process.pid), "js"])
      expect(fs.readdirSync(dir)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("format raw: the text file as it is, then the core file, for receivers that store files", () =>
    Effect.gen(function*() {
      yield* smallCores
      const server = yield* Coronerd.make({ token: "tok-123456" })
      const dir = yield* tempDir
      const url = Redacted.make(`${server.endpoint}/post?token=tok-123456`)
      const result = yield* Tracer.trace(new Error("upload me"), { callerOnly: true }).pipe(
        provide({ outputDir: dir, core: true, put: { url, format: "raw", unlink: true } })
      )
      expect(server.received.map((r) => [r.format, r.contentType])).toEqual([
        [undefined, "text/plain; charset=utf-8"],
        [undefined, "application/octet-stream"]
      ])
      const body = server.received[0]!.body.toString("utf8")
      expect(body).toMatch(/^effect-bcd snapshot \(gdb\)/)
      expect(body).toContain("error:       upload me")
      expect(body).toContain(END_MARKER)
      expect(server.received[1]!.body.subarray(0, 4).toString("latin1")).toBe("\x7fELF")
      expect(fs.existsSync(Option.getOrThrow(result.snapshot))).toBe(false)
      expect(fs.readdirSync(dir)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("a server answering 500 fails the trace and keeps the snapshot", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: "tok-123456" })
      server.failNext(10, 500)
      const dir = yield* tempDir
      const url = `${server.endpoint}/post?token=tok-123456`
      const error = yield* Tracer.trace(new Error("keep me"), { callerOnly: true }).pipe(
        provide({ outputDir: dir, put: { url, unlink: true, retry: Schedule.recurs(0) } }),
        Effect.flip
      )
      expect(error._tag).toBe("SnapshotUploadError")
      expect(error.message).not.toContain("tok-123456")
      expect(server.requests).toHaveLength(1)
      const files = fs.readdirSync(dir)
      expect(files).toHaveLength(1)
      expect(fs.readFileSync(path.join(dir, files[0]!), "utf8")).toContain("error:       keep me")
    }).pipe(Effect.scoped))
})

/** Whether this machine's gdb runs Python (Debian's does; gdb-minimal does not). */
const gdbHasPython = (() => {
  try {
    return execFileSync("gdb", ["-nx", "-batch", "-ex", "python print('py-ok')"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"]
    }).includes("py-ok")
  } catch {
    return false
  }
})()

describe("Gdb in child programs", () => {
  it.live("callerOnly from a worker_threads Worker backtraces that worker's thread (found by its LWP)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { snapshot, tid, pid } = (yield* runFixture([], "gdb-worker.ts", dir)) as {
        snapshot: string
        tid: number
        pid: number
      }
      expect(tid).not.toBe(pid)
      const text = fs.readFileSync(snapshot, "utf8")
      const all = threads(text)
      if (gdbHasPython) {
        expect(all).toHaveLength(1)
        expect(all[0]!.lwp).toBe(tid)
        expect(all[0]!.labels).toBe("worker_threads Worker, faulted")
      } else {
        // Documented fallback: every thread, the worker's marked, and the header says why.
        expect(text).toMatch(/^caller only: +requested; this gdb has no Python/m)
        expect(all.find((t) => t.lwp === tid)?.labels).toBe("worker_threads Worker, faulted")
      }
    }).pipe(Effect.scoped))

  it.live("names JIT frames from the perf map of a child started with --perf-basic-prof", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const snapshot = (yield* runFixture(perfBasicProf(dir), "gdb-jit.ts", dir)) as string
      const text = fs.readFileSync(snapshot, "utf8")
      const main = threads(text).find((t) => t.labels.includes("main thread"))!
      // The busy function, named from the perf map, on the main thread's stack.
      expect(main.frames).toMatch(/^#\d+ +0x[0-9a-f]+ in JS:[*~^]?(?:spinFor|hot) .*gdb-jit\.ts/m)
    }).pipe(Effect.scoped))
})
