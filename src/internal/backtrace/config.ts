/**
 * `Backtrace.Options` read through `Config` (the environment by default).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../Backtrace.js"
import { backendOptions, commonPut, list, octal, somes } from "../core/config.js"

const put: Config.Config<Option.Option<PutOptions>> = Config.all({
  // Redacted: a full submission URL holds the token.
  endpoint: Config.option(Config.redacted(Config.nonEmptyString("BCD_ENDPOINT"))),
  token: Config.option(Config.redacted("BCD_TOKEN")),
  onTrace: Config.option(Config.boolean("BCD_PUT_ON_TRACE")),
  concurrency: Config.option(Config.integer("BCD_PUT_CONCURRENCY")),
  shared: commonPut
}).pipe(
  Config.map(({ endpoint, shared, ...rest }) =>
    Option.map(endpoint, (endpoint): PutOptions => ({ endpoint, ...somes(rest), ...somes(shared) }))
  )
)

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  tracerPath: Config.option(Config.nonEmptyString("BCD_TRACER_PATH")),
  permissions: Config.option(octal("BCD_PERMISSIONS")),
  args: list("BCD_TRACER_ARGS"),
  stdin: Config.option(Config.nonEmptyString("BCD_TRACER_STDIN")),
  stderr: Config.option(Config.nonEmptyString("BCD_TRACER_STDERR")),
  signals: Config.map(list("BCD_SIGNALS"), Option.map((names) => names as ReadonlyArray<NodeJS.Signals>)),
  put
})
