/**
 * The command's log lines, on stderr (stdout is the command's result, JSON
 * with `--json`): `effect-bcd: [backend] warn: message`. While a progress
 * bar is drawn they go above it, through {@link toLines}.
 *
 * @internal
 */
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"

const format = Logger.make(({ annotations, logLevel, message }) => {
  const backend = Option.match(HashMap.get(annotations, "bcd"), { onNone: () => "", onSome: (b) => `[${b}] ` })
  const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
  return `effect-bcd: ${backend}${logLevel.label.toLowerCase()}: ${text}`
})

/** Every log line to stderr. */
export const stderr = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(format))

/** Every log line to `line` (a progress bar's). */
export const toLines = (line: (text: string) => void) => Logger.replace(Logger.defaultLogger, Logger.map(format, line))
