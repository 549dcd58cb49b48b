/**
 * `Backtrace.Options` read through `Config` (the environment by default).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../Backtrace.js"
import type { TracerConfigError } from "../../TraceError.js"
import { loadConfig } from "../core/config.js"
import type * as TraceOptions from "../../TraceOptions.js"

export const list = (name: string) => Config.option(Config.array(Config.string(), name))

const octal = (name: string) =>
  Config.mapOrFail(Config.string(name), (text) =>
    /^(0o?)?[0-7]{1,4}$/.test(text.trim())
      ? Either.right(parseInt(text.trim().replace(/^0o/, ""), 8))
      : Either.left(ConfigError.InvalidData([name], `Expected an octal file mode such as 0700, got "${text}"`)))

export const attributes = Config.mapOrFail(Config.array(Config.string(), "BCD_ATTRIBUTES"), (pairs) => {
  const record: Record<string, string> = {}
  for (const pair of pairs) {
    const colon = pair.indexOf(":")
    if (colon <= 0) {
      return Either.left(ConfigError.InvalidData(["BCD_ATTRIBUTES"], `Expected key:value pairs, got "${pair}"`))
    }
    record[pair.slice(0, colon).trim()] = pair.slice(colon + 1)
  }
  return Either.right(record)
})

export const timeout: Config.Config<TraceOptions.Timeout> = Config.mapOrFail(Config.string("BCD_TIMEOUT"), (text): Either.Either<TraceOptions.Timeout, ConfigError.ConfigError> => {
  if (text.trim() === "none") return Either.right("none")
  const decoded = Option.liftThrowable(Duration.decode)(text.trim() as Duration.DurationInput)
  return Option.match(decoded, {
    onNone: () => Either.left(ConfigError.InvalidData(["BCD_TIMEOUT"], `Expected a duration or "none", got "${text}"`)),
    onSome: (duration) => Either.right(duration)
  })
})

export const some = <K extends string, A>(key: K, value: Option.Option<A>): { [P in K]?: A } =>
  Option.match(value, { onNone: () => ({}), onSome: (a) => ({ [key]: a }) as { [P in K]?: A } })

const put: Config.Config<Option.Option<PutOptions>> = Config.all({
  // Redacted: a full submission URL holds the token.
  endpoint: Config.option(Config.redacted(Config.nonEmptyString("BCD_ENDPOINT"))),
  token: Config.option(Config.redacted("BCD_TOKEN")),
  unlink: Config.option(Config.boolean("BCD_UNLINK")),
  onTrace: Config.option(Config.boolean("BCD_PUT_ON_TRACE")),
  timeout: Config.option(Config.duration("BCD_PUT_TIMEOUT")),
  concurrency: Config.option(Config.integer("BCD_PUT_CONCURRENCY"))
}).pipe(Config.map((c) =>
  Option.map(c.endpoint, (endpoint): PutOptions => ({
    endpoint,
    ...some("token", c.token),
    ...some("unlink", c.unlink),
    ...some("onTrace", c.onTrace),
    ...some("timeout", c.timeout),
    ...some("concurrency", c.concurrency)
  }))
))

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = Config.all({
  tracerPath: Config.option(Config.nonEmptyString("BCD_TRACER_PATH")),
  outputDir: Config.option(Config.nonEmptyString("BCD_OUTPUT_DIR")),
  permissions: Config.option(octal("BCD_PERMISSIONS")),
  attributes: Config.option(attributes),
  classifiers: list("BCD_CLASSIFIERS"),
  args: list("BCD_TRACER_ARGS"),
  stdin: Config.option(Config.nonEmptyString("BCD_TRACER_STDIN")),
  stderr: Config.option(Config.nonEmptyString("BCD_TRACER_STDERR")),
  signals: list("BCD_SIGNALS"),
  timeout: Config.option(timeout),
  put
}).pipe(Config.map((c): Options => ({
  ...some("tracerPath", c.tracerPath),
  ...some("outputDir", c.outputDir),
  ...some("permissions", c.permissions),
  ...some("attributes", c.attributes),
  ...some("classifiers", c.classifiers),
  ...some("args", c.args),
  ...some("stdin", c.stdin),
  ...some("stderr", c.stderr),
  ...some("signals", Option.map(c.signals, (s) => s.map((name) => name.trim() as NodeJS.Signals))),
  ...Option.match(c.timeout, { onNone: () => ({}), onSome: (timeout) => ({ defaultTraceOptions: { timeout } }) }),
  ...some("put", c.put)
})))

/** Loads `options`, turning a `ConfigError` into a `TracerConfigError` that names the variable. */
export const load: (options: Config.Config<Options>) => Effect.Effect<Options, TracerConfigError> = loadConfig
