/**
 * Backtrace uploads (Go's `Put` and `PutDir`): one snapshot, or every `*.btt`
 * file below a directory with bounded concurrency, reporting every failure.
 *
 * @internal
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import type { PutDirSummary, Uploader } from "../../Backtrace.js"
import { SnapshotUploadError, TracerConfigError } from "../../TraceError.js"
import type { PutSettings } from "./options.js"
import * as lock from "../core/lock.js"
import type * as Upload from "../upload/file.js"

/** The HTTP side, loaded when a layer with uploads is built, not when the library is imported. */
export const loadUpload: Effect.Effect<typeof Upload> = Effect.promise(() => import("../upload/file.js"))

/** The `*.btt` files below `dir` (recursively, symlinks not followed), and what was passed over. */
export const findSnapshots = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      const entries = await fs.promises.readdir(dir, { recursive: true, withFileTypes: true })
      const files: Array<string> = []
      const skipped: Array<{ readonly path: string; readonly reason: string }> = []
      for (const entry of entries) {
        if (!entry.name.endsWith(".btt")) continue
        const file = path.join(entry.parentPath ?? dir, entry.name)
        if (entry.isFile()) files.push(file)
        else if (!entry.isDirectory()) {
          skipped.push({ path: file, reason: entry.isSymbolicLink() ? "a symbolic link" : "not a regular file" })
        }
      }
      return { files: files.sort(), skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) }
    },
    catch: (error) =>
      new SnapshotUploadError({
        path: dir,
        reason: `cannot list the directory: ${(error as NodeJS.ErrnoException).code ?? String(error)}`
      })
  })

const notConfigured = () =>
  new TracerConfigError({
    field: "put",
    reason: "uploads are not configured; give Backtrace.layer a `put` option (endpoint and token)"
  })

/** Uploads one snapshot with validated put settings and the platform services. */
export const uploadWith = (
  upload: typeof Upload,
  settings: PutSettings,
  context: Context.Context<HttpClient.HttpClient | FileSystem.FileSystem>
) =>
(file: string): Effect.Effect<void, SnapshotUploadError> =>
  upload.uploadFile(path.resolve(file), {
    url: settings.url,
    timeout: settings.timeout,
    retry: settings.retry,
    unlink: settings.unlink,
    name: "backtrace"
  }).pipe(Effect.provide(context))

/** The uploader service over validated put settings and the platform services. */
export const makeUploader = (
  put: Option.Option<readonly [PutSettings, typeof Upload]>,
  context: Context.Context<HttpClient.HttpClient | FileSystem.FileSystem>
): Uploader => {
  const upload = ([settings, module]: readonly [PutSettings, typeof Upload]) => uploadWith(module, settings, context)

  const putDir = (loaded: readonly [PutSettings, typeof Upload]) => (dir: string): Effect.Effect<PutDirSummary, SnapshotUploadError> =>
    Effect.gen(function*() {
      // Listed while no tracer of this process runs, so that a snapshot still being written is not
      // uploaded half-written (and, with `unlink`, removed).
      const { files, skipped } = yield* lock.state.semaphore.withPermits(1)(findSnapshots(path.resolve(dir)))
      const outcomes = yield* Effect.forEach(files, (file) => Effect.either(upload(loaded)(file)), {
        concurrency: loaded[0].concurrency
      })
      const uploaded: Array<string> = []
      const failed: Array<PutDirSummary["failed"][number]> = []
      outcomes.forEach((outcome, i) => {
        if (Either.isRight(outcome)) uploaded.push(files[i]!)
        else failed.push({ path: files[i]!, reason: outcome.left.reason, error: outcome.left })
      })
      return { uploaded, failed, skipped }
    })

  return Option.match(put, {
    onNone: () => ({
      put: () => Effect.fail(notConfigured()),
      putDir: () => Effect.fail(notConfigured())
    }),
    onSome: (loaded) => ({
      put: upload(loaded),
      putDir: putDir(loaded)
    })
  })
}
