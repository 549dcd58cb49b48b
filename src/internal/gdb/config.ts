/**
 * `Gdb.Options` read through `Config` (the environment by default). The
 * variables shared with the Backtrace backend (`BCD_OUTPUT_DIR`,
 * `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`, `BCD_UNLINK`,
 * `BCD_PUT_TIMEOUT`) mean the same here.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../Gdb.js"
import type { TracerConfigError } from "../../TraceError.js"
import { loadConfig } from "../core/config.js"
import { attributes, list, some, timeout } from "../backtrace/config.js"

const put: Config.Config<Option.Option<PutOptions>> = Config.all({
  url: Config.option(Config.redacted("BCD_PUT_URL")),
  unlink: Config.option(Config.boolean("BCD_UNLINK")),
  timeout: Config.option(Config.duration("BCD_PUT_TIMEOUT")),
  core: Config.option(Config.boolean("BCD_PUT_CORE"))
}).pipe(Config.map((c) =>
  Option.map(c.url, (url): PutOptions => ({
    url,
    ...some("unlink", c.unlink),
    ...some("timeout", c.timeout),
    ...some("core", c.core)
  }))
))

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = Config.all({
  gdbPath: Config.option(Config.nonEmptyString("BCD_GDB_PATH")),
  outputDir: Config.option(Config.nonEmptyString("BCD_OUTPUT_DIR")),
  program: Config.option(Config.nonEmptyString("BCD_PROGRAM")),
  attributes: Config.option(attributes),
  classifiers: list("BCD_CLASSIFIERS"),
  full: Config.option(Config.boolean("BCD_GDB_FULL")),
  core: Config.option(Config.boolean("BCD_GDB_CORE")),
  maxCoreSize: Config.option(Config.integer("BCD_GDB_MAX_CORE_SIZE")),
  timeout: Config.option(timeout),
  put
}).pipe(Config.map((c): Options => ({
  ...some("gdbPath", c.gdbPath),
  ...some("outputDir", c.outputDir),
  ...some("program", c.program),
  ...some("attributes", c.attributes),
  ...some("classifiers", c.classifiers.pipe(Option.map((names) => names.map((n) => n.trim())))),
  ...some("full", c.full),
  ...some("core", c.core),
  ...some("maxCoreSize", c.maxCoreSize),
  ...Option.match(c.timeout, { onNone: () => ({}), onSome: (timeout) => ({ traceOptions: { timeout } }) }),
  ...some("put", c.put)
})))

/** Loads `options`, turning a `ConfigError` into a `TracerConfigError` that names the variable. */
export const load: (options: Config.Config<Options>) => Effect.Effect<Options, TracerConfigError> = loadConfig
