/**
 * Uploading a snapshot file to a server: one POST per attempt, the body
 * streamed from disk (never read whole, see `transport.ts`), the status line
 * decides (only a 200 counts, and nothing is retried after a 2xx), transient
 * failures retried on a `Schedule` (honouring `Retry-After`), the file
 * removed only after a 200.
 *
 * The URL holds the upload token. It never reaches a log line or an error:
 * logs show {@link redactUrl}, errors carry only the path, the status and a
 * reason scrubbed of the URL's secrets.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import { SnapshotUploadError } from "../../TraceError.js"
import { log } from "../core/log.js"
import { parseRetryAfter, redactUrl, scrub } from "./policy.js"
import { type Failure, post } from "./transport.js"

/** How to upload one file. */
export interface UploadOptions {
  /** The full URL, token included. Never logged; see {@link redactUrl}. */
  readonly url: URL
  /** The deadline of one attempt (connection, request and status line). */
  readonly timeout: Duration.Duration
  /** When to retry a transient failure (connection error, 408, 429, 5xx, timeout). */
  readonly retry: Schedule.Schedule<unknown, unknown>
  /** Remove the file after a 200 (and only then). */
  readonly unlink: boolean
  /** Default `application/octet-stream`. */
  readonly contentType?: string
  /** The name log lines are annotated with. Default `upload`. */
  readonly name?: string
  /** The longest `Retry-After` that is honoured. Default 60 s. */
  readonly maxRetryAfter?: Duration.Duration
  /** PEM certificates trusted for `https:`, besides Node's own roots. */
  readonly ca?: ReadonlyArray<string>
}

/** One failed attempt. `transient` failures are retried. */
class Attempt extends Data.TaggedError("UploadAttempt")<{
  readonly reason: string
  readonly transient: boolean
  readonly status?: number
  readonly retryAfter?: Duration.Duration | undefined
}> {}

const failed = (reason: string, transient: boolean) => new Attempt({ reason, transient })

/** The platform service an upload needs, taken from context once, when a layer is built. */
export type Services = FileSystem.FileSystem

const isTransientStatus = (status: number) => status === 408 || status === 429 || status >= 500

/** Text from the server or the network, scrubbed of the URL's secrets (before white space is folded), cut short. */
const clean = (url: URL, text: string): string => {
  const scrubbed = scrub(url, text).replace(/\s+/g, " ").trim()
  return scrubbed.length > 200 ? `${scrubbed.slice(0, 200)}…` : scrubbed
}

/** Why no status line came, as an attempt: only a broken connection is worth another try. */
const fromFailure = (url: URL, failure: Failure): Attempt => {
  const detail = clean(url, `${failure.code === undefined ? "" : `${failure.code}: `}${failure.message}`)
  switch (failure.kind) {
    case "file":
      return failed(`cannot read the file: ${detail}`, false)
    case "certificate":
      return failed(
        `the server's TLS certificate does not verify (${detail}); to trust a private CA, give its ` +
          `certificate as the \`ca\` option (or NODE_EXTRA_CA_CERTS)`,
        false
      )
    case "tls":
      return failed(`the TLS handshake failed (${detail}); is the scheme right?`, false)
    case "protocol":
      return failed(`bad answer (${detail})`, false)
    case "connection":
      return failed(`request failed (Transport): ${detail}`, true)
    case "timeout":
      return failed(`no answer in time (${detail})`, true)
  }
}

const attempt = (
  path: string,
  size: number,
  options: UploadOptions,
  maxRetryAfter: Duration.Duration
): Effect.Effect<void, Attempt> =>
  post(
    options.url,
    path,
    size,
    options.contentType ?? "application/octet-stream",
    Duration.toMillis(options.timeout),
    options.ca
  ).pipe(
    Effect.mapError((failure) =>
      failure.kind === "timeout"
        ? failed(`no answer within ${Duration.format(options.timeout)}`, true)
        : fromFailure(options.url, failure)
    ),
    Effect.flatMap((answer) => {
      if (answer.status === 200) return Effect.void
      const snippet = clean(options.url, answer.body)
      return Effect.fail(
        new Attempt({
          reason: `server answered ${answer.status}${snippet === "" ? "" : `: ${snippet}`}`,
          // After a 2xx the server has the snapshot: sending it again would only duplicate it.
          transient: isTransientStatus(answer.status),
          status: answer.status,
          retryAfter: parseRetryAfter(answer.retryAfter, maxRetryAfter)
        })
      )
    })
  )

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
      return attempt(path, Number(info.size), options, maxRetryAfter)
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
