/**
 * Backtrace uploads (Go's `Put` and `PutDir`): one snapshot, or every `*.btt`
 * file below a directory with bounded concurrency, reporting every failure.
 *
 * @internal
 */
import type * as PlatformError from "@effect/platform/Error"
import * as Effect from "effect/Effect"
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
export const uploadWith = (
  send: Send,
  settings: PutSettings,
  markSent: (file: string, sent: fs.Stats) => void = Sent.markSent
) =>
(file: string): Effect.Effect<void, SnapshotUploadError> => {
  const absolute = path.resolve(file)
  const upload = send(absolute, {
    url: settings.url,
    timeout: settings.timeout,
    retry: settings.retry,
    unlink: settings.unlink,
    name: "backtrace",
    ...(settings.ca === undefined ? {} : { ca: settings.ca })
  })
  // With `unlink` the snapshot is gone after its 200: there is nothing to record.
  return settings.unlink ? Effect.asVoid(upload) : Effect.flatMap(upload, (sent) => record(markSent, absolute, sent))
}

/** After a 200: the journal's line appended for `file` as it was `sent`. Never fails the upload. */
const record = (
  markSent: (file: string, sent: fs.Stats) => void,
  file: string,
  sent: fs.Stats
): Effect.Effect<void> => {
  try {
    markSent(file, sent)
    return Effect.void
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? String(error)
    return log(
      LogLevel.Warning,
      "backtrace",
      `Uploaded ${file}, but could not record it in ${Sent.JOURNAL} (${why}); putDir may send it again`
    )
  }
}

/** `files` less those a server accepted before (see `Sent.accepted`); with `unlink`, those are removed. */
const notSentYet = (files: ReadonlyArray<string>, unlink: boolean): Array<string> => {
  const accepted = Sent.accepted(files)
  // One that cannot be removed is left on disk, and passed over all the same.
  if (unlink && accepted.size > 0) Sent.removeAccepted(accepted)
  return files.filter((file) => !accepted.has(file))
}

/**
 * Uploads `files`, at most `concurrency` at a time, and gives each one's
 * error (`undefined`: uploaded). As many fibers as `concurrency`, each taking
 * the next file when it is done with one, rather than a fiber per file
 * (`Effect.forEach`), whose forks took 5% of a `putDir` of 200 small files
 * (measured, before the JIT has warmed up).
 */
const uploadAll = (
  files: ReadonlyArray<string>,
  upload: (file: string) => Effect.Effect<void, SnapshotUploadError>,
  concurrency: number
): Effect.Effect<Array<SnapshotUploadError | undefined>> =>
  Effect.suspend(() => {
    const errors = new Array<SnapshotUploadError | undefined>(files.length).fill(undefined)
    let next = 0
    const worker: Effect.Effect<void> = Effect.suspend(() => {
      if (next >= files.length) return Effect.void
      const i = next++
      return upload(files[i]!).pipe(
        Effect.catchAll((error) => Effect.sync(() => void (errors[i] = error))),
        Effect.zipRight(worker)
      )
    })
    const workers = Math.min(concurrency, files.length)
    return Effect.as(Effect.all(Array.from({ length: workers }, () => worker), { concurrency: "unbounded" }), errors)
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
            const files = notSentYet(listed.files, settings.unlink)
            // The journals stay open for the whole run: one `open` per folder, not per snapshot.
            const outcomes = yield* Effect.acquireUseRelease(
              Effect.sync(Sent.keepOpen),
              (journals) => uploadAll(files, uploadWith(send, settings, journals.markSent), settings.concurrency),
              (journals) => Effect.sync(() => journals.close())
            )
            const uploaded: Array<string> = []
            const failed: Array<PutDirSummary["failed"][number]> = []
            outcomes.forEach((error, i) => {
              if (error === undefined) uploaded.push(files[i]!)
              else failed.push({ path: files[i]!, reason: error.reason, error })
            })
            return { uploaded, failed, skipped }
          })
      }
    }
  })
