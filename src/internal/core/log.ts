/**
 * The library's own log lines: Effect's logger, annotated with the backend's
 * name, and filtered by `TracerConfig.logLevel` (Error by default) so that a
 * host program at Debug does not get our chatter unless it asks for it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import { TracerConfig } from "../../TracerConfig.js"

export const log = (level: LogLevel.LogLevel, backend: string, message: string): Effect.Effect<void> =>
  Effect.flatMap(TracerConfig, (config) =>
    LogLevel.greaterThanEqual(level, config.logLevel)
      ? Effect.logWithLevel(level, message).pipe(Effect.annotateLogs("bcd", backend))
      : Effect.void)
