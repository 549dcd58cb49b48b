/**
 * `Gdb.Options` read through `Config` (the environment by default). The
 * variables shared with the other backends (`BCD_OUTPUT_DIR`,
 * `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`, `BCD_ENDPOINT`,
 * `BCD_TOKEN`, `BCD_UNLINK`, `BCD_PUT_TIMEOUT`) mean the same here.
 *
 * @internal
 */
import * as Config from "effect/Config"
import type { Options } from "../../Gdb.js"
import { backendOptions } from "../core/config.js"
import { putConfig } from "../snapshot/putConfig.js"

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  gdbPath: Config.option(Config.nonEmptyString("BCD_GDB_PATH")),
  program: Config.option(Config.nonEmptyString("BCD_PROGRAM")),
  full: Config.option(Config.boolean("BCD_GDB_FULL")),
  core: Config.option(Config.boolean("BCD_GDB_CORE")),
  maxCoreSize: Config.option(Config.integer("BCD_GDB_MAX_CORE_SIZE")),
  keepPartialCores: Config.option(Config.boolean("BCD_GDB_KEEP_PARTIAL_CORES")),
  put: putConfig(Config.option(Config.boolean("BCD_PUT_CORE")))
})
