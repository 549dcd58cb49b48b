/**
 * Streaming a snapshot file to a server with `@effect/platform`'s
 * `HttpClient`: one POST per attempt, the body streamed from disk (never read
 * whole), only a 200 counts, transient failures retried on a `Schedule`
 * (honouring `Retry-After`), the file removed only after a 200.
 *
 * The URL holds the upload token. It never reaches a log line, an error, or
 * a span: logs show {@link redactUrl}, errors carry only the path, the status
 * and a reason scrubbed of the URL's secrets, and the HTTP client's tracing
 * (which records `url.full`) is disabled for these requests.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { SnapshotUploadError } from "../../TraceError.js"
import { log } from "../core/log.js"
import { parseRetryAfter, redactUrl, scrub } from "./policy.js"

/** How to upload one file. */
export interface UploadOptions {
  /** The full URL, token included. Never logged; see {@link redactUrl}. */
  readonly url: URL
  /** The deadline of one attempt (request, body and answer). */
  readonly timeout: Duration.Duration
  /** When to retry a transient failure (connection error, 408, 429, 5xx, timeout). */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Remove the file after a 200 (and only then). */
  readonly unlink: boolean
  /** Default `application/octet-stream`. */
  readonly contentType?: string
  /**
   * The request body, made again for each attempt, instead of the file at
   * the path (which still names the upload in logs and errors, and is what
   * `unlink` removes): a Backtrace JSON report with the file attached.
   */
  readonly body?: Effect.Effect<HttpBody.HttpBody, { readonly message: string }, FileSystem.FileSystem>
  /** The name log lines are annotated with. Default `upload`. */
  readonly name?: string
  /** The longest `Retry-After` that is honoured. Default 60 s. */
  readonly maxRetryAfter?: Duration.Duration
}

/** One failed attempt. `transient` failures are retried. */
class Attempt extends Data.TaggedError("UploadAttempt")<{
  readonly reason: string
  readonly transient: boolean
  readonly status?: number
  readonly retryAfter?: Duration.Duration | undefined
}> {}

const failed = (reason: string, transient: boolean) => new Attempt({ reason, transient })

/** The platform services an upload needs, taken from context once, when a layer is built. */
export type Services = HttpClient.HttpClient | FileSystem.FileSystem

const isTransientStatus = (status: number) => status === 408 || status === 429 || status >= 500

/** How much of the server's answer is read: enough for an error message, never a whole large body. */
const SNIPPET_BYTES = 64 * 1024

/**
 * The start of the server's answer, scrubbed. At most {@link SNIPPET_BYTES}
 * are read, whatever the server sends (with or without `Content-Length`);
 * the rest is dropped with the connection.
 */
const bodySnippet = (url: URL, response: HttpClientResponse.HttpClientResponse) =>
  response.stream.pipe(
    Stream.runFoldWhile(
      { bytes: 0, chunks: [] as Array<Uint8Array> },
      (read) => read.bytes < SNIPPET_BYTES,
      (read, chunk) => ({ bytes: read.bytes + chunk.length, chunks: [...read.chunks, chunk] })
    ),
    Effect.map(({ chunks }) => {
      const text = Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString("utf8")
      const clean = scrub(url, text).replace(/\s+/g, " ").trim()
      return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean
    }),
    Effect.orElseSucceed(() => "")
  )

const attempt = (
  client: HttpClient.HttpClient,
  path: string,
  options: UploadOptions,
  maxRetryAfter: Duration.Duration
): Effect.Effect<void, Attempt, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const request = yield* Effect.map(
      options.body ?? HttpBody.file(path, { contentType: options.contentType ?? "application/octet-stream" }),
      (body) => HttpClientRequest.setBody(HttpClientRequest.post(options.url), body)
    ).pipe(Effect.mapError((error) => failed(`cannot read the file: ${error.message}`, false)))
    const response = yield* client.execute(request).pipe(
      Effect.mapError((error) =>
        failed(
          error._tag === "RequestError"
            ? `request failed (${error.reason})${causeText(options.url, error.cause)}`
            : `bad answer (${error.reason})`,
          error._tag === "RequestError" && error.reason === "Transport"
        )
      )
    )
    const snippet = yield* bodySnippet(options.url, response)
    if (response.status === 200) return
    const retryAfter = parseRetryAfter(response.headers["retry-after"], maxRetryAfter)
    return yield* new Attempt({
      reason: `server answered ${response.status}${snippet === "" ? "" : `: ${snippet}`}`,
      transient: isTransientStatus(response.status),
      status: response.status,
      retryAfter
    })
  }).pipe(
    Effect.timeoutFail({
      duration: options.timeout,
      onTimeout: () => failed(`no answer within ${Duration.format(options.timeout)}`, true)
    })
  )

/** A transport error's own cause, as text without the URL's secrets. */
const causeText = (target: URL, cause: unknown): string => {
  if (cause === undefined || cause === null) return ""
  const inner = (cause as { cause?: unknown }).cause
  const text = [cause, inner]
    .filter((c): c is Error => c instanceof Error)
    .map((c) => ((c as NodeJS.ErrnoException).code ? `${(c as NodeJS.ErrnoException).code}: ` : "") + c.message)
    .join("; ")
  // Scrubbed before the white space is folded, so that a secret is matched as it was sent.
  const clean = scrub(target, text).replace(/\s+/g, " ").trim()
  return clean === "" ? "" : `: ${clean}`
}

/** The user's schedule, applied to transient failures only, waiting at least `Retry-After`. */
const retrySchedule = (retry: Schedule.Schedule<unknown, unknown>) =>
  Schedule.zipRight(retry, Schedule.identity<Attempt>()).pipe(
    Schedule.whileInput((a: Attempt) => a.transient),
    Schedule.modifyDelay((last, delay) =>
      last.retryAfter !== undefined && Duration.greaterThan(last.retryAfter, delay) ? last.retryAfter : delay
    )
  )

/**
 * Uploads the file at `path` to `options.url` as a streamed POST body. Fails
 * with `SnapshotUploadError` (the file left in place) unless the server
 * answers 200 within the retries.
 */
export const uploadFile = (
  path: string,
  options: UploadOptions
): Effect.Effect<void, SnapshotUploadError, Services> =>
  Effect.gen(function*() {
    const name = options.name ?? "upload"
    const say = (level: LogLevel.LogLevel, message: string) => log(level, name, message)
    const client = HttpClient.withTracerDisabledWhen(yield* HttpClient.HttpClient, () => true)
    const fs = yield* FileSystem.FileSystem
    const maxRetryAfter = options.maxRetryAfter ?? Duration.seconds(60)
    const target = redactUrl(options.url)
    let attempts = 0
    const started = yield* Clock.currentTimeMillis
    yield* say(LogLevel.Debug, `Uploading ${path} to ${target}`)
    // Only a regular file: opening a FIFO would block a libuv thread for good, beyond any timeout.
    const info = yield* fs.stat(path).pipe(
      Effect.mapError((error) => new SnapshotUploadError({ path, reason: `cannot read the file: ${error.message}` }))
    )
    if (info.type !== "File") {
      return yield* new SnapshotUploadError({ path, reason: `not a regular file (${info.type})` })
    }
    yield* Effect.suspend(() => {
      attempts++
      return attempt(client, path, options, maxRetryAfter)
    }).pipe(
      Effect.tapError((a) =>
        say(
          a.transient ? LogLevel.Warning : LogLevel.Debug,
          `Upload attempt ${attempts} of ${path} failed: ${a.reason}`
        )
      ),
      Effect.retry(retrySchedule(options.retry)),
      Effect.mapError((a) =>
        new SnapshotUploadError({
          path,
          reason: `${a.reason} (${attempts} attempt${attempts === 1 ? "" : "s"} to ${target})`,
          ...(a.status === undefined ? {} : { status: a.status })
        })
      )
    )
    const took = (yield* Clock.currentTimeMillis) - started
    yield* say(LogLevel.Debug, `Uploaded ${path} to ${target} in ${took} ms (${attempts} attempts)`)
    if (options.unlink) {
      yield* fs.remove(path).pipe(
        Effect.catchAll((error) => say(LogLevel.Warning, `Uploaded ${path}, but could not remove it: ${error.message}`))
      )
    }
  })
