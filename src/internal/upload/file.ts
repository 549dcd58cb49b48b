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
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as nodeFs from "node:fs"
import { SnapshotUploadError } from "../../TraceError.js"
import { TracerConfig } from "../../TracerConfig.js"
import { log } from "../core/log.js"
import { parseRetryAfter, redactUrl, scrub } from "./policy.js"
import { type Failure, type Outcome, type Part, post } from "./transport.js"

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
  /**
   * The request body, instead of the file at the path (which still names the
   * upload in logs and errors, and is what `unlink` removes): a Backtrace
   * JSON report with the file attached, as multipart parts.
   */
  readonly body?: { readonly contentType: string; readonly parts: ReadonlyArray<Part> }
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

/** What a file is, named as `@effect/platform`'s `File.Type`. */
const typeName = (info: nodeFs.Stats): string =>
  info.isDirectory()
    ? "Directory"
    : info.isFIFO()
    ? "FIFO"
    : info.isSocket()
    ? "Socket"
    : info.isCharacterDevice()
    ? "CharacterDevice"
    : info.isBlockDevice()
    ? "BlockDevice"
    : "Unknown"

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

/** What an outcome means for an upload: `undefined` for a 200 (done), else a failed attempt. */
const decide = (outcome: Outcome, options: UploadOptions, maxRetryAfter: Duration.Duration): Attempt | undefined => {
  if (outcome._tag === "Failure") {
    return outcome.failure.kind === "timeout"
      ? failed(`no answer within ${Duration.format(options.timeout)}`, true)
      : fromFailure(options.url, outcome.failure)
  }
  const { status, body, retryAfter } = outcome.answer
  if (status === 200) return undefined
  const snippet = clean(options.url, body)
  return new Attempt({
    reason: `server answered ${status}${snippet === "" ? "" : `: ${snippet}`}`,
    // After a 2xx the server has the snapshot: sending it again would only duplicate it.
    transient: isTransientStatus(status),
    status,
    retryAfter: parseRetryAfter(retryAfter, maxRetryAfter)
  })
}

/** One attempt, decided in one step: `done` after a 200, else the failed attempt; `started` counts it. */
const attempt = <A>(
  path: string,
  size: number,
  options: UploadOptions,
  maxRetryAfter: Duration.Duration,
  done: Effect.Effect<A>,
  started: () => void
): Effect.Effect<A, Attempt> =>
  Effect.async<A, Attempt>((resume) => {
    started()
    const cancel = post(
      options.url,
      options.body?.parts ?? [{ path, size }],
      options.body?.contentType ?? options.contentType ?? "application/octet-stream",
      Duration.toMillis(options.timeout),
      options.ca,
      (outcome) => {
        const failure = decide(outcome, options, maxRetryAfter)
        resume(failure === undefined ? done : Effect.fail(failure))
      }
    )
    return Effect.sync(cancel)
  })

/** The user's schedule, applied to transient failures only, waiting at least `Retry-After`. */
const retrySchedule = (retry: Schedule.Schedule<unknown, unknown>) =>
  Schedule.zipRight(retry, Schedule.identity<Attempt>()).pipe(
    Schedule.whileInput((a: Attempt) => a.transient),
    Schedule.modifyDelay((last, delay) =>
      last.retryAfter !== undefined && Duration.greaterThan(last.retryAfter, delay) ? last.retryAfter : delay
    )
  )

/**
 * The retries after a first failed attempt `first` that is transient: the
 * user's schedule, consulted only now, is given `first` as its first input
 * (as `Effect.retry` would have been). Most uploads succeed at once, and a
 * schedule's driver costs more than a small upload's request on loopback.
 */
const retriesAfter = <A>(
  first: Attempt,
  once: Effect.Effect<A, Attempt>,
  retry: Schedule.Schedule<unknown, unknown>
) => {
  let replayed = false
  const again = Effect.suspend(() => {
    if (replayed) return once
    replayed = true
    return Effect.fail(first)
  })
  return Effect.retry(again, retrySchedule(retry))
}

/**
 * {@link uploadFile} with the file system given (taken from context once, by
 * `makeSend`); succeeds with the file's `stat` from before it was sent. Lean,
 * as `putDir` runs it for every file, and each Effect step costs a small
 * upload ~20 µs of the event loop before the JIT has warmed up (measured):
 * the settings are read and the file looked at in one step (a synchronous
 * `stat`: microseconds, where a trip through libuv's pool costs the event
 * loop ~40 µs on 2 busy cores), one step per attempt; log lines, their
 * clock readings and the retry schedule cost only when they are needed.
 */
export const uploadFileWith = (fileSystem: FileSystem.FileSystem) =>
(
  path: string,
  options: UploadOptions
): Effect.Effect<nodeFs.Stats, SnapshotUploadError> =>
  Effect.withFiberRuntime((fiber) => {
    const config = Context.get(fiber.currentContext, TracerConfig)
    const name = options.name ?? "upload"
    const logs = (level: LogLevel.LogLevel) => LogLevel.greaterThanEqual(level, config.logLevel)
    const say = (level: LogLevel.LogLevel, message: () => string) =>
      logs(level) ? log(level, name, message()) : Effect.void
    const target = () => redactUrl(options.url)
    // Only a regular file: opening a FIFO would block for good, beyond any timeout.
    let info: nodeFs.Stats
    try {
      info = nodeFs.statSync(path)
    } catch (error) {
      return Effect.fail(new SnapshotUploadError({ path, reason: `cannot read the file: ${(error as Error).message}` }))
    }
    if (!info.isFile()) {
      return Effect.fail(new SnapshotUploadError({ path, reason: `not a regular file (${typeName(info)})` }))
    }
    let attempts = 0
    const once = attempt(
      path,
      info.size,
      options,
      options.maxRetryAfter ?? Duration.seconds(60),
      Effect.succeed(info),
      () => attempts++
    )
    const report = (a: Attempt) =>
      say(a.transient ? LogLevel.Warning : LogLevel.Debug, () =>
        `Upload attempt ${attempts} of ${path} failed: ${a.reason}`)
    const upload = Effect.catchAll(once, (first) =>
      report(first).pipe(
        Effect.zipRight(
          first.transient ? retriesAfter(first, Effect.tapError(once, report), options.retry) : Effect.fail(first)
        ),
        Effect.mapError((a) =>
          new SnapshotUploadError({
            path,
            reason: `${a.reason} (${attempts} attempt${attempts === 1 ? "" : "s"} to ${target()})`,
            ...(a.status === undefined ? {} : { status: a.status })
          })
        )
      ))
    const timed = logs(LogLevel.Debug)
      ? Effect.flatMap(Clock.currentTimeMillis, (started) =>
        say(LogLevel.Debug, () =>
          `Uploading ${path} to ${target()}`).pipe(
            Effect.zipRight(upload),
            Effect.zipLeft(Effect.flatMap(Clock.currentTimeMillis, (now) =>
              say(
                LogLevel.Debug,
                () =>
                  `Uploaded ${path} to ${target()} in ${now - started} ms (${attempts} attempts)`
              )))
          ))
      : upload
    if (!options.unlink) {
      return timed
    }
    return Effect.zipLeft(
      timed,
      fileSystem.remove(path).pipe(
        Effect.catchAll((error) =>
          say(LogLevel.Warning, () =>
            `Uploaded ${path}, but could not remove it: ${error.message}`)
        )
      )
    )
  })

/**
 * Uploads the file at `path` to `options.url` as a streamed POST body. Fails
 * with `SnapshotUploadError` (the file left in place) unless the server
 * answers 200 within the retries. Succeeds with the file's `stat` from before
 * it was sent.
 */
export const uploadFile = (
  path: string,
  options: UploadOptions
): Effect.Effect<nodeFs.Stats, SnapshotUploadError, Services> =>
  Effect.flatMap(FileSystem.FileSystem, (fileSystem) => uploadFileWith(fileSystem)(path, options))
