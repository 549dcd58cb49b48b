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
import { TracerConfig } from "../../TracerConfig.js"
import { classify, errorMessage } from "./errorValue.js"
import { currentSpan, spanAttributes } from "./span.js"
import { clampUtf8 } from "./text.js"

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

/** Replaces NUL bytes and truncates to 64 KiB of UTF-8, so the message fits in argv. */
export const sanitizeMessage = (message: string): string => clampUtf8(message, MAX_MESSAGE_BYTES, "...[truncated]")

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
    const config = yield* TracerConfig
    const fiber = yield* Effect.fiberId
    const span = Option.match(yield* currentSpan, {
      onNone: () => [],
      onSome: (span) => spanAttributes(span, config.spanAttributes)
    })
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
