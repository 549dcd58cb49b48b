/**
 * V8's stack lines (`    at fn (file:line:column)`) as frames, the way
 * Backtrace's own JavaScript SDK reads them (`V8StackTraceConverter` in
 * `@backtrace/sdk-core`): the function, the file as the frame's library, the
 * line and the column.
 *
 * @internal
 */

/** One JS frame. */
export interface JsFrame {
  readonly function: string
  /** The script (path or URL); `unknown` when V8 names none (`native`, `<anonymous>`). */
  readonly file: string
  readonly line?: number
  readonly column?: number
}

const AT = /^\s*at (.*)$/

/** `file:line:column`, `file:line`, or a file alone. */
const location = (text: string): Pick<JsFrame, "file" | "line" | "column"> => {
  const match = /^(.*?):(\d+)(?::(\d+))?$/.exec(text)
  if (match === null) return { file: text === "" || text === "<anonymous>" || text === "native" ? "unknown" : text }
  return {
    file: match[1] === "" ? "unknown" : match[1]!,
    line: Number(match[2]),
    ...(match[3] === undefined ? {} : { column: Number(match[3]) })
  }
}

/** One `at …` line's content: `fn (location)`, `fn (eval at …, location)`, `new Fn (…)`, or a bare location. */
export const jsFrame = (text: string): JsFrame => {
  const body = text.replace(/^async /, "")
  if (!body.endsWith(")") || !body.includes(" (")) return { function: "anonymous", ...location(body) }
  const open = body.indexOf(" (")
  const name = body.slice(0, open)
  let inner = body.slice(open + 2, -1)
  // `eval at f (file:1:2), <anonymous>:3:4`: the eval'd code's own position is after the last comma.
  if (inner.startsWith("eval at ")) inner = inner.slice(inner.lastIndexOf(", ") + 2)
  return { function: name === "" ? "anonymous" : name, ...location(inner) }
}

/**
 * The frames of the first stack in `text` (an `Error.stack`, or
 * `Cause.pretty`'s rendering): its consecutive `at` lines.
 */
export const jsFrames = (text: string): ReadonlyArray<JsFrame> => {
  const frames: Array<JsFrame> = []
  for (const line of text.split("\n")) {
    const at = AT.exec(line)
    if (at !== null) frames.push(jsFrame(at[1]!.trim()))
    else if (frames.length > 0) break
  }
  return frames
}
