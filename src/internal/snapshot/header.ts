/**
 * A text snapshot's header: what the trace was for, written by the backend
 * before the tracer (gdb, eu-stack) appends its output to the same file.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Option from "effect/Option"
import type { TraceRequest } from "../../TracerBackend.js"
import { isCause, prettyCause, stackOf, UNPRINTABLE } from "../core/errorValue.js"

/** What the header says besides the request. */
export interface HeaderInfo {
  /** The tracer, named on the first line: `effect-bcd snapshot (<tracer>)`. */
  readonly tracer: string
  /** The last line: what follows the header. */
  readonly follows: string
  readonly time: Date
  readonly program: string
  readonly core: Option.Option<string>
  /** Why no core file is written although one was asked for. */
  readonly coreSkipped: Option.Option<string>
  /** Why a `callerOnly` trace shows every thread, when it does. */
  readonly callerOnlyFallback: Option.Option<string>
  /** Node's view of the process, sanitised (`report.ts`), when it is embedded. */
  readonly report?: string | undefined
}

/** Control characters other than tab and newline, shown escaped. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g

/** One value: control characters escaped, continuation lines indented. */
export const clean = (text: string, indent = "  "): string =>
  text
    .replace(/\r\n/g, "\n")
    .replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    .split("\n")
    .join(`\n${indent}`)

/** The longest stack or cause the header quotes, in characters: it is written while the trace holds the lock. */
export const MAX_DETAILS = 256 * 1024

const truncate = (text: string) =>
  text.length <= MAX_DETAILS
    ? text
    : `${text.slice(0, MAX_DETAILS)}\n...[truncated: ${text.length - MAX_DETAILS} more characters]`

const block = (title: string, text: string) => [`${title}:`, `  ${clean(truncate(text.replace(/\n+$/, "")))}`]

/**
 * The error's JS stack, and `Cause.pretty` (with Effect's span stack) when
 * the value is a `Cause` or a defect without a stack of its own (a thrown
 * string or object). A value that throws when read gives a placeholder.
 */
export const errorDetails = (cause: Option.Option<unknown>): ReadonlyArray<string> => {
  if (Option.isNone(cause)) return []
  const value = cause.value
  if (isCause(value)) return block("cause", prettyCause(value) ?? UNPRINTABLE)
  const stack = stackOf(value)
  if (stack !== undefined) return block("stack", stack)
  return block("cause", prettyCause(Cause.die(value)) ?? UNPRINTABLE)
}

/** How every text snapshot starts: its first line is `effect-bcd snapshot (<tracer>)`. */
export const TITLE = "effect-bcd snapshot ("

/** The title of the block holding Node's view of the process (`report.ts`). */
export const REPORT_TITLE = "node process state (handles, heap, resource usage; without the environment and secrets)"

const field = (name: string, value: string) => `${`${name}:`.padEnd(13)}${clean(value)}`

/** The header, ending with `info.follows`. */
export const render = (request: TraceRequest, info: HeaderInfo): string => {
  const tid = Option.match(request.tid, { onNone: () => "unknown", onSome: String })
  const lines = [
    `${TITLE}${info.tracer})`,
    field("time", info.time.toISOString()),
    field("program", info.program),
    field("pid", String(request.pid)),
    // Another process (`effect-bcd trace <pid>`) may run another Node.
    ...(request.pid === process.pid ? [field("node", `${process.version} (${process.platform}-${process.arch})`)] : []),
    field(request.faulted ? "faulted tid" : "calling tid", tid),
    field(
      "caller only",
      request.callerOnly
        ? Option.match(info.callerOnlyFallback, { onNone: () => "yes", onSome: (why) => `requested; ${why}` })
        : "no"
    ),
    field("fiber", `#${request.fiberId}`),
    ...Option.match(request.error, { onNone: () => [], onSome: (m) => [field("error", m)] }),
    field("classifiers", request.classifiers.length === 0 ? "(none)" : request.classifiers.join(", ")),
    ...(request.attributes.length === 0
      ? [field("attributes", "(none)")]
      : ["attributes:", ...request.attributes.map(([k, v]) => `  ${clean(k)}: ${clean(v, "    ")}`)]),
    ...Option.match(info.core, { onNone: () => [], onSome: (core) => [field("core file", core)] }),
    ...Option.match(info.coreSkipped, { onNone: () => [], onSome: (why) => [field("core file", `skipped: ${why}`)] }),
    ...errorDetails(request.cause),
    ...(info.report === undefined ? [] : block(REPORT_TITLE, info.report)),
    "",
    info.follows
  ]
  return lines.join("\n") + "\n"
}
