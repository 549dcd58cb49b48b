/**
 * The upload side of a layer, built once when the layer is built: the
 * platform service (`FileSystem`) is taken from context then, and the HTTP
 * code is loaded then, not when the library is imported.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type { SnapshotUploadError } from "../../TraceError.js"
import type { Services, UploadOptions } from "./file.js"

/** Uploads one file; see `uploadFile`. */
export type Send = (path: string, options: UploadOptions) => Effect.Effect<void, SnapshotUploadError>

/** A {@link Send} bound to the services in context now. */
export const makeSend: Effect.Effect<Send, never, Services> = Effect.gen(function*() {
  const context = yield* Effect.context<Services>()
  const { uploadFile } = yield* Effect.promise(() => import("./file.js"))
  return (path, options) => Effect.provide(uploadFile(path, options), context)
})
