/**
 * Building a `TraceRequest`: thread id, fiber id, the error's message and
 * class, the span's attributes.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import type { TraceRequest } from "../TracerBackend.js"
import type * as TraceOptions from "../TraceOptions.js"

/** Base options shared by every later trace (Go's `Options()`). */
export interface BaseOptions {
  readonly attributes: ReadonlyArray<readonly [string, string]>
  readonly classifiers: ReadonlyArray<string>
  readonly args: ReadonlyArray<string>
}

export const emptyBase: BaseOptions = { attributes: [], classifiers: [], args: [] }

const MAX_MESSAGE_BYTES = 64 * 1024

/** The calling thread's id, read from `/proc/thread-self` (`<pid>/task/<tid>`). */
export const threadId = (): Option.Option<number> => {
  try {
    const tid = Number(fs.readlinkSync("/proc/thread-self").split("/").pop())
    return Number.isInteger(tid) && tid > 0 ? Option.some(tid) : Option.none()
  } catch {
    return Option.none()
  }
}

/** Replaces NUL bytes and truncates to 64 KiB of UTF-8, so the message fits in argv. */
export const sanitizeMessage = (message: string): string => {
  const clean = message.includes("\0") ? message.replaceAll("\0", "\\0") : message
  if (clean.length * 3 <= MAX_MESSAGE_BYTES) return clean
  const bytes = Buffer.from(clean, "utf8")
  if (bytes.length <= MAX_MESSAGE_BYTES) return clean
  return bytes.subarray(0, MAX_MESSAGE_BYTES - 16).toString("utf8").replace(/\uFFFD$/, "") + "...[truncated]"
}

const isObject = (u: unknown): u is Record<PropertyKey, unknown> => typeof u === "object" && u !== null

/** Go's `e.Error()`: the message, else the tag, else the value as text. */
export const errorMessage = (error: unknown): string => {
  if (isObject(error)) {
    if (typeof error.message === "string" && error.message !== "") return error.message
    if (typeof error._tag === "string") return error._tag
  }
  if (typeof error === "string") return error
  try {
    return String(error)
  } catch {
    return Object.prototype.toString.call(error)
  }
}

/** Go's `reflect.TypeOf(e)`: the `_tag` of a tagged error, else its constructor's name, else its type. */
export const classify = (error: unknown): string => {
  if (isObject(error)) {
    if (typeof error._tag === "string" && error._tag !== "") return error._tag
    const name = Object.getPrototypeOf(error)?.constructor?.name
    if (typeof name === "string" && name !== "" && name !== "Object") return name
    return "Object"
  }
  return typeof error
}

const spanAttributes = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({
    onNone: (): ReadonlyArray<readonly [string, string]> => [],
    onSome: (span) => [["span", span.name], ["trace_id", span.traceId], ["span_id", span.spanId]] as const
  })
)

/** Everything a backend needs for one trace, read off the calling fiber. */
export const makeRequest = (
  base: BaseOptions,
  options: TraceOptions.Resolved,
  error: Option.Option<unknown>
): Effect.Effect<TraceRequest> =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fiberId
    const span = yield* spanAttributes
    const message = Option.map(error, (e) => sanitizeMessage(errorMessage(e)))
    const classifiers = [...base.classifiers]
    if (options.errorClassification && Option.isSome(error)) classifiers.push(classify(error.value))
    classifiers.push(...options.classifications)
    return {
      pid: process.pid,
      tid: options.faulted || options.callerOnly ? threadId() : Option.none(),
      faulted: options.faulted,
      callerOnly: options.callerOnly,
      fiberId: fiber._tag === "Runtime" ? fiber.id : 0,
      error: message,
      cause: error,
      classifiers,
      attributes: [
        ...base.attributes,
        ...Option.match(message, { onNone: () => [], onSome: (m) => [["error", m] as const] }),
        ...Object.entries(options.attributes),
        ...span
      ],
      args: base.args
    }
  })
