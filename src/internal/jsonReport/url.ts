/**
 * Where a text-snapshot backend's `put` sends, and in which format: a
 * Backtrace endpoint (`host[:port]` with a token, a URL with `?token=`, or
 * `submit.backtrace.io/<universe>/<token>/<format>`) gets a Backtrace JSON
 * report by default, any other URL the text file as it is.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import { TracerConfigError } from "../../TraceError.js"
import { endpointUrl } from "../backtrace/endpoint.js"
import { parseHttpUrl, reveal } from "../upload/url.js"

/** What a snapshot is sent as: a Backtrace JSON report with attachments, or the text file alone. */
export type Format = "backtrace-json" | "raw"

/** The formats, for validation. */
export const FORMATS: ReadonlyArray<Format> = ["backtrace-json", "raw"]

/** Where `put` sends: the options that say it. */
export interface Target {
  readonly url?: string | URL | Redacted.Redacted<string> | undefined
  readonly endpoint?: string | Redacted.Redacted<string> | undefined
  readonly token?: string | Redacted.Redacted<string> | undefined
  readonly format?: Format | undefined
}

const segments = (url: URL) => url.pathname.split("/").filter((s) => s !== "")

/** Whether `url` is a Backtrace submission URL: `/post` with a token, or `/<universe>/<token>/<format>`. */
const isBacktraceUrl = (url: URL): boolean =>
  (url.pathname === "/post" && url.searchParams.has("token")) ||
  (segments(url).length === 3 && !url.searchParams.has("token") && url.hostname.startsWith("submit."))

/**
 * The JSON submission URL of a Backtrace URL, as `@backtrace/sdk-core` 0.8
 * builds it: `/post?format=json&token=…`, or `/<universe>/<token>/json`.
 */
const jsonUrl = (url: URL): URL => {
  const out = new URL(url.href)
  const parts = segments(out)
  if (out.pathname !== "/post" && parts.length === 3) {
    out.pathname = `/${parts[0]}/${parts[1]}/json`
    return out
  }
  const rest = [...out.searchParams].filter(([key]) => key !== "format")
  out.search = new URLSearchParams([["format", "json"], ...rest]).toString()
  return out
}

/** The URL and the format of `put`, or a `TracerConfigError` that never quotes the URL. */
export const resolveTarget = (
  target: Target
): Either.Either<{ readonly url: URL; readonly format: Format }, TracerConfigError> => {
  if ((target.url === undefined) === (target.endpoint === undefined)) {
    return Either.left(
      new TracerConfigError({
        field: "put",
        reason: "give exactly one of put.endpoint (a Backtrace endpoint, with put.token) and put.url (any receiver)"
      })
    )
  }
  if (target.format !== undefined && !FORMATS.includes(target.format)) {
    return Either.left(new TracerConfigError({ field: "put.format", reason: `must be one of ${FORMATS.join(", ")}` }))
  }
  const parsed = target.endpoint !== undefined
    ? endpointUrl(target.endpoint, target.token)
    : parseHttpUrl(target.url instanceof URL ? target.url.href : reveal(target.url!), "put.url")
  return Either.map(parsed, (url) => {
    // endpointUrl gives a Backtrace URL, or fails.
    const backtrace = target.endpoint !== undefined || isBacktraceUrl(url)
    const format = target.format ?? (backtrace ? "backtrace-json" : "raw")
    return { url: format === "backtrace-json" && backtrace ? jsonUrl(url) : url, format }
  })
}
