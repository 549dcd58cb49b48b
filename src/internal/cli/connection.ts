/**
 * The options that name the server: `--endpoint` (or `BCD_ENDPOINT`) and
 * `--token` (or `BCD_TOKEN`). Both are redacted: an endpoint may hold the
 * token, and neither is ever printed.
 *
 * @internal
 */
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"

/** `--endpoint`, falling back to `BCD_ENDPOINT`. */
export const endpoint = Options.redacted("endpoint").pipe(
  Options.withFallbackConfig(Config.redacted("BCD_ENDPOINT")),
  Options.withDescription(
    "The Backtrace server: host, host:port, https://host, or a full submission URL (BCD_ENDPOINT)"
  )
)

/** `--token`, falling back to `BCD_TOKEN`; absent when the endpoint holds it. */
export const token = Options.redacted("token").pipe(
  Options.withFallbackConfig(Config.redacted("BCD_TOKEN")),
  Options.optional,
  Options.withDescription(
    "The submission token (BCD_TOKEN; prefer the variable: other users can read a process's arguments)"
  )
)

/** `--json`. */
export const json = Options.boolean("json").pipe(
  Options.withDescription("Print the result as one JSON object on stdout")
)
