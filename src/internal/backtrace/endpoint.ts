/**
 * Backtrace submission URLs (Go's `ConfigurePut`), done right: the token is
 * URL-encoded, IPv6 literals keep their port, `host:port` needs no scheme,
 * and a full submission URL is used as it is. No error names the token.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type * as Redacted from "effect/Redacted"
import { TracerConfigError } from "../../TraceError.js"
import { parseHttpUrl, reveal } from "../upload/url.js"

/** coronerd's default submission port. */
export const DEFAULT_PORT = 6098

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//

const fail = (field: string, reason: string) => Either.left(new TracerConfigError({ field, reason }))

/** Brackets a bare IPv6 literal (`::1`, `fe80::1`) so it parses as a host. */
const bracketIPv6 = (authority: string): string => {
  const colons = authority.split(":").length - 1
  return colons >= 2 && !authority.startsWith("[") && /^[0-9a-fA-F:.%]+$/.test(authority) ? `[${authority}]` : authority
}

/** Splits `scheme://authority/rest` (scheme added when absent; `//authority/rest` is scheme-relative, as in Go). */
const split = (endpoint: string) => {
  const scheme = SCHEME.exec(endpoint)
  const rest = scheme ? endpoint.slice(scheme[0].length) : endpoint.startsWith("//") ? endpoint.slice(2) : endpoint
  const end = rest.search(/[/?#]/)
  const authority = end === -1 ? rest : rest.slice(0, end)
  const tail = end === -1 ? "" : rest.slice(end)
  return { scheme: scheme ? scheme[1]!.toLowerCase() : "https", authority: bracketIPv6(authority), tail }
}

/** Whether the authority names a port itself (`URL` hides a scheme's default one). `host:` names none. */
const hasExplicitPort = (authority: string): boolean => /(?:^|[\]\w.-]):\d+$/.test(authority.replace(/^.*@/, ""))

const segments = (pathname: string) => pathname.split("/").filter((s) => s !== "")

/**
 * The submission URL for `endpoint` and `token`.
 *
 * - `host`, `host:port`, `[v6]`, `[v6]:port`, bare `::1`, with or without
 *   `http://`/`https://` or a scheme-relative `//`: https by default, port 6098 by default, path
 *   `/post`, query `token=<token>` (URL-encoded) after any other parameters;
 * - a URL whose query already holds `token`, or a `submit.backtrace.io` style
 *   `/<universe>/<token>/<format>` path: used as it is (https by default); a
 *   `token` given as well is then ignored. Such an endpoint may come as a
 *   `Redacted`.
 */
export const endpointUrl = (
  endpoint: string | Redacted.Redacted<string>,
  token: string | Redacted.Redacted<string> | undefined
): Either.Either<URL, TracerConfigError> => {
  const trimmed = reveal(endpoint).trim()
  if (trimmed === "") return fail("put.endpoint", "the endpoint is empty")
  if (/[\s\0]/.test(trimmed)) return fail("put.endpoint", "the endpoint contains whitespace or a NUL byte")
  const parts = split(trimmed)
  if (parts.scheme !== "http" && parts.scheme !== "https") {
    return fail("put.endpoint", `unsupported scheme "${parts.scheme}:"; use https: or http:`)
  }
  if (parts.authority === "" || parts.authority.startsWith(":")) {
    return fail("put.endpoint", "the endpoint names no host")
  }
  const parsed = parseHttpUrl(
    `${parts.scheme}://${parts.authority}${parts.tail}`,
    "put.endpoint",
    "the endpoint is not a usable URL (expected host[:port] or a submission URL)"
  )
  if (Either.isLeft(parsed)) return parsed
  const url = parsed.right
  url.hash = ""
  // A full submission URL: keep it.
  if (url.searchParams.has("token")) {
    if (url.searchParams.get("token") === "") return fail("put.endpoint", "the endpoint's token parameter is empty")
    return Either.right(url)
  }
  const path = segments(url.pathname)
  if (path.length >= 3) return Either.right(url)
  if (path.length > 1 || (path.length === 1 && path[0] !== "post")) {
    return fail(
      "put.endpoint",
      `unexpected path on ${url.host}; give host[:port], a URL with ?token=, or /<universe>/<token>/<format>`
    )
  }
  const value = token === undefined ? "" : reveal(token)
  if (value.trim() === "") return fail("put.token", "the token is empty")
  if (value.includes("\0")) return fail("put.token", "the token contains a NUL byte")
  if (!hasExplicitPort(parts.authority)) url.port = String(DEFAULT_PORT)
  url.pathname = "/post"
  url.searchParams.set("token", value)
  return Either.right(url)
}
