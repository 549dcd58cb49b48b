/**
 * Building a `TraceRequest`: thread id, fiber id, the error's message and
 * class, the span's attributes.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import type * as TraceOptions from "../../TraceOptions.js"
import type { Options } from "../../Tracer.js"
import type { BaseOption, TraceRequest } from "../../TracerBackend.js"

/** No base options. */
export const emptyBase: Options = { attributes: [], classifiers: [], args: [] }

/**
 * A backend's base options as entries, in a fixed order (they come in one
 * object, with no call order): the args, the attributes, the classifiers.
 */
export const toEntries = (options: Options): ReadonlyArray<BaseOption> => [
  ...(options.args.length === 0 ? [] : [{ _tag: "Args", args: options.args } as const]),
  ...options.attributes.map(([key, value]) => ({ _tag: "Attribute", key, value }) as const),
  ...options.classifiers.map((name) => ({ _tag: "Classifier", name }) as const)
]

/** The base entries by kind, each in the order it was added (`Tracer.options`). */
export const toOptions = (entries: ReadonlyArray<BaseOption>): Options => ({
  attributes: entries.flatMap((e) => e._tag === "Attribute" ? [[e.key, e.value] as const] : []),
  classifiers: entries.flatMap((e) => e._tag === "Classifier" ? [e.name] : []),
  args: entries.flatMap((e) => e._tag === "Args" ? e.args : [])
})

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

/**
 * `text` with each NUL byte written as `\0`, and at most `maxBytes` of UTF-8:
 * a longer text is cut on a character boundary and ends with `marker`.
 */
export const clampUtf8 = (text: string, maxBytes: number, marker: string): string => {
  const clean = text.includes("\0") ? text.replaceAll("\0", "\\0") : text
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (clean.length * 3 <= maxBytes) return clean
  const bytes = Buffer.from(clean, "utf8")
  if (bytes.length <= maxBytes) return clean
  let end = maxBytes - Buffer.byteLength(marker)
  // Never split a character: its decoded U+FFFD could be longer than the bytes cut.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--
  return bytes.subarray(0, end).toString("utf8") + marker
}

/** Replaces NUL bytes and truncates to 64 KiB of UTF-8, so the message fits in argv. */
export const sanitizeMessage = (message: string): string => clampUtf8(message, MAX_MESSAGE_BYTES, "...[truncated]")

const isObject = (u: unknown): u is Record<PropertyKey, unknown> => typeof u === "object" && u !== null

/** `f()`, or `fallback` when it throws: a defect's getters (or a revoked Proxy) must not break its trace. */
const attempt = <A>(f: () => A, fallback: A): A => {
  try {
    return f()
  } catch {
    return fallback
  }
}

/**
 * Go's `e.Error()`: the message, even an empty one (Go passes `--kv error:`
 * for `errors.New("")`); a tagged error without a message gives its tag;
 * anything else, the value as text.
 */
export const errorMessage = (error: unknown): string =>
  attempt(() => {
    if (isObject(error)) {
      if (typeof error.message === "string" && error.message !== "") return error.message
      if (typeof error._tag === "string") return error._tag
      if (typeof error.message === "string") return error.message
    }
    return typeof error === "string" ? error : attempt(() => String(error), "[unprintable value]")
  }, "[unprintable value]")

/** Go's `reflect.TypeOf(e)`: the `_tag` of a tagged error, else its constructor's name, else its type. */
export const classify = (error: unknown): string => {
  if (!isObject(error)) return typeof error
  return attempt(() => {
    if (typeof error._tag === "string" && error._tag !== "") return error._tag
    const name = Object.getPrototypeOf(error)?.constructor?.name
    return typeof name === "string" && name !== "" ? name : "Object"
  }, "Object")
}

const spanAttributes = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({
    onNone: (): ReadonlyArray<readonly [string, string]> => [],
    onSome: (span) => [["span", span.name], ["trace_id", span.traceId], ["span_id", span.spanId]] as const
  })
)

/**
 * Everything a backend needs for one trace, read off the calling fiber. The
 * traced process is this one unless `pid` names another, which then has no
 * calling thread.
 */
export const makeRequest = (
  entries: ReadonlyArray<BaseOption>,
  options: TraceOptions.Resolved,
  error: Option.Option<unknown>,
  pid: number = process.pid
): Effect.Effect<TraceRequest> =>
  Effect.gen(function*() {
    const base = toOptions(entries)
    const fiber = yield* Effect.fiberId
    const span = yield* spanAttributes
    const message = Option.map(error, (e) => sanitizeMessage(errorMessage(e)))
    const classifiers = [...base.classifiers]
    if (options.errorClassification && Option.isSome(error)) classifiers.push(classify(error.value))
    classifiers.push(...options.classifications)
    return {
      pid,
      tid: pid === process.pid && (options.faulted || options.callerOnly) ? threadId() : Option.none(),
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
      args: base.args,
      base: entries
    }
  })

/** A request with no error and no base options, for checks that build a command without tracing. */
export const probeRequest = (options: TraceOptions.Resolved): Effect.Effect<TraceRequest> =>
  makeRequest([], options, Option.none())
