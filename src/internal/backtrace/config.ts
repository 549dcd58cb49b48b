/**
 * `Backtrace.Options` read through `Config` (the environment by default).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Options, PutOptions } from "../../Backtrace.js"
import { backendOptions, commonPut, list, octal, somes } from "../core/config.js"
import { sharedMode, sharedModeReason } from "../core/validate.js"

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

/** `BCD_PERMISSIONS`, refused when it opens the folder to others without `BCD_ALLOW_SHARED_PERMISSIONS=true`. */
const permissions: Config.Config<Option.Option<number>> = Config.all({
  mode: Config.option(octal("BCD_PERMISSIONS")),
  shared: Config.withDefault(Config.boolean("BCD_ALLOW_SHARED_PERMISSIONS"), false)
}).pipe(Config.mapOrFail(({ mode, shared }) =>
  Option.isSome(mode) && sharedMode(mode.value) && !shared
    ? Either.left(
      ConfigError.InvalidData(["BCD_PERMISSIONS"], sharedModeReason(mode.value, "BCD_ALLOW_SHARED_PERMISSIONS=true"))
    )
    : Either.right(mode)
))

/** The options from `BCD_*` variables; absent variables keep the defaults. */
export const config: Config.Config<Options> = backendOptions({
  tracerPath: Config.option(Config.nonEmptyString("BCD_TRACER_PATH")),
  permissions,
  allowSharedPermissions: Config.option(Config.boolean("BCD_ALLOW_SHARED_PERMISSIONS")),
  args: list("BCD_TRACER_ARGS"),
  stdin: Config.option(Config.nonEmptyString("BCD_TRACER_STDIN")),
  stderr: Config.option(Config.nonEmptyString("BCD_TRACER_STDERR")),
  errorMessage: Config.option(Config.literal("argv", "omit")("BCD_ERROR_MESSAGE")),
  signals: Config.map(list("BCD_SIGNALS"), Option.map((names) => names as ReadonlyArray<NodeJS.Signals>)),
  put
})
