/**
 * `EuStack.Options` read through `Config` (the environment by default). The
 * variables shared with the other backends (`BCD_OUTPUT_DIR`, `BCD_PROGRAM`,
 * `BCD_ATTRIBUTES`, `BCD_CLASSIFIERS`, `BCD_TIMEOUT`, `BCD_PUT_URL`,
 * `BCD_UNLINK`, `BCD_PUT_TIMEOUT`) mean the same here.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../EuStack.js"
import { backendOptions, commonPut, somes } from "../core/config.js"

const put: Config.Config<Option.Option<PutOptions>> = Config.all({
  url: Config.option(Config.redacted("BCD_PUT_URL")),
  shared: commonPut
}).pipe(
  Config.map(({ shared, url }) => Option.map(url, (url): PutOptions => ({ url, ...somes(shared) })))
)

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  euStackPath: Config.option(Config.nonEmptyString("BCD_EU_STACK_PATH")),
  program: Config.option(Config.nonEmptyString("BCD_PROGRAM")),
  put
})
