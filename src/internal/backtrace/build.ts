/**
 * Building the Backtrace backend and its uploader from checked options.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Options, Uploader } from "../../Backtrace.js"
import type { TracerConfigError } from "../../TraceError.js"
import type { TracerBackend } from "../../TracerBackend.js"
import type { Services } from "../upload/file.js"
import { secretsOf } from "../upload/policy.js"
import { makeSend } from "../upload/sender.js"
import { backend } from "./backend.js"
import { validate } from "./options.js"
import { makeUploader, uploadWith } from "./uploader.js"

/** The backend and the uploader for `options`, checked; uploads bind the platform services once. */
export const build = (options: Options): Effect.Effect<
  { readonly backend: TracerBackend; readonly uploader: Uploader },
  TracerConfigError,
  Services
> =>
  Effect.gen(function*() {
    const { put, settings } = yield* validate(options)
    const upload = Option.isNone(put) ? Option.none() : Option.some({ settings: put.value, send: yield* makeSend })
    const onTrace = Option.map(Option.filter(upload, (u) => u.settings.onTrace), (u) => uploadWith(u.send, u.settings))
    const secrets = Option.match(put, { onNone: () => [], onSome: (p) => secretsOf(p.url).map(Redacted.make) })
    return { backend: backend(settings, onTrace, secrets), uploader: makeUploader(upload) }
  })
