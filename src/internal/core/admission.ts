/**
 * Admission: before a trace builds anything, an O(1) check of whether it can
 * run soon. The number of admitted traces that have not yet left the lock is
 * bounded by `maxWaiting` + 1 (the one holding it), so a storm of errors
 * costs a few fibers, not one per error.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
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

/** The refusal, if any; otherwise takes the place. Synchronous, so no other fiber runs between check and take. */
const decide = (
  config: Settings,
  deadline: Option.Option<Duration.Duration>,
  roll: number,
  now: number
): TraceBusyError | TraceTimeoutError | undefined => {
  if (state.inFlight > config.maxWaiting) return new TraceBusyError({ reason: "queue-full" })
  if (typeof config.sample === "number" && roll >= config.sample) return new TraceBusyError({ reason: "sampled-out" })
  // The cooldown alone outlasts the deadline: waiting would only find that out later.
  if (Option.isSome(deadline) && Lock.readyAt() - now >= Duration.toMillis(deadline.value)) {
    return new TraceTimeoutError({ phase: "lock" })
  }
  if (Option.isSome(config.limit)) {
    const { traces, window } = config.limit.value
    if (now - state.windowStart >= Duration.toMillis(window)) {
      state.windowStart = now
      state.windowCount = 0
    }
    if (state.windowCount >= traces) return new TraceBusyError({ reason: "limited" })
    state.windowCount++
  }
  state.inFlight++
  return undefined
}

/** Takes a place, or fails at once; a place taken must be given back with {@link leave}. */
export const admit = (
  config: Settings,
  deadline: Option.Option<Duration.Duration>
): Effect.Effect<void, TraceBusyError | TraceTimeoutError> =>
  Effect.gen(function*() {
    const roll = typeof config.sample === "number" && config.sample < 1 ? yield* Random.next : 0
    const refused = decide(config, deadline, roll, yield* Clock.currentTimeMillis)
    if (refused !== undefined) return yield* refused
  })

/** Gives back a place taken by {@link admit}. */
export const leave: Effect.Effect<void> = Effect.sync(() => {
  state.inFlight--
})
