/**
 * The `BCD_*` variables shared by every backend, read through `Config`, and
 * their loading: a malformed variable becomes a `TracerConfigError`
 * (`field: "environment"`) whose message names it and whose `cause` is the
 * `ConfigError`.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { TracerConfigError } from "../../TraceError.js"
import type * as TraceOptions from "../../TraceOptions.js"

/** Loads `config`, turning a `ConfigError` into a `TracerConfigError` that names the variable. */
export const loadConfig = <A>(config: Config.Config<A>): Effect.Effect<A, TracerConfigError> =>
  Effect.mapError(
    config,
    (error) => new TracerConfigError({ field: "environment", reason: String(error), cause: error })
  )

/** The present fields of a record of options: `{ a: Some(1), b: None }` is `{ a: 1 }`. */
export const somes = <T extends Record<string, Option.Option<unknown>>>(
  record: T
): { -readonly [K in keyof T]?: Option.Option.Value<T[K]> } => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(record)) if (Option.isSome(value)) out[key] = value.value
  return out as { -readonly [K in keyof T]?: Option.Option.Value<T[K]> }
}

/** A comma-separated list, each entry trimmed. */
export const list = (name: string): Config.Config<Option.Option<ReadonlyArray<string>>> =>
  Config.option(Config.map(Config.array(Config.string(), name), (items) => items.map((item) => item.trim())))

/** An octal file mode such as `0700`. */
export const octal = (name: string): Config.Config<number> =>
  Config.mapOrFail(Config.string(name), (text) =>
    /^(0o?)?[0-7]{1,4}$/.test(text.trim())
      ? Either.right(parseInt(text.trim().replace(/^0o/, ""), 8))
      : Either.left(ConfigError.InvalidData([name], `Expected an octal file mode such as 0700, got "${text}"`)))

/**
 * Splits `BCD_ATTRIBUTES` on its unescaped commas: `\,` is a comma inside a
 * value, `\\` a backslash. The pairs, unescaped, or why the text is malformed.
 */
const splitPairs = (text: string): Either.Either<ReadonlyArray<string>, string> => {
  const pairs: Array<string> = []
  let current = ""
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "\\") {
      const next = text[i + 1]
      if (next !== "," && next !== "\\") return Either.left(`a backslash must be followed by "," or "\\" (at ${i})`)
      current += next
      i++
    } else if (c === ",") {
      pairs.push(current)
      current = ""
    } else {
      current += c
    }
  }
  pairs.push(current)
  return Either.right(pairs)
}

/**
 * Why `key` cannot be an attribute key, if it cannot: empty, holding `:`
 * (a tracer splits `key:value` at the first one), starting with `-`, or
 * holding a NUL byte, a newline or another control character.
 */
export const badAttributeKey = (key: string): string | undefined =>
  key === ""
    ? "an attribute key is empty"
    : key.includes(":")
    ? `attribute key ${JSON.stringify(key)} holds ':'`
    : key.startsWith("-")
    ? `attribute key ${JSON.stringify(key)} starts with '-'`
    : /[\u0000-\u001f\u007f]/.test(key)
    ? `attribute key ${JSON.stringify(key)} holds a NUL byte, a newline or another control character`
    : undefined

/**
 * `BCD_ATTRIBUTES`: `key:value` pairs, comma-separated; a comma inside a
 * value is written `\,` (a backslash `\\`). A pair without `:`, a bad key
 * ({@link badAttributeKey}) or a key given twice is refused, never split or
 * dropped silently.
 */
export const attributes: Config.Config<Record<string, string>> = Config.mapOrFail(
  Config.string("BCD_ATTRIBUTES"),
  (text) => {
    const invalid = (why: string) => Either.left(ConfigError.InvalidData(["BCD_ATTRIBUTES"], why))
    const split = splitPairs(text)
    if (Either.isLeft(split)) return invalid(split.left)
    const record: Record<string, string> = {}
    for (const pair of split.right) {
      const colon = pair.indexOf(":")
      if (colon < 0) return invalid(`Expected key:value pairs (a comma in a value is "\\,"), got "${pair}"`)
      const key = pair.slice(0, colon).trim()
      const bad = badAttributeKey(key)
      if (bad !== undefined) return invalid(bad)
      if (Object.hasOwn(record, key)) return invalid(`attribute key ${JSON.stringify(key)} is given twice`)
      record[key] = pair.slice(colon + 1)
    }
    return Either.right(record)
  }
)

/**
 * Whether `input` is a negative duration, which `Duration.decode` would
 * silently make 0: a negative number or bigint, or text starting with `-`.
 */
export const isNegative = (input: Duration.DurationInput | string): boolean =>
  (typeof input === "number" && input < 0) || (typeof input === "bigint" && input < 0n) ||
  (typeof input === "string" && input.trim().startsWith("-"))

/** Reads `text` as a duration that is not negative (`Duration` would make a negative one 0), and not 0 if `positive`. */
const durationText = (
  name: string,
  text: string,
  positive: boolean
): Either.Either<Duration.Duration, ConfigError.ConfigError> => {
  const invalid = (why: string) => Either.left(ConfigError.InvalidData([name], `${why}, got "${text}"`))
  const trimmed = text.trim()
  if (isNegative(trimmed)) return invalid("Expected a duration that is not negative")
  return Option.match(Duration.decodeUnknown(trimmed), {
    onNone: () => invalid(`Expected a duration such as "5 seconds"`),
    onSome: (d) => positive && Duration.isZero(d) ? invalid("Expected a duration longer than 0") : Either.right(d)
  })
}

/**
 * A duration variable, as `Config.duration` reads it, but refused when
 * negative (which `Duration` silently makes 0) and, if `positive`, when 0.
 */
export const duration = (name: string, positive = false): Config.Config<Duration.Duration> =>
  Config.mapOrFail(Config.string(name), (text) => durationText(name, text, positive))

/** `BCD_TIMEOUT`: a duration longer than 0, or `none`. */
export const timeout: Config.Config<TraceOptions.Timeout> = Config.mapOrFail(
  Config.string("BCD_TIMEOUT"),
  (text): Either.Either<TraceOptions.Timeout, ConfigError.ConfigError> =>
    text.trim() === "none" ? Either.right("none") : durationText("BCD_TIMEOUT", text, true)
)

/** The variables every backend reads: `BCD_OUTPUT_DIR`, `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`. */
export const common = Config.all({
  outputDir: Config.option(Config.nonEmptyString("BCD_OUTPUT_DIR")),
  attributes: Config.option(attributes),
  classifiers: list("BCD_CLASSIFIERS"),
  timeout: Config.option(timeout)
})

/** The upload variables every backend reads: `BCD_UNLINK`, `BCD_PUT_TIMEOUT`, `BCD_PUT_CA`. */
export const commonPut = Config.all({
  unlink: Config.option(Config.boolean("BCD_UNLINK")),
  timeout: Config.option(duration("BCD_PUT_TIMEOUT", true)),
  ca: Config.option(Config.nonEmptyString("BCD_PUT_CA"))
})

/** `defaultTraceOptions` holding the timeout, when `BCD_TIMEOUT` is set. */
export const timeoutOptions = (
  timeout: Option.Option<TraceOptions.Timeout>
): { readonly defaultTraceOptions?: TraceOptions.TraceOptions } =>
  Option.match(timeout, { onNone: () => ({}), onSome: (t) => ({ defaultTraceOptions: { timeout: t } }) })

/**
 * A backend's options from `BCD_*` variables: its own `fields` (each an
 * optional value) with the shared ones ({@link common}); absent variables are
 * left out, so the defaults apply.
 */
export const backendOptions = <F extends Record<string, Config.Config<Option.Option<unknown>>>>(fields: F) =>
  Config.map(Config.all({ common, own: Config.all(fields) }), ({ common: { timeout, ...shared }, own }) => ({
    ...somes(shared),
    ...(somes(own as Record<string, Option.Option<unknown>>) as {
      [K in keyof F]?: Config.Config.Success<F[K]> extends Option.Option<infer A> ? A : never
    }),
    ...timeoutOptions(timeout)
  }))
