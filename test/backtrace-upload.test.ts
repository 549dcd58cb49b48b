/**
 * The streaming uploader against a real coronerd-compatible HTTP server on
 * 127.0.0.1 (examples/coronerd.ts).
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Tracer from "effect/Tracer"
import { execFileSync } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import type * as http from "node:http"
import * as path from "node:path"
import * as util from "node:util"
import * as Coronerd from "../examples/coronerd.js"
import { uploadFile, type UploadOptions } from "../src/internal/upload/file.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { afterBody, selfSigned, serve } from "./support/http.js"
import { tempDir } from "./support/temp.js"

const TOKEN = "tok/EN+s3cr3t&x=y"
const Platform = Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
const fastRetry = (retries: number) => Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(retries)))

const writeSnapshot = (dir: string, name: string, bytes: number) => {
  const file = path.join(dir, name)
  const body = randomBytes(bytes)
  fs.writeFileSync(file, body, { mode: 0o600 })
  return { file, sha256: createHash("sha256").update(body).digest("hex") }
}
const urlFor = (server: Coronerd.Coronerd, token = TOKEN) => {
  const url = new URL(`${server.endpoint}/post`)
  url.searchParams.set("token", token)
  return url
}
const options = (server: Coronerd.Coronerd, over: Partial<UploadOptions> = {}): UploadOptions => ({
  url: urlFor(server),
  timeout: Duration.seconds(10),
  retry: fastRetry(3),
  unlink: false,
  ...over
})

describe("uploadFile", () => {
  it.live("streams the bytes intact as application/octet-stream and keeps the file without unlink", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file, sha256 } = writeSnapshot(yield* tempDir, "big.btt", 8 * 1024 * 1024 + 13)
      yield* uploadFile(file, options(server))
      expect(server.received).toHaveLength(1)
      expect(server.received[0]!.sha256).toBe(sha256)
      expect(server.received[0]!.body.length).toBe(8 * 1024 * 1024 + 13)
      expect(server.received[0]!.contentType).toBe("application/octet-stream")
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("retries a 500, then removes the file after the 200", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file, sha256 } = writeSnapshot(yield* tempDir, "a.btt", 100_000)
      server.failNext(1, 500)
      yield* uploadFile(file, options(server, { unlink: true }))
      expect(server.requests.map((r) => r.answered)).toEqual([500, 200])
      expect(server.received.map((r) => r.sha256)).toEqual([sha256])
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a server that keeps answering 500 leaves the file on disk", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      server.failNext(100, 500)
      const error = yield* Effect.flip(uploadFile(file, options(server, { unlink: true, retry: fastRetry(2) })))
      expect(error._tag).toBe("SnapshotUploadError")
      expect(error.path).toBe(file)
      expect(error.status).toBe(500)
      expect(error.message).toContain("3 attempts")
      expect(server.requests).toHaveLength(3)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("retries 503, 408, a closed connection and a 429, then succeeds", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file, sha256 } = writeSnapshot(yield* tempDir, "a.btt", 300_000)
      server.failNext(1, 503)
      server.failNext(1, 408)
      server.closeNext(1)
      server.failNext(1, 429)
      yield* uploadFile(file, options(server, { unlink: true, retry: fastRetry(5) }))
      expect(server.requests.map((r) => r.answered)).toEqual([503, 408, "closed", 429, 200])
      expect(server.received.map((r) => r.sha256)).toEqual([sha256])
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("waits out a 429's Retry-After even when the schedule is faster", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      server.failNext(1, 429, { "retry-after": "1" })
      const started = Date.now()
      yield* uploadFile(file, options(server))
      const elapsed = Date.now() - started
      expect(server.requests.map((r) => r.answered)).toEqual([429, 200])
      expect(elapsed).toBeGreaterThanOrEqual(950)
      expect(elapsed).toBeLessThan(10_000)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("does not retry a permanent refusal (wrong token: 401)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      const error = yield* Effect.flip(
        uploadFile(file, options(server, { url: urlFor(server, "wrong"), unlink: true }))
      )
      expect(error.status).toBe(401)
      expect(server.requests).toHaveLength(1)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("an attempt that gets no answer in time is retried; a server that never answers in time fails", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      // A deadline far above a loopback upload's time, so that a busy CI machine does not miss it.
      server.slowNext(1, 3_000)
      yield* uploadFile(file, options(server, { timeout: Duration.millis(1_000) }))
      expect(server.requests).toHaveLength(2)
      expect(server.received.length).toBeGreaterThanOrEqual(1)

      server.reset()
      server.slowNext(10, 2_000)
      const started = Date.now()
      const error = yield* Effect.flip(
        uploadFile(file, options(server, { timeout: Duration.millis(200), retry: fastRetry(1) }))
      )
      expect(error.reason).toContain("no answer within")
      expect(error.status).toBeUndefined()
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a refused connection is retried, then reported", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => Coronerd.start({ token: TOKEN }))
      yield* Effect.promise(() => server.close())
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      const error = yield* Effect.flip(uploadFile(file, options(server, { retry: fastRetry(2), unlink: true })))
      expect(error.reason).toMatch(/request failed \(Transport\)/)
      expect(error.message).toContain("3 attempts")
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a server that stalls (reads nothing, answers nothing) times the attempt out", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      // Larger than the socket buffers, so the body cannot all be written while the server reads nothing.
      const { file, sha256 } = writeSnapshot(yield* tempDir, "a.btt", 8 * 1024 * 1024)
      server.stallNext(2)
      const error = yield* Effect.flip(
        uploadFile(file, options(server, { timeout: Duration.millis(300), retry: fastRetry(1), unlink: true }))
      )
      expect(error.reason).toContain("no answer within")
      expect(server.requests.map((r) => r.answered)).toEqual(["stalled", "stalled"])
      expect(fs.existsSync(file)).toBe(true)
      yield* uploadFile(file, options(server))
      expect(server.received.map((r) => r.sha256)).toEqual([sha256])
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("reads only the start of an error answer whose body never ends", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      server.script({ _tag: "Endless", status: 500 }, { _tag: "Endless", status: 500 })
      const error = yield* Effect.flip(
        uploadFile(file, options(server, { timeout: Duration.seconds(3), retry: fastRetry(1), unlink: true }))
      )
      // Reading the body whole buffers it until V8's string limit (hundreds of MiB) and loses the snippet.
      expect(error.status).toBe(500)
      expect(error.reason).toMatch(/server answered 500: x+…/)
      expect(server.requests).toHaveLength(2)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a FIFO or a directory is refused at once, without a request (opening a FIFO would block)", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      const fifo = path.join(dir, "pipe.btt")
      execFileSync("mkfifo", ["-m", "600", fifo])
      const error = yield* Effect.flip(
        uploadFile(fifo, options(server, { timeout: Duration.seconds(30), unlink: true }))
      )
      expect(error.path).toBe(fifo)
      expect(error.reason).toBe("not a regular file (FIFO)")
      const directory = yield* Effect.flip(uploadFile(dir, options(server)))
      expect(directory.reason).toBe("not a regular file (Directory)")
      expect(server.requests).toHaveLength(0)
      expect(fs.statSync(fifo).isFIFO()).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a missing file fails without a request", () =>
    Effect.gen(function*() {
      const server = yield* Coronerd.make({ token: TOKEN })
      const file = path.join(yield* tempDir, "missing.btt")
      const error = yield* Effect.flip(uploadFile(file, options(server)))
      expect(error.path).toBe(file)
      expect(error.reason).toContain("cannot read the file")
      expect(server.requests).toHaveLength(0)
    }).pipe(Effect.scoped, Effect.provide(Platform)))
})

describe("uploadFile: the status line decides", () => {
  const tokenUrl = (origin: string) => new URL(`${origin}/post?token=${encodeURIComponent(TOKEN)}`)

  it.live("a 200 whose body never ends is a success, sent once", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) =>
        afterBody(req, () => {
          res.writeHead(200, { "content-type": "application/json" })
          res.write("{\"response\":\"ok\"")
        })
      )
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 100_000)
      const started = Date.now()
      yield* uploadFile(file, {
        url: tokenUrl(server.origin),
        timeout: Duration.seconds(3),
        retry: fastRetry(4),
        unlink: true
      })
      expect(server.requests).toHaveLength(1)
      expect(fs.existsSync(file)).toBe(false)
      expect(Date.now() - started).toBeLessThan(2_500)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a 200 sent before the body was read is a success, sent once", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        req.pause()
        res.writeHead(200, { "content-type": "application/json" })
        res.write("{\"response\":\"ok\"")
      })
      // Larger than the socket buffers: the body cannot all be written while the server reads nothing.
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 16 * 1024 * 1024)
      yield* uploadFile(file, {
        url: tokenUrl(server.origin),
        timeout: Duration.seconds(3),
        retry: fastRetry(4),
        unlink: false
      })
      expect(server.requests).toHaveLength(1)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("an error status sent before the body was read is reported at once, its body bounded in time", () =>
    Effect.gen(function*() {
      const server = yield* serve((req, res) => {
        req.pause()
        res.writeHead(403, { "content-type": "text/plain" })
        res.write("forbidden for token " + TOKEN)
      })
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 16 * 1024 * 1024)
      const started = Date.now()
      const error = yield* Effect.flip(uploadFile(file, {
        url: tokenUrl(server.origin),
        timeout: Duration.seconds(20),
        retry: fastRetry(4),
        unlink: true
      }))
      expect(error.status).toBe(403)
      expect(error.reason).toContain("server answered 403: forbidden for token <redacted>")
      expect(error.reason).not.toContain("s3cr3t")
      expect(server.requests).toHaveLength(1)
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))
})

describe("uploadFile: a file that changes while it is sent", () => {
  it.live("a file that shrinks mid-upload fails at once as unreadable, not retried, and stays on disk", () =>
    Effect.gen(function*() {
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 32 * 1024 * 1024)
      const server = yield* serve((req, res) => {
        // Read nothing until the file has shrunk, then read on and answer as the body ends.
        req.pause()
        setTimeout(() => {
          fs.truncateSync(file, 1024)
          req.resume()
        }, 300)
        afterBody(req, () => res.end("{\"response\":\"ok\"}"))
      })
      const error = yield* Effect.flip(uploadFile(file, {
        url: new URL(`${server.origin}/post?token=${encodeURIComponent(TOKEN)}`),
        timeout: Duration.seconds(20),
        retry: fastRetry(4),
        unlink: true
      }))
      expect(error.reason).toContain("cannot read the file")
      expect(error.reason).toContain("shrank")
      expect(error.message).toContain("1 attempt")
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))
})

describe("uploadFile over HTTPS", () => {
  const accept = (req: http.IncomingMessage, res: http.ServerResponse) =>
    afterBody(req, () => {
      res.writeHead(200, { "content-type": "application/json" })
      res.end("{\"response\":\"ok\"}")
    })

  it.live("a certificate that does not verify fails at once, not retried, with a clear reason", () =>
    Effect.gen(function*() {
      const server = yield* serve(accept, yield* selfSigned)
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 1000)
      const error = yield* Effect.flip(uploadFile(file, {
        url: new URL(`${server.origin}/post?token=${encodeURIComponent(TOKEN)}`),
        timeout: Duration.seconds(10),
        retry: fastRetry(4),
        unlink: true
      }))
      expect(error.reason).toContain("the server's TLS certificate does not verify")
      expect(error.reason).toContain("DEPTH_ZERO_SELF_SIGNED_CERT")
      expect(error.reason).toContain("(1 attempt to https://127.0.0.1:")
      expect(server.requests).toHaveLength(0)
      expect(fs.existsSync(file)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Platform)))

  it.live("a private CA given as `ca` is trusted", () =>
    Effect.gen(function*() {
      const tls = yield* selfSigned
      const server = yield* serve(accept, tls)
      const { file } = writeSnapshot(yield* tempDir, "a.btt", 3 * 1024 * 1024)
      yield* uploadFile(file, {
        url: new URL(`${server.origin}/post?token=${encodeURIComponent(TOKEN)}`),
        timeout: Duration.seconds(10),
        retry: fastRetry(1),
        unlink: true,
        ca: [tls.cert]
      })
      expect(server.requests).toHaveLength(1)
      expect(fs.existsSync(file)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(Platform)))
})

describe("the token", () => {
  const forms = (
    token: string
  ) => [token, encodeURIComponent(token), new URLSearchParams({ token }).toString().slice(6)]

  it.live("appears in no log line (Debug), span, error message, String, inspect or JSON", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const spans: Array<Tracer.Span> = []
      const capture = Logger.make((options) => {
        lines.push(Logger.logfmtLogger.log(options))
        lines.push(JSON.stringify(Logger.structuredLogger.log(options)))
      })
      const server = yield* Coronerd.make({ token: TOKEN })
      const dir = yield* tempDir
      const ok = writeSnapshot(dir, "ok.btt", 5000)
      const bad = writeSnapshot(dir, "bad.btt", 5000)
      const run = Effect.gen(function*() {
        server.failNext(1, 500)
        yield* uploadFile(ok.file, options(server, { unlink: true }))
        server.failNext(1, 503)
        server.closeNext(1)
        server.failNext(10, 500)
        const failed = yield* Effect.flip(uploadFile(bad.file, options(server, { unlink: true })))
        const refused = yield* Effect.flip(
          uploadFile(bad.file, options(server, { url: urlFor(server, `${TOKEN}-wrong`), unlink: true }))
        )
        return [failed, refused] as const
      }).pipe(Effect.withSpan("upload-test"))
      const errors = yield* Effect.tracerWith((base) =>
        Effect.withTracer(
          run,
          Tracer.make({
            context: base.context,
            span: (...args) => {
              const span = base.span(...args)
              spans.push(span)
              return span
            }
          })
        )
      ).pipe(
        Logger.withMinimumLogLevel(LogLevel.Debug),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Effect.provide(TracerConfig.layer({ logLevel: LogLevel.Debug }))
      )
      expect(server.received.map((r) => r.sha256)).toEqual([ok.sha256])
      expect(lines.some((l) => l.includes("Uploaded"))).toBe(true)
      expect(lines.some((l) => l.includes("failed"))).toBe(true)
      expect(spans.length).toBeGreaterThan(0)
      const texts = [
        ...lines,
        ...errors.flatMap((
          e
        ) => [e.message, String(e), util.inspect(e, { depth: 10 }), JSON.stringify(e), e.stack ?? ""]),
        ...spans.map((s) => JSON.stringify({ name: s.name, attributes: [...s.attributes.entries()] }))
      ]
      for (const text of texts) {
        for (const form of forms(TOKEN)) expect(text).not.toContain(form)
        expect(text).not.toContain("s3cr3t")
      }
    }).pipe(Effect.scoped, Effect.provide(Platform)))
})
