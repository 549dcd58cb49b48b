/**
 * Per-trace options and how they combine with a backend's defaults.
 *
 * @module
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/**
 * A deadline: a `Duration` input, or `"none"` for no deadline.
 *
 * @since 0.1.0
 * @category models
 */
export type Timeout = Duration.DurationInput | "none"

/**
 * Options for one trace. Every field is optional; an absent field takes the
 * backend's default (`TracerBackend.defaultTraceOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceOptions {
  /** Mark the calling thread as the faulted one. */
  readonly faulted?: boolean
  /** Trace only the calling thread. */
  readonly callerOnly?: boolean
  /**
   * Add the error's `_tag` (or constructor name) as a classifier; for a
   * `Cause`, that of its first failure, else its first defect, or
   * `Interrupt`.
   */
  readonly errorClassification?: boolean
  /** Extra classifiers for this trace. */
  readonly classifications?: ReadonlyArray<string>
  /** Extra attributes for this trace. */
  readonly attributes?: Readonly<Record<string, string>>
  /** Deadline over the lock wait and the tracer's run; `"none"` disables it. */
  readonly timeout?: Timeout
  /**
   * The process to trace. Default: this one. Another process (the
   * `effect-bcd trace` command) gets no calling thread, and the supervisor
   * resumes it, as it resumes this one, if a killed tracer left it stopped.
   */
  readonly pid?: number
}

/**
 * Fully resolved options, as a backend declares its defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly faulted: boolean
  readonly callerOnly: boolean
  readonly errorClassification: boolean
  readonly classifications: ReadonlyArray<string>
  readonly attributes: Readonly<Record<string, string>>
  readonly timeout: Timeout
}

/**
 * Backtrace's defaults: faulted, all threads, error classification, 120 s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Resolved = {
  faulted: true,
  callerOnly: false,
  errorClassification: true,
  classifications: [],
  attributes: {},
  timeout: Duration.seconds(120)
}

/**
 * Lays `options` over `base`, field by field. Classifications and attributes
 * are added to the base ones.
 *
 * @since 0.1.0
 * @category combinators
 */
export const resolve = (base: Resolved, options?: TraceOptions): Resolved => ({
  faulted: options?.faulted ?? base.faulted,
  callerOnly: options?.callerOnly ?? base.callerOnly,
  errorClassification: options?.errorClassification ?? base.errorClassification,
  classifications: [...base.classifications, ...(options?.classifications ?? [])],
  attributes: { ...base.attributes, ...options?.attributes },
  timeout: options?.timeout ?? base.timeout
})

/**
 * The deadline as an `Option<Duration>`: `None` for `"none"` (and for an
 * infinite `Duration`, which means the same).
 *
 * @since 0.1.0
 * @category getters
 */
export const deadline = (timeout: Timeout): Option.Option<Duration.Duration> =>
  timeout === "none" ? Option.none() : Option.filter(Option.some(Duration.decode(timeout)), Duration.isFinite)
