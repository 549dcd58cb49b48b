/**
 * Settings for every trace: the Go `GlobalConfig`. A `Context.Reference`, so
 * the defaults apply wherever no layer provides others; only the tracer lock
 * and its cooldown state are shared by the whole process.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import { loadConfig } from "./internal/core/config.js"
import type { TracerConfigError } from "./TraceError.js"

/**
 * A cooldown after each trace: a `Duration` (meaning `Schedule.spaced`), or
 * any `Schedule`, whose delays are used one after the other.
 *
 * @since 0.1.0
 * @category models
 */
export type RateLimit = Duration.DurationInput | Schedule.Schedule<unknown, unknown>

/**
 * The settings themselves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** A tracer that cannot be killed after its deadline becomes a defect. Default true. */
  readonly panicOnKillFailure: boolean
  /** After a signal's trace, restore its default handling and re-send it. Default true. */
  readonly resendSignal: boolean
  /** The cooldown after every trace before the next may start. Default 3 s. */
  readonly rateLimit: RateLimit
  /** Upload inside `trace` (its error is `trace`'s), not in the background. Default true. */
  readonly synchronousPut: boolean
  /** Time between SIGTERM and SIGKILL when a tracer is killed. Default 1 s. */
  readonly killGrace: Duration.DurationInput
  /** How long closing a Tracer layer waits for background uploads. Default 30 s. */
  readonly drainTimeout: Duration.DurationInput
  /** The minimum level of the library's own log lines. Default Error. */
  readonly logLevel: LogLevel.LogLevel
}

/**
 * The defaults, those of Backtrace's Go package.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: Settings = {
  panicOnKillFailure: true,
  resendSignal: true,
  rateLimit: Duration.seconds(3),
  synchronousPut: true,
  killGrace: Duration.seconds(1),
  drainTimeout: Duration.seconds(30),
  logLevel: LogLevel.Error
}

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
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Partial<Settings>): Layer.Layer<never> =>
  Layer.succeed(TracerConfig, { ...defaults, ...settings })

/**
 * The settings read from the environment, each with its default:
 * `BCD_PANIC_ON_KILL_FAILURE`, `BCD_RESEND_SIGNAL`, `BCD_RATE_LIMIT`,
 * `BCD_SYNCHRONOUS_PUT`, `BCD_KILL_GRACE`, `BCD_DRAIN_TIMEOUT`, `BCD_LOG_LEVEL`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  panicOnKillFailure: Config.withDefault(Config.boolean("BCD_PANIC_ON_KILL_FAILURE"), defaults.panicOnKillFailure),
  resendSignal: Config.withDefault(Config.boolean("BCD_RESEND_SIGNAL"), defaults.resendSignal),
  rateLimit: Config.withDefault(Config.duration("BCD_RATE_LIMIT"), defaults.rateLimit),
  synchronousPut: Config.withDefault(Config.boolean("BCD_SYNCHRONOUS_PUT"), defaults.synchronousPut),
  killGrace: Config.withDefault(Config.duration("BCD_KILL_GRACE"), defaults.killGrace),
  drainTimeout: Config.withDefault(Config.duration("BCD_DRAIN_TIMEOUT"), defaults.drainTimeout),
  logLevel: Config.withDefault(Config.logLevel("BCD_LOG_LEVEL"), defaults.logLevel)
})

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
