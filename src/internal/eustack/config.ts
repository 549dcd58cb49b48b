/**
 * `EuStack.Options` read through `Config` (the environment by default). The
 * variables shared with the other backends (`BCD_OUTPUT_DIR`, `BCD_PROGRAM`,
 * `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`, `BCD_ENDPOINT`,
 * `BCD_TOKEN`, `BCD_PUT_URL`, `BCD_UNLINK`, `BCD_PUT_TIMEOUT`) mean the same
 * here.
 *
 * @internal
 */
import * as Config from "effect/Config"
import type { Options } from "../../EuStack.js"
import { backendOptions } from "../core/config.js"
import { putConfig } from "../snapshot/putConfig.js"

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  euStackPath: Config.option(Config.nonEmptyString("BCD_EU_STACK_PATH")),
  program: Config.option(Config.nonEmptyString("BCD_PROGRAM")),
  put: putConfig()
})
