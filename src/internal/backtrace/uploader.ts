/**
 * Backtrace uploads (Go's `Put` and `PutDir`): one snapshot, or every `*.btt`
 * file below a directory with bounded concurrency, reporting every failure.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PutDirSummary, Uploader } from "../../Backtrace.js"
import { type SnapshotUploadError, TracerConfigError } from "../../TraceError.js"
import * as Lock from "../core/lock.js"
import { log } from "../core/log.js"
import type { Send } from "../upload/sender.js"
import type { PutSettings } from "./options.js"
import * as Sent from "./sent.js"

const REASONS: Record<string, PlatformError.SystemErrorReason> = {
  ENOENT: "NotFound",
  EACCES: "PermissionDenied",
  EPERM: "PermissionDenied",
  ENOTDIR: "BadResource"
}

/** A listing failure as `@effect/platform`'s `SystemError` (its module is loaded only then). */
const listingError = (dir: string, cause: unknown) =>
  Effect.flatMap(Effect.promise(() => import("@effect/platform/Error")), ({ SystemError }) =>
    Effect.fail(
      new SystemError({
        reason: REASONS[(cause as NodeJS.ErrnoException).code ?? ""] ?? "Unknown",
        module: "FileSystem",
        method: "readDirectory",
        pathOrDescriptor: dir,
        description: `cannot list the directory: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`,
        cause
      })
    ))

/**
 * The files below `dir` whose names end with one of `extensions` (by default
 * `*.btt`; recursively, symlinks not followed), and what was passed over.
 */
export const findSnapshots = (dir: string, extensions: ReadonlyArray<string> = [".btt"]) =>
  Effect.tryPromise({
    try: async () => {
      const entries = await fs.promises.readdir(dir, { recursive: true, withFileTypes: true })
      const files: Array<string> = []
      const skipped: Array<{ readonly path: string; readonly reason: string }> = []
      for (const entry of entries) {
        if (!extensions.some((extension) => entry.name.endsWith(extension))) continue
        const file = path.join(entry.parentPath ?? dir, entry.name)
        if (entry.isFile()) files.push(file)
        else if (!entry.isDirectory()) {
          skipped.push({ path: file, reason: entry.isSymbolicLink() ? "a symbolic link" : "not a regular file" })
        }
      }
      return { files: files.sort(), skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) }
    },
    catch: (cause) => cause
  }).pipe(Effect.catchAll((cause) => listingError(dir, cause)))

const notConfigured = () =>
  new TracerConfigError({
    field: "put",
    reason: "uploads are not configured; give Backtrace.layer a `put` option (endpoint and token)"
  })

/**
 * Uploads one snapshot with validated put settings, and records that the
 * server accepted it (see `sent.ts`), so that `putDir` does not send it again.
 */
export const uploadWith =
  (send: Send, settings: PutSettings) => (file: string): Effect.Effect<void, SnapshotUploadError> => {
    const absolute = path.resolve(file)
    return send(absolute, {
      url: settings.url,
      timeout: settings.timeout,
      retry: settings.retry,
      unlink: settings.unlink,
      name: "backtrace",
      ...(settings.ca === undefined ? {} : { ca: settings.ca })
    }).pipe(
      Effect.zipRight(record(absolute, settings.unlink))
    )
  }

/** After a 200: the marker written, or with `unlink` (the file gone) a stale one removed. Never fails the upload. */
const record = (file: string, unlink: boolean) =>
  Effect.suspend(() => {
    try {
      if (unlink) Sent.forget(file)
      else Sent.markSent(file)
      return Effect.void
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code ?? String(error)
      return log(
        LogLevel.Warning,
        "backtrace",
        `Uploaded ${file}, but could not record it (${why}); putDir may send it again`
      )
    }
  })

/** A snapshot that was accepted before: passed over, and removed with `unlink`. */
const alreadySent = (file: string, unlink: boolean) =>
  Effect.sync(() => {
    let sent = false
    try {
      sent = Sent.wasSent(file)
      if (sent && unlink) Sent.removeSent(file)
    } catch {
      // An lstat that failed (not known to be sent: it is sent), or a removal that failed (left on disk).
    }
    return sent
  })

/** The uploader service over validated put settings (absent: every call fails, naming the missing option). */
export const makeUploader = (put: Option.Option<{ readonly settings: PutSettings; readonly send: Send }>): Uploader =>
  Option.match(put, {
    onNone: () => ({
      put: () => Effect.fail(notConfigured()),
      putDir: () => Effect.fail(notConfigured())
    }),
    onSome: ({ send, settings }) => {
      const upload = uploadWith(send, settings)
      return {
        put: upload,
        putDir: (dir) =>
          Effect.gen(function*() {
            // Listed while no tracer of this process runs, so that a snapshot still being written is not
            // uploaded half-written (and, with `unlink`, removed).
            const listed = yield* Lock.withPermit(findSnapshots(path.resolve(dir)))
            const { skipped } = listed
            // What an earlier run (or this one) had accepted is not sent again.
            const files = yield* Effect.filter(
              listed.files,
              (file) => Effect.negate(alreadySent(file, settings.unlink))
            )
            const outcomes = yield* Effect.forEach(files, (file) => Effect.either(upload(file)), {
              concurrency: settings.concurrency
            })
            const uploaded: Array<string> = []
            const failed: Array<PutDirSummary["failed"][number]> = []
            outcomes.forEach((outcome, i) => {
              if (Either.isRight(outcome)) uploaded.push(files[i]!)
              else failed.push({ path: files[i]!, reason: outcome.left.reason, error: outcome.left })
            })
            return { uploaded, failed, skipped }
          })
      }
    }
  })
