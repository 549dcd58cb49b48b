/**
 * Reading options through `Config`, with a malformed variable reported as a
 * `TracerConfigError` (`field: "environment"`) whose message names it.
 *
 * @internal
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import { TracerConfigError } from "../../TraceError.js"

/** Loads `config`, turning a `ConfigError` into a `TracerConfigError` that names the variable. */
export const loadConfig = <A>(config: Config.Config<A>): Effect.Effect<A, TracerConfigError> =>
  Effect.mapError(config, (error) => new TracerConfigError({ field: "environment", reason: String(error) }))
