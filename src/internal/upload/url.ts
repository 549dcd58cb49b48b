/**
 * Upload URLs, checked once when a layer is built: `http:` or `https:`, with
 * a host. Errors never quote the URL (it may hold a token).
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { TracerConfigError } from "../../TraceError.js"

/** A string, or the value inside a `Redacted`. */
export const reveal = (value: string | Redacted.Redacted<string>): string =>
  Redacted.isRedacted(value) ? Redacted.value(value) : value

/**
 * `raw` as an http(s) URL, or a `TracerConfigError` on `field`. `unusable`
 * is the reason given when it does not parse.
 */
export const parseHttpUrl = (
  raw: string,
  field: string,
  unusable = "is not a valid URL"
): Either.Either<URL, TracerConfigError> => {
  const bad = (reason: string) => Either.left(new TracerConfigError({ field, reason }))
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return bad(unusable)
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return bad(`must be http or https, not ${url.protocol.slice(0, -1)}`)
  }
  if (url.hostname === "") return bad("names no host")
  return Either.right(url)
}
