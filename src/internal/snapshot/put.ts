/**
 * Uploading a finished text snapshot with the shared streaming uploader,
 * bound once to the layer's platform services. The gdb and eu-stack
 * backends' `put`, in one of two formats:
 *
 * - `backtrace-json` (the default for a Backtrace endpoint): a Backtrace
 *   JSON report built from the snapshot, with the snapshot (and the core
 *   file, when there is one and `core` allows it) attached, in one request;
 * - `raw`: the text file as it is (then the core file, in a second request),
 *   for receivers that store files.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PutOptions } from "../../Gdb.js"
import { SnapshotUploadError, TracerConfigError } from "../../TraceError.js"
import type { TraceRequest } from "../../TracerBackend.js"
import { classify } from "../core/errorValue.js"
import { log } from "../core/log.js"
import type { Attachment } from "../jsonReport/body.js"
import { resolveTarget } from "../jsonReport/url.js"
import { readCa } from "../upload/ca.js"
import type { Services } from "../upload/file.js"
import { defaultRetry, secretsOf, uploadTimeout } from "../upload/policy.js"
import { makeSend } from "../upload/sender.js"

/**
 * The `put` options of the text-snapshot backends: `EuStack.PutOptions`, and
 * `Gdb.PutOptions` with `core`. Documented here once; the public modules
 * re-export it.
 */
export interface SnapshotPutOptions {
  /**
   * A Backtrace endpoint, as for `Backtrace.endpointUrl`: `host[:port]`
   * (https and port 6098 by default) with `token`, or a submission URL
   * (`https://submit.backtrace.io/<universe>/<token>/json`, or one with
   * `?token=`). Reports go to `/post?format=json&token=…`, or to
   * `…/<universe>/<token>/json`. Give this or `url`. Pass it as a `Redacted`
   * when it holds the token; it never appears in logs or errors either way.
   */
  readonly endpoint?: string | Redacted.Redacted<string>
  /** The submission token, with a `host[:port]` endpoint. */
  readonly token?: string | Redacted.Redacted<string>
  /**
   * Any `http:` or `https:` endpoint, instead of `endpoint`: it gets the
   * text file as it is, unless it is a Backtrace submission URL (`/post`
   * with `?token=`, or `submit.backtrace.io/<universe>/<token>/<format>`),
   * which gets the JSON report.
   */
  readonly url?: string | URL | Redacted.Redacted<string>
  /**
   * What is sent: `"backtrace-json"`, the report with the snapshot attached,
   * in one `multipart/form-data` request (`upload_file` and
   * `attachment_<name>` parts, as `@backtrace/node` sends them); or `"raw"`,
   * the text file alone (`text/plain`). Default: `"backtrace-json"` for a
   * Backtrace endpoint, `"raw"` for any other URL.
   */
  readonly format?: "backtrace-json" | "raw"
  /** The report's `application` attribute. Default: the snapshot's program name. */
  readonly application?: string
  /** The report's `application.version` attribute; absent by default. */
  readonly version?: string
  /** The deadline of one upload attempt. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput
  /** When to retry a transient failure (connection error, 408, 429, 5xx). Default: exponential from 250 ms, 4 retries. */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Remove each file after the server accepted it (and only then). Default false. */
  readonly unlink?: boolean
  /**
   * A private CA to trust for an `https:` server, besides Node's own roots
   * (and `NODE_EXTRA_CA_CERTS`): PEM text, or the path of a PEM file, read
   * when the layer is built. A certificate that does not verify fails the
   * upload at once, without retries.
   */
  readonly ca?: string
}

/**
 * What a report takes from the trace when it is known: the error's `_tag` or
 * class (put first among the classifiers) and the traced pid (whose modules
 * name native frames, when it is this process). A snapshot left behind by an
 * earlier process has neither; its header still has its classifiers.
 */
export interface TraceFacts {
  readonly errorClass?: string | undefined
  readonly pid?: number | undefined
}

/** The facts of a trace that ran in this process. */
const factsOf = (request: TraceRequest): TraceFacts => ({
  errorClass: Option.getOrUndefined(Option.map(request.cause, classify)),
  pid: request.pid
})

/** One trace's files. */
export interface Files {
  readonly snapshot: string
  readonly core: Option.Option<string>
}

/** Uploads one finished trace's files; `request` is what the trace was for. */
export type Upload = (files: Files, request: TraceRequest) => Effect.Effect<void, SnapshotUploadError>

/** Uploads a snapshot file left behind by an earlier process (no request, no core). */
export type UploadLeftBehind = (snapshot: string) => Effect.Effect<void, SnapshotUploadError>

const nonEmpty = (file: string) => (fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0

/**
 * The upload of one trace (log lines name `name`), and the URL's secrets,
 * which the backend keeps out of its tracer's environment.
 */
export const makePut = (
  options: PutOptions,
  name: string
): Effect.Effect<
  {
    readonly upload: Upload
    readonly uploadLeftBehind: UploadLeftBehind
    readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  },
  TracerConfigError,
  Services
> =>
  Effect.gen(function*() {
    const { format, url } = yield* resolveTarget(options)
    const timeout = yield* Either.mapLeft(
      uploadTimeout(options.timeout),
      (reason) => new TracerConfigError({ field: "put.timeout", reason })
    )
    const ca = yield* readCa(options.ca, "put.ca")
    const send = yield* makeSend
    const unlink = options.unlink ?? false
    const base = {
      url,
      timeout,
      retry: options.retry ?? defaultRetry,
      unlink,
      name,
      ...(ca === undefined ? {} : { ca })
    }
    const withCore = options.core ?? true
    const coreOf = (files: Files) => Option.filter(files.core, (file) => withCore && nonEmpty(file))

    const raw = (files: Files) =>
      Effect.gen(function*() {
        yield* send(files.snapshot, { ...base, contentType: "text/plain; charset=utf-8" })
        const core = coreOf(files)
        if (Option.isSome(core)) yield* send(core.value, { ...base, contentType: "application/octet-stream" })
      })

    const json = (files: Files, facts: TraceFacts) =>
      Effect.gen(function*() {
        const [{ readReport }, { submissionBody }] = yield* Effect.promise(() =>
          Promise.all([import("../jsonReport/read.js"), import("../jsonReport/body.js")])
        )
        const core = coreOf(files)
        const attachments: ReadonlyArray<Attachment> = [
          { name: path.basename(files.snapshot), path: files.snapshot, contentType: "text/plain; charset=utf-8" },
          ...Option.toArray(Option.map(core, (file) => ({
            name: path.basename(file),
            path: file,
            contentType: "application/octet-stream"
          })))
        ]
        const { body, report } = yield* Effect.tryPromise({
          try: async () => {
            const report = await readReport(files.snapshot, facts, options)
            return { report, body: submissionBody(new TextEncoder().encode(JSON.stringify(report)), attachments) }
          },
          catch: (cause) =>
            new SnapshotUploadError({
              path: files.snapshot,
              reason: `cannot read the snapshot: ${cause instanceof Error ? cause.message : String(cause)}`
            })
        })
        yield* send(files.snapshot, { ...base, body })
        yield* log(
          LogLevel.Debug,
          name,
          `Sent ${files.snapshot} as a Backtrace JSON report: ${Object.keys(report.threads).length} threads, ` +
            `${attachments.length} attachments`
        )
        // The core went in the same request: with unlink, it goes too (the snapshot went with the 200).
        if (unlink && Option.isSome(core)) {
          yield* Effect.try(() => fs.rmSync(core.value, { force: true })).pipe(
            Effect.catchAll((error) =>
              log(LogLevel.Warning, name, `Uploaded ${core.value}, but could not remove it: ${String(error.error)}`)
            )
          )
        }
      })

    const upload = (files: Files, facts: TraceFacts) => format === "raw" ? raw(files) : json(files, facts)
    return {
      upload: (files, request) => upload(files, factsOf(request)),
      uploadLeftBehind: (snapshot) => upload({ snapshot, core: Option.none() }, {}),
      secrets: secretsOf(url).map(Redacted.make)
    }
  })
