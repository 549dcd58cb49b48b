/**
 * Uploading a text snapshot (and its core file, when the backend wrote one)
 * with the shared streaming uploader, bound once to the layer's platform
 * services. The gdb and eu-stack backends' `put`.
 *
 * @internal
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import { type SnapshotUploadError, TracerConfigError } from "../../TraceError.js"
import { readCa } from "../upload/ca.js"
import type { Services } from "../upload/file.js"
import { defaultRetry, secretsOf, uploadTimeout } from "../upload/policy.js"
import { makeSend } from "../upload/sender.js"
import { parseHttpUrl, reveal } from "../upload/url.js"

/** A backend's `put` options (`Gdb.PutOptions`, `EuStack.PutOptions`). */
export interface PutOptions {
  readonly url: string | URL | Redacted.Redacted<string>
  readonly timeout?: Duration.DurationInput
  readonly retry?: Schedule.Schedule<unknown, unknown>
  readonly unlink?: boolean
  /** A private CA (PEM text or a file's path) trusted besides Node's roots. */
  readonly ca?: string
  /** Also upload the core file, when there is one. Default true. */
  readonly core?: boolean
}

/** One trace's files. */
export interface Files {
  readonly snapshot: string
  readonly core: Option.Option<string>
}

/** Uploads one finished trace's files. */
export type Upload = (files: Files) => Effect.Effect<void, SnapshotUploadError>

/**
 * The upload of one trace (the snapshot, then the core file when there is
 * one; log lines name `name`), and the URL's secrets, which the backend keeps
 * out of its tracer's environment.
 */
export const makePut = (
  options: PutOptions,
  name: string
): Effect.Effect<
  { readonly upload: Upload; readonly secrets: ReadonlyArray<Redacted.Redacted<string>> },
  TracerConfigError,
  Services
> =>
  Effect.gen(function*() {
    const url = yield* parseHttpUrl(options.url instanceof URL ? options.url.href : reveal(options.url), "put.url")
    const timeout = yield* Either.mapLeft(
      uploadTimeout(options.timeout),
      (reason) => new TracerConfigError({ field: "put.timeout", reason })
    )
    const ca = yield* readCa(options.ca, "put.ca")
    const send = yield* makeSend
    const base = {
      url,
      timeout,
      retry: options.retry ?? defaultRetry,
      unlink: options.unlink ?? false,
      name,
      ...(ca === undefined ? {} : { ca })
    }
    const withCore = options.core ?? true
    const upload: Upload = (files) =>
      Effect.gen(function*() {
        yield* send(files.snapshot, { ...base, contentType: "text/plain; charset=utf-8" })
        const core = Option.filter(
          files.core,
          (file) => withCore && (fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0
        )
        if (Option.isSome(core)) {
          yield* send(core.value, { ...base, contentType: "application/octet-stream" })
        }
      })
    return { upload, secrets: secretsOf(url).map(Redacted.make) }
  })
