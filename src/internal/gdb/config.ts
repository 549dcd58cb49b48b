/**
 * `Gdb.Options` read through `Config` (the environment by default). The
 * variables shared with the Backtrace backend (`BCD_OUTPUT_DIR`,
 * `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`, `BCD_UNLINK`,
 * `BCD_PUT_TIMEOUT`) mean the same here.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../Gdb.js"
import { backendOptions, commonPut, somes } from "../core/config.js"

const put: Config.Config<Option.Option<PutOptions>> = Config.all({
  url: Config.option(Config.redacted("BCD_PUT_URL")),
  core: Config.option(Config.boolean("BCD_PUT_CORE")),
  shared: commonPut
}).pipe(
  Config.map(({ shared, url, ...rest }) =>
    Option.map(url, (url): PutOptions => ({ url, ...somes(rest), ...somes(shared) }))
  )
)

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  gdbPath: Config.option(Config.nonEmptyString("BCD_GDB_PATH")),
  program: Config.option(Config.nonEmptyString("BCD_PROGRAM")),
  full: Config.option(Config.boolean("BCD_GDB_FULL")),
  core: Config.option(Config.boolean("BCD_GDB_CORE")),
  maxCoreSize: Config.option(Config.integer("BCD_GDB_MAX_CORE_SIZE")),
  keepPartialCores: Config.option(Config.boolean("BCD_GDB_KEEP_PARTIAL_CORES")),
  put
})
