/**
 * The process-wide tracer lock and its cooldown (Go's `traceLock` and
 * `traceUnlockRL`).
 *
 * The cooldown is not a timer that outlives a trace: each trace records when
 * the next may start, and the next trace waits for that moment while it holds
 * the permit. A finished program therefore never waits out a cooldown.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"

interface LockState {
  readonly semaphore: Effect.Semaphore
  /** Epoch millis before which no tracer may start. */
  readyAt: number
  /** The state of each cooldown `Schedule` in use. */
  readonly schedules: WeakMap<object, unknown>
}

/** One per process, shared by every Tracer, whatever copy of this library loaded it. */
const state: LockState = globalValue(Symbol.for("effect-bcd/internal/lock"), () => ({
  semaphore: Effect.unsafeMakeSemaphore(1),
  readyAt: 0,
  schedules: new WeakMap<object, unknown>()
}))

/** When the cooldown that starts at `now` ends, stepping its `Schedule`. */
export const cooldownEnd = (schedule: Schedule.Schedule<unknown, unknown>, now: number): Effect.Effect<number> => {
  const previous = state.schedules.has(schedule) ? state.schedules.get(schedule) : schedule.initial
  return Effect.map(schedule.step(now, undefined, previous), ([next, , decision]) => {
    if (ScheduleDecision.isDone(decision)) {
      // A finished schedule starts over: no cooldown this time.
      state.schedules.delete(schedule)
      return now
    }
    state.schedules.set(schedule, next)
    return Math.max(now, Intervals.start(decision.intervals))
  })
}

const awaitCooldown = Effect.flatMap(
  Clock.currentTimeMillis,
  (now) => state.readyAt > now ? Effect.sleep(Duration.millis(state.readyAt - now)) : Effect.void
)

const startCooldown = (rateLimit: Schedule.Schedule<unknown, unknown>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => cooldownEnd(rateLimit, now)).pipe(
    Effect.map((readyAt) => {
      state.readyAt = readyAt
    })
  )

/**
 * Runs `onLocked` once the process-wide permit is held and the previous
 * cooldown has passed, then starts the next cooldown however it ends.
 * `onLocked` runs only if the wait completes; a trace interrupted while it
 * waits leaks no permit and starts no cooldown.
 */
export const withLock = <A, E, R>(
  rateLimit: Schedule.Schedule<unknown, unknown>,
  onLocked: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  withPermit(Effect.zipRight(awaitCooldown, Effect.ensuring(onLocked, startCooldown(rateLimit))))

/** Runs `self` while no tracer of this process runs (the permit, without waiting out or starting a cooldown). */
export const withPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  state.semaphore.withPermits(1)(self)
