/**
 * Uploading a gdb snapshot (and its core file) with the shared streaming
 * uploader, bound once to the layer's platform services.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import type { Plan, PutOptions } from "../../Gdb.js"
import { TracerConfigError } from "../../TraceError.js"
import type { Services } from "../upload/file.js"
import { defaultRetry, secretsOf, uploadTimeout } from "../upload/policy.js"
import { makeSend } from "../upload/sender.js"
import { parseHttpUrl, reveal } from "../upload/url.js"
import type { Upload } from "./backend.js"

/** The upload of one trace (the snapshot, then the core file when there is one), and the URL's secrets. */
export const makePut = (
  options: PutOptions
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
    const send = yield* makeSend
    const base = { url, timeout, retry: options.retry ?? defaultRetry, unlink: options.unlink ?? false, name: "gdb" }
    const withCore = options.core ?? true
    const upload: Upload = (plan: Plan) =>
      Effect.gen(function*() {
        yield* send(plan.snapshot, { ...base, contentType: "text/plain; charset=utf-8" })
        const core = Option.filter(
          plan.core,
          (file) => withCore && (fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0
        )
        if (Option.isSome(core)) {
          yield* send(core.value, { ...base, contentType: "application/octet-stream" })
        }
      })
    return { upload, secrets: secretsOf(url).map(Redacted.make) }
  })
