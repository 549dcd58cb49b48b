/**
 * Settings for every trace: the Go `GlobalConfig`. A `Context.Reference`, so
 * the defaults apply wherever no layer provides others; only the tracer lock
 * and its cooldown state are shared by the whole process.
 *
 * @module
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { duration, isNegative, list, loadConfig, somes } from "./internal/core/config.js"
import { DEFAULT_SPAN_ATTRIBUTES } from "./internal/core/span.js"
import type { TracerConfigError } from "./TraceError.js"
import type { TraceRequest } from "./TracerBackend.js"

/**
 * A cooldown after each trace: a `Duration` (meaning `Schedule.spaced`), or
 * any `Schedule`, whose delays are used one after the other.
 *
 * @since 0.1.0
 * @category models
 */
export type RateLimit = Duration.DurationInput | Schedule.Schedule<unknown, unknown>

/**
 * The settings as a program gives them: every field optional, durations in
 * any `Duration` input form.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  /** A tracer that cannot be killed after its deadline becomes a defect. Default true. */
  readonly panicOnKillFailure?: boolean
  /** After a signal's trace, restore its default handling and re-send it. Default true. */
  readonly resendSignal?: boolean
  /** The cooldown after every trace before the next may start. Default 3 s. */
  readonly rateLimit?: RateLimit
  /** Upload inside `trace` (its error is `trace`'s), not in the background. Default true. */
  readonly synchronousPut?: boolean
  /** Time between SIGTERM and SIGKILL when a tracer is killed. Default 1 s. */
  readonly killGrace?: Duration.DurationInput
  /** How long closing a Tracer layer waits for background uploads. Default 30 s. */
  readonly drainTimeout?: Duration.DurationInput
  /** The minimum level of the library's own log lines. Default Error. */
  readonly logLevel?: LogLevel.LogLevel
  /**
   * How many traces may wait for the tracer at once, process-wide; one more
   * fails at once with `TraceBusyError`. Default 16: with the 3 s cooldown
   * and about 1 s per gdb trace, the 16th waiter still starts within the
   * default 120 s deadline, and a storm costs 16 waiting fibers, not N.
   */
  readonly maxWaiting?: number
  /**
   * Which traces to take: a probability from 0 to 1, or an effect deciding
   * from the request. The rest fail at once with `TraceBusyError`
   * (`sampled-out`). Default 1 (all).
   */
  readonly sample?: number | ((request: TraceRequest) => Effect.Effect<boolean>)
  /** At most `traces` traces per `window`, besides the cooldown. Default none. */
  readonly limit?: { readonly traces: number; readonly window: Duration.DurationInput }
  /**
   * After an uncaught exception (or a rejection Node treats as fatal), the
   * time `Tracer.handleUncaught` gives the trace and its upload before the
   * process ends as Node would have ended it; a snapshot whose upload does
   * not fit stays on disk. Default 5 s.
   */
  readonly fatalBudget?: Duration.DurationInput
  /**
   * Where tracers run. `"supervisor"` (the default): in a small long-lived
   * child process that enforces the deadline and resumes this process even
   * while it is stopped, and keeps one tracer at a time across
   * `worker_threads`. `"inline"`: spawned from this process, with coreutils
   * `timeout` as the only outside watchdog. If the supervisor cannot start,
   * `"inline"` is used, with one log line.
   */
  readonly runner?: "supervisor" | "inline"
  /**
   * The tracer's environment. `"scrubbed"` (the default): this process's,
   * without the library's own `BCD_*` variables and without any variable
   * holding a backend's secret (the upload token). `"inherit"`: all of it.
   */
  readonly tracerEnvironment?: "scrubbed" | "inherit"
  /**
   * Span attributes copied into each snapshot's attributes, besides the
   * defaults (`http.route`, `http.request.method`, `url.path`): looked up on
   * the current span, then its ancestors. Each value is cut to 1 KiB, all of
   * them together to 8 KiB.
   */
  readonly spanAttributes?: ReadonlyArray<string>
  /**
   * Embed Node's view of the process (open handles with their endpoints,
   * heap statistics, memory, resource usage, limits, the command line),
   * without the environment and anything resembling a secret, in text
   * snapshots (gdb, eu-stack). Read without another thread's help (not
   * `process.report.getReport()`, which waits for ever on a Worker blocked
   * in a native call); about half a millisecond. Default true.
   */
  readonly nodeReport?: boolean
}

/**
 * The settings, decoded once into values: what `yield* TracerConfig` gives.
 * The cooldown is always a `Schedule` (a `Duration` becomes
 * `Schedule.spaced`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly panicOnKillFailure: boolean
  readonly resendSignal: boolean
  readonly rateLimit: Schedule.Schedule<unknown, unknown>
  readonly synchronousPut: boolean
  readonly killGrace: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly logLevel: LogLevel.LogLevel
  readonly maxWaiting: number
  readonly sample: number | ((request: TraceRequest) => Effect.Effect<boolean>)
  readonly limit: Option.Option<{ readonly traces: number; readonly window: Duration.Duration }>
  readonly fatalBudget: Duration.Duration
  readonly runner: "supervisor" | "inline"
  readonly tracerEnvironment: "scrubbed" | "inherit"
  /** The span attributes copied: the defaults, then the program's own. */
  readonly spanAttributes: ReadonlyArray<string>
  readonly nodeReport: boolean
}

/** A cooldown as a `Schedule`: a `Duration` means `Schedule.spaced`. */
const cooldown = (rateLimit: RateLimit): Schedule.Schedule<unknown, unknown> =>
  Schedule.isSchedule(rateLimit)
    ? rateLimit as Schedule.Schedule<unknown, unknown>
    : Schedule.spaced(span("rateLimit", rateLimit as Duration.DurationInput))

const count = (name: string, value: number, min: number): number => {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer of at least ${min}`)
  return value
}

const oneOf = <A extends string>(name: string, value: A, allowed: ReadonlyArray<A>): A => {
  if (!allowed.includes(value)) throw new RangeError(`${name} must be one of ${allowed.join(", ")}`)
  return value
}

/** A duration that is not negative: `Duration` would silently make `-1` or `"-1 seconds"` 0. */
const span = (name: string, value: Duration.DurationInput): Duration.Duration => {
  if (isNegative(value)) throw new RangeError(`${name} must not be negative`)
  return Duration.decode(value)
}

const probability = (value: Settings["sample"]): Settings["sample"] => {
  if (typeof value === "number" && !(value >= 0 && value <= 1)) throw new RangeError("sample must be from 0 to 1")
  return value
}

const spanKey = (key: string): string => {
  if (key === "" || key.includes(":") || /[\0\n]/.test(key)) {
    throw new RangeError("spanAttributes must be non-empty keys without ':', NUL or newline")
  }
  return key
}

/**
 * Decodes `input` over the defaults. A malformed value throws a `RangeError`
 * (use {@link layer}, which turns it into a defect when the layer is built,
 * or {@link fromEnv}, which fails with `TracerConfigError`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (input: Input): Settings => ({
  panicOnKillFailure: input.panicOnKillFailure ?? true,
  resendSignal: input.resendSignal ?? true,
  rateLimit: cooldown(input.rateLimit ?? Duration.seconds(3)),
  synchronousPut: input.synchronousPut ?? true,
  killGrace: span("killGrace", input.killGrace ?? Duration.seconds(1)),
  drainTimeout: span("drainTimeout", input.drainTimeout ?? Duration.seconds(30)),
  logLevel: input.logLevel ?? LogLevel.Error,
  maxWaiting: count("maxWaiting", input.maxWaiting ?? 16, 0),
  sample: probability(input.sample ?? 1),
  limit: Option.map(Option.fromNullable(input.limit), (l) => ({
    traces: count("limit.traces", l.traces, 1),
    window: Duration.decode(l.window)
  })),
  fatalBudget: span("fatalBudget", input.fatalBudget ?? Duration.seconds(5)),
  runner: oneOf("runner", input.runner ?? "supervisor", ["supervisor", "inline"]),
  tracerEnvironment: oneOf("tracerEnvironment", input.tracerEnvironment ?? "scrubbed", ["scrubbed", "inherit"]),
  spanAttributes: [...new Set([...DEFAULT_SPAN_ATTRIBUTES, ...(input.spanAttributes ?? []).map(spanKey)])],
  nodeReport: input.nodeReport ?? true
})

/**
 * The defaults, those of Backtrace's Go package: panic on kill failure,
 * re-send signals, a 3 s cooldown, synchronous uploads; and a 1 s kill
 * grace, a 30 s drain, Error-level logging.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Settings = decode({})

/**
 * The settings as a `Context.Reference`: `yield* TracerConfig` gives the
 * provided settings, or the defaults.
 *
 * @since 0.1.0
 * @category tags
 */
export class TracerConfig extends Context.Reference<TracerConfig>()("effect-bcd/TracerConfig", {
  defaultValue: (): Settings => defaults
}) {}

/**
 * Overrides some settings; the rest keep their defaults.
 *
 * @example
 * ```ts
 * import { LogLevel } from "effect"
 * import { TracerConfig } from "effect-bcd"
 *
 * const NoCooldown = TracerConfig.layer({ rateLimit: 0, logLevel: LogLevel.Debug })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Input): Layer.Layer<never> => Layer.sync(TracerConfig, () => decode(settings))

/**
 * The settings read from the environment, each with its default:
 * `BCD_PANIC_ON_KILL_FAILURE`, `BCD_RESEND_SIGNAL`, `BCD_RATE_LIMIT`,
 * `BCD_SYNCHRONOUS_PUT`, `BCD_KILL_GRACE`, `BCD_DRAIN_TIMEOUT`, `BCD_LOG_LEVEL`,
 * `BCD_MAX_WAITING`, `BCD_SAMPLE` (a probability), `BCD_FATAL_BUDGET`, `BCD_RUNNER`,
 * `BCD_TRACER_ENV`, `BCD_SPAN_ATTRIBUTES` (comma-separated keys), `BCD_NODE_REPORT`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  panicOnKillFailure: Config.option(Config.boolean("BCD_PANIC_ON_KILL_FAILURE")),
  resendSignal: Config.option(Config.boolean("BCD_RESEND_SIGNAL")),
  rateLimit: Config.option(duration("BCD_RATE_LIMIT")),
  synchronousPut: Config.option(Config.boolean("BCD_SYNCHRONOUS_PUT")),
  killGrace: Config.option(duration("BCD_KILL_GRACE")),
  drainTimeout: Config.option(duration("BCD_DRAIN_TIMEOUT")),
  logLevel: Config.option(Config.logLevel("BCD_LOG_LEVEL")),
  maxWaiting: Config.option(Config.integer("BCD_MAX_WAITING")),
  sample: Config.option(Config.number("BCD_SAMPLE")),
  fatalBudget: Config.option(duration("BCD_FATAL_BUDGET")),
  runner: Config.option(Config.literal("supervisor", "inline")("BCD_RUNNER")),
  tracerEnvironment: Config.option(Config.literal("scrubbed", "inherit")("BCD_TRACER_ENV")),
  spanAttributes: list("BCD_SPAN_ATTRIBUTES"),
  nodeReport: Config.option(Config.boolean("BCD_NODE_REPORT"))
}).pipe(Config.mapOrFail((c) =>
  Either.mapLeft(
    Either.try(() => decode(somes(c))),
    (error) => ConfigError.InvalidData([], error instanceof Error ? error.message : String(error))
  )
))

/**
 * Provides the settings read by {@link config}. A malformed variable fails
 * with `TracerConfigError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const fromEnv: Layer.Layer<never, TracerConfigError> = Layer.effect(
  TracerConfig,
  loadConfig(config)
)
