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

/** `BCD_ATTRIBUTES`: `key:value` pairs, comma-separated. */
export const attributes: Config.Config<Record<string, string>> = Config.mapOrFail(
  Config.array(Config.string(), "BCD_ATTRIBUTES"),
  (pairs) => {
    const record: Record<string, string> = {}
    for (const pair of pairs) {
      const colon = pair.indexOf(":")
      if (colon <= 0) {
        return Either.left(ConfigError.InvalidData(["BCD_ATTRIBUTES"], `Expected key:value pairs, got "${pair}"`))
      }
      record[pair.slice(0, colon).trim()] = pair.slice(colon + 1)
    }
    return Either.right(record)
  }
)

/** `BCD_TIMEOUT`: a duration, or `none`. */
export const timeout: Config.Config<TraceOptions.Timeout> = Config.mapOrFail(
  Config.string("BCD_TIMEOUT"),
  (text): Either.Either<TraceOptions.Timeout, ConfigError.ConfigError> => {
    if (text.trim() === "none") return Either.right("none")
    return Option.match(Option.liftThrowable(Duration.decode)(text.trim() as Duration.DurationInput), {
      onNone: () =>
        Either.left(ConfigError.InvalidData(["BCD_TIMEOUT"], `Expected a duration or "none", got "${text}"`)),
      onSome: (duration) => Either.right(duration)
    })
  }
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
  timeout: Config.option(Config.duration("BCD_PUT_TIMEOUT")),
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
