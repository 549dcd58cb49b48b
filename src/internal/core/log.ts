/**
 * The library's own log lines: Effect's logger, annotated with the backend's
 * name, and filtered by `TracerConfig.logLevel` (Error by default) so that a
 * host program at Debug does not get our chatter unless it asks for it.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as LogLevel from "effect/LogLevel"
import { TracerConfig } from "../../TracerConfig.js"

export const log = (level: LogLevel.LogLevel, backend: string, message: string): Effect.Effect<void> =>
  Effect.flatMap(TracerConfig, (config) =>
    LogLevel.greaterThanEqual(level, config.logLevel)
      ? Effect.logWithLevel(level, message).pipe(Effect.annotateLogs("bcd", backend))
      : Effect.void)

/** Repeated lines are summarised over this window. */
const WINDOW_MS = 10_000
/** At most this many distinct lines are remembered; beyond, the memory starts over. */
const MAX_KEYS = 256

interface Seen {
  at: number
  repeats: number
}

const seen: Map<string, Seen> = globalValue(Symbol.for("effect-bcd/internal/log/seen"), () => new Map())

/**
 * {@link log}, but a line already logged within the last 10 s is counted
 * instead; the next one after the window says how many were left out. A
 * storm of identical failures gives one line per 10 s, not one per trace.
 * No timer is involved, so nothing keeps the process alive.
 */
export const logSummarised = (level: LogLevel.LogLevel, backend: string, message: string): Effect.Effect<void> => {
  const key = `${backend}\0${message}`
  return Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const last = seen.get(key)
    if (last !== undefined && now - last.at < WINDOW_MS) {
      last.repeats++
      return Effect.void
    }
    if (last === undefined && seen.size >= MAX_KEYS) seen.clear()
    seen.set(key, { at: now, repeats: 0 })
    const repeats = last?.repeats ?? 0
    return log(
      level,
      backend,
      repeats === 0
        ? message
        : `${message} (and ${repeats} more like it in the last ${Math.round((now - last!.at) / 1000)} s)`
    )
  })
}
