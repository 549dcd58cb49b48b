/**
 * The Effect span around a trace: the attributes that say which work failed
 * (copied into the snapshot, capped), and the `bcd.snapshot` event that
 * links the span to the snapshot.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as EffectTracer from "effect/Tracer"
import { attempt, UNPRINTABLE } from "./errorValue.js"
import { clampUtf8 } from "./text.js"

/** The span attributes copied by default: what identifies an HTTP request (OpenTelemetry's names). */
export const DEFAULT_SPAN_ATTRIBUTES: ReadonlyArray<string> = ["http.route", "http.request.method", "url.path"]

/** The most bytes of UTF-8 one copied span attribute value keeps. */
const MAX_VALUE_BYTES = 1024

/** The most bytes of UTF-8 (keys and values) all copied span attributes take together; the rest are left out. */
const MAX_TOTAL_BYTES = 8 * 1024

/** The name of the event added to the span when a trace wrote a snapshot. */
const SNAPSHOT_EVENT = "bcd.snapshot"

/** The current span, if the fiber has one of Effect's own (an external parent has no attributes or events). */
export const currentSpan: Effect.Effect<Option.Option<EffectTracer.Span>> = Effect.option(Effect.currentSpan)

const text = (value: unknown): string =>
  attempt(() => {
    if (typeof value === "string") return value
    if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
    return JSON.stringify(value) ?? String(value)
  }, UNPRINTABLE)

/** The value of `key` on `span` or, failing that, on the nearest ancestor that has it. */
const lookup = (span: EffectTracer.AnySpan, key: string): unknown => {
  // An external span (a parent from another tracing system) carries no attributes: the walk ends there.
  for (let s: EffectTracer.AnySpan | undefined = span; s?._tag === "Span"; s = Option.getOrUndefined(s.parent)) {
    const value = s.attributes.get(key)
    if (value !== undefined) return value
  }
  return undefined
}

/**
 * The span's name and ids, then each of `keys` the span (or an ancestor:
 * an HTTP server span's `http.route` while a child span runs) has, as text:
 * each value at most {@link MAX_VALUE_BYTES}, all of them at most
 * {@link MAX_TOTAL_BYTES}.
 */
export const spanAttributes = (
  span: EffectTracer.Span,
  keys: ReadonlyArray<string>
): ReadonlyArray<readonly [string, string]> => {
  const copied: Array<readonly [string, string]> = []
  let total = 0
  for (const key of new Set(keys)) {
    const value = attempt(() => lookup(span, key), undefined)
    if (value === undefined) continue
    const clamped = clampUtf8(text(value), MAX_VALUE_BYTES, "...[truncated]")
    total += Buffer.byteLength(key) + Buffer.byteLength(clamped)
    if (total > MAX_TOTAL_BYTES) break
    copied.push([key, clamped])
  }
  return [["span", span.name], ["trace_id", span.traceId], ["span_id", span.spanId], ...copied]
}

/**
 * Adds a {@link SNAPSHOT_EVENT} event naming `snapshot` (and the backend) to
 * `span`, so a trace in any OpenTelemetry backend leads to the snapshot. A
 * span that throws is ignored.
 */
export const linkSnapshot = (span: EffectTracer.Span, backend: string, snapshot: string): Effect.Effect<void> =>
  Effect.flatMap(
    Clock.currentTimeNanos,
    (now) =>
      Effect.sync(() =>
        attempt(
          () => span.event(SNAPSHOT_EVENT, now, { "bcd.snapshot.path": snapshot, "bcd.backend": backend }),
          undefined
        )
      )
  )
