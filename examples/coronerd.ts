/**
 * A small coronerd-compatible submission server, for tests, examples and the
 * demo. It listens on 127.0.0.1 (a random port by default) and accepts
 *
 * - `POST /post?token=<token>` (coronerd's on-prem form), and
 * - `POST /<universe>/<token>/<format>` (the `submit.backtrace.io` form),
 *
 * checks the token (401 when wrong), stores each accepted body in memory
 * (and, with `dir`, on disk as `<sha256>.btt`), and answers 200 with
 * coronerd's `{"response":"ok","_rxid":…}`. A JSON submission
 * (`/post?format=json&token=…` or `/<universe>/<token>/json`) is checked as
 * Backtrace would need it: the body is the report (`application/json`), or
 * `multipart/form-data` with the report in `upload_file` and files in
 * `attachment_<name>` parts; the report must hold the fields of
 * `@backtrace/sdk-core`'s `BacktraceSubmitBody` (uuid, timestamp, lang, agent,
 * threads of frames, a `mainThread` among them, …). Anything else gets a 400
 * naming what is wrong; an accepted one is parsed into `Received.report`. It can be told to misbehave for
 * the next requests: answer a status (500, 429 with `Retry-After`, …), answer
 * slowly, close the connection without answering, stall (read nothing, answer
 * nothing), or answer a status with a body that never ends.
 *
 * Run it on its own with `npx tsx examples/coronerd.ts [port] [token]`.
 *
 * @example
 * ```ts
 * const server = await Coronerd.start({ token: "secret" })
 * server.failNext(1, 500)                   // first request gets a 500
 * // ... upload to server.endpoint with token "secret" ...
 * server.received[0]?.sha256                // what arrived
 * await server.close()
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/**
 * Options for {@link start}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The accepted token. Default `"test-token"`. */
  readonly token?: string
  /** Also write each accepted body to `<dir>/<sha256>.btt`. */
  readonly dir?: string
  /** The port; default 0 (a random free port). */
  readonly port?: number
  /**
   * Keep each body in memory (`Received.body`). Default true; false keeps only its size and hash (a JSON
   * submission is still read whole, to be checked; its attachments' contents are then not kept).
   */
  readonly keepBodies?: boolean
}

/**
 * A file attached to a JSON submission (a part `attachment_<name>`).
 *
 * @since 0.1.0
 */
export interface ReceivedAttachment {
  readonly name: string
  readonly contentType: string | undefined
  readonly size: number
  readonly sha256: string
  /** The content; empty when started with `keepBodies: false`. */
  readonly body: Buffer
}

/**
 * A JSON submission as received: the report, parsed, and its attachments.
 *
 * @since 0.1.0
 */
export interface ReceivedReport {
  /** The report (checked to have the fields Backtrace needs). */
  readonly json: Record<string, unknown>
  /** `multipart/form-data`, or the JSON alone. */
  readonly multipart: boolean
  readonly attachments: ReadonlyArray<ReceivedAttachment>
}

/**
 * One accepted upload.
 *
 * @since 0.1.0
 */
export interface Received {
  /** The request path, without the query (`/post`, or `/<universe>/<token>/<format>`). */
  readonly path: string
  /** The submission format: the `format` parameter of `/post`, or the last segment of a submission path. */
  readonly format: string | undefined
  /** A `json` submission, parsed. */
  readonly report: ReceivedReport | undefined
  readonly contentType: string | undefined
  /** The body; empty when started with `keepBodies: false`. */
  readonly body: Buffer
  /** The body's length in bytes. */
  readonly size: number
  /** Hex SHA-256 of the body. */
  readonly sha256: string
}

/**
 * What to do with one request instead of accepting it.
 *
 * @since 0.1.0
 */
export type Behaviour =
  | { readonly _tag: "Status"; readonly status: number; readonly headers?: Readonly<Record<string, string>> }
  | { readonly _tag: "Slow"; readonly delayMs: number }
  | { readonly _tag: "Close" }
  | { readonly _tag: "Stall" }
  | { readonly _tag: "Endless"; readonly status: number }

/**
 * A running server.
 *
 * @since 0.1.0
 */
export interface Coronerd {
  /** `http://127.0.0.1:<port>`: an endpoint for `Backtrace.endpointUrl`. */
  readonly endpoint: string
  readonly port: number
  readonly token: string
  /** Accepted uploads, in order of arrival. */
  readonly received: ReadonlyArray<Received>
  /** Every request seen, accepted or not (with the method and path, never the query). */
  readonly requests: ReadonlyArray<
    { readonly method: string; readonly path: string; readonly answered: number | "closed" | "stalled" }
  >
  /** The most requests that were open at the same time. */
  readonly maxInFlight: number
  /** The next `n` requests get `status` (default 500), with optional headers. */
  readonly failNext: (n: number, status?: number, headers?: Readonly<Record<string, string>>) => void
  /** The next `n` requests are answered (200) only after `delayMs`. */
  readonly slowNext: (n: number, delayMs: number) => void
  /** The next `n` requests have their connection closed without an answer. */
  readonly closeNext: (n: number) => void
  /** The next `n` requests are never read nor answered (until the client gives up or the server closes). */
  readonly stallNext: (n: number) => void
  /** Queues behaviours for the next requests, one each. */
  readonly script: (...behaviours: ReadonlyArray<Behaviour>) => void
  /** Forgets what was received and any queued behaviour. */
  readonly reset: () => void
  /** Stops listening and drops open connections. */
  readonly close: () => Promise<void>
}

const formatOf = (url: URL): string | undefined => {
  if (url.pathname === "/post") return url.searchParams.get("format") ?? undefined
  return url.pathname.split("/").filter((p) => p !== "")[2]
}

/** The parts of a multipart body: headers (lower-case names) and content; undefined when malformed. */
const multipartParts = (body: Buffer, boundary: string) => {
  const delimiter = Buffer.from(`--${boundary}`)
  const parts: Array<{ headers: Record<string, string>; content: Buffer }> = []
  let at = body.indexOf(delimiter)
  if (at === -1) return undefined
  for (;;) {
    at += delimiter.length
    if (body.subarray(at, at + 2).toString() === "--") return parts
    const headerEnd = body.indexOf("\r\n\r\n", at)
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4)
    if (headerEnd === -1 || next === -1) return undefined
    const headers: Record<string, string> = {}
    for (const line of body.subarray(at + 2, headerEnd).toString("utf8").split("\r\n")) {
      const colon = line.indexOf(":")
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    parts.push({ headers, content: body.subarray(headerEnd + 4, next) })
    at = next + 2
  }
}

/** What is wrong with a report for Backtrace, or undefined. */
const reportProblem = (json: unknown): string | undefined => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return "the report is not a JSON object"
  const r = json as Record<string, unknown>
  for (const key of ["uuid", "lang", "langVersion", "agent", "agentVersion", "mainThread"]) {
    if (typeof r[key] !== "string" || r[key] === "") return `${key} must be a non-empty string`
  }
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(r.uuid as string)) {
    return "uuid must be a UUID"
  }
  if (typeof r.timestamp !== "number" || !Number.isInteger(r.timestamp)) return "timestamp must be seconds"
  if (typeof r.threads !== "object" || r.threads === null) return "threads must be an object"
  const threads = r.threads as Record<string, unknown>
  if (!((r.mainThread as string) in threads)) return "mainThread must name one of the threads"
  for (const [key, thread] of Object.entries(threads)) {
    const t = thread as Record<string, unknown>
    if (typeof t.name !== "string" || typeof t.fault !== "boolean" || !Array.isArray(t.stack)) {
      return `thread ${key} needs a name, fault and a stack`
    }
    for (const frame of t.stack as Array<Record<string, unknown>>) {
      if (typeof frame.library !== "string") return `a frame of thread ${key} has no library`
      if (typeof frame.funcName !== "string" && typeof frame.address !== "string") {
        return `a frame of thread ${key} has neither funcName nor address`
      }
    }
  }
  if (
    r.classifiers !== undefined && !(Array.isArray(r.classifiers) && r.classifiers.every((c) => typeof c === "string"))
  ) {
    return "classifiers must be strings"
  }
  const attributes = (r.attributes ?? {}) as Record<string, unknown>
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== null && !["string", "number", "boolean"].includes(typeof value)) {
      return `attribute ${key} must be a string, number or boolean`
    }
  }
  return undefined
}

const digest = (data: Buffer) => createHash("sha256").update(data).digest("hex")

/** A JSON submission's report and attachments, or what is wrong with it. */
const readReport = (
  contentType: string | undefined,
  body: Buffer,
  keepBodies: boolean
): ReceivedReport | string => {
  let text: string
  const attachments: Array<ReceivedAttachment> = []
  const boundary = /^multipart\/form-data;.*\bboundary="?([^";]+)"?/i.exec(contentType ?? "")?.[1]
  if (boundary !== undefined) {
    const parts = multipartParts(body, boundary)
    if (parts === undefined) return "malformed multipart body"
    let json: string | undefined
    for (const part of parts) {
      const name = /\bname="([^"]*)"/.exec(part.headers["content-disposition"] ?? "")?.[1] ?? ""
      if (name === "upload_file") json = part.content.toString("utf8")
      else if (name.startsWith("attachment_")) {
        attachments.push({
          name: name.slice("attachment_".length),
          contentType: part.headers["content-type"],
          size: part.content.length,
          sha256: digest(part.content),
          body: keepBodies ? Buffer.from(part.content) : Buffer.alloc(0)
        })
      } else return `unexpected part ${JSON.stringify(name)}`
    }
    if (json === undefined) return "no upload_file part"
    text = json
  } else if (/^application\/json\b/i.test(contentType ?? "")) {
    text = body.toString("utf8")
  } else {
    return `a json submission must be application/json or multipart/form-data, not ${contentType ?? "(none)"}`
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return "the report is not valid JSON"
  }
  const problem = reportProblem(json)
  return problem ?? { json: json as Record<string, unknown>, multipart: boundary !== undefined, attachments }
}

const tokenOf = (url: URL): string | null => {
  if (url.pathname === "/post") return url.searchParams.get("token")
  const parts = url.pathname.split("/").filter((p) => p !== "")
  return parts.length === 3 ? decodeURIComponent(parts[1]!) : null
}

/**
 * Starts a server on 127.0.0.1.
 *
 * @since 0.1.0
 */
export const start = (options: Options = {}): Promise<Coronerd> => {
  const token = options.token ?? "test-token"
  const keepBodies = options.keepBodies ?? true
  const received: Array<Received> = []
  const requests: Array<{ method: string; path: string; answered: number | "closed" | "stalled" }> = []
  let queue: Array<Behaviour> = []
  let inFlight = 0
  let maxInFlight = 0
  if (options.dir !== undefined) fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 })

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const entry: { method: string; path: string; answered: number | "closed" | "stalled" } = {
      method: req.method ?? "",
      path: url.pathname,
      answered: 0
    }
    requests.push(entry)
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    res.once("close", () => inFlight--)
    const behaviour = queue.shift()
    if (behaviour?._tag === "Close") {
      entry.answered = "closed"
      req.socket.destroy()
      return
    }
    if (behaviour?._tag === "Stall") {
      entry.answered = "stalled"
      req.pause()
      return
    }
    if (behaviour?._tag === "Endless") {
      // Answer at once, then send a body until the client hangs up.
      entry.answered = behaviour.status
      res.writeHead(behaviour.status, { "content-type": "text/plain" })
      const chunk = Buffer.alloc(64 * 1024, "x")
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", pump)
      }
      pump()
      return
    }
    const chunks: Array<Buffer> = []
    const hash = createHash("sha256")
    let size = 0
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk)
      size += chunk.length
      if (keepBodies || options.dir !== undefined || formatOf(url) === "json") chunks.push(chunk)
    })
    req.on("error", () => undefined)
    req.on("end", () => {
      const answer = (status: number, body: object, headers: Readonly<Record<string, string>> = {}) => {
        entry.answered = status
        res.writeHead(status, { "content-type": "application/json", ...headers })
        res.end(JSON.stringify(body))
      }
      if (req.method !== "POST") return answer(405, { error: "method not allowed" })
      const given = tokenOf(url)
      if (given === null && url.pathname !== "/post") return answer(404, { error: "not found" })
      if (given !== token) return answer(401, { error: "invalid token" })
      if (behaviour?._tag === "Status") return answer(behaviour.status, { error: "scripted" }, behaviour.headers)
      const body = Buffer.concat(chunks)
      const format = formatOf(url)
      const report = format === "json" ? readReport(req.headers["content-type"], body, keepBodies) : undefined
      if (typeof report === "string") return answer(400, { error: report })
      const accept = () => {
        const sha256 = hash.digest("hex")
        received.push({
          path: url.pathname,
          format,
          report,
          contentType: req.headers["content-type"],
          body: keepBodies ? body : Buffer.alloc(0),
          size,
          sha256
        })
        if (options.dir !== undefined) fs.writeFileSync(path.join(options.dir, `${sha256}.btt`), body, { mode: 0o600 })
        answer(200, { response: "ok", _rxid: sha256.slice(0, 16) })
      }
      if (behaviour?._tag === "Slow") setTimeout(accept, behaviour.delayMs)
      else accept()
    })
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        endpoint: `http://127.0.0.1:${port}`,
        port,
        token,
        received,
        requests,
        get maxInFlight() {
          return maxInFlight
        },
        failNext: (n, status = 500, headers) => {
          for (let i = 0; i < n; i++) queue.push({ _tag: "Status", status, ...(headers ? { headers } : {}) })
        },
        slowNext: (n, delayMs) => {
          for (let i = 0; i < n; i++) queue.push({ _tag: "Slow", delayMs })
        },
        closeNext: (n) => {
          for (let i = 0; i < n; i++) queue.push({ _tag: "Close" })
        },
        stallNext: (n) => {
          for (let i = 0; i < n; i++) queue.push({ _tag: "Stall" })
        },
        script: (...behaviours) => {
          queue.push(...behaviours)
        },
        reset: () => {
          received.length = 0
          requests.length = 0
          queue = []
          maxInFlight = inFlight
        },
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections()
            server.close(() => done())
          })
      })
    })
  })
}

/**
 * {@link start} as a scoped Effect: the server closes with the scope.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}): Effect.Effect<Coronerd, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => start(options)),
    (server) => Effect.promise(() => server.close())
  )

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [port, token] = process.argv.slice(2)
  start({ keepBodies: false, ...(port ? { port: Number(port) } : {}), ...(token ? { token } : {}) }).then((server) => {
    console.log(`coronerd-compatible server on ${server.endpoint} (POST /post?token=…, /post?format=json&token=…)`)
  })
}
