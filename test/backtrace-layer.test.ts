/**
 * The Backtrace layer without a trace, so without a tracer process: the
 * options it checks when it is built, and put and putDir against a real
 * coronerd-compatible server on 127.0.0.1. Traces through the fake ptrace are
 * in backtrace.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Coronerd from "../examples/coronerd.js"
import { Backtrace, BacktraceLive, TracerConfig } from "../src/index.js"
import * as Spare from "../src/internal/upload/spare.js"
import { FAKE_PTRACE, fastRetry, live, sha256, TOKEN } from "./support/backtrace.js"
import { afterBody, selfSigned, serve } from "./support/http.js"
import { tempDir } from "./support/temp.js"

const buildError = (options: Backtrace.Options) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Layer.build(live(options)).pipe(Effect.scoped))
    if (Exit.isSuccess(exit)) throw new Error("the layer was built")
    const error = yield* Effect.flip(exit)
    expect(error._tag).toBe("TracerConfigError")
    return error
  })

describe("Backtrace.layer", () => {
  it.live("the submit.backtrace.io path form is used unchanged", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const outputDir = yield* tempDir
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
      const dir = yield* tempDir
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

  it.live("putDir on a missing directory fails with a SystemError (NotFound) naming it", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = path.join(yield* tempDir, "missing")
      const error = yield* Effect.flip(
        Backtrace.putDir(dir).pipe(Effect.provide(live({
          tracerPath: FAKE_PTRACE,
          outputDir: yield* tempDir,
          put: { endpoint: server.endpoint, token: TOKEN }
        })))
      )
      expect(error).toMatchObject({ _tag: "SystemError", reason: "NotFound", pathOrDescriptor: dir })
      expect(error.message).toContain("cannot list the directory: ENOENT")
    }).pipe(Effect.scoped))

  it.live("putDir uploads everything once, never more than `concurrency` at a time", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
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

  it.live("putDir reuses its connections: no more than `concurrency` for many files", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => afterBody(req, () => res.end("{\"response\":\"ok\"}")))
      const dir = yield* tempDir
      for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `s${i}.btt`), `snapshot ${i}`.repeat(1000))
      const summary = yield* Backtrace.putDir(dir).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir: dir,
        put: { endpoint: server.origin, token: TOKEN, concurrency: 2 }
      })))
      expect(summary.uploaded).toHaveLength(20)
      expect(server.requests).toHaveLength(20)
      expect(new Set(server.requests.map((r) => r.socket)).size).toBeLessThanOrEqual(2)
    }).pipe(Effect.scoped))

  it.live("reused read buffers never mix snapshots: 40 of sizes around 1 MiB arrive byte for byte, once each", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      const MiB = 1024 * 1024
      const sizes = [0, 1, 4096, 100 * 1024, MiB - 1, MiB, MiB + 1, 2 * MiB + 3, 300 * 1024]
      const files = Array.from({ length: 40 }, (_, i) => {
        const file = path.join(dir, `s${String(i).padStart(2, "0")}.btt`)
        fs.writeFileSync(file, Buffer.alloc(sizes[i % sizes.length]!, i + 1))
        return file
      })
      const summary = yield* Backtrace.putDir(dir).pipe(Effect.provide(live({
        tracerPath: FAKE_PTRACE,
        outputDir: dir,
        put: { endpoint: server.endpoint, token: TOKEN, concurrency: 8 }
      })))
      expect(summary.uploaded).toEqual(files)
      expect(server.received.map((r) => r.sha256).sort()).toEqual(files.map(sha256).sort())
      // Every upload gave its buffer back (an empty file's too), so the spares go when idle.
      expect(Spare.inUse()).toBe(0)
    }).pipe(Effect.scoped))

  it.live("accepted snapshots are one line each in the folder's 0600 journal; nothing else is written beside them", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      fs.mkdirSync(path.join(dir, "sub"))
      const files = ["a.btt", "b.btt", "sub/c.btt"].map((f) => path.join(dir, f))
      files.forEach((f, i) => fs.writeFileSync(f, `snapshot ${i}`))
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir: dir, put: { endpoint: server.endpoint, token: TOKEN } })
      const first = yield* Backtrace.putDir(dir).pipe(Effect.provide(layer))
      expect(first.uploaded).toEqual(files)
      expect(fs.readdirSync(dir).sort()).toEqual([".effect-bcd-sent", "a.btt", "b.btt", "sub"])
      expect(fs.readdirSync(path.join(dir, "sub")).sort()).toEqual([".effect-bcd-sent", "c.btt"])
      const journal = path.join(dir, ".effect-bcd-sent")
      expect(fs.statSync(journal).mode & 0o777).toBe(0o600)
      expect(fs.readFileSync(journal, "utf8").trim().split("\n").map((line) => JSON.parse(line)[0])).toEqual([
        "a.btt",
        "b.btt"
      ])
      // A journal cut short by a crash (half a line) loses nothing but that line.
      fs.appendFileSync(journal, "[\"b.b")
      expect((yield* Backtrace.putDir(dir).pipe(Effect.provide(layer))).uploaded).toEqual([])
      expect(server.received).toHaveLength(3)
    }).pipe(Effect.scoped))

  it.live("a symbolic link planted as the journal is never followed: the upload succeeds, a warning says why", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      const elsewhere = path.join(yield* tempDir, "victim")
      fs.writeFileSync(elsewhere, "untouched")
      fs.symlinkSync(elsewhere, path.join(dir, ".effect-bcd-sent"))
      const file = path.join(dir, "a.btt")
      fs.writeFileSync(file, "snapshot")
      const lines: Array<string> = []
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir: dir, put: { endpoint: server.endpoint, token: TOKEN } })
      const summary = yield* Backtrace.putDir(dir).pipe(
        Effect.provide(layer),
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => lines.push(String(message))))),
        Effect.provide(TracerConfig.layer({ logLevel: LogLevel.Warning }))
      )
      expect(summary.uploaded).toEqual([file])
      expect(fs.readFileSync(elsewhere, "utf8")).toBe("untouched")
      expect(lines).toEqual([
        expect.stringMatching(/^Uploaded .*a\.btt, but could not record it in \.effect-bcd-sent \(ELOOP\)/)
      ])
    }).pipe(Effect.scoped))

  it.live("a journal mostly about snapshots that are gone is rewritten; with unlink, an emptied folder keeps no journal", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      const journal = path.join(dir, ".effect-bcd-sent")
      const file = path.join(dir, "kept.btt")
      fs.writeFileSync(file, "snapshot")
      const stale = Array.from({ length: 100 }, (_, i) => JSON.stringify([`gone${i}.btt`, `1:2:${i}`]) + "\n").join("")
      fs.writeFileSync(journal, stale, { mode: 0o600 })
      const options = { tracerPath: FAKE_PTRACE, outputDir: dir, put: { endpoint: server.endpoint, token: TOKEN } }
      expect((yield* Backtrace.putDir(dir).pipe(Effect.provide(live(options)))).uploaded).toEqual([file])
      // Compacted when read (the 100 stale lines go), then the upload's line appended.
      expect(fs.readFileSync(journal, "utf8").trim().split("\n").map((line) => JSON.parse(line)[0])).toEqual([
        "kept.btt"
      ])
      expect(fs.statSync(journal).mode & 0o777).toBe(0o600)
      // With unlink, an accepted snapshot is removed unsent, and the journal, now about nothing, goes too.
      const unlinked = yield* Backtrace.putDir(dir).pipe(
        Effect.provide(live({ ...options, put: { ...options.put, unlink: true } }))
      )
      expect(unlinked.uploaded).toEqual([])
      expect(fs.readdirSync(dir)).toEqual([])
      expect(server.received).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("without put options, put and putDir fail with TracerConfigError", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const layer = live({ tracerPath: FAKE_PTRACE, outputDir: dir })
      const a = yield* Effect.flip(Backtrace.put(path.join(dir, "x.btt")).pipe(Effect.provide(layer)))
      const b = yield* Effect.flip(Backtrace.putDir(dir).pipe(Effect.provide(layer)))
      for (const error of [a, b]) {
        expect(error._tag).toBe("TracerConfigError")
        if (error._tag === "TracerConfigError") expect(error.field).toBe("put")
      }
    }).pipe(Effect.scoped))

  it.live("permissions sets the mode of a created outputDir; an existing one is left alone", () =>
    Effect.gen(function*() {
      const created = path.join(yield* tempDir, "snaps")
      const existing = yield* tempDir
      fs.chmodSync(existing, 0o755)
      yield* Layer.build(
        live({ tracerPath: FAKE_PTRACE, outputDir: created, permissions: 0o750, allowSharedPermissions: true })
      ).pipe(Effect.scoped)
      yield* Layer.build(live({ tracerPath: FAKE_PTRACE, outputDir: existing })).pipe(Effect.scoped)
      expect(fs.statSync(created).mode & 0o7777).toBe(0o750)
      expect(fs.statSync(existing).mode & 0o7777).toBe(0o755)
      expect(fs.readdirSync(existing)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("an outputDir that cannot be written fails when the layer is built", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir, "a-file")
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
        const readOnly = yield* tempDir
        fs.chmodSync(readOnly, 0o500)
        expect((yield* buildError({ tracerPath: FAKE_PTRACE, outputDir: readOnly })).field).toBe("outputDir")
      }
    }).pipe(Effect.scoped))

  it.live("every bad option is a TracerConfigError naming it", () =>
    Effect.gen(function*() {
      const outputDir = yield* tempDir
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
    }).pipe(Effect.scoped))

  it.live("a FIFO as stdin or stderr is refused when the layer is built (opening it would block)", () =>
    Effect.gen(function*() {
      const outputDir = yield* tempDir
      const fifo = path.join(outputDir, "pipe")
      execFileSync("mkfifo", ["-m", "600", fifo])
      for (const field of ["stdin", "stderr"] as const) {
        const error = yield* buildError({ tracerPath: FAKE_PTRACE, outputDir, [field]: fifo })
        expect(error.field).toBe(field)
        expect(error.reason).toContain("is a FIFO")
      }
    }).pipe(Effect.scoped))

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
  const withEnv = (env: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
  const configured = Backtrace.layerConfig()

  it.live("a malformed variable, or an endpoint without a token, is a TracerConfigError", () =>
    Effect.gen(function*() {
      const base = { BCD_TRACER_PATH: FAKE_PTRACE, BCD_OUTPUT_DIR: yield* tempDir }
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
    }).pipe(Effect.scoped))
})

describe("put.ca", () => {
  const withEnv = (env: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.live("BCD_PUT_CA (a PEM file) lets uploads trust a private CA; without it the upload fails at once", () =>
    Effect.gen(function*() {
      const tls = yield* selfSigned
      const server = yield* serve((req, res) => afterBody(req, () => res.end("{\"response\":\"ok\"}")), tls)
      const dir = yield* tempDir
      const ca = path.join(dir, "ca.pem")
      fs.writeFileSync(ca, tls.cert)
      const file = path.join(dir, "x.btt")
      fs.writeFileSync(file, "snapshot")
      const env = { BCD_TRACER_PATH: FAKE_PTRACE, BCD_OUTPUT_DIR: dir, BCD_ENDPOINT: server.origin, BCD_TOKEN: TOKEN }
      const refused = yield* Effect.flip(
        Backtrace.put(file).pipe(Effect.provide(Backtrace.layerConfig()), withEnv(env))
      )
      expect(refused._tag).toBe("SnapshotUploadError")
      expect(refused.message).toContain("TLS certificate does not verify")
      expect(server.requests).toHaveLength(0)
      yield* Backtrace.put(file).pipe(Effect.provide(Backtrace.layerConfig()), withEnv({ ...env, BCD_PUT_CA: ca }))
      expect(server.requests).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("a ca that is missing, not a file, or holds no certificate fails the layer, naming put.ca", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const garbage = path.join(dir, "garbage.pem")
      fs.writeFileSync(garbage, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
      for (const ca of [path.join(dir, "missing.pem"), dir, "not a certificate", garbage]) {
        const error = yield* buildError({
          tracerPath: FAKE_PTRACE,
          outputDir: dir,
          put: { endpoint: "https://127.0.0.1:1", token: TOKEN, ca }
        })
        expect(error.field).toBe("put.ca")
      }
    }).pipe(Effect.scoped))
})
