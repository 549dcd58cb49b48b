/**
 * One POST of a file over `node:http` or `node:https`, decided by the status
 * line: the answer is returned as soon as its status arrives, whether or not
 * the server read the whole body, and its body is read only for an error's
 * reason, bounded in size and time.
 *
 * The file is streamed from disk in 1 MiB reads over a keep-alive agent
 * shared by the process (idle connections are unreferenced, so they never
 * keep the process alive), so that `putDir` reuses its connections.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as tls from "node:tls"
import { urlToHttpOptions } from "node:url"
import * as Spare from "./spare.js"

/** A status line, and, for an error status, the start of its body. */
export interface Answer {
  readonly status: number
  readonly retryAfter: string | undefined
  readonly body: string
}

/** Why no status line came: the file, the TLS certificate, the connection, or the server's bytes. */
export interface Failure {
  readonly kind: "file" | "certificate" | "tls" | "connection" | "protocol" | "timeout"
  readonly code: string | undefined
  readonly message: string
}

/** How much of an error answer is read: enough for an error's reason, never a whole large body. */
export const SNIPPET_BYTES = 64 * 1024
/** How long an error answer's body is waited for. */
const SNIPPET_MILLIS = 2_000
/** How long the body of a 2xx is drained before its connection is dropped instead of reused. */
const DRAIN_MILLIS = 1_000
/** The longest delay a Node timer takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER = 2 ** 31 - 1
/** The size of one read from the file. */
const CHUNK = 1024 * 1024

/** Certificate checks that failed: retrying cannot help. */
const CERTIFICATE_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** A request error, classified. */
const classify = (error: NodeJS.ErrnoException): Failure => {
  const code = typeof error.code === "string" ? error.code : undefined
  const message = error.message
  if (code !== undefined && CERTIFICATE_CODES.has(code)) return { kind: "certificate", code, message }
  if (code !== undefined && (code.startsWith("ERR_SSL_") || code === "EPROTO")) return { kind: "tls", code, message }
  if (code !== undefined && code.startsWith("HPE_")) return { kind: "protocol", code, message }
  return { kind: "connection", code, message }
}

const agents = {
  http: new http.Agent({ keepAlive: true, timeout: 30_000 }),
  https: new https.Agent({ keepAlive: true, timeout: 30_000 })
}

const trusted = new WeakMap<ReadonlyArray<string>, { readonly ca: Array<string> }>()

/** `ca` added to Node's own root certificates (the `ca` option alone would replace them); built once per list. */
const trust = (ca: ReadonlyArray<string> | undefined) => {
  if (ca === undefined || ca.length === 0) return {}
  let options = trusted.get(ca)
  if (options === undefined) trusted.set(ca, options = { ca: [...tls.rootCertificates, ...ca] })
  return options
}

const targets = new WeakMap<URL, ReturnType<typeof urlToHttpOptions>>()

/** `url` as request options, worked out once per URL (a `putDir` sends every file to one). */
const target = (url: URL) => {
  let options = targets.get(url)
  if (options === undefined) targets.set(url, options = urlToHttpOptions(url))
  return options
}

/** Reads at most {@link SNIPPET_BYTES} of `res` for at most {@link SNIPPET_MILLIS}, then drops the rest. */
const readSnippet = (res: http.IncomingMessage, done: (text: string) => void) => {
  const chunks: Array<Buffer> = []
  let bytes = 0
  const stop = () => {
    clearTimeout(timer)
    res.removeListener("data", onData)
    res.removeListener("end", stop)
    res.removeListener("close", stop)
    if (!res.complete) res.destroy()
    done(Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString("utf8"))
  }
  const onData = (chunk: Buffer) => {
    chunks.push(chunk)
    bytes += chunk.length
    if (bytes >= SNIPPET_BYTES) stop()
  }
  const timer = setTimeout(stop, SNIPPET_MILLIS)
  res.on("data", onData)
  res.once("end", stop)
  res.once("close", stop)
}

/** Discards a 2xx's body so its connection can be reused; one that is large or slow drops the connection. */
const drain = (res: http.IncomingMessage) => {
  let bytes = 0
  const timer = setTimeout(() => res.destroy(), DRAIN_MILLIS)
  timer.unref()
  res.on("data", (chunk: Buffer) => {
    bytes += chunk.length
    if (bytes > SNIPPET_BYTES) res.destroy()
  })
  res.once("close", () => clearTimeout(timer))
}

/**
 * Writes the `size` bytes of the file `fd` to `req`, then ends it (or calls `done`): two
 * buffers of {@link CHUNK} reused in turn (one read while the other is
 * written), each read again only once the socket has taken its bytes, so
 * that memory stays flat whatever the size. Closes `fd` once stopped (and no
 * read is in flight). Returns a function that stops it.
 */
const pump = (
  fd: number,
  size: number,
  req: http.ClientRequest,
  fail: (error: NodeJS.ErrnoException) => void,
  done: () => void = () => req.end()
) => {
  // A file read at once takes a spare buffer (see `spare.ts`); the second buffer only when it needs more reads.
  const once = size <= CHUNK
  const first = once ? Spare.take(CHUNK) : Buffer.allocUnsafe(CHUNK)
  const buffers = [first, once ? first : Buffer.allocUnsafe(CHUNK)]
  const free = [true, true]
  let position = 0
  let turn = 0
  let reading = false
  let stopped = false
  let closed = false
  let released = !once
  /** The spare goes back once: reusable only after the socket took its last bytes. */
  const release = (reusable: boolean) => {
    if (released) return
    released = true
    Spare.release(first, reusable)
  }
  const closeFd = () => {
    if (closed || reading) return
    closed = true
    try {
      fs.closeSync(fd)
    } catch {
      // Closed all the same.
    }
  }
  const next = (): void => {
    if (stopped || reading) return
    if (position >= size) {
      stopped = true
      // Nothing left in flight (an empty file): the buffer goes back now.
      if (free[0]) release(true)
      closeFd()
      done()
      return
    }
    const i = turn
    if (!free[i]) return
    free[i] = false
    reading = true
    const buffer = buffers[i]!
    fs.read(fd, buffer, 0, Math.min(buffer.length, size - position), position, (error, read) => {
      reading = false
      if (stopped) return closeFd()
      if (error !== null || read === 0) {
        stopped = true
        release(false)
        closeFd()
        return fail(error ?? Object.assign(new Error("the file shrank while it was sent"), { code: "ESHRANK" }))
      }
      position += read
      turn = 1 - turn
      req.write(buffer.subarray(0, read), () => {
        free[i] = true
        // The socket has taken the last bytes: the buffer can serve the next upload.
        if (position >= size) release(true)
        next()
      })
      next()
    })
  }
  next()
  return () => {
    stopped = true
    // Reused only when the socket has taken every byte; else bytes may still wait in it.
    release(position >= size && free[0]!)
    closeFd()
  }
}

/** A piece of a request body: bytes in memory, or the first `size` bytes of a file, streamed. */
export type Part = { readonly bytes: Uint8Array } | { readonly path: string; readonly size: number }

/** The total length of `parts`. */
export const partsSize = (parts: ReadonlyArray<Part>): number =>
  parts.reduce((total, part) => total + ("bytes" in part ? part.bytes.length : part.size), 0)

/**
 * Writes `parts` to `req` in order, each file with {@link pump}, then ends
 * it. Returns a function that stops it.
 */
const writeParts = (
  parts: ReadonlyArray<Part>,
  req: http.ClientRequest,
  fail: (error: NodeJS.ErrnoException) => void
) => {
  let stop = () => {}
  let stopped = false
  const step = (i: number): void => {
    if (stopped || req.destroyed) return
    const part = parts[i]
    if (part === undefined) return void req.end()
    if ("bytes" in part) return void req.write(part.bytes, () => step(i + 1))
    // Opened synchronously (microseconds; a trip through libuv's pool costs the event loop ~40 µs).
    let fd: number
    try {
      fd = fs.openSync(part.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
    } catch (error) {
      return fail(error as NodeJS.ErrnoException)
    }
    stop = pump(fd, part.size, req, fail, () => step(i + 1))
  }
  step(0)
  return () => {
    stopped = true
    stop()
  }
}

/** What one POST came to: a status line, or why none came. */
export type Outcome = { readonly _tag: "Answer"; readonly answer: Answer } | {
  readonly _tag: "Failure"
  readonly failure: Failure
}

/**
 * POSTs a body made of `parts` (a file: one part; a multipart body: bytes,
 * then a file, …) to `url`, its `Content-Length` their sum, and calls `done`
 * once: with the first status line the server sends, or with why none came
 * within `timeoutMillis` (a plain timer: an Effect timeout per request costs
 * more than the request on loopback). Returns a function that cancels it
 * (`done` is then not called).
 *
 * Callbacks rather than an Effect, so that a caller decides on the outcome
 * in the same step (see `file.ts`): each Effect step a small upload takes
 * costs the event loop ~20 µs before the JIT has warmed up (measured).
 */
export const post = (
  url: URL,
  parts: ReadonlyArray<Part>,
  contentType: string,
  timeoutMillis: number,
  ca: ReadonlyArray<string> | undefined,
  done: (outcome: Outcome) => void
): () => void => {
  let settled = false
  const settle = (outcome: Outcome) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    done(outcome)
  }
  const fail = (failure: Failure) => settle({ _tag: "Failure", failure })
  const answer = (value: Answer) => settle({ _tag: "Answer", answer: value })
  const timer = setTimeout(() => {
    fail({ kind: "timeout", code: undefined, message: "no answer in time" })
    close()
    req.destroy()
  }, Math.min(timeoutMillis, MAX_TIMER))
  const headers = { "content-type": contentType, "content-length": String(partsSize(parts)) }
  const req = url.protocol === "https:"
    ? https.request({ ...target(url), method: "POST", headers, agent: agents.https, ...trust(ca) })
    : http.request({ ...target(url), method: "POST", headers, agent: agents.http })
  let sent = false
  let close = () => {}
  req.once("finish", () => {
    sent = true
    close()
  })
  req.on("error", (error: NodeJS.ErrnoException) => {
    close()
    fail(classify(error))
  })
  req.once("close", close)
  close = writeParts(parts, req, (failure) => {
    req.destroy()
    fail({ kind: "file", code: failure.code, message: failure.message })
  })
  req.once("response", (res) => {
    res.on("error", () => undefined)
    // The server answered before it had the whole body: the connection's framing is lost, so it goes.
    const early = !sent
    if (early) close()
    const status = res.statusCode ?? 0
    const retryAfter = res.headers["retry-after"]
    if (status >= 200 && status < 300) {
      answer({ status, retryAfter, body: "" })
      if (early) req.destroy()
      else drain(res)
      return
    }
    readSnippet(res, (text) => {
      if (early) req.destroy()
      answer({ status, retryAfter, body: text })
    })
  })
  return () => {
    settled = true
    clearTimeout(timer)
    close()
    req.destroy()
  }
}
