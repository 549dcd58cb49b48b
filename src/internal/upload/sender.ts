/**
 * The upload side of a layer, built once when the layer is built: the
 * platform service (`FileSystem`) is taken from context then, and the HTTP
 * code is loaded then, not when the library is imported.
 *
 * @internal
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import type * as fs from "node:fs"
import type { SnapshotUploadError } from "../../TraceError.js"
import type { Services, UploadOptions } from "./file.js"

/** Uploads one file; succeeds with its `stat` from before it was sent. See `uploadFile`. */
export type Send = (path: string, options: UploadOptions) => Effect.Effect<fs.Stats, SnapshotUploadError>

/** A {@link Send} bound to the services in context now. */
export const makeSend: Effect.Effect<Send, never, Services> = Effect.gen(function*() {
  const fileSystem = yield* FileSystem.FileSystem
  const { uploadFileWith } = yield* Effect.promise(() => import("./file.js"))
  return uploadFileWith(fileSystem)
})
