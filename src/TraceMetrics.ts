/**
 * The library's metrics, as Effect `Metric`s: they show up in any Effect
 * metrics exporter (OpenTelemetry, Prometheus) the program provides.
 *
 * | Name | Kind | Tags |
 * |---|---|---|
 * | `effect_bcd_traces_total` | counter | `outcome`: `ok`, `failed`, `timeout`, `busy`, `dropped`, `sampled_out` |
 * | `effect_bcd_tracer_run_seconds` | histogram | |
 * | `effect_bcd_process_stopped_seconds` | histogram | (supervisor runner only) |
 * | `effect_bcd_uploads_total` | counter | `outcome`: `ok`, `failed` |
 *
 * `busy` counts traces refused by `maxWaiting` or `limit`; `dropped` counts
 * `Tracer.capture` calls that were not taken for those reasons.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { TraceMetrics } from "effect-bcd"
 *
 * const report = Effect.gen(function*() {
 *   const state = yield* Metric.value(TraceMetrics.traces)
 *   console.log(`traces counted: ${state.count}`)
 * })
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import { tracesKey, uploadsKey } from "./internal/core/metrics.js"

/**
 * How a trace ended, the tag of {@link traces}.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "ok" | "failed" | "timeout" | "busy" | "dropped" | "sampled_out"

/**
 * Traces by outcome (untagged: all of them).
 *
 * @since 0.1.0
 * @category metrics
 */
export const traces: Metric.Metric.Counter<number> = Metric.fromMetricKey(tracesKey)

/**
 * How long each tracer ran, in seconds (from 1 ms to about 2 minutes).
 *
 * @since 0.1.0
 * @category metrics
 */
export const tracerRun: Metric.Metric.Histogram<number> = Metric.histogram(
  "effect_bcd_tracer_run_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 18 }),
  "Tracer run time"
)

/**
 * How long this process's main thread was stopped per trace, in seconds
 * (from 1 ms to about 2 minutes), when the runner can tell: the supervisor
 * runner looks every 5 ms while the tracer runs; the inline runner records
 * nothing (a stopped process cannot time itself). A trace whose tracer never
 * stopped the main thread records 0.
 *
 * @since 0.1.0
 * @category metrics
 */
export const processStopped: Metric.Metric.Histogram<number> = Metric.histogram(
  "effect_bcd_process_stopped_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 18 }),
  "Time the process's main thread was stopped by a tracer"
)

/**
 * Uploads by outcome.
 *
 * @since 0.1.0
 * @category metrics
 */
export const uploads: Metric.Metric.Counter<number> = Metric.fromMetricKey(uploadsKey)
