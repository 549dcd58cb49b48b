/**
 * The eu-stack backend against real eu-stack (elfutils) attached to real
 * Node processes: this test worker itself (the Tracer traces its own
 * process), and child programs with worker_threads, a busy libuv threadpool,
 * and `--perf-basic-prof` for JIT frame names. The parts that run no tracer
 * are in eustack-parts.test.ts.
 */
import type { BacktraceSubmitBody } from "@backtrace/sdk-core"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Coronerd from "../examples/coronerd.js"
import { EuStack, Tracer } from "../src/index.js"
import { END_LINE, FOLLOWS } from "../src/internal/eustack/finalize.js"
import { asNobody } from "./support/backends.js"
import { perfBasicProf, runFixture } from "./support/child.js"
import { noCooldown } from "./support/config.js"
import { tempDir, withTempDir } from "./support/temp.js"

const provide = (options: EuStack.Options) => Effect.provide(Layer.merge(EuStack.live(options), noCooldown))

/** The threads of an eu-stack snapshot: `TID n: [labels]` and the frames under it. */
const threads = (text: string) => {
  const out: Array<{ tid: number; labels: string; frames: string }> = []
  for (const block of text.slice(text.indexOf(FOLLOWS)).split(/^(?=TID \d+:)/m).slice(1)) {
    const [heading, ...frames] = block.split("\n")
    const m = /^TID (\d+):(?: \[(.*)\])?$/.exec(heading!)!
    out.push({ tid: Number(m[1]), labels: m[2] ?? "", frames: frames.join("\n") })
  }
  return out
}

/** Makes sure libuv's threadpool has started (its threads appear on first use). */
const useThreadpool = Effect.promise(() => fs.promises.readFile(fileURLToPath(import.meta.url)))

describe("EuStack backend (real eu-stack attached to this test process)", () => {
  it.live("writes one 0600 snapshot: gdb's header, then every thread of /proc/<pid>/task with its role", () =>
    withTempDir((scratch) => {
      const dir = path.join(scratch, "out")
      return Effect.gen(function*() {
        yield* useThreadpool
        const before = fs.readdirSync("/proc/self/task").map(Number)
        const started = Date.now()
        const result = yield* Tracer.trace(new Error("disk full"), {
          attributes: { request: "GET /x" },
          classifications: ["io"]
        })
        const elapsed = Date.now() - started
        const after = fs.readdirSync("/proc/self/task").map(Number)
        const file = Option.getOrThrow(result.snapshot)
        expect(path.dirname(file)).toBe(dir)
        expect(path.basename(file)).toMatch(new RegExp(`^eutest\\.${process.pid}\\.\\d{8}T\\d{6}\\.\\d{3}Z\\.txt$`))
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700)
        expect(fs.statSync(file).mode & 0o777).toBe(0o600)
        expect(fs.readdirSync(dir)).toEqual([path.basename(file)])
        // eu-stack's output went to the file, not through this process.
        expect(result.stdout).toBe("")
        expect(result.exitCode).toBe(0)

        const text = fs.readFileSync(file, "utf8")
        // The header: the gdb backend's, naming eu-stack.
        expect(text).toMatch(/^effect-bcd snapshot \(eu-stack\)\n/)
        expect(text).toMatch(/^time: +\d{4}-\d\d-\d\dT/m)
        expect(text).toMatch(/^program: +eutest$/m)
        expect(text).toMatch(new RegExp(`^pid: +${process.pid}$`, "m"))
        expect(text).toMatch(new RegExp(`^node: +${process.version.replace(/\./g, "\\.")} `, "m"))
        expect(text).toMatch(new RegExp(`^faulted tid: +${process.pid}$`, "m"))
        expect(text).toMatch(/^caller only: +no$/m)
        expect(text).toMatch(/^fiber: +#\d+$/m)
        expect(text).toMatch(/^error: +disk full$/m)
        expect(text).toMatch(/^classifiers: +Error, io$/m)
        expect(text).toMatch(/^ {2}request: GET \/x$/m)
        expect(text).toMatch(/^stack:\n {2}Error: disk full\n {6}at /m)
        expect(text).toContain(`\n${FOLLOWS}\nPID ${process.pid} - process\n`)
        expect(text).toMatch(new RegExp(`^${END_LINE} \\(\\d+ threads\\) ====$`, "m"))

        // Every thread that lived through the trace, each with a role.
        const all = threads(text)
        const tids = all.map((t) => t.tid)
        for (const tid of before.filter((t) => after.includes(t))) expect(tids).toContain(tid)
        for (const t of all) expect(t.labels).not.toBe("")
        expect(all.find((t) => t.tid === process.pid)?.labels).toBe("main thread, faulted")
        expect(all.find((t) => t.tid === process.pid)?.frames).toMatch(/ uv_run - /)
        expect(all.filter((t) => t.labels === "libuv threadpool").length).toBeGreaterThanOrEqual(1)
        expect(all.filter((t) => t.labels === "V8 platform worker").length).toBeGreaterThanOrEqual(1)
        // Modules and their build ids (a frame in libc: the main thread may be waiting in epoll, or be caught
        // elsewhere, but the parked threads always wait in libc).
        expect(text).toMatch(/^#\d+ +0x[0-9a-f]+ \S+ - \/\S*libc\.so\.6$/m)
        expect(text).toMatch(/^ {4}\[[0-9a-f]{40}\]@0x[0-9a-f]+\+0x[0-9a-f]+$/m)
        console.log(`eu-stack snapshot: ${all.length} threads, ${text.length} bytes, trace ${elapsed} ms`)
      }).pipe(provide({ outputDir: dir, program: "eutest" }))
    }))

  it.live("callerOnly prints the calling thread alone", () =>
    withTempDir((dir) => {
      return Effect.gen(function*() {
        const result = yield* Tracer.trace(new Error("only me"), { callerOnly: true, faulted: false })
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        const all = threads(text)
        expect(all).toHaveLength(1)
        expect(all[0]!.tid).toBe(Option.getOrThrow(result.request.tid))
        expect(all[0]!.labels).toBe("main thread, caller")
        expect(text).toMatch(/^caller only: +yes$/m)
        expect(text).toMatch(/^calling tid: +\d+$/m)
        expect(text).toContain(`${END_LINE} (1 thread) ====`)
      }).pipe(provide({ outputDir: dir }))
    }))

  it.live("eu-stack runs with DEBUGINFOD_URLS empty, whatever this process has", () =>
    withTempDir((dir) => {
      const wrapper = path.join(dir, "eu-stack-env")
      fs.writeFileSync(wrapper, `#!/bin/sh\necho "DEBUGINFOD_URLS=[$DEBUGINFOD_URLS]"\nexec eu-stack "$@"\n`, {
        mode: 0o755
      })
      const saved = process.env.DEBUGINFOD_URLS
      return Effect.gen(function*() {
        process.env.DEBUGINFOD_URLS = "https://debuginfod.example.invalid"
        const result = yield* Tracer.trace(undefined, { callerOnly: true })
        expect(fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")).toContain("\nDEBUGINFOD_URLS=[]\n")
      }).pipe(
        provide({ outputDir: path.join(dir, "out"), euStackPath: wrapper }),
        Effect.ensuring(Effect.sync(() => {
          if (saved === undefined) delete process.env.DEBUGINFOD_URLS
          else process.env.DEBUGINFOD_URLS = saved
        }))
      )
    }))

  // eu-stack run as nobody may not read this root process: the kernel refuses, for real.
  it.live.runIf(process.getuid?.() === 0 && fs.existsSync("/usr/bin/setpriv"))(
    "a refused attach is a TracerRunError with eu-stack's message and a hint; the header stays",
    () =>
      withTempDir((dir) => {
        const wrapper = asNobody(dir, "eu-stack")
        const out = path.join(dir, "out")
        return Effect.gen(function*() {
          const error = yield* Effect.flip(Tracer.trace(new Error("refused"), { callerOnly: true }))
          expect(error).toMatchObject({ _tag: "TracerRunError", exitCode: 2 })
          expect(error.message).toMatch(/dwfl_linux_proc_\w+ pid \d+: Permission denied/)
          expect((error as { hint?: string }).hint).toMatch(/ptrace was refused/)
          const files = fs.readdirSync(out)
          expect(files).toHaveLength(1)
          const text = fs.readFileSync(path.join(out, files[0]!), "utf8")
          expect(text).toContain("error:       refused")
          expect(text).not.toContain(END_LINE)
        }).pipe(provide({ outputDir: out, euStackPath: wrapper }))
      })
  )
})

describe("EuStack in child programs", () => {
  it.live("a process with worker_threads and a busy libuv threadpool: every thread, each with its role", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { after, before, exitCode, pid, snapshot, workers } =
        (yield* runFixture([], "eustack-threads.ts", dir)) as {
          snapshot: string
          pid: number
          workers: Array<number>
          before: Array<number>
          after: Array<number>
          exitCode: number
        }
      expect(exitCode).toBe(0)
      expect(before.length).toBeGreaterThanOrEqual(12)
      const all = threads(fs.readFileSync(snapshot, "utf8"))
      const role = (tid: number) => all.find((t) => t.tid === tid)?.labels
      for (const tid of before.filter((t) => after.includes(t))) expect(role(tid)).toMatch(/./)
      expect(role(pid)).toBe("main thread, faulted")
      for (const tid of workers) expect(role(tid)).toBe("worker_threads Worker")
      // libuv's four threads, busy in pbkdf2 or waiting for the next job.
      const pool = all.filter((t) => t.labels === "libuv threadpool")
      expect(pool).toHaveLength(4)
      for (const t of pool) expect(t.frames).toMatch(/^#\d+ +0x[0-9a-f]+ worker - /m)
      expect(all.filter((t) => t.labels === "V8 platform worker").length).toBeGreaterThanOrEqual(1)
      expect(all.filter((t) => t.labels === "inspector I/O")).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("callerOnly from a worker_threads Worker prints that worker's thread", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { pid, snapshot, tid } = (yield* runFixture([], "eustack-threads.ts", dir, "worker-caller")) as {
        snapshot: string
        tid: number
        pid: number
      }
      expect(tid).not.toBe(pid)
      const all = threads(fs.readFileSync(snapshot, "utf8"))
      expect(all).toHaveLength(1)
      expect(all[0]).toMatchObject({ tid, labels: "worker_threads Worker, faulted" })
    }).pipe(Effect.scoped))

  it.live("names JIT frames from the perf map of a child started with --perf-basic-prof", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const snapshot = (yield* runFixture(perfBasicProf(dir), "eustack-jit.ts", dir)) as string
      const main = threads(fs.readFileSync(snapshot, "utf8")).find((t) => t.labels.includes("main thread"))!
      // The busy function, named from the perf map, on the main thread's stack; no module claimed for it.
      expect(main.frames).toMatch(
        /^#\d+ +0x[0-9a-f]+ JS:[*~^]?(?:spinUntil|hot) .*eustack-jit\.ts.* - \[JIT code, perf map\]$/m
      )
    }).pipe(Effect.scoped))
})

describe("EuStack layer checks its options when built", () => {
  const build = (options: EuStack.Options) => Effect.exit(Effect.scoped(Layer.build(EuStack.live(options))))
  const configError = (exit: Exit.Exit<unknown, unknown>) => {
    expect(Exit.isFailure(exit)).toBe(true)
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
    expect(error).toMatchObject({ _tag: "TracerConfigError" })
    return error as { readonly field: string; readonly message: string }
  }

  it.live("a missing eu-stack is a TracerConfigError on euStackPath naming elfutils", () =>
    Effect.gen(function*() {
      const byName = configError(
        yield* build({ euStackPath: "no-such-eu-stack-effect-bcd", outputDir: yield* tempDir })
      )
      expect(byName.field).toBe("euStackPath")
      expect(byName.message).toContain("no-such-eu-stack-effect-bcd")
      expect(byName.message).toContain("apt-get install elfutils")
      const byPath = configError(yield* build({ euStackPath: "/nonexistent/bin/eu-stack", outputDir: yield* tempDir }))
      expect(byPath.field).toBe("euStackPath")
      expect(byPath.message).toContain("elfutils")
      // Found, but not eu-stack.
      const impostor = configError(yield* build({ euStackPath: "/bin/true", outputDir: yield* tempDir }))
      expect(impostor.field).toBe("euStackPath")
      expect(impostor.message).toContain("does not answer like eu-stack")
    }).pipe(Effect.scoped))

  it.live("an outputDir that cannot be created is a TracerConfigError on outputDir", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir, "a-file")
      fs.writeFileSync(file, "")
      expect(configError(yield* build({ outputDir: path.join(file, "sub") })).field).toBe("outputDir")
    }).pipe(Effect.scoped))

  it.live("a put URL that is not http(s) is refused, without quoting it", () =>
    Effect.gen(function*() {
      const error = configError(
        yield* build({ outputDir: yield* tempDir, put: { url: Redacted.make("ftp://host/post?token=s3cr3t-token") } })
      )
      expect(error.field).toBe("put.url")
      expect(error.message).not.toContain("s3cr3t-token")
    }).pipe(Effect.scoped))

  it.live("Tracer.checkPermissions checks eu-stack", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const report = yield* Tracer.checkPermissions
        expect(report.tracer).toMatch(/\/eu-stack$/)
        expect(Option.isSome(report.tracerPath)).toBe(true)
      }).pipe(provide({ outputDir: dir }))
    ))
})

describe("EuStack put (real HTTP server on 127.0.0.1)", () => {
  it.live("sends a Backtrace JSON report with every thread and the snapshot attached; unlink; the token never reaches eu-stack", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: "tok-123456" })
      const dir = yield* tempDir
      const url = Redacted.make(`${server.endpoint}/post?token=tok-123456`)
      // A variable of this process holding the token, and an eu-stack that reports whether it sees one.
      process.env.EFFECT_BCD_TEST_UPLOAD_URL = Redacted.value(url)
      const wrapper = path.join(dir, "eu-stack-env")
      fs.writeFileSync(
        wrapper,
        `#!/bin/sh\necho "token variables: $(env | grep -c tok-123456)"\nexec eu-stack "$@"\n`,
        {
          mode: 0o755
        }
      )
      yield* useThreadpool
      const result = yield* Tracer.trace(new TypeError("upload me")).pipe(
        provide({ outputDir: path.join(dir, "out"), euStackPath: wrapper, put: { url, unlink: true } }),
        Effect.ensuring(Effect.sync(() => delete process.env.EFFECT_BCD_TEST_UPLOAD_URL))
      )
      expect(server.requests.map((r) => r.path)).toEqual(["/post"])
      expect(server.received[0]!.format).toBe("json")
      const report = server.received[0]!.report!
      expect(report.attachments).toHaveLength(1)
      const body = report.attachments[0]!.body.toString("utf8")
      expect(report.attachments[0]!.name).toBe(path.basename(Option.getOrThrow(result.snapshot)))
      expect(body).toContain("\ntoken variables: 0\n")
      expect(body).toMatch(/^effect-bcd snapshot \(eu-stack\)/)
      expect(body).toContain("error:       upload me")
      expect(body).toContain(END_LINE)

      const json = report.json as unknown as BacktraceSubmitBody
      expect(json.mainThread).toBe("js")
      expect(json.classifiers).toEqual(["TypeError"])
      expect(json.threads.js!.stack[0]).toMatchObject({ library: fileURLToPath(import.meta.url) })
      // One thread per TID heading of the attached snapshot, named by its role, with modules and build ids.
      const tids = threads(body).map((t) => String(t.tid))
      expect(Object.keys(json.threads).filter((k) => k !== "js").sort()).toEqual([...tids].sort())
      expect(json.threads[String(process.pid)]!.name).toBe("main thread, faulted")
      expect(Object.values(json.threads).filter((t) => t.name === "V8 platform worker").length).toBeGreaterThanOrEqual(
        1
      )
      // Frames name their module and its build id. Looked for in every thread: the main thread may be caught
      // running JIT code, where unwinding stops before libc; the parked threads always wait in libc.
      const inLibc = Object.values(json.threads).flatMap((t) => t.stack).find((f) =>
        /libc\.so\.6$/.test(f.library ?? "")
      )
      expect(inLibc?.funcName).toEqual(expect.any(String))
      expect(inLibc?.debug_identifier).toMatch(/^[0-9a-f]{40}$/)
      expect(json.attributes).toMatchObject({
        tracer: "eu-stack",
        "process.id": process.pid,
        "error.message": "upload me"
      })
      expect(fs.existsSync(Option.getOrThrow(result.snapshot))).toBe(false)
    }).pipe(Effect.scoped))

  it.live("format raw sends the text file as it is", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: "tok-123456" })
      const dir = yield* tempDir
      const result = yield* Tracer.trace(new Error("raw me"), { callerOnly: true }).pipe(
        provide({ outputDir: dir, put: { endpoint: server.endpoint, token: "tok-123456", format: "raw" } })
      )
      expect(server.received.map((r) => [r.path, r.format, r.contentType])).toEqual([
        ["/post", undefined, "text/plain; charset=utf-8"]
      ])
      expect(server.received[0]!.body.equals(fs.readFileSync(Option.getOrThrow(result.snapshot)))).toBe(true)
    }).pipe(Effect.scoped))
})
