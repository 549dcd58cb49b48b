/**
 * Uploading a gdb snapshot (and its core file) with the shared streaming
 * uploader. Loaded only when `put` is configured, so that a program without
 * uploads never pays for the HTTP client at start-up.
 *
 * @internal
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import type { PutOptions } from "../../Gdb.js"
import { TracerConfigError } from "../../TraceError.js"
import type { Upload } from "./backend.js"
import { defaultRetry, uploadFile, uploadTimeout } from "../upload/file.js"

/** The endpoint as a URL, checked: http or https. Errors never show the URL (it may hold a token). */
export const parseUrl = (url: PutOptions["url"]): Effect.Effect<URL, TracerConfigError> =>
  Effect.suspend(() => {
    const raw = Redacted.isRedacted(url) ? Redacted.value(url) : url
    let parsed: URL
    try {
      parsed = new URL(String(raw))
    } catch {
      return Effect.fail(new TracerConfigError({ field: "put.url", reason: "is not a valid URL" }))
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      return Effect.fail(
        new TracerConfigError({ field: "put.url", reason: `must be http or https, not ${parsed.protocol.slice(0, -1)}` })
      )
    }
    return Effect.succeed(parsed)
  })

const clients = Layer.merge(NodeHttpClient.layer, NodeFileSystem.layer)

/** The upload of one trace: the snapshot, then the core file when there is one. */
export const makePut = (options: PutOptions): Effect.Effect<Upload, TracerConfigError> =>
  Effect.gen(function*() {
    const url = yield* parseUrl(options.url)
    const timeout = yield* Either.mapLeft(uploadTimeout(options.timeout), (reason) => new TracerConfigError({ field: "put.timeout", reason }))
    const base = {
      url,
      timeout,
      retry: options.retry ?? defaultRetry,
      unlink: options.unlink ?? false,
      name: "gdb"
    }
    const upload: Upload = (_result, paths) =>
      Effect.gen(function*() {
        yield* uploadFile(paths.snapshot, { ...base, contentType: "text/plain; charset=utf-8" })
        if (Option.isSome(paths.core) && (options.core ?? true) && (fs.statSync(paths.core.value, { throwIfNoEntry: false })?.size ?? 0) > 0) {
          yield* uploadFile(paths.core.value, { ...base, contentType: "application/octet-stream" })
        }
      }).pipe(Effect.provide(clients))
    return upload
  })
