/**
 * Admission: before a trace builds anything, an O(1) check of whether it can
 * run soon. The number of admitted traces that have not yet left the lock is
 * bounded by `maxWaiting` + 1 (the one holding it), so a storm of errors
 * costs a few fibers, not one per error.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import { TraceBusyError, TraceTimeoutError } from "../../TraceError.js"
import type { Settings } from "../../TracerConfig.js"
import * as Lock from "./lock.js"

interface AdmissionState {
  /** Admitted traces that have not left the lock yet. */
  inFlight: number
  /** The current `limit` window: when it started, and how many traces it took. */
  windowStart: number
  windowCount: number
}

const state: AdmissionState = globalValue(Symbol.for("effect-bcd/internal/admission"), () => ({
  inFlight: 0,
  windowStart: 0,
  windowCount: 0
}))

/**
 * Builds an error without its stack: a refusal's stack says nothing (it is
 * always this module), and capturing one is most of a refusal's cost in a
 * storm (10-40 µs each here).
 */
const stackless = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

/** Why admission turned a trace away: one of a few errors, each built once (they carry nothing per trace). */
export type Refusal = TraceBusyError | TraceTimeoutError

/** The refusals, built once: a storm must not build an error per trace (about 1.3 µs each, then GC). */
export const refusals: {
  readonly queueFull: TraceBusyError
  readonly limited: TraceBusyError
  readonly sampledOut: TraceBusyError
  readonly lock: TraceTimeoutError
} = stackless(() => ({
  queueFull: new TraceBusyError({ reason: "queue-full" }),
  limited: new TraceBusyError({ reason: "limited" }),
  sampledOut: new TraceBusyError({ reason: "sampled-out" }),
  lock: new TraceTimeoutError({ phase: "lock" })
}))

/** Whether admission needs a random number (a `sample` probability below 1). */
export const needsRoll = (config: Settings): boolean => typeof config.sample === "number" && config.sample < 1

/**
 * The refusal, if any; otherwise takes the place, which must be given back
 * with {@link leave}. Synchronous, so no other fiber runs between check and
 * take, and cheap: a storm of errors calls it once per error.
 */
export const decide = (
  config: Settings,
  deadline: Option.Option<Duration.Duration>,
  roll: number,
  now: number
): Refusal | undefined => {
  if (state.inFlight > config.maxWaiting) return refusals.queueFull
  if (typeof config.sample === "number" && roll >= config.sample) return refusals.sampledOut
  // The cooldown alone outlasts the deadline: waiting would only find that out later.
  if (Option.isSome(deadline) && Lock.readyAt() - now >= Duration.toMillis(deadline.value)) return refusals.lock
  if (Option.isSome(config.limit)) {
    const { traces, window } = config.limit.value
    if (now - state.windowStart >= Duration.toMillis(window)) {
      state.windowStart = now
      state.windowCount = 0
    }
    if (state.windowCount >= traces) return refusals.limited
    state.windowCount++
  }
  state.inFlight++
  return undefined
}

/** Gives back a place taken by {@link decide}. */
export const leave: Effect.Effect<void> = Effect.sync(() => {
  state.inFlight--
})
