/**
 * The `put` variables of the text-snapshot backends (gdb, eu-stack): where
 * to send (`BCD_ENDPOINT` and `BCD_TOKEN`, as for the Backtrace backend, or
 * `BCD_PUT_URL`), in which format (`BCD_PUT_FORMAT`), and the report's
 * application (`BCD_APPLICATION`, `BCD_APPLICATION_VERSION`).
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Option from "effect/Option"
import type { PutOptions } from "../../Gdb.js"
import { commonPut, somes } from "../core/config.js"
import { FORMATS } from "../jsonReport/url.js"

const fields = Config.all({
  endpoint: Config.option(Config.redacted("BCD_ENDPOINT")),
  token: Config.option(Config.redacted("BCD_TOKEN")),
  url: Config.option(Config.redacted("BCD_PUT_URL")),
  format: Config.option(Config.literal(...FORMATS)("BCD_PUT_FORMAT")),
  application: Config.option(Config.nonEmptyString("BCD_APPLICATION")),
  version: Config.option(Config.nonEmptyString("BCD_APPLICATION_VERSION")),
  shared: commonPut
})

/**
 * The put options, present when `BCD_ENDPOINT` or `BCD_PUT_URL` is set;
 * `core` is the gdb backend's `BCD_PUT_CORE`.
 */
export const putConfig = (
  core: Config.Config<Option.Option<boolean>> = Config.succeed(Option.none())
): Config.Config<Option.Option<PutOptions>> =>
  Config.map(
    Config.all({ fields, core }),
    ({ core, fields: { shared, ...rest } }) =>
      Option.isNone(rest.endpoint) && Option.isNone(rest.url)
        ? Option.none()
        : Option.some({ ...somes({ ...rest, core }), ...somes(shared) })
  )
