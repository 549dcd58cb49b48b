/**
 * The pure parts of uploading: default retry and timeout, redaction of the
 * URL's secrets, `Retry-After`. Kept apart from `upload.ts` so that checking
 * options does not load the HTTP client.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

/** Exponential from 250 ms (×2, jittered), at most 4 retries, within 30 s of delays. */
export const defaultRetry: Schedule.Schedule<unknown, unknown> = Schedule.exponential("250 millis", 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(4)),
  Schedule.upTo("30 seconds")
)

/** The per-attempt default: 60 s. */
export const defaultTimeout: Duration.Duration = Duration.seconds(60)

/**
 * An upload's per-attempt deadline, checked: absent means {@link defaultTimeout};
 * it must be finite and positive, since an infinite one would let a stalled
 * server hold an upload (and, with `synchronousPut`, the trace) for ever.
 */
export const uploadTimeout = (input: Duration.DurationInput | undefined): Either.Either<Duration.Duration, string> => {
  if (input === undefined) return Either.right(defaultTimeout)
  const decoded = Option.liftThrowable(Duration.decode)(input)
  return Option.isSome(decoded) && Duration.isFinite(decoded.value) && Duration.toMillis(decoded.value) > 0
    ? Either.right(decoded.value)
    : Either.left("not a finite positive duration")
}

/** The URL with every secret removed: scheme, host and port, `/post` or `/…`, `?…`. */
export const redactUrl = (url: URL): string =>
  `${url.protocol}//${url.host}${url.pathname === "/post" || url.pathname === "/" ? url.pathname : "/…"}` +
  (url.search === "" ? "" : "?…")

/** The parts of `url` that are secret (token, submission path, password), longest first. */
export const secretsOf = (url: URL): ReadonlyArray<string> => {
  const secrets = new Set<string>([url.href, url.search.slice(1)])
  for (const [, value] of url.searchParams) {
    secrets.add(value)
    secrets.add(encodeURIComponent(value))
  }
  if (url.pathname !== "/post" && url.pathname !== "/") {
    secrets.add(url.pathname)
    for (const segment of url.pathname.split("/")) {
      if (segment.length >= 8) {
        secrets.add(segment)
        secrets.add(decodeURIComponentSafe(segment))
      }
    }
  }
  if (url.password !== "") secrets.add(url.password)
  return [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)
}

const decodeURIComponentSafe = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** Secrets shorter than this are scrubbed only where they stand alone, not inside a longer word. */
const SHORT = 4

/** Every spelling of one character in a URL: itself, its UTF-8 bytes percent-encoded (any hex case), `+` for a space. */
const spellingsOf = (char: string): string => {
  const bytes = [...Buffer.from(char)].map((b) => {
    const hex = b.toString(16).padStart(2, "0")
    return `%${[...hex].map((h) => (/[a-f]/.test(h) ? `[${h}${h.toUpperCase()}]` : h)).join("")}`
  }).join("")
  const itself = char.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&")
  return `(?:${itself}|${bytes}${char === " " ? "|\\+" : ""})`
}

/**
 * A pattern that matches `secret` however a URL or a server's echo of it may
 * spell it: raw, `encodeURIComponent`, form-encoded (`+` for a space, `~ ! ' ( )`
 * encoded or not), every byte percent-encoded, or any mix, in any hex case.
 * A short secret matches only where it stands alone: a one-letter token would
 * otherwise blank every such letter of the message.
 */
const patternOf = (secret: string): string => {
  const body = [...secret].map(spellingsOf).join("")
  return secret.length < SHORT ? `(?<![A-Za-z0-9])${body}(?![A-Za-z0-9])` : body
}

/** The parts of `url` that {@link scrub} removes: every query value, the password, a submission path's parts. */
const scrubbedOf = (url: URL): ReadonlyArray<string> => {
  const secrets = new Set<string>([...url.searchParams.values()])
  if (url.password !== "") secrets.add(decodeURIComponentSafe(url.password))
  if (url.pathname !== "/post" && url.pathname !== "/") {
    secrets.add(decodeURIComponentSafe(url.pathname))
    for (const segment of url.pathname.split("/")) if (segment.length >= 8) secrets.add(decodeURIComponentSafe(segment))
  }
  return [...secrets].filter((s) => s !== "").sort((a, b) => b.length - a.length)
}

/**
 * Removes the URL's secrets (every query value, the password, a submission
 * path) from `text`, in every spelling a URL can hold; see {@link patternOf}.
 */
export const scrub = (url: URL, text: string): string => {
  const secrets = scrubbedOf(url)
  return secrets.length === 0 ? text : text.replace(new RegExp(secrets.map(patternOf).join("|"), "g"), "<redacted>")
}

/** `Retry-After` as seconds or an HTTP date, bounded by `max`. */
export const parseRetryAfter = (
  value: string | undefined,
  max: Duration.Duration,
  now: number = Date.now()
): Duration.Duration | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const trimmed = value.trim()
  const millis = /^\d+$/.test(trimmed) ? Number(trimmed) * 1000 : Date.parse(trimmed) - now
  if (!Number.isFinite(millis)) return undefined
  return Duration.min(Duration.millis(Math.max(0, millis)), max)
}
